-- Retention: only ever called with a terminal state.
DELETE FROM jobs
WHERE queue = :queue AND state = :state
    AND state IN ('completed', 'failed', 'cancelled') -- lets the planner use jobs_finished
    AND finished_at <= :cutoff
