-- Held jobs whose lease has ended, a bounded batch per claim.
SELECT seq, attempts, max_attempts, backoff_initial, backoff_factor, backoff_maximum, errors,
    cancel_requested
FROM jobs
WHERE queue = :queue AND state = 'processing' AND lease_until <= :now
ORDER BY lease_until, seq
LIMIT :batch
