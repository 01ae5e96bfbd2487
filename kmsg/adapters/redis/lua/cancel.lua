-- cancel: pending/delayed -> cancelled; processing -> cancel_requested; terminal unchanged.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] job id
-- Returns: the job's state afterwards, or 'gone' (no such job).
local id = ARGV[3]
local jk = job_key(id)
local state = redis.call('HGET', jk, 'state')
if not state then return 'gone' end
if state == 'pending' or state == 'delayed' then
  finish(id, jk, state, 'cancelled', now_s())
  return 'cancelled'
end
if state == 'processing' then redis.call('HSET', jk, 'cancel_requested', '1') end
return state
