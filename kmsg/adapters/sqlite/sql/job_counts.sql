-- The queue's job count per state, kept by the triggers of schema 0002 (O(1), no scan).
SELECT state, n FROM job_counts WHERE queue = :queue
