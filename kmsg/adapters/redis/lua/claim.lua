#!lua flags=allow-oom
-- claim: end expired leases, promote due delayed jobs, then lease the best pending jobs.
-- Runs under maxmemory (allow-oom): a fleet must be able to drain the queue that fills it.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2]  limit (jobs wanted; at most STEP_JOBS are taken)
-- ARGV[3]  lease seconds ('' = each job's own lease)
-- ARGV[4]  a fresh random token base (made by the client for this call); the job in slot i
--          gets lease token base .. '.' .. i, so every lease of every call is distinct
-- ARGV[5]  optional: seconds to wait for a handoff ('' or absent = do not wait): when nothing
--          is claimed, register '<ARGV[4]> <ARGV[3]>' in K.waiters until the first of that time,
--          the next delayed job, the next lease end or (rate-limited) the next token
-- Returns: id1, record1, id2, record2, ... for the claimed jobs (records as stored); empty when
--          the queue is paused, rate-limited or has nothing due. With ARGV[5] and nothing
--          claimed: the registration's length in ms (an integer) instead.
-- Work per call is bounded: at most RECLAIM leases ended, STEP_JOBS jobs promoted (and about
-- STEP_BYTES of records rewritten), and `limit` jobs claimed.
local RECLAIM = 100
local now = now_s()
local now_ms = now * 1000

for _, m in ipairs(redis.call('ZRANGE', K.processing, '-inf', now_ms, 'BYSCORE', 'LIMIT', 0,
    RECLAIM)) do
  local id = id_of(m)
  local job = load(id)
  if not job then
    lost_record(K.processing, m)
  elseif job.cancel_requested then
    finish(id, job, 'cancelled', now)
  else
    add_error(job, now, 'LeaseExpired', 'the lease ended before the job was acknowledged')
    after_failure(id, job, now, nil, true)
  end
end

local rewritten = 0
for _, m in ipairs(redis.call('ZRANGE', K.delayed, '-inf', now_ms, 'BYSCORE', 'LIMIT', 0,
    STEP_JOBS)) do
  if rewritten > STEP_BYTES then break end
  local id = id_of(m)
  local job, size = load(id)
  if job then
    move(id, job, 'pending')
    rewritten = rewritten + size
  else
    lost_record(K.delayed, m)
  end
end

local meta = read_meta()
local tokens = bucket(meta, now)
local take = claim_allowance(math.min(tonumber(ARGV[2]), STEP_JOBS), meta[1] == '1', tokens)

-- Nothing claimed: register for a handoff until the clock alone may make work claimable.
local function register()
  local wait = tonumber(ARGV[5]) * 1000
  for _, key in ipairs({K.delayed, K.processing}) do
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if first[2] then wait = math.min(wait, tonumber(first[2]) - now_ms) end
  end
  if tokens and meta[1] ~= '1' and redis.call('ZCARD', K.pending) > 0 then
    wait = math.min(wait, (1 - tokens) * tonumber(meta[3]) / tonumber(meta[2]) * 1000)
  end
  wait = math.max(math.ceil(wait), 1)
  redis.call('ZREMRANGEBYSCORE', K.waiters, '-inf', '(' .. now_ms)
  redis.call('ZADD', K.waiters, now_ms + wait, ARGV[4] .. ' ' .. ARGV[3])
  return wait
end

local out = {}
local claimed = 0
local lease = tonumber(ARGV[3])
-- Candidates whose record is gone are dropped; the loop looks again for as many as it lacks.
for _ = 1, 3 do
  if claimed >= take then break end
  local found = redis.call('ZRANGE', K.pending, 0, take - claimed - 1)
  if #found == 0 then break end
  for _, m in ipairs(found) do
    local id = id_of(m)
    local job = load(id)
    if job then
      claimed = claimed + 1
      job.attempts = job.attempts + 1
      job.progress = nil
      job.lease_until = now + (lease or job.lease)
      job.token = ARGV[4] .. '.' .. claimed
      out[#out + 1] = id
      out[#out + 1] = move(id, job, 'processing')
    else
      lost_record(K.pending, m)
    end
  end
end
if tokens and meta[1] ~= '1' then
  redis.call('HSET', K.meta, 'rate_tokens', tokens - claimed, 'rate_at', now)
end
if claimed == 0 and ARGV[5] and ARGV[5] ~= '' then return register() end
return out
