#!lua flags=allow-oom
-- purge_failed: one bounded step deleting dead letters (all, or the given ids) that failed at or
-- before a cut-off.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2]  the cut-off (ms); '' = now - ARGV[3] seconds, or now when ARGV[3] is '' too (the
--          first step of a call fixes it, so dead letters made meanwhile are not chased)
-- ARGV[3]  older_than seconds ('' = any age)
-- ARGV[4]  'all', or 'ids' followed by at most STEP_JOBS job ids (ids not dead are skipped)
-- Returns: {deleted, cut-off (ms, exact text), 1 if more may remain else 0}.
local cutoff = ARGV[2]
if cutoff == '' then
  cutoff = exact((now_s() - (tonumber(ARGV[3]) or 0)) * 1000)
end
local limit = tonumber(cutoff)
local deleted = 0
if ARGV[4] == 'all' then
  local count, looked = delete_ended(K.failed, cutoff, STEP_JOBS)
  return {count, cutoff, looked == STEP_JOBS and 1 or 0}
end
for i = 5, #ARGV do
  local id = ARGV[i]
  local job = load(id)
  if job and job.state == 'failed' and job.failed_at * 1000 <= limit then
    redis.call('ZREM', K.failed, member(id, job))
    redis.call('HDEL', K.jobs, id)
    deleted = deleted + 1
  end
end
return {deleted, cutoff, 0}
