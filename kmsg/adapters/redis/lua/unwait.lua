#!lua flags=allow-oom
-- unwait: end an idle claimer's wait for a handoff (claim.lua registered it): drop its waiter
-- entry and empty its reply list, so a job handed to it meanwhile is never lost.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] the waiter entry ('<token base> <lease>')
-- ARGV[3] 'take' (the claimer runs what it was handed) or 'release' (the claimer is going away:
--         a handed-off job goes back to pending, attempt refunded, even one whose reply the
--         claimer popped but never read: its receipt, the job id alone, is still in the list)
-- Returns: the '<id> <record>' replies of the jobs now held ('take'), else {}.
local entry = ARGV[2]
redis.call('ZREM', K.waiters, entry)
local key = reply_key(entry)
local pushed = redis.call('LRANGE', key, 0, -1)
redis.call('DEL', key)
local held_jobs, handed = {}, {}
for _, value in ipairs(pushed) do
  if value ~= '' then
    local id = string.match(value, '^(%S+)')
    if string.find(value, ' ', 1, true) then held_jobs[#held_jobs + 1] = value end
    if not handed[id] then
      handed[id] = true
      handed[#handed + 1] = id
    end
  end
end
if ARGV[3] ~= 'release' then return held_jobs end
local token = string.match(entry, '^(%S+)') .. '.1'
for _, id in ipairs(handed) do
  if release_job(id, token) == 'ok' then notify() end
end
return {}
