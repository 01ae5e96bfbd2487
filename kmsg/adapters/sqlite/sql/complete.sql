-- Fenced: only the holder of the current token, and only without a pending cancel.
UPDATE jobs SET
    state = 'completed',
    result = :result,
    lease_until = NULL,
    completed_at = :now,
    finished_at = :now
WHERE queue = :queue AND id = :id AND state = 'processing' AND token = :token
    AND cancel_requested = 0
