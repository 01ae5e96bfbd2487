#!lua
-- import: write job snapshots of one queue as they are (migration), or as retried dead letters.
-- Grows the store, so like enqueue it is refused as a whole under maxmemory (no allow-oom).
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2]  mode: 'import' (a processing snapshot becomes pending with its attempt refunded, or
--          cancelled if its cancel was requested) or 'retry' (every job becomes pending now with
--          attempts 0; for retry_failed to another queue)
-- ARGV[3]  number of jobs n; then n blocks of 23 values ('' = none):
--          id, state, task, payload, priority, run_at, created_at, attempts, max_attempts,
--          backoff_initial, backoff_factor, backoff_maximum, lease, dedupe_key,
--          errors (JSON array of {at, attempt, type, message}), '1' if a result is given, result,
--          '1' if cancel was requested, completed_at, failed_at, cancelled_at, progress,
--          trace_parent
-- Returns: {the ids of the jobs written, in order; the jobs skipped, a triple each: id, reason
--          ('id_taken' or 'key_held'), the live job holding the key ('' for id_taken)}. An id
--          that already exists here is skipped, and so is a live job whose dedupe key a live job
--          of this queue holds. Each job written gets a new enqueue sequence number in this
--          queue, in the order given. In 'retry' mode an id whose record here is the same job
--          (task, created_at and payload) counts as written: an earlier, interrupted move
--          already brought it.
local BLOCK = 23
local now = now_s()
local written, skipped = {}, {}

local function skip(id, reason, holder)
  skipped[#skipped + 1] = id
  skipped[#skipped + 1] = reason
  skipped[#skipped + 1] = holder or ''
end

local function number(value)
  if value == '' then return nil end
  return tonumber(value)
end

-- In 'retry' mode: whether the record of `id` here is the job being moved (moved before).
local function moved_before(id, p)
  if ARGV[2] ~= 'retry' then return false end
  local here = load(id)
  return here.task == ARGV[p + 2] and here.payload == ARGV[p + 3]
    and here.created_at == tonumber(ARGV[p + 6])
end

for i = 1, tonumber(ARGV[3]) do
  local p = 4 + (i - 1) * BLOCK
  local id = ARGV[p]
  if redis.call('HEXISTS', K.jobs, id) == 1 then
    if moved_before(id, p) then written[#written + 1] = id else skip(id, 'id_taken') end
  else
    local job = {
      state = ARGV[p + 1], task = ARGV[p + 2], payload = ARGV[p + 3],
      priority = tonumber(ARGV[p + 4]), run_at = due_time(tonumber(ARGV[p + 5])),
      created_at = tonumber(ARGV[p + 6]), attempts = tonumber(ARGV[p + 7]),
      max_attempts = tonumber(ARGV[p + 8]), backoff_initial = tonumber(ARGV[p + 9]),
      backoff_factor = tonumber(ARGV[p + 10]), backoff_maximum = tonumber(ARGV[p + 11]),
      lease = tonumber(ARGV[p + 12]),
      seq = redis.call('HINCRBY', K.meta, 'seq', 1),
      completed_at = number(ARGV[p + 18]), failed_at = number(ARGV[p + 19]),
      cancelled_at = number(ARGV[p + 20]),
    }
    if ARGV[p + 13] ~= '' then job.dedupe_key = ARGV[p + 13] end
    local errors = cjson.decode(ARGV[p + 14])
    if #errors > 0 then
      job.errors = {}
      for n, e in ipairs(errors) do job.errors[n] = {e.at, e.attempt, e.type, e.message} end
    end
    if ARGV[p + 15] == '1' then job.result = ARGV[p + 16] end
    if ARGV[p + 17] == '1' then job.cancel_requested = true end
    if ARGV[p + 21] ~= '' then job.progress = ARGV[p + 21] end
    if ARGV[p + 22] ~= '' then job.trace_parent = ARGV[p + 22] end
    if ARGV[2] == 'retry' then
      job.state, job.attempts, job.run_at = 'pending', 0, due_time(now)
      job.completed_at, job.failed_at, job.cancelled_at = nil, nil, nil
      job.cancel_requested, job.result = nil, nil
    elseif job.state == 'processing' then
      job.attempts = math.max(job.attempts - 1, 0)
      if job.cancel_requested then
        job.state = 'cancelled'
        job.cancelled_at = job.cancelled_at or job.run_at
      else
        job.state = 'pending'
      end
      job.cancel_requested = nil
    end
    local ended = END_FIELD[job.state]
    if ended and not job[ended] then job[ended] = job.created_at end
    -- A live job whose dedupe key another live job holds here is skipped (never two).
    if not is_live(job.state) or take_dedupe(id, job) then
      store(id, job)
      index(id, job)
      written[#written + 1] = id
    else
      skip(id, 'key_held', dedupe_holder(job.dedupe_key))
    end
  end
end
if #written > 0 then notify(now) end
return {written, skipped}
