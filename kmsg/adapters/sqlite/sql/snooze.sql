-- Put a held job back, due at :run_at, its attempt refunded and its history (with the
-- 'Snoozed' entry) replaced.
UPDATE jobs SET
    state = 'delayed',
    attempts = max(attempts - 1, 0),
    run_at = :run_at,
    errors = :errors,
    token = NULL,
    lease_until = NULL
WHERE seq = :seq
