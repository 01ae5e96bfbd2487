#!lua flags=allow-oom
-- snooze: put a held job back, due in ARGV[4] seconds, without using an attempt; the history
-- gets a 'Snoozed' entry. A job that has used its snoozes (ARGV[6]: the 'Snoozed' entries in
-- its history) is failed instead, as fail.lua would with retry_in = the delay.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] job id, ARGV[3] lease token, ARGV[4] delay seconds, ARGV[5] message,
-- ARGV[6] max snoozes
-- Returns: 'delayed' or 'failed' (the new state), 'lost' (stale token), 'gone' (no such job),
--          'cancelled' (cancel was requested: entry recorded, the job is now cancelled).
local id = ARGV[2]
local job, code = held(id, ARGV[3])
if not job then return code end
local now = now_s()
local used = 0
for _, e in ipairs(job.errors or {}) do
  if e[3] == SNOOZED then used = used + 1 end
end
add_error(job, now, SNOOZED, ARGV[5])
if job.cancel_requested then
  finish(id, job, 'cancelled', now)
  return 'cancelled'
end
local delay = tonumber(ARGV[4])
if used >= tonumber(ARGV[6]) then return after_failure(id, job, now, delay, true) end
job.attempts = math.max(job.attempts - 1, 0)
job.run_at = due_time(now + delay)
job.lease_until = nil
move(id, job, 'delayed')
notify(now)
return 'delayed'
