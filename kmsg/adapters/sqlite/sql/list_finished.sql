-- Keyset page of one terminal state, newest first; the first page passes a key past the end.
SELECT seq, queue, id, task, payload, state, priority, run_at, created_at, attempts, max_attempts,
    backoff_initial, backoff_factor, backoff_maximum, lease, lease_until, token, dedupe_key, errors,
    result, cancel_requested, completed_at, failed_at, cancelled_at, finished_at, progress,
    trace_parent
FROM jobs
WHERE queue = :queue AND state = :state
    AND state IN ('completed', 'failed', 'cancelled') -- lets the planner use jobs_finished
    AND (finished_at, seq) < (:key, :seq)
ORDER BY finished_at DESC, seq DESC
LIMIT :limit
