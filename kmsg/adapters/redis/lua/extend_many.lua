#!lua flags=allow-oom
-- extend_many: heartbeat a batch of held jobs of one queue, each as extend.lua would.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] duration seconds, ARGV[3..] 3 values per job: job id, lease token, progress ('' =
--         keep)
-- Returns: one reply per job, in order, as extend.lua's. TIME is read once.
local lease_until = now_s() + tonumber(ARGV[2])
local out = {}
for pos = 3, #ARGV, 3 do
  out[#out + 1] = extend_job(ARGV[pos], ARGV[pos + 1], lease_until, ARGV[pos + 2])
end
return out
