-- kmsg SQLite schema, version 5: carriers' delivery reports, kept beside the queue's jobs by
-- kmsg.adapters.sqlite.delivery_store (one row per queue, provider and provider message id).
--
-- state is a kmsg.messaging.DeliveryState value; reported_at the gateway's own time of the
-- report (epoch seconds), which orders reports that arrive out of order; updated_at the host's
-- time of the last change, which retention (cleanup, the cap) goes by. job_id links the row to
-- the send job when it is known. delivery_report_counts keeps the row count per queue (kept by
-- the triggers), so the cap is checked in O(1).
CREATE TABLE delivery_reports (
    queue TEXT NOT NULL,
    provider TEXT NOT NULL,
    message_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reported_at REAL NOT NULL,
    error_code TEXT,
    job_id TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (queue, provider, message_id)
) WITHOUT ROWID;

CREATE INDEX delivery_reports_by_job ON delivery_reports (queue, job_id)
    WHERE job_id IS NOT NULL;

CREATE INDEX delivery_reports_by_message ON delivery_reports (queue, message_id);

CREATE INDEX delivery_reports_by_age ON delivery_reports (queue, updated_at);

CREATE TABLE delivery_report_counts (
    queue TEXT PRIMARY KEY,
    n INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER delivery_reports_counted AFTER INSERT ON delivery_reports
BEGIN
    INSERT INTO delivery_report_counts (queue, n) VALUES (NEW.queue, 1)
        ON CONFLICT (queue) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER delivery_reports_uncounted AFTER DELETE ON delivery_reports
BEGIN
    UPDATE delivery_report_counts SET n = n - 1 WHERE queue = OLD.queue;
END;
