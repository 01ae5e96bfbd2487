-- enqueue: store a batch of new jobs of one queue.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3]  number of jobs n; then n blocks, each:
--          id, dedupe key ('' = none), run_at ('' = use delay), delay ('' = due now),
--          field count m, then m field/value pairs of the job hash (task, payload, ...)
-- Returns: an array of n ids: the new job's id, or the id of the job it deduplicated onto
--          (an existing job with the same id, or a live job holding the same dedupe key).
local now = now_s()
local ids = {}
local wrote = false
local pos = 4
for i = 1, tonumber(ARGV[3]) do
  local id, dedupe, run_at, delay = ARGV[pos], ARGV[pos + 1], ARGV[pos + 2], ARGV[pos + 3]
  local nfields = tonumber(ARGV[pos + 4])
  local first = pos + 5
  pos = first + 2 * nfields
  local jk = job_key(id)
  local holder = nil
  if dedupe ~= '' then holder = dedupe_holder(dedupe) end
  if redis.call('EXISTS', jk) == 1 then
    ids[i] = id
  elseif holder then
    ids[i] = holder
  else
    if run_at ~= '' then
      run_at = tonumber(run_at)
    elseif delay ~= '' then
      run_at = now + tonumber(delay)
    else
      run_at = now
    end
    redis.call('HSET', jk, unpack(ARGV, first, pos - 1))
    redis.call('HSET', jk, 'id', id, 'created_at', now, 'run_at', run_at, 'attempts', 0,
      'errors', '[]')
    if dedupe ~= '' then
      redis.call('HSET', jk, 'dedupe_key', dedupe)
      redis.call('HSET', K.dedupe, dedupe, id)
    end
    if run_at <= now then place(id, jk, 'pending', run_at) else place(id, jk, 'delayed', run_at) end
    ids[i] = id
    wrote = true
  end
end
if wrote then notify() end
return ids
