-- As retry_failed_all, for one id.
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
WHERE queue = :queue AND id = :id AND state = 'failed'
