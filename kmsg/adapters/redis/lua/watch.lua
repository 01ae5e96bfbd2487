#!lua flags=allow-oom
-- watch: note that a caller of JobQueue.wait awaits job ARGV[2], so the script that ends it (or
-- removes it) PUBLISHes its id on the channel named like K.watched (see tell_watchers).
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] job id
-- Returns: 1 if the job is live and now watched, else 0 (ended or missing: look at it now).
local id = ARGV[2]
local job = load(id)
if not job or not is_live(job.state) then return 0 end
redis.call('HSET', K.watched, id, '1')
return 1
