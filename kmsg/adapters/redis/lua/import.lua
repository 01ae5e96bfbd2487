-- import: write job snapshots of one queue as they are (migration), or as retried dead letters.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3]  mode: 'import' (processing snapshots become pending, attempt refunded) or 'retry'
--          (every job becomes pending now with attempts 0; for retry_failed to another queue)
-- ARGV[4]  number of jobs n; then n blocks: field count m, then m field/value pairs
--          (the job hash as mapping.py writes it; it must hold id, state, priority, run_at)
-- Returns: how many jobs were written (ids that already exist are skipped).
local now = now_s()
local count = 0
local pos = 5
for _ = 1, tonumber(ARGV[4]) do
  local nfields = tonumber(ARGV[pos])
  local first = pos + 1
  pos = first + 2 * nfields
  local fields = {}
  for i = first, pos - 1, 2 do fields[ARGV[i]] = ARGV[i + 1] end
  local id = fields['id']
  local jk = job_key(id)
  if redis.call('EXISTS', jk) == 0 then
    redis.call('HSET', jk, unpack(ARGV, first, pos - 1))
    local state = fields['state']
    local at = tonumber(fields['run_at'])
    if ARGV[3] == 'retry' then
      redis.call('HDEL', jk, 'failed_at', 'completed_at', 'cancelled_at', 'lease_until',
        'cancel_requested')
      redis.call('HSET', jk, 'attempts', 0, 'run_at', now)
      state, at = 'pending', now
    elseif state == 'processing' then
      redis.call('HDEL', jk, 'lease_until', 'cancel_requested')
      redis.call('HSET', jk, 'attempts', math.max(tonumber(fields['attempts']) - 1, 0))
      state = 'pending'
    elseif END_FIELD[state] then
      at = tonumber(fields[END_FIELD[state]]) or tonumber(fields['created_at']) or now
    end
    if is_live(state) then take_dedupe(id, jk) end
    place(id, jk, state, at)
    count = count + 1
  end
end
if count > 0 then notify(now) end
return count
