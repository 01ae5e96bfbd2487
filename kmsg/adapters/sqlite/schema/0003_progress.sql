-- kmsg SQLite schema, version 3: a job's progress, as its handler last reported it.
--
-- Bytes (JSON, by the worker's convention), 1 byte to 1 KiB, set by a heartbeat (extend) and
-- cleared when the job is claimed; NULL when nothing was reported. Added last, so whole-job
-- reads list it after finished_at (rows.JOB_COLUMNS).
ALTER TABLE jobs ADD COLUMN progress BLOB;
