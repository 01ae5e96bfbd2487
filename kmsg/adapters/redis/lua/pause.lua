-- pause: set or clear the queue's paused flag (claim hands out nothing while it is set).
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] '1' to pause, '0' to resume
-- Returns: 1.
if ARGV[3] == '1' then
  redis.call('HSET', K.meta, 'paused', '1')
else
  redis.call('HDEL', K.meta, 'paused')
  notify()
end
return 1
