-- One bounded step of retry_failed(all): the next :step dead letters that failed by the
-- cut-off, after the keyset (:after_at, :after_seq) where the previous step stopped (a dead
-- letter the move skips stays failed, so the next step must start past it).
SELECT id, finished_at, seq FROM jobs
WHERE queue = :queue AND state = 'failed'
    AND state IN ('completed', 'failed', 'cancelled') -- lets the planner use jobs_finished
    AND finished_at <= :cutoff
    AND (finished_at, seq) > (:after_at, :after_seq)
ORDER BY finished_at, seq
LIMIT :step
