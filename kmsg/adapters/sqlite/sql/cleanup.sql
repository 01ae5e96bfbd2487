-- One bounded step of retention (cleanup, and purge_failed with state 'failed'): up to :step
-- jobs of one terminal state that ended by the cut-off, oldest first, found on jobs_finished.
DELETE FROM jobs WHERE seq IN (
    SELECT seq FROM jobs
    WHERE queue = :queue AND state = :state
        AND state IN ('completed', 'failed', 'cancelled') -- lets the planner use jobs_finished
        AND finished_at <= :cutoff
    ORDER BY finished_at, seq
    LIMIT :step
)
