-- Take the best pending jobs (served by the jobs_pending index, no sort). RETURNING gives
-- no order guarantee: the caller sorts the rows back into claim order.
UPDATE jobs SET
    state = 'processing',
    attempts = attempts + 1,
    progress = NULL,
    lease_until = :now + coalesce(:lease, lease),
    token = lower(hex(randomblob(16)))
WHERE seq IN (
    SELECT seq FROM jobs
    WHERE queue = :queue AND state = 'pending'
    ORDER BY priority DESC, run_at, seq
    LIMIT :limit
)
RETURNING seq, queue, id, task, payload, state, priority, run_at, created_at, attempts, max_attempts,
    backoff_initial, backoff_factor, backoff_maximum, lease, lease_until, token, dedupe_key, errors,
    result, cancel_requested, completed_at, failed_at, cancelled_at, finished_at, progress,
    trace_parent
