-- cleanup: delete terminal jobs that ended more than `older_than` seconds ago.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] older_than seconds, ARGV[4..] terminal states (completed, failed, cancelled)
-- Returns: how many jobs were deleted.
local cutoff = (now_s() - tonumber(ARGV[3])) * 1000
local count = 0
for i = 4, #ARGV do
  local key = K[ARGV[i]]
  if END_FIELD[ARGV[i]] then
    for _, id in ipairs(redis.call('ZRANGE', key, '-inf', cutoff, 'BYSCORE')) do
      count = count + redis.call('DEL', job_key(id))
    end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  end
end
return count
