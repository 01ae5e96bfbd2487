#!lua flags=allow-oom
-- extend: heartbeat; the held job's lease now ends `duration` seconds from now.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] job id, ARGV[3] lease token, ARGV[4] duration seconds, ARGV[5] progress ('' = keep)
-- Returns: the new lease_until (exact text), or 'lost', 'gone' or 'cancel_requested' (nothing
--          changed: the holder should stop). The codes are kmsg.outcomes.Lost's values.
return extend_job(ARGV[2], ARGV[3], now_s() + tonumber(ARGV[4]), ARGV[5])
