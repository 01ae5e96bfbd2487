-- unwait: end an idle claimer's wait for a handoff (claim.lua registered it): drop its waiter
-- entry and empty its reply list, so a job handed to it meanwhile is never lost.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] the waiter entry ('<token base> <lease>')
-- ARGV[4] 'take' (the claimer runs what it was handed) or 'release' (the claimer is going away:
--         a handed-off job goes back to pending, attempt refunded)
-- Returns: the packed snapshots (see pack_fields) of the jobs now held ('take'), else {}.
local entry = ARGV[3]
redis.call('ZREM', K.waiters, entry)
local key = reply_key(entry)
local pushed = redis.call('LRANGE', key, 0, -1)
redis.call('DEL', key)
local held = {}
for _, packed in ipairs(pushed) do
  if packed ~= '' then held[#held + 1] = packed end
end
if ARGV[4] ~= 'release' or #held == 0 then return held end

-- The job id in a packed snapshot (see pack_fields).
local function packed_id(packed)
  local newline = string.find(packed, '\n', 1, true)
  local pos, item, previous = newline + 1, 0, nil
  for size in string.gmatch(string.sub(packed, 1, newline - 1), '%d+') do
    local value = string.sub(packed, pos, pos + size - 1)
    pos, item = pos + size, item + 1
    if item % 2 == 0 and previous == 'id' then return value end
    previous = value
  end
  return nil
end

local token = string.match(entry, '^(%S+)') .. '.1'
for _, packed in ipairs(held) do
  local id = packed_id(packed)
  if id and release_job(id, token) == 'ok' then notify() end
end
return {}
