//! Delta batches and their tables.

use anyhow::Result;
use rusqlite::params;

use super::{BatchState, BatchTableState, Meta, Tx};
use crate::clock;

#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub id: String,
    pub run_id: i64,
    pub kind: String,
    pub from_pos: Option<String>,
    pub to_pos: Option<String>,
    pub status: BatchState,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchTable {
    pub table: String,
    pub rows: i64,
    pub status: BatchTableState,
    pub error: Option<String>,
}

impl Meta {
    /// Records an extracted batch: durable in the spool, MANIFEST written.
    pub fn add_batch(&self, b: &Batch, tables: &[(String, i64)]) -> Result<()> {
        self.write(|tx| tx.add_batch(b, tables))
    }
}

impl Tx<'_> {
    /// [`Meta::add_batch`] inside a transaction with more.
    pub fn add_batch(&self, b: &Batch, tables: &[(String, i64)]) -> Result<()> {
        self.0.execute(
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
            self.0.execute(
                "INSERT INTO batch_tables (batch_id, table_name, rows, status) VALUES (?1, ?2, ?3, ?4)",
                params![b.id, t, rows, BatchTableState::Pending],
            )?;
        }
        Ok(())
    }
}

impl Meta {
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

    pub fn set_batch_status(&self, batch_id: &str, status: BatchState) -> Result<()> {
        self.db().execute(
            "UPDATE batches SET status = ?2 WHERE id = ?1",
            params![batch_id, status],
        )?;
        Ok(())
    }
}

impl Tx<'_> {
    pub fn set_batch_table(
        &self,
        batch_id: &str,
        table: &str,
        status: BatchTableState,
        error: Option<&str>,
    ) -> Result<()> {
        self.0.execute(
            "UPDATE batch_tables SET status = ?3, error = ?4 WHERE batch_id = ?1 AND table_name = ?2",
            params![batch_id, table, status, error],
        )?;
        Ok(())
    }

    /// Counts a failed load of a batch table; returns the attempts so far.
    pub fn fail_batch_table(&self, batch_id: &str, table: &str, error: &str) -> Result<i64> {
        crate::fault::fail("state-fail-batch-table")?;
        self.0.execute(
            "UPDATE batch_tables SET status = ?4, error = ?3, attempts = attempts + 1 \
             WHERE batch_id = ?1 AND table_name = ?2",
            params![batch_id, table, error, BatchTableState::Failed],
        )?;
        Ok(self.0.query_row(
            "SELECT attempts FROM batch_tables WHERE batch_id = ?1 AND table_name = ?2",
            params![batch_id, table],
            |r| r.get(0),
        )?)
    }

    /// A table's full extract landed: its lines in unreleased batches are
    /// no longer needed.
    pub fn supersede(&self, table: &str) -> Result<()> {
        self.0.execute(
            "UPDATE batch_tables SET status = ?2 WHERE table_name = ?1 AND status <> 'loaded' \
             AND batch_id IN (SELECT id FROM batches WHERE status <> 'released')",
            params![table, BatchTableState::Superseded],
        )?;
        Ok(())
    }
}
