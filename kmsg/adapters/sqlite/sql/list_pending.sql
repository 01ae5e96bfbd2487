-- Keyset page in claim order; the first page passes priority = MAX_PRIORITY + 1.
SELECT seq, queue, id, task, payload, state, priority, run_at, created_at, attempts, max_attempts,
    backoff_initial, backoff_factor, backoff_maximum, lease, lease_until, token, dedupe_key, errors,
    result, cancel_requested, completed_at, failed_at, cancelled_at, finished_at, progress,
    trace_parent
FROM jobs
WHERE queue = :queue AND state = 'pending'
    AND (priority < :priority OR (priority = :priority AND (run_at, seq) > (:run_at, :seq)))
ORDER BY priority DESC, run_at, seq
LIMIT :limit
