-- state.db, schema version 1. Embedded in the binary (src/meta.rs) and applied
-- in one transaction when state.db is new. Times are UTC text
-- 'YYYY-MM-DD HH:MM:SS.fff'; positions are the source's own notation
-- (PostgreSQL: LSN 'X/Y'). Nothing here ever holds a password.

CREATE TABLE schema_version (
    version INTEGER NOT NULL
);

-- One row per run: `full-extract` or `delta` (later: scheduled runs).
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    extracted_at TEXT,            -- extract finished (batch durable in the spool)
    finished_at TEXT,
    status      TEXT NOT NULL,    -- running | ok | failed (some tables failed) | error
    from_pos    TEXT,
    to_pos      TEXT,
    batch_id    TEXT,
    error       TEXT
);

-- Per run and table: what was extracted and loaded.
CREATE TABLE run_tables (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    table_name  TEXT NOT NULL,    -- source schema.table
    inserts     INTEGER NOT NULL DEFAULT 0,
    updates     INTEGER NOT NULL DEFAULT 0,
    deletes     INTEGER NOT NULL DEFAULT 0,
    truncates   INTEGER NOT NULL DEFAULT 0,
    rows_loaded INTEGER NOT NULL DEFAULT 0,
    extract_ms  INTEGER NOT NULL DEFAULT 0,
    load_ms     INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,    -- extracted | loaded | failed
    error       TEXT,
    PRIMARY KEY (run_id, table_name)
);

-- A batch is one spool folder. It moves extracted -> loaded -> released
-- (source position advanced) and is removed from the spool after that.
CREATE TABLE batches (
    id          TEXT PRIMARY KEY, -- spool folder name
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    kind        TEXT NOT NULL,    -- full | delta
    from_pos    TEXT,
    to_pos      TEXT,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE batch_tables (
    batch_id    TEXT NOT NULL REFERENCES batches(id),
    table_name  TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    status      TEXT NOT NULL,    -- pending | loaded | failed
    error       TEXT,
    PRIMARY KEY (batch_id, table_name)
);

-- Per selected source table: has its full extract landed?
CREATE TABLE tables (
    table_name  TEXT PRIMARY KEY, -- source schema.table
    dest        TEXT NOT NULL,    -- destination database.table
    status      TEXT NOT NULL,    -- extracting | ready | failed
    full_run_id INTEGER,
    full_pos    TEXT,             -- source position recorded before its snapshot
    rows        INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL,
    error       TEXT
);

-- The committed source position: deltas start here.
CREATE TABLE positions (
    name        TEXT PRIMARY KEY, -- 'source'
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Warnings worth keeping next to the run (unrepresentable values and such).
CREATE TABLE warnings (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    table_name  TEXT NOT NULL,
    column_name TEXT NOT NULL,
    message     TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (run_id, table_name, column_name, message)
);
