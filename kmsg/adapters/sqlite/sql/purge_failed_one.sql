DELETE FROM jobs
WHERE queue = :queue AND id = :id AND state = 'failed' AND finished_at <= :cutoff
