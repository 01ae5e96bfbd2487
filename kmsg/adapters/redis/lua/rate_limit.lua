-- rate_limit: set (full bucket) or remove the queue's token-bucket rate limit.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] max jobs ('' = remove the limit), ARGV[4] per seconds
-- Returns: 1.
if ARGV[3] == '' then
  redis.call('HDEL', K.meta, 'rate_max', 'rate_per', 'rate_tokens', 'rate_at')
else
  redis.call('HSET', K.meta, 'rate_max', ARGV[3], 'rate_per', ARGV[4], 'rate_tokens', ARGV[3],
    'rate_at', now_s())
end
notify()
return 1
