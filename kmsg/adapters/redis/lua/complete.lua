-- complete: the holder finished the job; keep its result.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] job id, ARGV[4] lease token, ARGV[5] '1' if a result is given, ARGV[6] result bytes
-- Returns: 'ok' (also for a replay with the same token after success), 'lost' (stale token),
--          'gone' (no such job), 'cancelled' (cancel was requested: the job is now cancelled).
return complete_job(ARGV[3], ARGV[4], ARGV[5], ARGV[6], now_s)
