#!lua
-- Compare-and-set one delivery record; the merge itself is computed by the caller
-- (kmsg.messaging.reports.records.merge) from the value it read.
-- KEYS: records, jobs, messages, age (see drop.lua)
-- ARGV[1] field '<provider>:<message id>'
-- ARGV[2] the value the caller merged with ('' when it found none)
-- ARGV[3] the merged value (JSON)
-- ARGV[4] the merged record's job id ('' when none)
-- ARGV[5] the message id (for the message index)
-- ARGV[6] max records (the cap)
-- Returns 1: written (index entries and age updated, the oldest records past the cap evicted,
-- at most 16); 0: conflict, the kept value is no longer ARGV[2] (read, merge and try again).
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then
    return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[2], ARGV[4], ARGV[1])
end
redis.call('HSET', KEYS[3], ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[4], now_ms(), ARGV[1])
local excess = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[6])
if excess > 0 then
    for _, field in ipairs(redis.call('ZRANGE', KEYS[4], 0, math.min(excess, 16) - 1)) do
        drop(field)
    end
end
return 1
