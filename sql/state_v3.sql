-- state.db, schema version 3: what a table's full extract saw at the
-- source, so that each delta notices what changes there without a word in
-- the change log.
-- key_cols: the key columns (JSON array of names); a replica identity
--   switched to another index, or another configured key, changes it.
-- fingerprint: source-specific text (PostgreSQL partitioned tables: each
--   leaf partition with its relfilenode; a partition attached, detached,
--   dropped or truncated changes it, and none of that is published).
ALTER TABLE tables ADD COLUMN key_cols TEXT;
ALTER TABLE tables ADD COLUMN fingerprint TEXT;
