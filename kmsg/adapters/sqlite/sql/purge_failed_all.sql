DELETE FROM jobs
WHERE queue = :queue AND state = 'failed'
    AND state IN ('completed', 'failed', 'cancelled') -- lets the planner use jobs_finished
    AND finished_at <= :cutoff
