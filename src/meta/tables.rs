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
}

const COLUMNS: &str =
    "table_name, dest, status, full_pos, rows, updated_at, error, key_cols, fingerprint";

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

    /// Records what a full extract saw of the table's key and shape.
    pub fn set_table_shape(
        &self,
        table: &str,
        key_cols: &str,
        fingerprint: Option<&str>,
    ) -> Result<()> {
        self.0.execute(
            "UPDATE tables SET key_cols = ?2, fingerprint = ?3 WHERE table_name = ?1",
            params![table, key_cols, fingerprint],
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
    })
}
