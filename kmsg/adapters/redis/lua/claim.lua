-- claim: reclaim expired leases, promote due delayed jobs, then lease the best pending jobs.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3]  limit (jobs wanted)
-- ARGV[4]  lease seconds ('' = each job's own lease)
-- ARGV[5]  a fresh random token base (made by the client for this call); the job in slot i
--          gets lease token base .. '.' .. i, so every lease of every call is distinct
-- ARGV[6]  optional: seconds to wait for a handoff ('' or absent = do not wait): when nothing
--          is claimed, register '<ARGV[5]> <ARGV[4]>' in K.waiters until the first of that time,
--          the next delayed job, the next lease end or (rate-limited) the next token
-- Returns: an array of claimed jobs, each a flat HGETALL field/value array; empty when the
--          queue is paused, rate-limited or has nothing due. With ARGV[6] and nothing
--          claimed: the registration's length in ms (an integer) instead.
local RECLAIM_BATCH = 100
local PROMOTE_BATCH = 1000
local now = now_s()
local now_ms = now * 1000

local expired = redis.call('ZRANGE', K.processing, '-inf', now_ms, 'BYSCORE', 'LIMIT', 0,
  RECLAIM_BATCH)
for _, id in ipairs(expired) do
  local jk = job_key(id)
  if redis.call('HGET', jk, 'cancel_requested') == '1' then
    finish(id, jk, 'processing', 'cancelled', now)
  else
    add_error(jk, now, 'LeaseExpired', 'the lease ended before the job was acknowledged')
    after_failure(id, jk, now, nil, true)
  end
end

local due = redis.call('ZRANGE', K.delayed, '-inf', now_ms, 'BYSCORE', 'LIMIT', 0,
  PROMOTE_BATCH)
for _, id in ipairs(due) do
  local jk = job_key(id)
  redis.call('ZREM', K.delayed, id)
  place(id, jk, 'pending', tonumber(redis.call('HGET', jk, 'run_at')))
end

local meta = redis.call('HMGET', K.meta, 'paused', 'rate_max', 'rate_per', 'rate_tokens',
  'rate_at')
local take = tonumber(ARGV[3])
local tokens = bucket(meta, now)
if meta[1] == '1' then take = 0 end
if tokens then take = math.min(take, math.floor(tokens)) end

-- Nothing claimed: register for a handoff until the clock alone may make work claimable.
local function register()
  local wait = tonumber(ARGV[6]) * 1000
  for _, key in ipairs({K.delayed, K.processing}) do
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if first[2] then wait = math.min(wait, tonumber(first[2]) - now_ms) end
  end
  if tokens and meta[1] ~= '1' and redis.call('ZCARD', K.pending) > 0 then
    wait = math.min(wait, (1 - tokens) * tonumber(meta[3]) / tonumber(meta[2]) * 1000)
  end
  wait = math.max(math.ceil(wait), 1)
  redis.call('ZREMRANGEBYSCORE', K.waiters, '-inf', '(' .. now_ms)
  redis.call('ZADD', K.waiters, now_ms + wait, ARGV[5] .. ' ' .. ARGV[4])
  return wait
end

local claimed = {}
if take >= 1 then
  local ids = redis.call('ZRANGE', K.pending, 0, take - 1)
  for i, id in ipairs(ids) do
    local jk = job_key(id)
    unindex(id, 'pending')
    redis.call('HINCRBY', jk, 'attempts', 1)
    local lease = tonumber(ARGV[4]) or tonumber(redis.call('HGET', jk, 'lease'))
    local lease_until = now + lease
    redis.call('HSET', jk, 'lease_until', lease_until, 'token', ARGV[5] .. '.' .. i)
    place(id, jk, 'processing', lease_until)
    claimed[i] = redis.call('HGETALL', jk)
  end
end
if tokens and meta[1] ~= '1' then
  redis.call('HSET', K.meta, 'rate_tokens', tokens - #claimed, 'rate_at', now)
end
if #claimed == 0 and ARGV[6] and ARGV[6] ~= '' then return register() end
return claimed
