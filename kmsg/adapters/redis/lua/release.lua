-- release: give a held job back unstarted; it returns to pending with its attempt refunded.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] job id, ARGV[4] lease token
-- Returns: 'ok', 'lost' (stale token), 'gone' (no such job),
--          'cancelled' (cancel was requested: the job is now cancelled).
local id, token = ARGV[3], ARGV[4]
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
notify()
return 'ok'
