-- remove: delete one job in any state (a holder then gets LeaseLost).
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] job id
-- Returns: 1 if the job existed, else 0.
local id = ARGV[3]
local jk = job_key(id)
local state = redis.call('HGET', jk, 'state')
if not state then return 0 end
unindex(id, state)
release_dedupe(id, jk)
redis.call('DEL', jk)
return 1
