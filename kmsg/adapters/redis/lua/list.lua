#!lua flags=allow-oom
-- list: one page of the jobs in one state, in that state's listing order.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2] state, ARGV[3] limit (at most STEP_JOBS), ARGV[4] cursor score ('' = first page),
-- ARGV[5] cursor member, ARGV[6] 'oldest' to list a terminal state oldest first (a move of
-- dead letters to another queue goes in that order)
-- Pending, delayed and processing list by ascending (score, member), terminal states by
-- descending (newest first); a member starts with the job's enqueue sequence. The page starts
-- right after the cursor's (score, member) position, found in O(log^2 n), so a job that stays
-- in its state is listed exactly once however the set changes between pages. An entry whose
-- record is gone is dropped (and counted) instead of listed.
-- Returns: {more (0/1), last score, last member, id1, record1, id2, record2, ...}; the last
--          score and member (of the last entry looked at, listed or dropped) make the next
--          cursor.
local key = K[ARGV[2]]
local limit = tonumber(ARGV[3])
local desc = END_FIELD[ARGV[2]] ~= nil and ARGV[6] ~= 'oldest'

local start = 0
if ARGV[4] ~= '' then
  local at = rank_at(key, ARGV[4], ARGV[5])
  if desc then
    start = redis.call('ZCARD', key) - at
  else
    local found = redis.call('ZRANGE', key, at, at)[1]
    if found == ARGV[5] then at = at + 1 end
    start = at
  end
end
local range
if desc then
  range = redis.call('ZREVRANGE', key, start, start + limit, 'WITHSCORES')
else
  range = redis.call('ZRANGE', key, start, start + limit, 'WITHSCORES')
end
local more = 0
if #range > 2 * limit then more = 1 end
local out = {more, '', ''}
for i = 1, math.min(#range, 2 * limit), 2 do
  local m = range[i]
  local blob = redis.call('HGET', K.jobs, id_of(m))
  if blob then
    out[#out + 1] = id_of(m)
    out[#out + 1] = blob
  else
    lost_record(key, m)
  end
  out[2], out[3] = range[i + 1], m
end
return out
