-- complete: the holder finished the job; keep its result.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] job id, ARGV[4] lease token, ARGV[5] '1' if a result is given, ARGV[6] result bytes
-- Returns: 'ok' (also for a replay with the same token after success), 'lost' (stale token),
--          'gone' (no such job), 'cancelled' (cancel was requested: the job is now cancelled).
local id, token = ARGV[3], ARGV[4]
local jk = job_key(id)
local h = redis.call('HMGET', jk, 'state', 'token', 'cancel_requested')
if not h[1] then return 'gone' end
if h[2] ~= token then return 'lost' end
if h[1] == 'completed' then return 'ok' end
if h[1] ~= 'processing' then return 'lost' end
local now = now_s()
if h[3] == '1' then
  finish(id, jk, 'processing', 'cancelled', now)
  return 'cancelled'
end
if ARGV[5] == '1' then redis.call('HSET', jk, 'result', ARGV[6]) end
finish(id, jk, 'processing', 'completed', now)
return 'ok'
