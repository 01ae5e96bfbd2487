-- wake: how long until claim may find work in this queue; wait_for_jobs runs it before waiting.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3]  the longest the caller will wait (seconds): meta.idle_until is raised to at least
--          now + that + 1 s, so every script that may make a job claimable PUBLISHes until then
-- Returns: milliseconds to wait: 0 if a claim may succeed now, -1 if nothing is scheduled
--          (wait for a notify), else the time until the next delayed job is due, the next lease
--          ends or, when rate-limited, the next token arrives.
local now = now_s()
local now_ms = now * 1000
local until_s = now + tonumber(ARGV[3]) + 1
if (tonumber(redis.call('HGET', K.meta, 'idle_until')) or 0) < until_s then
  redis.call('HSET', K.meta, 'idle_until', until_s)
end
local meta = redis.call('HMGET', K.meta, 'paused', 'rate_max', 'rate_per', 'rate_tokens',
  'rate_at')
if meta[1] == '1' then return -1 end
local wait = -1
local function consider(ms)
  ms = math.max(math.ceil(ms), 0)
  if wait < 0 or ms < wait then wait = ms end
end
for _, key in ipairs({K.delayed, K.processing}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then consider(tonumber(first[2]) - now_ms) end
end
if redis.call('ZCARD', K.pending) > 0 then
  if meta[2] then
    local rate_max, per = tonumber(meta[2]), tonumber(meta[3])
    local tokens = tonumber(meta[4]) + math.max(now - tonumber(meta[5]), 0) * rate_max / per
    if tokens >= 1 then return 0 end
    consider((1 - tokens) * per / rate_max * 1000)
  else
    return 0
  end
end
return wait
