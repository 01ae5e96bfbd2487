-- A new or changed limit starts with a full bucket.
INSERT INTO queues (name, max_jobs, per_seconds, tokens, refilled_at)
VALUES (:queue, :max_jobs, :per_seconds, :max_jobs, :now)
ON CONFLICT (name) DO UPDATE SET
    max_jobs = excluded.max_jobs,
    per_seconds = excluded.per_seconds,
    tokens = excluded.tokens,
    refilled_at = excluded.refilled_at
