-- kmsg SQLite schema, version 2: job counts per queue and state, so stats() is O(1).
--
-- job_counts holds, for every (queue, state) a job has been in, how many jobs are there now (a
-- row may stay at 0). Triggers on `jobs` keep it in the same transaction as every write, so no
-- statement can forget it, and a rolled-back statement or savepoint undoes its count changes
-- too. They fire per changed row only: rows an `OR IGNORE` skips are not counted. (A REPLACE
-- conflict resolution on `jobs` would delete rows without firing the delete trigger: kmsg never
-- uses one.)
CREATE TABLE job_counts (
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;

-- A database made by schema version 1 already holds jobs: count them once, here.
INSERT INTO job_counts (queue, state, n)
SELECT queue, state, count(*) FROM jobs GROUP BY queue, state;

CREATE TRIGGER jobs_counted_insert AFTER INSERT ON jobs
BEGIN
    INSERT INTO job_counts (queue, state, n) VALUES (new.queue, new.state, 1)
    ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_counted_update AFTER UPDATE OF state, queue ON jobs
WHEN new.state IS NOT old.state OR new.queue IS NOT old.queue
BEGIN
    UPDATE job_counts SET n = n - 1 WHERE queue = old.queue AND state = old.state;
    INSERT INTO job_counts (queue, state, n) VALUES (new.queue, new.state, 1)
    ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_counted_delete AFTER DELETE ON jobs
BEGIN
    UPDATE job_counts SET n = n - 1 WHERE queue = old.queue AND state = old.state;
END;
