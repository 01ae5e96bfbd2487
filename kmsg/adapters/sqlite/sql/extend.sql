-- :progress NULL leaves the job's progress as it is.
UPDATE jobs SET lease_until = :lease_until, progress = coalesce(:progress, progress)
WHERE queue = :queue AND id = :id AND state = 'processing' AND token = :token
    AND cancel_requested = 0
