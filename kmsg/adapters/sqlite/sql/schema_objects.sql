-- Every schema object of the file but SQLite's own (sqlite_sequence, sqlite_stat1, ...):
-- what tells a new file, a kmsg file and someone else's apart (identity.py).
SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\'
