-- Shared helpers, prepended to every script when it is loaded (see scripts.py).
--
-- Every script gets the same KEYS and the same two leading ARGV:
--   KEYS[1] pending     zset  id -> (MAX_PRIORITY - priority) * 2^42 + floor(run_at ms)
--   KEYS[2] delayed     zset  id -> run_at (ms)
--   KEYS[3] processing  zset  id -> lease_until (ms)
--   KEYS[4] completed   zset  id -> completed_at (ms)
--   KEYS[5] failed      zset  id -> failed_at (ms)
--   KEYS[6] cancelled   zset  id -> cancelled_at (ms)
--   KEYS[7] due         zset  id -> run_at (ms) of pending jobs (oldest pending age)
--   KEYS[8] dedupe      hash  dedupe key -> id of the live job holding it
--   KEYS[9] meta        hash  paused, rate_max, rate_per, rate_tokens, rate_at
--   KEYS[10] waiters    zset  idle claimers awaiting a direct handoff: '<token base> <lease>'
--           -> until when it waits (ms); its reply list is KEYS[10] .. ':' .. token base
--   ARGV[1] job key prefix (job key = prefix .. id; same hash tag, same slot)
--   ARGV[2] notify channel (PUBLISHed when a job may have become claimable while a waiter
--           may be idle: see notify)
-- Script-specific ARGV start at 3. Times in job hashes are epoch seconds.

local K = {
  pending = KEYS[1], delayed = KEYS[2], processing = KEYS[3],
  completed = KEYS[4], failed = KEYS[5], cancelled = KEYS[6],
  due = KEYS[7], dedupe = KEYS[8], meta = KEYS[9], waiters = KEYS[10],
}
local JOB_PREFIX = ARGV[1]
local CHANNEL = ARGV[2]
local MAX_PRIORITY = 1000
local BAND = 4398046511104 -- 2^42 ms: about year 2109
local END_FIELD = {completed = 'completed_at', failed = 'failed_at', cancelled = 'cancelled_at'}
-- A reply list lives at most this long: only a claimer that died leaves one behind.
local REPLY_TTL_MS = 60000

local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function job_key(id)
  return JOB_PREFIX .. id
end

-- The reply list of waiter entry `entry` ('<token base> <lease>').
local function reply_key(entry)
  return K.waiters .. ':' .. string.match(entry, '^(%S+)')
end

-- Push `value` to the reply list of waiter `entry` (already removed from K.waiters).
local function reply(entry, value)
  local key = reply_key(entry)
  redis.call('RPUSH', key, value)
  redis.call('PEXPIRE', key, REPLY_TTL_MS)
end

-- A flat field/value array as one string: the lengths of the items, comma-separated, a
-- newline, then the items back to back.
local function pack_fields(flat)
  local sizes = {}
  for i, value in ipairs(flat) do sizes[i] = #value end
  return table.concat(sizes, ',') .. '\n' .. table.concat(flat)
end

-- Wake the queue's waiters, if any may be waiting: wake.lua marks meta.idle_until before a
-- pub/sub waiter waits, so a busy worker that keeps claiming is not sent a message per job;
-- claimers awaiting a handoff get an empty reply (claim again) and leave K.waiters. `now` is
-- the script's time if it has one (else TIME is read); `waiting` false: the script knows that
-- K.waiters is empty.
local function notify(now, waiting)
  now = now or now_s()
  local idle_until = redis.call('HGET', K.meta, 'idle_until')
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
  local rate_max = tonumber(meta[2])
  local elapsed = math.max(now - tonumber(meta[5]), 0)
  return math.min(rate_max, tonumber(meta[4]) + elapsed * rate_max / tonumber(meta[3]))
end

local function pending_score(priority, run_at)
  local ms = math.floor(run_at * 1000)
  if ms < 0 then ms = 0 elseif ms > BAND - 1 then ms = BAND - 1 end
  return (MAX_PRIORITY - priority) * BAND + ms
end

-- Drop id from the index of `state`.
local function unindex(id, state)
  redis.call('ZREM', K[state], id)
  if state == 'pending' then redis.call('ZREM', K.due, id) end
end

-- Set the job's state and index it; `at` is run_at (pending, delayed), lease_until
-- (processing) or the end time (terminal states), in seconds.
local function place(id, jk, state, at)
  redis.call('HSET', jk, 'state', state)
  if state == 'pending' then
    local priority = tonumber(redis.call('HGET', jk, 'priority'))
    redis.call('ZADD', K.pending, pending_score(priority, at), id)
    redis.call('ZADD', K.due, at * 1000, id)
  else
    redis.call('ZADD', K[state], at * 1000, id)
  end
end

local function is_live(state)
  return state == 'pending' or state == 'delayed' or state == 'processing'
end

-- The id of the live job holding dedupe key `key`, or nil.
local function dedupe_holder(key)
  local holder = redis.call('HGET', K.dedupe, key)
  if holder and is_live(redis.call('HGET', job_key(holder), 'state')) then return holder end
  return nil
end

local function release_dedupe(id, jk)
  local key = redis.call('HGET', jk, 'dedupe_key')
  if key and redis.call('HGET', K.dedupe, key) == id then redis.call('HDEL', K.dedupe, key) end
end

-- Take the job's dedupe key back if no other live job holds it (after a retry or import).
local function take_dedupe(id, jk)
  local key = redis.call('HGET', jk, 'dedupe_key')
  if key and not dedupe_holder(key) then redis.call('HSET', K.dedupe, key, id) end
end

-- Move a job from `old_state` into terminal `state` at time `now`.
local function finish(id, jk, old_state, state, now)
  unindex(id, old_state)
  redis.call('HSET', jk, END_FIELD[state], now)
  redis.call('HDEL', jk, 'lease_until')
  release_dedupe(id, jk)
  place(id, jk, state, now)
end

-- Append {at, attempt, type, message} to the job's JSON error history.
local function add_error(jk, now, etype, message)
  local attempt = tonumber(redis.call('HGET', jk, 'attempts'))
  local entry = cjson.encode({at = now, attempt = attempt, type = etype, message = message})
  local errors = redis.call('HGET', jk, 'errors')
  if not errors or errors == '[]' then
    errors = '[' .. entry .. ']'
  else
    errors = string.sub(errors, 1, -2) .. ',' .. entry .. ']'
  end
  redis.call('HSET', jk, 'errors', errors)
end

-- min(maximum, initial * factor ^ (attempt - 1)), as kmsg.Backoff.delay computes it.
local function backoff_delay(jk, attempt)
  local b = redis.call('HMGET', jk, 'backoff_initial', 'backoff_factor', 'backoff_maximum')
  local initial, factor, maximum = tonumber(b[1]), tonumber(b[2]), tonumber(b[3])
  local exponent = math.max(attempt - 1, 0)
  local raw = initial * factor ^ exponent
  if raw ~= raw or raw > maximum then return maximum end
  return raw
end

-- A processing job's attempt failed: retry it (delayed) or dead-letter it. Returns the new state.
local function after_failure(id, jk, now, retry_in, retryable)
  local h = redis.call('HMGET', jk, 'attempts', 'max_attempts')
  if retryable and tonumber(h[1]) < tonumber(h[2]) then
    if retry_in == nil then retry_in = backoff_delay(jk, tonumber(h[1])) end
    local run_at = now + retry_in
    unindex(id, 'processing')
    redis.call('HDEL', jk, 'lease_until')
    redis.call('HSET', jk, 'run_at', run_at)
    place(id, jk, 'delayed', run_at)
    notify(now)
    return 'delayed'
  end
  finish(id, jk, 'processing', 'failed', now)
  return 'failed'
end

-- Give a held job back unstarted: pending again, attempt refunded (a requested cancel wins).
-- Returns 'ok', 'lost', 'gone' or 'cancelled', as release.lua does.
local function release_job(id, token)
  local jk = job_key(id)
  local h = redis.call('HMGET', jk, 'state', 'token', 'cancel_requested', 'run_at')
  if not h[1] then return 'gone' end
  if h[1] ~= 'processing' or h[2] ~= token then return 'lost' end
  if h[3] == '1' then
    finish(id, jk, 'processing', 'cancelled', now_s())
    return 'cancelled'
  end
  unindex(id, 'processing')
  redis.call('HINCRBY', jk, 'attempts', -1)
  redis.call('HDEL', jk, 'lease_until')
  place(id, jk, 'pending', tonumber(h[4]))
  return 'ok'
end

-- complete.lua's work for one job (see there for the codes); `now` is a function, so that
-- TIME is read only when a job actually changes.
local function complete_job(id, token, has_result, result, now)
  local jk = job_key(id)
  local h = redis.call('HMGET', jk, 'state', 'token', 'cancel_requested')
  if not h[1] then return 'gone' end
  if h[2] ~= token then return 'lost' end
  if h[1] == 'completed' then return 'ok' end
  if h[1] ~= 'processing' then return 'lost' end
  if h[3] == '1' then
    finish(id, jk, 'processing', 'cancelled', now())
    return 'cancelled'
  end
  if has_result == '1' then redis.call('HSET', jk, 'result', result) end
  finish(id, jk, 'processing', 'completed', now())
  return 'ok'
end
