-- jobs: read several jobs of one queue by id (read only).
-- KEYS, ARGV[1..2]: see includes/common.lua.
-- ARGV[3..] job ids
-- Returns: one flat HGETALL array per id (empty for a missing job).
local out = {}
for i = 3, #ARGV do out[#out + 1] = redis.call('HGETALL', job_key(ARGV[i])) end
return out
