//! `state.db`: runs, batches, table states, the committed source position.
//!
//! SQLite in WAL mode with `synchronous = FULL`: a row written here survives a
//! crash. The schema lives in `sql/state_v*.sql` and is applied by version.
//! Load threads share one [`Meta`]; the connection sits behind a mutex (writes
//! are small and rare next to the loads). Writes that belong together go
//! through [`Meta::write`], one SQLite transaction: a table's outcome (its
//! state, its run counts, its batch line) is recorded whole or not at all.

mod batches;
mod reports;
mod runs;
mod status;
mod tables;

pub use batches::{Batch, BatchTable};
pub use reports::{DayRow, MonthRow};
pub use runs::{Counts, RunRow, RunTableRow};
pub use status::{BatchState, BatchTableState, RunStatus, RunTableStatus, TableState};
pub use tables::TableRecord;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

use crate::clock;

const MIGRATIONS: &[&str] = &[
    include_str!("../../sql/state_v1.sql"),
    include_str!("../../sql/state_v2.sql"),
    include_str!("../../sql/state_v3.sql"),
    include_str!("../../sql/state_v4.sql"),
    include_str!("../../sql/state_v5.sql"),
    include_str!("../../sql/state_v6.sql"),
    include_str!("../../sql/state_v7.sql"),
];

pub struct Meta {
    conn: Mutex<Connection>,
}

/// Writes inside one SQLite transaction (see [`Meta::write`]).
pub struct Tx<'c>(&'c Connection);

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

    /// Read-only queries of the status page (its own connection: it never
    /// waits for a run's writes, WAL readers see the last commit).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        Ok(f(&self.db())?)
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (its own
        // transactions roll back), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one transaction: committed if it returns Ok, rolled back
    /// otherwise (nothing of it is kept).
    pub fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut db = self.db();
        let t = db.transaction()?;
        let out = f(&Tx(&t))?;
        t.commit()?;
        Ok(out)
    }

    /// Brings the schema up to date, in one write transaction taken only
    /// when a migration is due: two processes opening a new state.db at
    /// once (`run` and `status`) do not both create it, and an up-to-date
    /// one is only read.
    fn migrate(&self) -> Result<()> {
        fn version(c: &Connection) -> Result<usize> {
            let has: bool = c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'schema_version'",
                [],
                |r| r.get::<_, i64>(0).map(|n| n > 0),
            )?;
            Ok(if has {
                c.query_row("SELECT version FROM schema_version", [], |r| {
                    r.get::<_, i64>(0)
                })? as usize
            } else {
                0
            })
        }
        let mut db = self.db();
        let newer = |v: usize| {
            anyhow::anyhow!(
                "state.db has schema version {v}, newer than this ingest knows ({}): use a newer ingest",
                MIGRATIONS.len()
            )
        };
        match version(&db)? {
            v if v == MIGRATIONS.len() => return Ok(()),
            v if v > MIGRATIONS.len() => return Err(newer(v)),
            _ => {}
        }
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current = version(&tx)?;
        if current > MIGRATIONS.len() {
            return Err(newer(current));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            tx.execute_batch(sql)?;
            tx.execute("DELETE FROM schema_version", [])?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [i as i64 + 1],
            )?;
        }
        tx.commit()?;
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

    /// Whether `ingest run` starts runs, and why it was turned off (a
    /// halt's reason, or none when a person did). On when never set.
    pub fn scheduler(&self) -> Result<(bool, Option<String>, Option<String>)> {
        let row: Option<(String, Option<String>, String)> = self
            .db()
            .query_row(
                "SELECT value, why, updated_at FROM settings WHERE name = 'scheduler'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(match row {
            None => (true, None, None),
            Some((v, why, at)) => (v != "off", why, Some(at)),
        })
    }

    pub fn set_scheduler(&self, on: bool, why: Option<&str>) -> Result<()> {
        self.db().execute(
            "INSERT INTO settings (name, value, why, updated_at) VALUES ('scheduler', ?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, why = excluded.why,
             updated_at = excluded.updated_at",
            params![if on { "on" } else { "off" }, why, clock::now()],
        )?;
        Ok(())
    }

    /// An operation asked for from the status page while a run held the
    /// instance (`delta`, `sync-new-tables`, `full-extract <table>`): the
    /// running `ingest run` takes it between runs. A newer one replaces it.
    pub fn set_request(&self, op: &str) -> Result<()> {
        self.db().execute(
            "INSERT INTO settings (name, value, updated_at) VALUES ('request', ?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![op, clock::now()],
        )?;
        Ok(())
    }

    /// The operation asked for, taken (removed).
    pub fn take_request(&self) -> Result<Option<String>> {
        let db = self.db();
        let op: Option<String> = db
            .query_row(
                "SELECT value FROM settings WHERE name = 'request'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if op.is_some() {
            db.execute("DELETE FROM settings WHERE name = 'request'", [])?;
        }
        Ok(op)
    }

    pub fn set_position(&self, pos: &str) -> Result<()> {
        self.db().execute(
            "INSERT INTO positions (name, value, updated_at) VALUES ('source', ?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![pos, clock::now()],
        )?;
        Ok(())
    }
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
            status: BatchState::Extracted,
        };
        m.add_batch(&b, &[("public.t".into(), 3)]).unwrap();
        assert_eq!(m.open_batches().unwrap(), vec![b.clone()]);
        m.write(|tx| tx.set_batch_table("b1", "public.t", BatchTableState::Loaded, None))
            .unwrap();
        assert_eq!(
            m.batch_tables("b1").unwrap()[0].status,
            BatchTableState::Loaded
        );
        m.set_batch_status("b1", BatchState::Released).unwrap();
        m.set_position("0/20").unwrap();
        assert!(m.open_batches().unwrap().is_empty());
        assert_eq!(m.position().unwrap().as_deref(), Some("0/20"));
        let c = Counts {
            inserts: 2,
            updates: 1,
            deletes: 0,
            truncates: 0,
        };
        for _ in 0..2 {
            m.write(|tx| {
                tx.add_run_table(run, "public.t", &c, 3, 1, 2, RunTableStatus::Loaded, None)
            })
            .unwrap();
        }
        assert_eq!(m.run_tables(run).unwrap()[0].1.inserts, 4);
        // A write that fails leaves nothing of itself.
        let r: Result<()> = m.write(|tx| {
            tx.set_table_state(
                "public.t",
                "d.t",
                TableState::Ready,
                Some(run),
                None,
                Some(5),
                None,
            )?;
            anyhow::bail!("then something failed")
        });
        assert!(r.is_err());
        assert_eq!(m.table_state("public.t").unwrap(), None);
        drop(m);
        // Reopening keeps the schema version and the data.
        let m = Meta::open(&dir.join("state.db")).unwrap();
        assert_eq!(m.position().unwrap().as_deref(), Some("0/20"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
