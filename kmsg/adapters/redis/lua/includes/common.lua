-- Shared helpers, placed after each script's flags line and before its own code (scripts.py).
--
-- Every script gets the same KEYS and the same leading ARGV (key layout: keys.py):
--   KEYS[1] pending     zset  member -> (MAX_PRIORITY - priority) * 2^42 + run_at (ms)
--   KEYS[2] delayed     zset  member -> run_at (ms)
--   KEYS[3] processing  zset  member -> lease_until (ms)
--   KEYS[4] completed   zset  member -> completed_at (ms)
--   KEYS[5] failed      zset  member -> failed_at (ms)
--   KEYS[6] cancelled   zset  member -> cancelled_at (ms)
--   KEYS[7] jobs        hash  job id -> the job's record (see encode)
--   KEYS[8] dedupe      hash  dedupe key -> id of the live job holding it
--   KEYS[9] meta        hash  seq, missing, paused, rate_max, rate_per, rate_tokens, rate_at
--                             (it exists once the queue has held a job or a setting)
--   KEYS[10] waiters    zset  idle claimers awaiting a direct handoff: '<token base> <lease>'
--           -> until when it waits (ms); its reply list is KEYS[10] .. ':' .. token base
--   KEYS[11] idle       string until when a pub/sub waiter may be idle (epoch seconds)
--   KEYS[12] watched    hash  job id -> '1' while a caller of JobQueue.wait may await it; also
--                             the pub/sub channel the job's id is PUBLISHed on when it ends
--   ARGV[1] notify channel (PUBLISHed when a job may have become claimable while a waiter may
--           be idle: see notify)
-- Script-specific ARGV start at 2. Times in records are epoch seconds.
--
-- An index member is the job's enqueue sequence (12 hex digits) followed by its id, so equal
-- scores go in enqueue order. Every script reads a job's record before it writes: an index entry
-- whose record is gone is dropped where it is met and counted in meta.missing (lost_record),
-- never turned into a stub.

local K = {
  pending = KEYS[1], delayed = KEYS[2], processing = KEYS[3],
  completed = KEYS[4], failed = KEYS[5], cancelled = KEYS[6],
  jobs = KEYS[7], dedupe = KEYS[8], meta = KEYS[9], waiters = KEYS[10], idle = KEYS[11],
  watched = KEYS[12],
}
local CHANNEL = ARGV[1]
local MAX_PRIORITY = 1000
local BAND = 4398046511104 -- 2^42 ms: about year 2109
local SEQ_DIGITS = 12
-- The most jobs one call touches, and about the most record bytes one call rewrites
-- (kmsg.validation.STEP_JOBS and STEP_BYTES; a test keeps them equal).
local STEP_JOBS = 500
local STEP_BYTES = 1048576
local MAX_ERRORS = 50
-- The history entry type of a snooze (kmsg.rules.SNOOZED).
local SNOOZED = 'Snoozed'
local END_FIELD = {completed = 'completed_at', failed = 'failed_at', cancelled = 'cancelled_at'}
-- A reply list lives at most this long: only a claimer that died leaves one behind.
local REPLY_TTL_MS = 60000

-- The record of a job: a MessagePack array of these fields, in this order, trailing nils cut
-- (kmsg.adapters.redis.records decodes it). errors is an array of {at, attempt, type, message}.
local FIELDS = {
  'state', 'task', 'payload', 'priority', 'run_at', 'created_at', 'attempts', 'max_attempts',
  'backoff_initial', 'backoff_factor', 'backoff_maximum', 'lease', 'seq', 'dedupe_key', 'token',
  'lease_until', 'cancel_requested', 'errors', 'result', 'completed_at', 'failed_at',
  'cancelled_at', 'progress', 'trace_parent',
}

local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- The rules of kmsg.rules, function for function (tests/core/test_rules_lua.py checks that
-- they agree with the Python reference on the same inputs).

-- Due times are kept to the millisecond (floored); ms() gives the score of such a time.
local function due_time(t)
  return math.floor(t * 1000) / 1000
end

-- min(maximum, initial * factor ^ (attempt - 1)); an overflow is maximum.
local function backoff_delay(initial, factor, maximum, attempt)
  local raw = initial * factor ^ math.max(attempt - 1, 0)
  if raw ~= raw or raw > maximum then return maximum end
  return raw
end

-- When a job whose attempt number `attempts` just failed runs again, or nil (dead-lettered).
local function retry_at(now, attempts, max_attempts, delay, retryable)
  if not retryable or attempts >= max_attempts then return nil end
  return due_time(now + delay)
end

-- The tokens of a rate bucket at `now` (refilled at max_jobs / per_seconds a second).
local function refill(tokens, refilled_at, now, max_jobs, per_seconds)
  local elapsed = math.max(now - refilled_at, 0)
  return math.min(max_jobs, tokens + elapsed * max_jobs / per_seconds)
end

-- How many jobs one claim may take (tokens nil: no rate limit).
local function claim_allowance(limit, paused, tokens)
  if paused then return 0 end
  if tokens == nil then return limit end
  return math.max(0, math.min(limit, math.floor(tokens + 1e-9)))
end

local function ms(t)
  return math.floor(t * 1000 + 0.5)
end

-- A number as text that reads back to the same double (tostring keeps only 14 digits).
local function exact(x)
  return string.format('%.17g', x)
end

local function decode(blob)
  local row = cmsgpack.unpack(blob)
  local job = {}
  for i, name in ipairs(FIELDS) do job[name] = row[i] end
  return job
end

local function encode(job)
  local row, n, holes = {}, 0, false
  for i, name in ipairs(FIELDS) do
    local value = job[name]
    if value ~= nil then
      if n < i - 1 then holes = true end
      row[i] = value
      n = i
    end
  end
  -- A table without holes packs as an array by itself; one with holes would pack as a map, so
  -- its fields go one by one after an array header (nils included).
  if not holes then return cmsgpack.pack(row) end
  local header = n < 16 and string.char(0x90 + n) or string.char(0xdc, 0, n)
  return header .. cmsgpack.pack(unpack(row, 1, n))
end

-- The job's record, or nil (and its size in bytes).
local function load(id)
  local blob = redis.call('HGET', K.jobs, id)
  if not blob then return nil, 0 end
  return decode(blob), #blob
end

local function store(id, job)
  local blob = encode(job)
  redis.call('HSET', K.jobs, id, blob)
  return blob
end

local function member(id, job)
  return string.format('%012x', job.seq) .. id
end

local function id_of(m)
  return string.sub(m, SEQ_DIGITS + 1)
end

-- Drop index entry `m` of `key`, whose record is gone, and count it.
local function lost_record(key, m)
  redis.call('ZREM', key, m)
  redis.call('HINCRBY', K.meta, 'missing', 1)
end

-- Delete the terminal jobs of `key` that ended at or before `cutoff` (ms), at most `limit` of
-- them, oldest first (no dedupe key to give back: a terminal job holds none). Returns how many
-- records were deleted, and how many entries were looked at (a gone record is only counted).
local function delete_ended(key, cutoff, limit)
  local found = redis.call('ZRANGE', key, '-inf', cutoff, 'BYSCORE', 'LIMIT', 0, limit)
  local deleted = 0
  for _, m in ipairs(found) do
    if redis.call('HDEL', K.jobs, id_of(m)) == 1 then
      deleted = deleted + 1
    else
      redis.call('HINCRBY', K.meta, 'missing', 1)
    end
  end
  if #found > 0 then redis.call('ZREM', key, unpack(found)) end
  return deleted, #found
end

local function pending_score(priority, run_at)
  local t = ms(run_at)
  if t < 0 then t = 0 elseif t > BAND - 1 then t = BAND - 1 end
  return (MAX_PRIORITY - priority) * BAND + t
end

local function is_live(state)
  return state == 'pending' or state == 'delayed' or state == 'processing'
end

-- Index the job (whose record already says `state`) at its place in the state's set.
local function index(id, job)
  local state = job.state
  local score
  if state == 'pending' then
    score = pending_score(job.priority, job.run_at)
  elseif state == 'delayed' then
    score = ms(job.run_at)
  elseif state == 'processing' then
    score = job.lease_until * 1000
  else
    score = job[END_FIELD[state]] * 1000
  end
  redis.call('ZADD', K[state], score, member(id, job))
end

-- Move the job from its current state's set into `state`, and store its record. Every change of
-- an existing job's state goes through here (the one transition point: events and batch
-- counters hook in here); a new job is written by store() and index().
local function move(id, job, state)
  redis.call('ZREM', K[job.state], member(id, job))
  job.state = state
  index(id, job)
  return store(id, job)
end

-- The reply list of waiter entry `entry` ('<token base> <lease>').
local function reply_key(entry)
  return K.waiters .. ':' .. string.match(entry, '^(%S+)')
end

-- Push `value` to the reply list of waiter `entry` (already removed from K.waiters). With `id`
-- (a job claimed for the waiter), a receipt follows: the job's id alone, which stays in the list
-- when the waiter pops the reply. If that reply is lost on its way (the waiter was cancelled,
-- or its connection dropped), the unwait the waiter runs then still finds the job to release.
local function reply(entry, value, id)
  local key = reply_key(entry)
  redis.call('RPUSH', key, value)
  if id then redis.call('RPUSH', key, id) end
  redis.call('PEXPIRE', key, REPLY_TTL_MS)
end

-- Wake the queue's waiters, if any may be waiting: wake.lua marks K.idle before a
-- pub/sub waiter waits, so a busy worker that keeps claiming is not sent a message per job;
-- claimers awaiting a handoff get an empty reply (claim again) and leave K.waiters. `now` is
-- the script's time if it has one (else TIME is read); `waiting` false: the script knows that
-- K.waiters is empty.
local function notify(now, waiting)
  now = now or now_s()
  local idle_until = redis.call('GET', K.idle)
  if idle_until and tonumber(idle_until) >= now then
    redis.call('PUBLISH', CHANNEL, '1')
  end
  if waiting == false then return end
  local waiters = redis.call('ZRANGE', K.waiters, now * 1000, '+inf', 'BYSCORE')
  for _, entry in ipairs(waiters) do reply(entry, '') end
  if #waiters > 0 then redis.call('DEL', K.waiters) end
end

-- The rate bucket's tokens now (nil when the queue has no rate limit); `meta` is HMGET
-- paused, rate_max, rate_per, rate_tokens, rate_at.
local function bucket(meta, now)
  if not meta[2] then return nil end
  return refill(tonumber(meta[4]), tonumber(meta[5]), now, tonumber(meta[2]),
    tonumber(meta[3]))
end

local function read_meta()
  return redis.call('HMGET', K.meta, 'paused', 'rate_max', 'rate_per', 'rate_tokens', 'rate_at')
end

-- The id of the live job holding dedupe key `key`, or nil.
local function dedupe_holder(key)
  local holder = redis.call('HGET', K.dedupe, key)
  if not holder then return nil end
  local job = load(holder)
  if job and is_live(job.state) then return holder end
  return nil
end

local function release_dedupe(id, job)
  local key = job.dedupe_key
  if key and redis.call('HGET', K.dedupe, key) == id then redis.call('HDEL', K.dedupe, key) end
end

-- Let a job that is becoming live again (a redrive, an import) take its dedupe key back.
-- Returns false, changing nothing, when another live job holds the key: two live jobs never
-- share one (the caller then leaves the job as it was).
local function take_dedupe(id, job)
  local key = job.dedupe_key
  if not key then return true end
  local holder = dedupe_holder(key)
  if holder and holder ~= id then return false end
  redis.call('HSET', K.dedupe, key, id)
  return true
end

-- Tell the callers of JobQueue.wait awaiting job `id`, if any, that it ended or went away
-- (one HDEL when nobody waits).
local function tell_watchers(id)
  if redis.call('HDEL', K.watched, id) == 1 then redis.call('PUBLISH', K.watched, id) end
end

-- Move a live job into terminal `state` at time `now`; returns the stored record.
local function finish(id, job, state, now)
  job[END_FIELD[state]] = now
  job.lease_until = nil
  release_dedupe(id, job)
  tell_watchers(id)
  return move(id, job, state)
end

-- Add {at, attempt, type, message} to the job's error history (the last MAX_ERRORS kept).
local function add_error(job, now, etype, message)
  local errors = job.errors or {}
  errors[#errors + 1] = {now, job.attempts, etype, message}
  if #errors > MAX_ERRORS then table.remove(errors, 1) end
  job.errors = errors
end

-- A processing job's attempt failed: retry it (delayed) or dead-letter it. Returns the new state.
local function after_failure(id, job, now, retry_in, retryable)
  local delay = retry_in or backoff_delay(job.backoff_initial, job.backoff_factor,
    job.backoff_maximum, job.attempts)
  local run_at = retry_at(now, job.attempts, job.max_attempts, delay, retryable)
  if run_at then
    job.run_at = run_at
    job.lease_until = nil
    move(id, job, 'delayed')
    notify(now)
    return 'delayed'
  end
  finish(id, job, 'failed', now)
  return 'failed'
end

-- Check that `token` holds job `id`: returns the record, or nil and 'gone' / 'lost'.
local function held(id, token)
  local job = load(id)
  if not job then return nil, 'gone' end
  if job.state ~= 'processing' or job.token ~= token then return nil, 'lost' end
  return job
end

-- Give a held job back unstarted: pending again, attempt refunded (a requested cancel wins).
-- Returns 'ok', 'lost', 'gone' or 'cancelled', as release.lua does.
local function release_job(id, token)
  local job, code = held(id, token)
  if not job then return code end
  if job.cancel_requested then
    finish(id, job, 'cancelled', now_s())
    return 'cancelled'
  end
  job.attempts = math.max(job.attempts - 1, 0)
  job.lease_until = nil
  job.token = nil
  move(id, job, 'pending')
  return 'ok'
end

-- complete.lua's work for one job (see there for the codes); `now` is a function, so that
-- TIME is read only when a job actually changes.
local function complete_job(id, token, has_result, result, now)
  local job = load(id)
  if not job then return 'gone' end
  if job.token ~= token then return 'lost' end
  if job.state == 'completed' then return 'ok' end
  if job.state ~= 'processing' then return 'lost' end
  if job.cancel_requested then
    finish(id, job, 'cancelled', now())
    return 'cancelled'
  end
  if has_result == '1' then job.result = result end
  finish(id, job, 'completed', now())
  return 'ok'
end

-- extend.lua's work for one job: the new deadline as exact text, or 'lost', 'gone' or
-- 'cancel_requested' (nothing changed: the holder should stop). `progress` '' leaves the job's
-- progress as it is (a reported progress is never empty).
local function extend_job(id, token, lease_until, progress)
  local job, code = held(id, token)
  if not job then return code end
  if job.cancel_requested then return 'cancel_requested' end
  job.lease_until = lease_until
  if progress ~= '' then job.progress = progress end
  store(id, job)
  redis.call('ZADD', K.processing, 'XX', lease_until * 1000, member(id, job))
  return exact(lease_until)
end

-- Bytes-exact comparison (Lua's < follows the server's locale).
local function bytes_less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- The first rank (ascending) in sorted set `key` whose (score, member) is not below
-- (`score`, `m`): O(log^2 n), however many members share the score.
local function rank_at(key, score, m)
  local low = redis.call('ZCOUNT', key, '-inf', '(' .. score)
  local high = low + redis.call('ZCOUNT', key, score, score)
  while low < high do
    local mid = math.floor((low + high) / 2)
    local found = redis.call('ZRANGE', key, mid, mid)[1]
    if bytes_less(found, m) then low = mid + 1 else high = mid end
  end
  return low
end
