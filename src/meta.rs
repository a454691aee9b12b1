//! `state.db`: runs, batches, table states, the committed source position.
//!
//! SQLite in WAL mode with `synchronous = FULL`: a row written here survives a
//! crash. The schema lives in `sql/state_v*.sql` and is applied by version.
//! Load threads share one [`Meta`]; the connection sits behind a mutex (writes
//! are small and rare next to the loads).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

use crate::clock;

const MIGRATIONS: &[&str] = &[
    include_str!("../sql/state_v1.sql"),
    include_str!("../sql/state_v2.sql"),
    include_str!("../sql/state_v3.sql"),
];

pub struct Meta {
    conn: Mutex<Connection>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub id: String,
    pub run_id: i64,
    pub kind: String,
    pub from_pos: Option<String>,
    pub to_pos: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchTable {
    pub table: String,
    pub rows: i64,
    pub status: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableState {
    pub table: String,
    pub dest: String,
    pub status: String,
    pub full_pos: Option<String>,
    pub rows: i64,
    pub updated_at: String,
    pub error: Option<String>,
    /// Key columns at the last full extract (JSON array), if recorded.
    pub key_cols: Option<String>,
    /// The source's fingerprint of the table at the last full extract.
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub inserts: i64,
    pub updates: i64,
    pub deletes: i64,
    pub truncates: i64,
}

/// (table, counts, rows loaded, status, error) of one run.
pub type RunTableRow = (String, Counts, i64, String, Option<String>);

#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub from_pos: Option<String>,
    pub to_pos: Option<String>,
    pub error: Option<String>,
}

impl Meta {
    pub fn open(path: &Path) -> Result<Meta> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let meta = Meta {
            conn: Mutex::new(conn),
        };
        meta.migrate()
            .with_context(|| format!("migrating {}", path.display()))?;
        Ok(meta)
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (its own
        // transactions roll back), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn migrate(&self) -> Result<()> {
        let mut db = self.db();
        let has: bool = db.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'schema_version'",
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        let current: usize = if has {
            db.query_row("SELECT version FROM schema_version", [], |r| {
                r.get::<_, i64>(0)
            })? as usize
        } else {
            0
        };
        if current > MIGRATIONS.len() {
            anyhow::bail!(
                "state.db has schema version {current}, newer than this ingest knows ({}): use a newer ingest",
                MIGRATIONS.len()
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let tx = db.transaction()?;
            tx.execute_batch(sql)?;
            tx.execute("DELETE FROM schema_version", [])?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [i as i64 + 1],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn start_run(&self, kind: &str, from_pos: Option<&str>) -> Result<i64> {
        let db = self.db();
        db.execute(
            "INSERT INTO runs (kind, started_at, status, from_pos) VALUES (?1, ?2, 'running', ?3)",
            params![kind, clock::now(), from_pos],
        )?;
        Ok(db.last_insert_rowid())
    }

    pub fn run_extracted(&self, run_id: i64, batch_id: &str, to_pos: Option<&str>) -> Result<()> {
        self.db().execute(
            "UPDATE runs SET extracted_at = ?2, batch_id = ?3, to_pos = COALESCE(?4, to_pos) WHERE id = ?1",
            params![run_id, clock::now(), batch_id, to_pos],
        )?;
        Ok(())
    }

    pub fn finish_run(
        &self,
        run_id: i64,
        status: &str,
        to_pos: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        self.db().execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, to_pos = COALESCE(?4, to_pos), error = ?5 WHERE id = ?1",
            params![run_id, clock::now(), status, to_pos, error],
        )?;
        Ok(())
    }

    /// Adds to the run's counts for a table (creating the row).
    #[allow(clippy::too_many_arguments)]
    pub fn add_run_table(
        &self,
        run_id: i64,
        table: &str,
        counts: &Counts,
        rows_loaded: i64,
        extract_ms: i64,
        load_ms: i64,
        status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        self.db().execute(
            "INSERT INTO run_tables (run_id, table_name, inserts, updates, deletes, truncates, rows_loaded,
                                     extract_ms, load_ms, status, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (run_id, table_name) DO UPDATE SET
                inserts = inserts + excluded.inserts, updates = updates + excluded.updates,
                deletes = deletes + excluded.deletes, truncates = truncates + excluded.truncates,
                rows_loaded = rows_loaded + excluded.rows_loaded,
                extract_ms = extract_ms + excluded.extract_ms, load_ms = load_ms + excluded.load_ms,
                status = excluded.status, error = excluded.error",
            params![
                run_id,
                table,
                counts.inserts,
                counts.updates,
                counts.deletes,
                counts.truncates,
                rows_loaded,
                extract_ms,
                load_ms,
                status,
                error
            ],
        )?;
        Ok(())
    }

    pub fn run_tables(&self, run_id: i64) -> Result<Vec<RunTableRow>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT table_name, inserts, updates, deletes, truncates, rows_loaded, status, error
             FROM run_tables WHERE run_id = ?1 ORDER BY table_name",
        )?;
        let rows = st.query_map([run_id], |r| {
            Ok((
                r.get(0)?,
                Counts {
                    inserts: r.get(1)?,
                    updates: r.get(2)?,
                    deletes: r.get(3)?,
                    truncates: r.get(4)?,
                },
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records an extracted batch: durable in the spool, MANIFEST written.
    pub fn add_batch(&self, b: &Batch, tables: &[(String, i64)]) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.execute(
            "INSERT INTO batches (id, run_id, kind, from_pos, to_pos, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                b.id,
                b.run_id,
                b.kind,
                b.from_pos,
                b.to_pos,
                b.status,
                clock::now()
            ],
        )?;
        for (t, rows) in tables {
            tx.execute(
                "INSERT INTO batch_tables (batch_id, table_name, rows, status) VALUES (?1, ?2, ?3, 'pending')",
                params![b.id, t, rows],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Batches not yet released, oldest first.
    pub fn open_batches(&self) -> Result<Vec<Batch>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT id, run_id, kind, from_pos, to_pos, status FROM batches
             WHERE status NOT IN ('released', 'lost') ORDER BY created_at, id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(Batch {
                id: r.get(0)?,
                run_id: r.get(1)?,
                kind: r.get(2)?,
                from_pos: r.get(3)?,
                to_pos: r.get(4)?,
                status: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn batch_tables(&self, batch_id: &str) -> Result<Vec<BatchTable>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT table_name, rows, status, error FROM batch_tables WHERE batch_id = ?1 ORDER BY table_name",
        )?;
        let rows = st.query_map([batch_id], |r| {
            Ok(BatchTable {
                table: r.get(0)?,
                rows: r.get(1)?,
                status: r.get(2)?,
                error: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn set_batch_table(
        &self,
        batch_id: &str,
        table: &str,
        status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        self.db().execute(
            "UPDATE batch_tables SET status = ?3, error = ?4 WHERE batch_id = ?1 AND table_name = ?2",
            params![batch_id, table, status, error],
        )?;
        Ok(())
    }

    /// Counts a failed load of a batch table; returns the attempts so far.
    pub fn fail_batch_table(&self, batch_id: &str, table: &str, error: &str) -> Result<i64> {
        crate::fault::fail("state-fail-batch-table")?;
        let db = self.db();
        db.execute(
            "UPDATE batch_tables SET status = 'failed', error = ?3, attempts = attempts + 1 \
             WHERE batch_id = ?1 AND table_name = ?2",
            params![batch_id, table, error],
        )?;
        Ok(db.query_row(
            "SELECT attempts FROM batch_tables WHERE batch_id = ?1 AND table_name = ?2",
            params![batch_id, table],
            |r| r.get(0),
        )?)
    }

    /// A table's full extract landed: its lines in unreleased batches are
    /// no longer needed.
    pub fn supersede(&self, table: &str) -> Result<()> {
        self.db().execute(
            "UPDATE batch_tables SET status = 'superseded' WHERE table_name = ?1 AND status <> 'loaded' \
             AND batch_id IN (SELECT id FROM batches WHERE status <> 'released')",
            params![table],
        )?;
        Ok(())
    }

    pub fn set_batch_status(&self, batch_id: &str, status: &str) -> Result<()> {
        self.db().execute(
            "UPDATE batches SET status = ?2 WHERE id = ?1",
            params![batch_id, status],
        )?;
        Ok(())
    }

    /// The committed source position, where the next delta starts.
    pub fn position(&self) -> Result<Option<String>> {
        Ok(self
            .db()
            .query_row(
                "SELECT value FROM positions WHERE name = 'source'",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_position(&self, pos: &str) -> Result<()> {
        self.db().execute(
            "INSERT INTO positions (name, value, updated_at) VALUES ('source', ?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![pos, clock::now()],
        )?;
        Ok(())
    }

    pub fn table_state(&self, table: &str) -> Result<Option<TableState>> {
        Ok(self
            .db()
            .query_row(
                "SELECT table_name, dest, status, full_pos, rows, updated_at, error, key_cols, fingerprint \
                 FROM tables WHERE table_name = ?1",
                [table],
                table_state_row,
            )
            .optional()?)
    }

    pub fn table_states(&self) -> Result<Vec<TableState>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT table_name, dest, status, full_pos, rows, updated_at, error, key_cols, fingerprint \
             FROM tables ORDER BY table_name",
        )?;
        let rows = st.query_map([], table_state_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn set_table_state(
        &self,
        table: &str,
        dest: &str,
        status: &str,
        run_id: Option<i64>,
        full_pos: Option<&str>,
        rows: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        self.db().execute(
            "INSERT INTO tables (table_name, dest, status, full_run_id, full_pos, rows, updated_at, error)
             VALUES (?1, ?2, ?3, ?4, ?5, COALESCE(?6, 0), ?7, ?8)
             ON CONFLICT (table_name) DO UPDATE SET dest = excluded.dest, status = excluded.status,
                full_run_id = COALESCE(excluded.full_run_id, full_run_id),
                full_pos = COALESCE(excluded.full_pos, full_pos),
                rows = COALESCE(?6, rows), updated_at = excluded.updated_at, error = excluded.error",
            params![table, dest, status, run_id, full_pos, rows, clock::now(), error],
        )?;
        Ok(())
    }

    /// Records what a full extract saw of the table's key and shape.
    pub fn set_table_shape(
        &self,
        table: &str,
        key_cols: &str,
        fingerprint: Option<&str>,
    ) -> Result<()> {
        self.db().execute(
            "UPDATE tables SET key_cols = ?2, fingerprint = ?3 WHERE table_name = ?1",
            params![table, key_cols, fingerprint],
        )?;
        Ok(())
    }

    /// A new fingerprint of a table, accepted by a delta.
    pub fn set_fingerprint(&self, table: &str, fingerprint: Option<&str>) -> Result<()> {
        self.db().execute(
            "UPDATE tables SET fingerprint = ?2 WHERE table_name = ?1",
            params![table, fingerprint],
        )?;
        Ok(())
    }

    pub fn add_warning(
        &self,
        run_id: i64,
        table: &str,
        column: &str,
        message: &str,
        count: i64,
    ) -> Result<()> {
        self.db().execute(
            "INSERT INTO warnings (run_id, table_name, column_name, message, count) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO UPDATE SET count = count + excluded.count",
            params![run_id, table, column, message, count],
        )?;
        Ok(())
    }

    pub fn warnings(&self, run_id: i64) -> Result<Vec<(String, String, String, i64)>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT table_name, column_name, message, count FROM warnings WHERE run_id = ?1 ORDER BY 1, 2",
        )?;
        let rows = st.query_map([run_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn recent_runs(&self, n: i64) -> Result<Vec<RunRow>> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT id, kind, started_at, finished_at, status, from_pos, to_pos, error
             FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([n], |r| {
            Ok(RunRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
                status: r.get(4)?,
                from_pos: r.get(5)?,
                to_pos: r.get(6)?,
                error: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn table_state_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TableState> {
    Ok(TableState {
        table: r.get(0)?,
        dest: r.get(1)?,
        status: r.get(2)?,
        full_pos: r.get(3)?,
        rows: r.get(4)?,
        updated_at: r.get(5)?,
        error: r.get(6)?,
        key_cols: r.get(7)?,
        fingerprint: r.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lifecycle_and_position() {
        let dir = std::env::temp_dir().join(format!("ingest-meta-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let m = Meta::open(&dir.join("state.db")).unwrap();
        assert_eq!(m.position().unwrap(), None);
        let run = m.start_run("delta", Some("0/10")).unwrap();
        let b = Batch {
            id: "b1".into(),
            run_id: run,
            kind: "delta".into(),
            from_pos: Some("0/10".into()),
            to_pos: Some("0/20".into()),
            status: "extracted".into(),
        };
        m.add_batch(&b, &[("public.t".into(), 3)]).unwrap();
        assert_eq!(m.open_batches().unwrap(), vec![b.clone()]);
        m.set_batch_table("b1", "public.t", "loaded", None).unwrap();
        assert_eq!(m.batch_tables("b1").unwrap()[0].status, "loaded");
        m.set_batch_status("b1", "released").unwrap();
        m.set_position("0/20").unwrap();
        assert!(m.open_batches().unwrap().is_empty());
        assert_eq!(m.position().unwrap().as_deref(), Some("0/20"));
        let c = Counts {
            inserts: 2,
            updates: 1,
            deletes: 0,
            truncates: 0,
        };
        m.add_run_table(run, "public.t", &c, 3, 1, 2, "loaded", None)
            .unwrap();
        m.add_run_table(run, "public.t", &c, 3, 1, 2, "loaded", None)
            .unwrap();
        assert_eq!(m.run_tables(run).unwrap()[0].1.inserts, 4);
        drop(m);
        // Reopening keeps the schema version and the data.
        let m = Meta::open(&dir.join("state.db")).unwrap();
        assert_eq!(m.position().unwrap().as_deref(), Some("0/20"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
