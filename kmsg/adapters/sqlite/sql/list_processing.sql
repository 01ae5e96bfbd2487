-- Keyset page by lease deadline; the first page passes key = -1.
SELECT seq, queue, id, task, payload, state, priority, run_at, created_at, attempts, max_attempts,
    backoff_initial, backoff_factor, backoff_maximum, lease, lease_until, token, dedupe_key, errors,
    result, cancel_requested, completed_at, failed_at, cancelled_at, finished_at, progress,
    trace_parent
FROM jobs
WHERE queue = :queue AND state = 'processing' AND (lease_until, seq) > (:key, :seq)
ORDER BY lease_until, seq
LIMIT :limit
