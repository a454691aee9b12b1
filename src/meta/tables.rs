//! The selected source tables: state, destination, what their full
//! extract saw.

use anyhow::Result;
use rusqlite::{params, OptionalExtension};

use super::{Meta, TableState, Tx};
use crate::clock;

/// A table's row in state.db.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRecord {
    pub table: String,
    pub dest: String,
    pub status: TableState,
    pub full_pos: Option<String>,
    pub rows: i64,
    pub updated_at: String,
    pub error: Option<String>,
    /// Key columns at the last full extract (JSON array), if recorded.
    pub key_cols: Option<String>,
    /// The source's fingerprint of the table at the last full extract.
    pub fingerprint: Option<String>,
    /// Where its changes wait for `sync-struct` (a structure change).
    pub resume_pos: Option<String>,
    /// DDL statements seen for it since `resume_pos` (JSON array).
    pub struct_ddl: Option<String>,
    /// Column identities at the last full extract or sync-struct (JSON).
    pub col_ids: Option<String>,
    /// The log position at its last sync-struct.
    pub struct_at: Option<String>,
    /// The table as the destination has it (JSON).
    pub shape: Option<String>,
    /// `redo_initial` was taken.
    pub redo_done: bool,
}

const COLUMNS: &str = "table_name, dest, status, full_pos, rows, updated_at, error, key_cols, \
                       fingerprint, resume_pos, struct_ddl, col_ids, struct_at, shape, redo_done";

impl Meta {
    pub fn table_state(&self, table: &str) -> Result<Option<TableRecord>> {
        Ok(self
            .db()
            .query_row(
                &format!("SELECT {COLUMNS} FROM tables WHERE table_name = ?1"),
                [table],
                table_row,
            )
            .optional()?)
    }

    pub fn table_states(&self) -> Result<Vec<TableRecord>> {
        let db = self.db();
        let mut st = db.prepare(&format!("SELECT {COLUMNS} FROM tables ORDER BY table_name"))?;
        let rows = st.query_map([], table_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Tx<'_> {
    #[allow(clippy::too_many_arguments)]
    pub fn set_table_state(
        &self,
        table: &str,
        dest: &str,
        status: TableState,
        run_id: Option<i64>,
        full_pos: Option<&str>,
        rows: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        self.0.execute(
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

    /// Records what a full extract saw of the table's key and shape; its
    /// changes no longer wait for `sync-struct`.
    pub fn set_table_shape(
        &self,
        table: &str,
        key_cols: &str,
        fingerprint: Option<&str>,
        col_ids: Option<&str>,
        shape: Option<&str>,
    ) -> Result<()> {
        self.0.execute(
            "UPDATE tables SET key_cols = ?2, fingerprint = ?3, col_ids = ?4, shape = ?5, \
             resume_pos = NULL, struct_ddl = NULL, struct_at = NULL WHERE table_name = ?1",
            params![table, key_cols, fingerprint, col_ids, shape],
        )?;
        Ok(())
    }

    /// The table's changes wait at `resume` for `sync-struct`; `ddl`: the
    /// DDL statements seen for it (JSON array), added to those kept.
    pub fn set_waiting(&self, table: &str, resume: &str, ddl: &[String]) -> Result<()> {
        let old: Option<Option<String>> = self
            .0
            .query_row(
                "SELECT struct_ddl FROM tables WHERE table_name = ?1",
                [table],
                |r| r.get(0),
            )
            .optional()?;
        let mut all: Vec<String> = old
            .flatten()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        all.extend(ddl.iter().cloned());
        self.0.execute(
            "UPDATE tables SET resume_pos = COALESCE(resume_pos, ?2), struct_ddl = ?3 WHERE table_name = ?1",
            params![table, resume, serde_json::to_string(&all)?],
        )?;
        Ok(())
    }

    /// `redo_initial`: done (1) for the option as it stands, or asked
    /// again (0).
    pub fn set_redo_done(&self, table: &str, done: bool) -> Result<()> {
        self.0.execute(
            "UPDATE tables SET redo_done = ?2 WHERE table_name = ?1",
            params![table, done],
        )?;
        Ok(())
    }

    /// The table's changes no longer wait for sync-struct (it failed for
    /// another reason: only a full extract helps).
    pub fn clear_waiting(&self, table: &str) -> Result<()> {
        self.0.execute(
            "UPDATE tables SET resume_pos = NULL, struct_ddl = NULL WHERE table_name = ?1",
            [table],
        )?;
        Ok(())
    }

    /// The table's changes now wait at `resume` (a later structure change
    /// met while catching up); `ddl` is added to the statements kept.
    pub fn set_resume(&self, table: &str, resume: &str, ddl: &[String]) -> Result<()> {
        self.0.execute(
            "UPDATE tables SET resume_pos = NULL WHERE table_name = ?1",
            [table],
        )?;
        self.set_waiting(table, resume, ddl)
    }

    /// The destination has the table's structure as the source describes
    /// it at `struct_at` (`col_ids`: its column identities); its changes no
    /// longer wait.
    pub fn set_struct_synced(
        &self,
        table: &str,
        col_ids: Option<&str>,
        struct_at: Option<&str>,
    ) -> Result<()> {
        self.0.execute(
            "UPDATE tables SET resume_pos = NULL, struct_ddl = NULL, col_ids = ?2, struct_at = ?3 \
             WHERE table_name = ?1",
            params![table, col_ids, struct_at],
        )?;
        Ok(())
    }

    /// Column identities and shape of a table extracted before they were
    /// recorded.
    pub fn set_col_ids(
        &self,
        table: &str,
        col_ids: Option<&str>,
        shape: Option<&str>,
    ) -> Result<()> {
        self.0.execute(
            "UPDATE tables SET col_ids = ?2, shape = COALESCE(?3, shape) WHERE table_name = ?1",
            params![table, col_ids, shape],
        )?;
        Ok(())
    }

    /// A new fingerprint of a table, accepted by a delta.
    pub fn set_fingerprint(&self, table: &str, fingerprint: Option<&str>) -> Result<()> {
        self.0.execute(
            "UPDATE tables SET fingerprint = ?2 WHERE table_name = ?1",
            params![table, fingerprint],
        )?;
        Ok(())
    }
}

fn table_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TableRecord> {
    Ok(TableRecord {
        table: r.get(0)?,
        dest: r.get(1)?,
        status: r.get(2)?,
        full_pos: r.get(3)?,
        rows: r.get(4)?,
        updated_at: r.get(5)?,
        error: r.get(6)?,
        key_cols: r.get(7)?,
        fingerprint: r.get(8)?,
        resume_pos: r.get(9)?,
        struct_ddl: r.get(10)?,
        col_ids: r.get(11)?,
        struct_at: r.get(12)?,
        shape: r.get(13)?,
        redo_done: r.get(14)?,
    })
}
