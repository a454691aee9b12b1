-- state.db, schema version 4: settings an operator changes while ingest
-- runs (`ingest scheduler on|off`), read by `ingest run` between runs.
-- scheduler: 'on' or 'off'; a halt (an error that needs a person) turns it
-- off with the reason in `why`.
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    why        TEXT,
    updated_at TEXT NOT NULL
);
