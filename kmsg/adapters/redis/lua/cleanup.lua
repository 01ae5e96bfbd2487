#!lua flags=allow-oom
-- cleanup: one bounded step of retention: delete terminal jobs that ended at or before a cut-off.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2]  the cut-off (ms); '' = now - ARGV[3] seconds (the first step of a call fixes it)
-- ARGV[3]  older_than seconds (used when ARGV[2] is '')
-- ARGV[4..] terminal states (completed, failed, cancelled)
-- Returns: {deleted, cut-off (ms, exact text), 1 if more may remain else 0}. At most STEP_JOBS
--          jobs are deleted per call; the caller repeats with the returned cut-off.
local cutoff = ARGV[2]
if cutoff == '' then cutoff = exact((now_s() - tonumber(ARGV[3])) * 1000) end
local left = STEP_JOBS
local deleted = 0
for i = 4, #ARGV do
  local key = K[ARGV[i]]
  if END_FIELD[ARGV[i]] and left > 0 then
    local count, looked = delete_ended(key, cutoff, left)
    deleted = deleted + count
    left = left - looked
  end
end
return {deleted, cutoff, left == 0 and 1 or 0}
