-- Give a held job back unstarted: pending again, attempt refunded, place in line kept.
UPDATE jobs SET
    state = 'pending',
    attempts = max(attempts - 1, 0),
    token = NULL,
    lease_until = NULL
WHERE seq = :seq
