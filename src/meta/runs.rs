//! Runs, their per-table counts, and their warnings.

use anyhow::Result;
use rusqlite::params;

use super::{Meta, RunStatus, RunTableStatus, Tx};
use crate::clock;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub inserts: i64,
    pub updates: i64,
    pub deletes: i64,
    pub truncates: i64,
}

/// (table, counts, rows loaded, status, error) of one run.
pub type RunTableRow = (String, Counts, i64, RunTableStatus, Option<String>);

#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    pub from_pos: Option<String>,
    pub to_pos: Option<String>,
    pub error: Option<String>,
}

impl Meta {
    pub fn start_run(&self, kind: &str, from_pos: Option<&str>) -> Result<i64> {
        let db = self.db();
        db.execute(
            "INSERT INTO runs (kind, started_at, status, from_pos) VALUES (?1, ?2, ?3, ?4)",
            params![kind, clock::now(), RunStatus::Running, from_pos],
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

    /// The source's commit times of the first and last transaction a batch
    /// of the run read (kept across its batches: earliest and latest).
    pub fn run_commits(&self, run_id: i64, first: &str, last: &str) -> Result<()> {
        self.db().execute(
            "UPDATE runs SET first_commit_at = COALESCE(MIN(first_commit_at, ?2), ?2), \
             last_commit_at = COALESCE(MAX(last_commit_at, ?3), ?3) WHERE id = ?1",
            params![run_id, first, last],
        )?;
        Ok(())
    }

    /// The run's first load starts (kept when later batches load).
    pub fn run_load_started(&self, run_id: i64) -> Result<()> {
        self.db().execute(
            "UPDATE runs SET load_started_at = COALESCE(load_started_at, ?2) WHERE id = ?1",
            params![run_id, clock::now()],
        )?;
        Ok(())
    }

    pub fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        to_pos: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        self.db().execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, to_pos = COALESCE(?4, to_pos), error = ?5 WHERE id = ?1",
            params![run_id, clock::now(), status, to_pos, error],
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

impl Tx<'_> {
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
        status: RunTableStatus,
        error: Option<&str>,
    ) -> Result<()> {
        self.0.execute(
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

    pub fn add_warning(
        &self,
        run_id: i64,
        table: &str,
        column: &str,
        message: &str,
        count: i64,
    ) -> Result<()> {
        self.0.execute(
            "INSERT INTO warnings (run_id, table_name, column_name, message, count) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO UPDATE SET count = count + excluded.count",
            params![run_id, table, column, message, count],
        )?;
        Ok(())
    }
}
