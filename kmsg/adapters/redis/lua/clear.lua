#!lua flags=allow-oom
-- clear: delete every job of the queue in O(1): the job records, their indexes and the dedupe
-- keys are unlinked (Redis frees big ones in a background thread); meta (settings, the enqueue
-- sequence) and the waiters are kept. Callers of JobQueue.wait find their job gone when they
-- next look (within their recheck interval).
-- KEYS, ARGV[1]: see includes/common.lua.
-- Returns: how many job records were deleted.
local count = redis.call('HLEN', K.jobs)
redis.call('UNLINK', K.pending, K.delayed, K.processing, K.completed, K.failed, K.cancelled,
  K.jobs, K.dedupe, K.watched)
return count
