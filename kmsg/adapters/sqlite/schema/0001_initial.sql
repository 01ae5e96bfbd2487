-- kmsg SQLite schema, version 1.
--
-- jobs: one row per job. `seq` (the rowid) is the enqueue order and the last tie-breaker of every
-- ordering. `token` is the fencing token of the current lease; a completed row keeps its last token
-- so that a replayed complete() can be recognised. `finished_at` is the time the job reached its
-- terminal state (completed_at, failed_at or cancelled_at), used for listing and retention.
-- Times are epoch seconds (REAL); `errors` is a JSON array of {at, attempt, type, message}.
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    task TEXT NOT NULL,
    payload BLOB NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    run_at REAL NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    backoff_initial REAL NOT NULL,
    backoff_factor REAL NOT NULL,
    backoff_maximum REAL NOT NULL,
    lease REAL NOT NULL,
    lease_until REAL,
    token TEXT,
    dedupe_key TEXT,
    errors TEXT NOT NULL DEFAULT '[]',
    result BLOB,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    completed_at REAL,
    failed_at REAL,
    cancelled_at REAL,
    finished_at REAL,
    UNIQUE (queue, id)
);

-- Partial indexes keep each state's working set small, so claim and listing are O(log n).
CREATE INDEX jobs_pending ON jobs (queue, priority DESC, run_at, seq) WHERE state = 'pending';
CREATE INDEX jobs_delayed ON jobs (queue, run_at, seq) WHERE state = 'delayed';
CREATE INDEX jobs_processing ON jobs (queue, lease_until, seq) WHERE state = 'processing';
CREATE INDEX jobs_finished ON jobs (queue, state, finished_at, seq)
    WHERE state IN ('completed', 'failed', 'cancelled');

-- At most one live (non-terminal) job per dedupe key and queue.
CREATE UNIQUE INDEX jobs_dedupe ON jobs (queue, dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('pending', 'delayed', 'processing');

-- queues: every queue that has held jobs or settings; the pause flag and the token bucket of
-- the rate limit (max_jobs tokens, refilled at max_jobs / per_seconds a second).
CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0,
    max_jobs INTEGER,
    per_seconds REAL,
    tokens REAL,
    refilled_at REAL
) WITHOUT ROWID;
