-- What a fenced call needs to know about a job it did not change on the fast path.
SELECT seq, state, token, cancel_requested, attempts, max_attempts, backoff_initial,
    backoff_factor, backoff_maximum, errors
FROM jobs
WHERE queue = :queue AND id = :id
