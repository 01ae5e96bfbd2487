#!lua flags=allow-oom
-- Remove delivery records unchanged for a while, oldest first, one bounded step.
-- allow-oom: retention frees memory, so it must run when the server is full.
-- KEYS: records, jobs, messages, age (see drop.lua)
-- ARGV[1] age in ms: records changed before (server time - ARGV[1]) go
-- ARGV[2] the most records to remove in this step
-- Returns the number removed (fewer than ARGV[2]: nothing older is left).
local cutoff = now_ms() - tonumber(ARGV[1])
local fields = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. cutoff, 'LIMIT', 0, tonumber(ARGV[2]))
for _, field in ipairs(fields) do
    drop(field)
end
return #fields
