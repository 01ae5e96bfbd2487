-- Dead letters back to pending; OR IGNORE skips a job whose id or live dedupe key
-- already exists in the target queue.
UPDATE OR IGNORE jobs SET
    queue = :to_queue,
    state = 'pending',
    attempts = 0,
    run_at = :run_at,
    result = NULL,
    token = NULL,
    lease_until = NULL,
    cancel_requested = 0,
    failed_at = NULL,
    finished_at = NULL
WHERE queue = :queue AND state = 'failed'
    AND state IN ('completed', 'failed', 'cancelled') -- lets the planner use jobs_finished
