-- release: give a held job back unstarted; it returns to pending with its attempt refunded.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] job id, ARGV[4] lease token
-- Returns: 'ok', 'lost' (stale token), 'gone' (no such job),
--          'cancelled' (cancel was requested: the job is now cancelled).
local code = release_job(ARGV[3], ARGV[4])
if code == 'ok' then notify() end
return code
