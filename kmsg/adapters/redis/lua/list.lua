-- list: one page of the jobs in one state, in that state's listing order (read only).
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3] state, ARGV[4] limit, ARGV[5] cursor score ('' = first page), ARGV[6] cursor id
-- Pending, delayed and processing list by ascending score, terminal states descending (newest
-- first); equal scores by id. The page starts right after the cursor's (score, id) position, so
-- a job that stays in its state is listed exactly once however the set changes between pages.
-- Returns: {more (0/1), id1, score1, fields1, id2, score2, fields2, ...} where fieldsN is a flat
--          HGETALL array.
local key = K[ARGV[3]]
local limit = tonumber(ARGV[4])
local desc = END_FIELD[ARGV[3]] ~= nil

local function bytes_less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- How many members come before or at the cursor position (score cs, member cm).
local function start_after(cs, cm)
  local score = redis.call('ZSCORE', key, cm)
  if score and tonumber(score) == tonumber(cs) then
    if desc then return redis.call('ZREVRANK', key, cm) + 1 end
    return redis.call('ZRANK', key, cm) + 1
  end
  local n
  if desc then
    n = redis.call('ZCOUNT', key, '(' .. cs, '+inf')
  else
    n = redis.call('ZCOUNT', key, '-inf', '(' .. cs)
  end
  for _, member in ipairs(redis.call('ZRANGE', key, cs, cs, 'BYSCORE')) do
    if (desc and bytes_less(cm, member)) or (not desc and bytes_less(member, cm)) then
      n = n + 1
    end
  end
  return n
end

local start = 0
if ARGV[5] ~= '' then start = start_after(ARGV[5], ARGV[6]) end
local range
if desc then
  range = redis.call('ZREVRANGE', key, start, start + limit, 'WITHSCORES')
else
  range = redis.call('ZRANGE', key, start, start + limit, 'WITHSCORES')
end
local more = 0
if #range > 2 * limit then more = 1 end
local out = {more}
for i = 1, math.min(#range, 2 * limit), 2 do
  out[#out + 1] = range[i]
  out[#out + 1] = range[i + 1]
  out[#out + 1] = redis.call('HGETALL', job_key(range[i]))
end
return out
