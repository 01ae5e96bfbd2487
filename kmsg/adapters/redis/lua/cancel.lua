#!lua flags=allow-oom
-- cancel: pending/delayed -> cancelled; processing -> cancel_requested; terminal unchanged.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] job id
-- Returns: the job's state afterwards, or 'gone' (no such job).
local id = ARGV[2]
local job = load(id)
if not job then return 'gone' end
if job.state == 'pending' or job.state == 'delayed' then
  finish(id, job, 'cancelled', now_s())
  return 'cancelled'
end
if job.state == 'processing' and not job.cancel_requested then
  job.cancel_requested = true
  store(id, job)
end
return job.state
