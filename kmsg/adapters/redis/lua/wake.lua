#!lua flags=allow-oom
-- wake: how long until claim may find work in this queue; wait_for_jobs runs it before waiting.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2]  the longest the caller will wait (seconds): K.idle is raised to at least
--          now + that + 1 s, so every script that may make a job claimable PUBLISHes until then
-- Returns: milliseconds to wait: 0 if a claim may succeed now, -1 if nothing is scheduled
--          (wait for a notify), else the time until the next delayed job is due, the next lease
--          ends or, when rate-limited, the next token arrives.
local now = now_s()
local now_ms = now * 1000
local until_s = now + tonumber(ARGV[2]) + 1
if (tonumber(redis.call('GET', K.idle)) or 0) < until_s then
  redis.call('SET', K.idle, exact(until_s), 'PX', math.ceil((until_s - now) * 1000))
end
local meta = read_meta()
if meta[1] == '1' then return -1 end
local wait = -1
local function consider(t)
  t = math.max(math.ceil(t), 0)
  if wait < 0 or t < wait then wait = t end
end
for _, key in ipairs({K.delayed, K.processing}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then consider(tonumber(first[2]) - now_ms) end
end
if redis.call('ZCARD', K.pending) > 0 then
  local tokens = bucket(meta, now)
  if claim_allowance(1, false, tokens) > 0 then return 0 end
  consider((1 - tokens) * tonumber(meta[3]) / tonumber(meta[2]) * 1000)
end
return wait
