#!lua flags=allow-oom
-- unwait: end an idle claimer's wait for a handoff (claim.lua registered it): drop its waiter
-- entry and empty its reply list, so a job handed to it meanwhile is never lost.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] the waiter entry ('<token base> <lease>')
-- ARGV[3] 'take' (the claimer runs what it was handed) or 'release' (the claimer is going away:
--         a handed-off job goes back to pending, attempt refunded)
-- Returns: the '<id> <record>' replies of the jobs now held ('take'), else {}.
local entry = ARGV[2]
redis.call('ZREM', K.waiters, entry)
local key = reply_key(entry)
local pushed = redis.call('LRANGE', key, 0, -1)
redis.call('DEL', key)
local held_jobs = {}
for _, value in ipairs(pushed) do
  if value ~= '' then held_jobs[#held_jobs + 1] = value end
end
if ARGV[3] ~= 'release' then return held_jobs end
local token = string.match(entry, '^(%S+)') .. '.1'
for _, value in ipairs(held_jobs) do
  if release_job(string.match(value, '^(%S+) '), token) == 'ok' then notify() end
end
return {}
