-- extend: heartbeat; the held job's lease now ends `duration` seconds from now.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] job id, ARGV[4] lease token, ARGV[5] duration seconds
-- Returns: {'ok', new lease_until as a string}, {'lost'}, {'gone'} or {'cancelled'}
--          (cancel requested: nothing changed, the holder should stop).
local id, token = ARGV[3], ARGV[4]
local jk = job_key(id)
local h = redis.call('HMGET', jk, 'state', 'token', 'cancel_requested')
if not h[1] then return {'gone'} end
if h[1] ~= 'processing' or h[2] ~= token then return {'lost'} end
if h[3] == '1' then return {'cancelled'} end
local lease_until = now_s() + tonumber(ARGV[5])
redis.call('HSET', jk, 'lease_until', lease_until)
redis.call('ZADD', K.processing, lease_until * 1000, id)
return {'ok', redis.call('HGET', jk, 'lease_until')}
