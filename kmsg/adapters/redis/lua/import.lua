#!lua
-- import: write job snapshots of one queue as they are (migration), or as retried dead letters.
-- Grows the store, so like enqueue it is refused as a whole under maxmemory (no allow-oom).
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2]  mode: 'import' (a processing snapshot becomes pending with its attempt refunded, or
--          cancelled if its cancel was requested) or 'retry' (every job becomes pending now with
--          attempts 0; for retry_failed to another queue)
-- ARGV[3]  number of jobs n; then n blocks of 21 values ('' = none):
--          id, state, task, payload, priority, run_at, created_at, attempts, max_attempts,
--          backoff_initial, backoff_factor, backoff_maximum, lease, dedupe_key,
--          errors (JSON array of {at, attempt, type, message}), '1' if a result is given, result,
--          '1' if cancel was requested, completed_at, failed_at, cancelled_at
-- Returns: how many jobs were written (ids that already exist are skipped). Each gets a new
--          enqueue sequence number in this queue.
local BLOCK = 21
local now = now_s()
local count = 0

local function number(value)
  if value == '' then return nil end
  return tonumber(value)
end

for i = 1, tonumber(ARGV[3]) do
  local p = 4 + (i - 1) * BLOCK
  local id = ARGV[p]
  if redis.call('HEXISTS', K.jobs, id) == 0 then
    local job = {
      state = ARGV[p + 1], task = ARGV[p + 2], payload = ARGV[p + 3],
      priority = tonumber(ARGV[p + 4]), run_at = floor_ms(tonumber(ARGV[p + 5])),
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
    if ARGV[2] == 'retry' then
      job.state, job.attempts, job.run_at = 'pending', 0, floor_ms(now)
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
    if is_live(job.state) then take_dedupe(id, job) end
    store(id, job)
    index(id, job)
    count = count + 1
  end
end
if count > 0 then notify(now) end
return count
