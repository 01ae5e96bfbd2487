#!lua flags=allow-oom
-- rate_limit: set (full bucket) or remove the queue's token-bucket rate limit.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] max jobs ('' = remove the limit), ARGV[3] per seconds
-- Returns: 1.
if ARGV[2] == '' then
  redis.call('HDEL', K.meta, 'rate_max', 'rate_per', 'rate_tokens', 'rate_at')
  redis.call('HSETNX', K.meta, 'seq', 0)
else
  redis.call('HSET', K.meta, 'rate_max', ARGV[2], 'rate_per', ARGV[3], 'rate_tokens', ARGV[2],
    'rate_at', now_s())
end
notify()
return 1
