-- A job named to retry_failed: its state and dedupe key (no row: no such job).
SELECT state, dedupe_key FROM jobs WHERE queue = :queue AND id = :id
