#!lua flags=allow-oom
-- remove: delete one job in any state (a holder then gets LeaseLost).
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] job id
-- Returns: 1 if the job existed, else 0.
local id = ARGV[2]
local job = load(id)
if not job then return 0 end
redis.call('ZREM', K[job.state], member(id, job))
release_dedupe(id, job)
redis.call('HDEL', K.jobs, id)
tell_watchers(id)
return 1
