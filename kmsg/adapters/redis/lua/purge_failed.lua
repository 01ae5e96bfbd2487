-- purge_failed: delete dead letters (all, or the given ids), optionally only the old ones.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] older_than seconds ('' = any age), ARGV[4] 'all' or 'ids', ARGV[5..] job ids
-- Returns: how many dead letters were deleted.
local cutoff = '+inf'
if ARGV[3] ~= '' then cutoff = (now_s() - tonumber(ARGV[3])) * 1000 end
local ids
if ARGV[4] == 'all' then
  ids = redis.call('ZRANGE', K.failed, '-inf', cutoff, 'BYSCORE')
else
  ids = {}
  for i = 5, #ARGV do
    local score = redis.call('ZSCORE', K.failed, ARGV[i])
    if score and (cutoff == '+inf' or tonumber(score) <= cutoff) then
      ids[#ids + 1] = ARGV[i]
    end
  end
end
for _, id in ipairs(ids) do
  redis.call('ZREM', K.failed, id)
  redis.call('DEL', job_key(id))
end
return #ids
