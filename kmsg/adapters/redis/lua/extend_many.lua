-- extend_many: heartbeat a batch of held jobs of one queue, each as extend.lua would.
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] duration seconds, ARGV[4..] 2 values per job: job id, lease token
-- Returns: one reply per job, in order: the new lease_until (a string), or 'lost', 'gone' or
--          'cancelled' (as extend.lua). TIME is read once.
local lease_until = now_s() + tonumber(ARGV[3])
local out = {}
for pos = 4, #ARGV, 2 do
  local id, token = ARGV[pos], ARGV[pos + 1]
  local jk = job_key(id)
  local h = redis.call('HMGET', jk, 'state', 'token', 'cancel_requested')
  if not h[1] then
    out[#out + 1] = 'gone'
  elseif h[1] ~= 'processing' or h[2] ~= token then
    out[#out + 1] = 'lost'
  elseif h[3] == '1' then
    out[#out + 1] = 'cancelled'
  else
    redis.call('HSET', jk, 'lease_until', lease_until)
    redis.call('ZADD', K.processing, lease_until * 1000, id)
    out[#out + 1] = redis.call('HGET', jk, 'lease_until')
  end
end
return out
