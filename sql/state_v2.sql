-- state.db, schema version 2: load attempts per batch table. After
-- MAX_ATTEMPTS failed loads a table is given up (status 'abandoned', the
-- table marked failed until its next full extract) so that the batch, and
-- every other table, can move on.
ALTER TABLE batch_tables ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
