-- Write a job snapshot as it is (import_jobs); existing ids are skipped.
INSERT OR IGNORE INTO jobs (
    queue, id, task, payload, state, priority, run_at, created_at, attempts, max_attempts,
    backoff_initial, backoff_factor, backoff_maximum, lease, dedupe_key, errors, result,
    cancel_requested, completed_at, failed_at, cancelled_at, finished_at, progress, trace_parent
) VALUES (
    :queue, :id, :task, :payload, :state, :priority, :run_at, :created_at, :attempts,
    :max_attempts, :backoff_initial, :backoff_factor, :backoff_maximum, :lease, :dedupe_key,
    :errors, :result, 0, :completed_at, :failed_at, :cancelled_at, :finished_at, :progress,
    :trace_parent
)
