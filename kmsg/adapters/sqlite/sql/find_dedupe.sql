-- The live job holding a dedupe key (served by the jobs_dedupe index).
SELECT id FROM jobs
WHERE queue = :queue AND dedupe_key = :dedupe_key
    AND state IN ('pending', 'delayed', 'processing')
