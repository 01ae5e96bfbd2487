#!lua flags=allow-oom
-- release: give a held job back unstarted; it returns to pending with its attempt refunded.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] job id, ARGV[3] lease token
-- Returns: 'ok', 'lost' (stale token), 'gone' (no such job),
--          'cancelled' (cancel was requested: the job is now cancelled).
local code = release_job(ARGV[2], ARGV[3])
if code == 'ok' then notify() end
return code
