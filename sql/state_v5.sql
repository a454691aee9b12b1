-- state.db, schema version 5: tables whose structure changed at the source
-- (`ingest sync-struct`).
-- resume_pos: where the table's changes stopped being applied (the start of
--   the transaction with the structure change); its changes from there on
--   wait for `sync-struct` (PostgreSQL: kept by a copy of the slot).
-- struct_ddl: the DDL statements the binlog showed for it from there (JSON
--   array; MySQL/MariaDB), which tell a renamed column from a new one.
-- col_ids: the source's column identities at the last full extract or
--   sync-struct (JSON [[name, id]]; PostgreSQL attnums), which do the same.
-- struct_at: the log position at the last sync-struct: DDL statements of
--   the table before it are in the destination already.
-- shape: the table as the destination has it (JSON: the description and
--   what the source decodes its changes with), so that a delta reads the
--   changes before a structure change in the structure they have.
ALTER TABLE tables ADD COLUMN resume_pos TEXT;
ALTER TABLE tables ADD COLUMN struct_ddl TEXT;
ALTER TABLE tables ADD COLUMN col_ids TEXT;
ALTER TABLE tables ADD COLUMN struct_at TEXT;
ALTER TABLE tables ADD COLUMN shape TEXT;
