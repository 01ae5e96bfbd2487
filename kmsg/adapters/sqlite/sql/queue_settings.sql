SELECT paused, max_jobs, per_seconds, tokens, refilled_at FROM queues WHERE name = :queue
