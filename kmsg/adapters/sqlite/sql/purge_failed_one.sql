DELETE FROM jobs
WHERE queue = :queue AND id = :id AND state = 'failed' AND failed_at <= :cutoff
