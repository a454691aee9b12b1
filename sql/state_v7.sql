-- state.db, schema version 7: `redo_initial = true` is taken once.
-- redo_done: 1 once sync-new-tables gave the table its initial load again
--   for the option; back to 0 when the option is gone from its [[table]]
--   entry, so that setting it again asks again.
ALTER TABLE tables ADD COLUMN redo_done INTEGER NOT NULL DEFAULT 0;
