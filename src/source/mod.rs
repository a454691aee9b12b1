//! Sources: where changes come from. Each source splits into I/O (connect,
//! catalog, snapshot, change reading) and a pure decoder tested on captured
//! bytes. Snapshot and stream are separate calls: a full extract records the
//! position first, then snapshots; a delta reads from the committed position.

pub mod pgoutput;
pub mod postgres;

use std::collections::BTreeMap;

use crate::schema::Unrepresentable;

/// Values written as NULL because the destination cannot hold them, counted
/// per table, column and reason; logged and kept in state.db after the run.
#[derive(Debug, Default)]
pub struct Warnings(pub BTreeMap<(String, String, Unrepresentable), u64>);

impl Warnings {
    pub fn add(&mut self, table: &str, column: &str, why: Unrepresentable) {
        *self
            .0
            .entry((table.to_string(), column.to_string(), why))
            .or_default() += 1;
    }
}
