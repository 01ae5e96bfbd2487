-- Take a job out of processing (or out of pending/delayed) into a new state.
UPDATE jobs SET
    state = :state,
    run_at = coalesce(:run_at, run_at),
    errors = coalesce(:errors, errors),
    token = NULL,
    lease_until = NULL,
    failed_at = :failed_at,
    cancelled_at = :cancelled_at,
    finished_at = coalesce(:failed_at, :cancelled_at)
WHERE seq = :seq
