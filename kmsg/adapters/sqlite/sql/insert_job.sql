-- Insert a new job; OR IGNORE skips it when its id exists in the queue or its dedupe key is
-- held by a live job (the caller then looks up which).
INSERT OR IGNORE INTO jobs (
    queue, id, task, payload, state, priority, run_at, created_at, max_attempts,
    backoff_initial, backoff_factor, backoff_maximum, lease, dedupe_key, trace_parent
) VALUES (
    :queue, :id, :task, :payload, :state, :priority, :run_at, :created_at, :max_attempts,
    :backoff_initial, :backoff_factor, :backoff_maximum, :lease, :dedupe_key, :trace_parent
)
