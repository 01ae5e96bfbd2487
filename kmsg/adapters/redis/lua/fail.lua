#!lua flags=allow-oom
-- fail: record a failed attempt of a held job; retry it later or dead-letter it.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] job id, ARGV[3] lease token, ARGV[4] error type, ARGV[5] error message,
-- ARGV[6] retry_in seconds ('' = the job's backoff), ARGV[7] '1' if retryable
-- Returns: 'delayed' or 'failed' (the new state), 'lost' (stale token), 'gone' (no such job),
--          'cancelled' (cancel was requested: error recorded, the job is now cancelled).
local id = ARGV[2]
local job, code = held(id, ARGV[3])
if not job then return code end
local now = now_s()
add_error(job, now, ARGV[4], ARGV[5])
if job.cancel_requested then
  finish(id, job, 'cancelled', now)
  return 'cancelled'
end
return after_failure(id, job, now, tonumber(ARGV[6]), ARGV[7] == '1')
