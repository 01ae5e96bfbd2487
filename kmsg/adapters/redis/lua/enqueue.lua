-- enqueue: store a batch of new jobs of one queue.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3]  queue name (stored in each job hash)
-- ARGV[4]  number of jobs n; then n blocks of 12 values:
--          id, dedupe key ('' = none), run_at ('' = use delay), delay ('' = due now),
--          task, payload, priority, max_attempts, backoff_initial, backoff_factor,
--          backoff_maximum, lease
-- Returns: an array of n ids: the new job's id, or the id of the job it deduplicated onto
--          (an existing job with the same id, or a live job holding the same dedupe key).
-- A new due job that would be the only pending one goes straight to an idle claimer waiting in
-- K.waiters, if any (and the queue is not paused, and its rate bucket has a token): claimed
-- for it as claim.lua would, and pushed to its reply list.
local BLOCK = 12
local now = now_s()
local queue = ARGV[3]
local ids = {}
local woken = false
local waiting = redis.call('ZCARD', K.waiters) > 0

-- Hand the new pending job `id` to a waiter; false (nothing done) if none may take it now.
local function hand_off(id, jk)
  if not waiting then return false end
  local entry = redis.call('ZRANGE', K.waiters, now * 1000, '+inf', 'BYSCORE', 'LIMIT', 0, 1)[1]
  if not entry or redis.call('ZCARD', K.pending) > 0 then return false end
  local meta = redis.call('HMGET', K.meta, 'paused', 'rate_max', 'rate_per', 'rate_tokens',
    'rate_at')
  if meta[1] == '1' then return false end
  local tokens = bucket(meta, now)
  if tokens then
    if tokens < 1 then return false end
    redis.call('HSET', K.meta, 'rate_tokens', tokens - 1, 'rate_at', now)
  end
  redis.call('ZREM', K.waiters, entry)
  local base, lease = string.match(entry, '^(%S+) (%S*)$')
  local lease_until = now + (tonumber(lease) or tonumber(redis.call('HGET', jk, 'lease')))
  redis.call('HSET', jk, 'attempts', 1, 'lease_until', lease_until, 'token', base .. '.1')
  place(id, jk, 'processing', lease_until)
  reply(entry, pack_fields(redis.call('HGETALL', jk)))
  return true
end
for i = 1, tonumber(ARGV[4]) do
  local p = 5 + (i - 1) * BLOCK
  local id, dedupe, run_at, delay = ARGV[p], ARGV[p + 1], ARGV[p + 2], ARGV[p + 3]
  local jk = job_key(id)
  local holder = nil
  if dedupe ~= '' then holder = dedupe_holder(dedupe) end
  if redis.call('EXISTS', jk) == 1 then
    ids[i] = id
  elseif holder then
    ids[i] = holder
  else
    if run_at ~= '' then
      run_at = tonumber(run_at)
    elseif delay ~= '' then
      run_at = now + tonumber(delay)
    else
      run_at = now
    end
    local state = 'delayed'
    if run_at <= now then state = 'pending' end
    redis.call('HSET', jk, 'id', id, 'queue', queue, 'task', ARGV[p + 4], 'payload', ARGV[p + 5],
      'priority', ARGV[p + 6], 'max_attempts', ARGV[p + 7], 'backoff_initial', ARGV[p + 8],
      'backoff_factor', ARGV[p + 9], 'backoff_maximum', ARGV[p + 10], 'lease', ARGV[p + 11],
      'created_at', now, 'run_at', run_at, 'attempts', 0, 'errors', '[]', 'state', state)
    if dedupe ~= '' then
      redis.call('HSET', jk, 'dedupe_key', dedupe)
      redis.call('HSET', K.dedupe, dedupe, id)
    end
    if state == 'delayed' then
      redis.call('ZADD', K.delayed, run_at * 1000, id)
      woken = true
    elseif not hand_off(id, jk) then
      redis.call('ZADD', K.pending, pending_score(tonumber(ARGV[p + 6]), run_at), id)
      redis.call('ZADD', K.due, run_at * 1000, id)
      woken = true
    end
    ids[i] = id
  end
end
if woken then notify(now, waiting) end
return ids
