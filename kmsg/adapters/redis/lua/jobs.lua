#!lua flags=no-writes
-- jobs: read several jobs of one queue by id.
-- KEYS, ARGV[1]: see includes/common.lua.
-- ARGV[2..] job ids (at most STEP_JOBS)
-- Returns: one record per id, in order (nil for a missing job).
local out = {}
for i = 2, #ARGV do out[i - 1] = redis.call('HGET', K.jobs, ARGV[i]) end
return out
