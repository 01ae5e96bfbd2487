-- What wait_for_jobs needs to know when to look again: the next due time, the next lease
-- deadline, and whether any job is pending (claimable now unless paused or rate-limited).
SELECT
    (SELECT min(run_at) FROM jobs WHERE queue = :queue AND state = 'delayed'),
    (SELECT min(lease_until) FROM jobs WHERE queue = :queue AND state = 'processing'),
    EXISTS (SELECT 1 FROM jobs WHERE queue = :queue AND state = 'pending')
