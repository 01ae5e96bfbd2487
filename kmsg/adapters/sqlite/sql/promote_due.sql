-- Move due delayed jobs to pending, a bounded batch per claim.
UPDATE jobs SET state = 'pending'
WHERE seq IN (
    SELECT seq FROM jobs
    WHERE queue = :queue AND state = 'delayed' AND run_at <= :now
    ORDER BY run_at, seq
    LIMIT :batch
)
