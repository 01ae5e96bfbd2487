-- A dead letter back to pending (in :to_queue), attempts reset, errors kept; OR IGNORE
-- skips it when its id or its live dedupe key already exists in the target queue. Within its
-- queue it keeps its enqueue place (seq); moved to another queue it takes the next one there.
UPDATE OR IGNORE jobs SET
    seq = CASE WHEN :to_queue = :queue THEN seq ELSE (SELECT max(seq) + 1 FROM jobs) END,
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
