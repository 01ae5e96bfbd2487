-- kmsg SQLite schema, version 4: the producer's trace context (a W3C traceparent), carried from
-- enqueue to the handler's span by kmsg.tracing; NULL when the producer did not trace.
ALTER TABLE jobs ADD COLUMN trace_parent TEXT;
