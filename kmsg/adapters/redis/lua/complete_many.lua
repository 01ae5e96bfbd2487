#!lua flags=allow-oom
-- complete_many: complete a batch of held jobs of one queue, each as complete.lua would.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2..] 4 values per job: job id, lease token, '1' if a result is given, result bytes
-- Returns: one code per job, in order: 'ok', 'lost', 'gone' or 'cancelled' (as complete.lua).
--          Every job shares one end time (TIME is read once, when the first job changes).
local at = nil
local function now()
  if not at then at = now_s() end
  return at
end
local codes = {}
for pos = 2, #ARGV, 4 do
  codes[#codes + 1] = complete_job(ARGV[pos], ARGV[pos + 1], ARGV[pos + 2], ARGV[pos + 3], now)
end
return codes
