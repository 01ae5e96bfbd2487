#!lua flags=allow-oom
-- pause: set or clear the queue's paused flag (claim hands out nothing while it is set).
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] '1' to pause, '0' to resume
-- Returns: 1.
if ARGV[2] == '1' then
  redis.call('HSET', K.meta, 'paused', '1')
else
  redis.call('HDEL', K.meta, 'paused')
  redis.call('HSETNX', K.meta, 'seq', 0)
  notify()
end
return 1
