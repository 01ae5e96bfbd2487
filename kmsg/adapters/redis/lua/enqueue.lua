#!lua
-- enqueue: store a batch of new jobs of one queue (refused as a whole under maxmemory: the
-- script has no allow-oom flag, so Redis answers OOM before it runs and nothing is written).
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2]  number of jobs n; then n blocks of 13 values:
--          id, dedupe key ('' = none), run_at ('' = use delay), delay ('' = due now),
--          task, payload, priority, max_attempts, backoff_initial, backoff_factor,
--          backoff_maximum, lease, trace_parent ('' = none)
-- Returns: 2n values: for each job its id (or the id of the job it deduplicated onto) and how:
--          'new' (stored), 'id' (a job with this id exists) or 'key' (a live job holds the key).
-- A new due job that would be the only pending one goes straight to an idle claimer waiting in
-- K.waiters, if any (and the queue is not paused, and its rate bucket has a token): claimed
-- for it as claim.lua would, and pushed to its reply list as '<id> <record>'.
local BLOCK = 13
local count = tonumber(ARGV[2])
local now = now_s()
local out = {}
local woken = false
local waiting = redis.call('ZCARD', K.waiters) > 0
local seq = redis.call('HINCRBY', K.meta, 'seq', count) - count

-- Hand the new pending job to a waiter; false (nothing done) if none may take it now.
local function hand_off(id, job)
  if not waiting then return false end
  local entry = redis.call('ZRANGE', K.waiters, now * 1000, '+inf', 'BYSCORE', 'LIMIT', 0, 1)[1]
  if not entry or redis.call('ZCARD', K.pending) > 0 then return false end
  local meta = read_meta()
  local tokens = bucket(meta, now)
  if claim_allowance(1, meta[1] == '1', tokens) == 0 then return false end
  if tokens then redis.call('HSET', K.meta, 'rate_tokens', tokens - 1, 'rate_at', now) end
  redis.call('ZREM', K.waiters, entry)
  local base, lease = string.match(entry, '^(%S+) (%S*)$')
  job.state = 'processing'
  job.attempts = 1
  job.lease_until = now + (tonumber(lease) or job.lease)
  job.token = base .. '.1'
  index(id, job)
  reply(entry, id .. ' ' .. store(id, job), id)
  return true
end

for i = 1, count do
  local p = 3 + (i - 1) * BLOCK
  local id, key, run_at, delay = ARGV[p], ARGV[p + 1], ARGV[p + 2], ARGV[p + 3]
  local holder = nil
  if key ~= '' then holder = dedupe_holder(key) end
  if redis.call('HEXISTS', K.jobs, id) == 1 then
    out[#out + 1], out[#out + 2] = id, 'id'
  elseif holder then
    out[#out + 1], out[#out + 2] = holder, 'key'
  else
    if run_at ~= '' then
      run_at = tonumber(run_at)
    elseif delay ~= '' then
      run_at = now + tonumber(delay)
    else
      run_at = now
    end
    run_at = due_time(run_at)
    local job = {
      state = 'delayed', task = ARGV[p + 4], payload = ARGV[p + 5],
      priority = tonumber(ARGV[p + 6]), run_at = run_at, created_at = now, attempts = 0,
      max_attempts = tonumber(ARGV[p + 7]), backoff_initial = tonumber(ARGV[p + 8]),
      backoff_factor = tonumber(ARGV[p + 9]), backoff_maximum = tonumber(ARGV[p + 10]),
      lease = tonumber(ARGV[p + 11]), seq = seq + i,
    }
    if ARGV[p + 12] ~= '' then job.trace_parent = ARGV[p + 12] end
    if key ~= '' then
      job.dedupe_key = key
      redis.call('HSET', K.dedupe, key, id)
    end
    if run_at <= now then job.state = 'pending' end
    if job.state == 'delayed' or not hand_off(id, job) then
      store(id, job)
      index(id, job)
      woken = true
    end
    out[#out + 1], out[#out + 2] = id, 'new'
  end
end
if woken then notify(now, waiting) end
return out
