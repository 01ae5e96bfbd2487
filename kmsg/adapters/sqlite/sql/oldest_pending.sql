-- The earliest due time (run_at) among the queue's pending jobs, in O(P log n) for P distinct
-- pending priorities: jobs_pending is ordered by (priority DESC, run_at, seq), so min(run_at)
-- over the whole queue would read every entry, while the earliest run_at of one priority is
-- the first entry of that priority. The recursion skips from each priority to the next lower
-- one with one index seek, and takes that first run_at of each.
WITH RECURSIVE level(priority) AS (
    SELECT (
        SELECT priority FROM jobs
        WHERE queue = :queue AND state = 'pending'
        ORDER BY priority DESC
        LIMIT 1
    )
    UNION ALL
    SELECT (
        SELECT priority FROM jobs
        WHERE queue = :queue AND state = 'pending' AND priority < level.priority
        ORDER BY priority DESC
        LIMIT 1
    )
    FROM level
    WHERE level.priority IS NOT NULL
)
SELECT min((
    SELECT run_at FROM jobs
    WHERE queue = :queue AND state = 'pending' AND priority = level.priority
    ORDER BY run_at
    LIMIT 1
))
FROM level
WHERE level.priority IS NOT NULL
