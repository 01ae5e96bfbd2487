-- stats: counts per state, the oldest pending job's age and the settings (read only).
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- Returns: {pending, delayed, processing, completed, failed, cancelled (counts),
--           oldest pending age in seconds as a string ('' = none), paused ('1' or ''),
--           rate_max ('' = none), rate_per ('' = none)}
local out = {}
for _, state in ipairs({'pending', 'delayed', 'processing', 'completed', 'failed', 'cancelled'}) do
  out[#out + 1] = redis.call('ZCARD', K[state])
end
local oldest = redis.call('ZRANGE', K.due, 0, 0, 'WITHSCORES')
if oldest[2] then
  out[#out + 1] = tostring(math.max(now_s() - tonumber(oldest[2]) / 1000, 0))
else
  out[#out + 1] = ''
end
local meta = redis.call('HMGET', K.meta, 'paused', 'rate_max', 'rate_per')
out[#out + 1] = meta[1] or ''
out[#out + 1] = meta[2] or ''
out[#out + 1] = meta[3] or ''
return out
