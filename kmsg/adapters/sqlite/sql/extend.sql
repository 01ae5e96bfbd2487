UPDATE jobs SET lease_until = :lease_until
WHERE queue = :queue AND id = :id AND state = 'processing' AND token = :token
    AND cancel_requested = 0
