#!lua flags=no-writes
-- stats: counts per state, the oldest pending job's age and the settings.
-- KEYS, ARGV[1]: see includes/common.lua.
-- The age walks the pending set one priority band at a time (the first member of a band has
-- its earliest due time): O(P log n) for P distinct pending priorities, never O(n).
-- Returns: {pending, delayed, processing, completed, failed, cancelled (counts),
--           oldest pending age in seconds as exact text ('' = none), paused ('1' or ''),
--           rate_max ('' = none), rate_per ('' = none), records found missing (count)}
local out = {}
for _, state in ipairs({'pending', 'delayed', 'processing', 'completed', 'failed', 'cancelled'}) do
  out[#out + 1] = redis.call('ZCARD', K[state])
end
local oldest = nil
local first = redis.call('ZRANGE', K.pending, 0, 0, 'WITHSCORES')
for _ = 0, 2 * MAX_PRIORITY do
  if not first[2] then break end
  local band = math.floor(tonumber(first[2]) / BAND)
  local due = tonumber(first[2]) - band * BAND
  if not oldest or due < oldest then oldest = due end
  first = redis.call('ZRANGE', K.pending, (band + 1) * BAND, '+inf', 'BYSCORE', 'LIMIT', 0, 1,
    'WITHSCORES')
end
if oldest then
  out[#out + 1] = exact(math.max(now_s() - oldest / 1000, 0))
else
  out[#out + 1] = ''
end
local meta = redis.call('HMGET', K.meta, 'paused', 'rate_max', 'rate_per', 'missing')
out[#out + 1] = meta[1] or ''
out[#out + 1] = meta[2] or ''
out[#out + 1] = meta[3] or ''
out[#out + 1] = tonumber(meta[4]) or 0
return out
