-- clear: delete every job of the queue; its settings (meta) are kept.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- Returns: how many jobs were deleted.
local count = 0
for _, state in ipairs({'pending', 'delayed', 'processing', 'completed', 'failed', 'cancelled'}) do
  for _, id in ipairs(redis.call('ZRANGE', K[state], 0, -1)) do
    count = count + redis.call('DEL', job_key(id))
  end
  redis.call('DEL', K[state])
end
redis.call('DEL', K.due, K.dedupe)
return count
