-- fail: record a failed attempt of a held job; retry it later or dead-letter it.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] job id, ARGV[4] lease token, ARGV[5] error type, ARGV[6] error message,
-- ARGV[7] retry_in seconds ('' = the job's backoff), ARGV[8] '1' if retryable
-- Returns: 'delayed' or 'failed' (the new state), 'lost' (stale token), 'gone' (no such job),
--          'cancelled' (cancel was requested: error recorded, the job is now cancelled).
local id, token = ARGV[3], ARGV[4]
local jk = job_key(id)
local h = redis.call('HMGET', jk, 'state', 'token', 'cancel_requested')
if not h[1] then return 'gone' end
if h[1] ~= 'processing' or h[2] ~= token then return 'lost' end
local now = now_s()
add_error(jk, now, ARGV[5], ARGV[6])
if h[3] == '1' then
  finish(id, jk, 'processing', 'cancelled', now)
  return 'cancelled'
end
return after_failure(id, jk, now, tonumber(ARGV[7]), ARGV[8] == '1')
