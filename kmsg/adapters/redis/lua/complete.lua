#!lua flags=allow-oom
-- complete: the holder finished the job; keep its result.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] job id, ARGV[3] lease token, ARGV[4] '1' if a result is given, ARGV[5] result bytes
-- Returns: 'ok' (also for a replay with the same token after success), 'lost' (stale token),
--          'gone' (no such job), 'cancelled' (cancel was requested: the job is now cancelled).
return complete_job(ARGV[2], ARGV[3], ARGV[4], ARGV[5], now_s)
