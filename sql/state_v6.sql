-- state.db, schema version 6: timings the reports need.
-- first_commit_at, last_commit_at: the source's commit times of the first
--   and last transaction a run read (UTC), for the DB delay (commit to
--   extract) and the replication lag.
-- load_started_at: when its first load started (extract end to load start
--   is the load wait).
ALTER TABLE runs ADD COLUMN first_commit_at TEXT;
ALTER TABLE runs ADD COLUMN last_commit_at TEXT;
ALTER TABLE runs ADD COLUMN load_started_at TEXT;
-- The status page's per-table and per-day queries.
CREATE INDEX run_tables_table ON run_tables (table_name, run_id);
CREATE INDEX runs_started ON runs (started_at);
