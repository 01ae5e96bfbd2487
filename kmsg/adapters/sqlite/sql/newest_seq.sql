-- The newest job's seq (the rowid's maximum: one seek); jobs written later have a higher one.
SELECT coalesce(max(seq), 0) FROM jobs
