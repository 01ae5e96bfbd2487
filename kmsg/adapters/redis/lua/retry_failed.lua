#!lua flags=allow-oom
-- retry_failed: one bounded step sending dead letters of this queue back to pending, attempts
-- reset, errors kept, result and lease cleared.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2]  the cut-off (ms) for 'all'; '' = now (the first step fixes it, so a job that fails
--          again while the call runs is not chased)
-- ARGV[3]  'all', or 'ids' followed by at most STEP_JOBS job ids (ids not dead are skipped)
-- Returns: {moved, cut-off (ms, exact text), 1 if more may remain else 0}.
local now = now_s()
local cutoff = ARGV[2]
if cutoff == '' then cutoff = exact(now * 1000) end
local moved = 0

local function redrive(id, job)
  job.attempts = 0
  job.run_at = due_time(now)
  job.failed_at = nil
  job.lease_until = nil
  job.token = nil
  job.result = nil
  job.cancel_requested = nil
  take_dedupe(id, job)
  move(id, job, 'pending')
  moved = moved + 1
end

local more = 0
if ARGV[3] == 'all' then
  local found = redis.call('ZRANGE', K.failed, '-inf', cutoff, 'BYSCORE', 'LIMIT', 0, STEP_JOBS)
  for _, m in ipairs(found) do
    local id = id_of(m)
    local job = load(id)
    if job then redrive(id, job) else lost_record(K.failed, m) end
  end
  if #found == STEP_JOBS then more = 1 end
else
  for i = 4, #ARGV do
    local job = load(ARGV[i])
    if job and job.state == 'failed' then redrive(ARGV[i], job) end
  end
end
if moved > 0 then notify(now) end
return {moved, cutoff, more}
