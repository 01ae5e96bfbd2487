#!lua flags=allow-oom
-- retry_failed: one bounded step sending dead letters of this queue back to pending, attempts
-- reset, errors kept, result and lease cleared. A dead letter whose dedupe key another live job
-- holds is skipped: it stays failed (never two live jobs with one key).
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2]  the cut-off (ms) for 'all'; '' = now (the first step fixes it, so a job that fails
--          again while the call runs is not chased)
-- ARGV[3]  'all', or 'ids' followed by at most STEP_JOBS job ids (ids not dead are skipped)
-- ARGV[4], ARGV[5] for 'all': the score and member the previous step stopped after ('' = the
--          start), so dead letters skipped by one step are not looked at again
-- Returns: {moved, cut-off (ms, exact text), 1 if more may remain else 0, the score and member
--          of the last dead letter looked at ('' when none), then one triple per job skipped:
--          id, reason ('not_found', 'not_dead' or 'key_held'), the live job holding the key
--          ('' for the other reasons)}.
local now = now_s()
local cutoff = ARGV[2]
if cutoff == '' then cutoff = exact(now * 1000) end
local moved = 0
local skipped = {}

local function skip(id, reason, holder)
  skipped[#skipped + 1] = id
  skipped[#skipped + 1] = reason
  skipped[#skipped + 1] = holder or ''
end

local function redrive(id, job)
  if not take_dedupe(id, job) then
    skip(id, 'key_held', dedupe_holder(job.dedupe_key))
    return
  end
  job.attempts = 0
  job.run_at = due_time(now)
  job.failed_at = nil
  job.lease_until = nil
  job.token = nil
  job.result = nil
  job.cancel_requested = nil
  move(id, job, 'pending')
  moved = moved + 1
end

local more, last_score, last = 0, '', ''
if ARGV[3] == 'all' then
  local start = 0
  if ARGV[4] and ARGV[4] ~= '' then
    start = rank_at(K.failed, ARGV[4], ARGV[5])
    if redis.call('ZRANGE', K.failed, start, start)[1] == ARGV[5] then start = start + 1 end
  end
  local found = redis.call('ZRANGE', K.failed, start, start + STEP_JOBS - 1, 'WITHSCORES')
  for i = 1, #found, 2 do
    local m = found[i]
    if tonumber(found[i + 1]) > tonumber(cutoff) then break end
    local id = id_of(m)
    local job = load(id)
    if job then redrive(id, job) else lost_record(K.failed, m) end
    last_score, last = found[i + 1], m
    if i + 1 == 2 * STEP_JOBS then more = 1 end
  end
else
  for i = 4, #ARGV do
    local job = load(ARGV[i])
    if not job then
      skip(ARGV[i], 'not_found')
    elseif job.state ~= 'failed' then
      skip(ARGV[i], 'not_dead')
    else
      redrive(ARGV[i], job)
    end
  end
end
if moved > 0 then notify(now) end
local reply = {moved, cutoff, more, last_score, last}
for _, value in ipairs(skipped) do reply[#reply + 1] = value end
return reply
