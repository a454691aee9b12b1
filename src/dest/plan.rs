//! Which way a table's lines go into the destination (pure; unit-tested).
//!
//! A full extract always loads a shadow table and swaps it in. A delta's
//! table file takes one of these, from what its MANIFEST entry says:
//!
//! - **direct** (MySQL/MariaDB, whole rows, no TRUNCATE, each key once):
//!   the `D` lines are staged, then in one transaction the staged keys are
//!   deleted and the `I`/`U` lines go straight into the target with
//!   `LOAD DATA ... REPLACE`;
//! - **last change** (the same, but keys repeat): one pass over the file
//!   marks each key's last change, then as direct with those lines only
//!   (through staging when the pass does not fit the run's key budget);
//! - **staged**: every line is staged and merged in SQL, by one of
//!   [`StagedMerge`].

use crate::config::Dialect;
use crate::spool::ManifestTable;

/// How a delta's table file is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaPlan {
    Direct,
    LastChange,
    Staged,
}

/// The plan for a delta's table file.
pub fn delta_plan(dialect: Dialect, t: &ManifestTable) -> DeltaPlan {
    // SingleStore stages everything (whether it takes LOAD DATA ... REPLACE
    // inside a transaction is not verified); unchanged TOAST values need the
    // fill, and a TRUNCATE cuts the batch. LOAD DATA ... REPLACE refuses
    // ENUM error values (an error, not LOCAL's warning): they are staged.
    // A history table keeps every version: its own merge, from staging.
    if dialect != Dialect::Mysql
        || t.unchanged
        || t.truncate_seq.is_some()
        || t.enum_errors > 0
        || t.history.is_some()
        || t.keyless
    {
        DeltaPlan::Staged
    } else if t.keys_unique {
        DeltaPlan::Direct
    } else {
        DeltaPlan::LastChange
    }
}

/// What a batch holds for one table, as far as the staged merge cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeShape {
    pub truncate_seq: Option<u64>,
    pub unchanged: bool,
    /// Every key appears once in the lines that count (those after the
    /// truncate, if any): no need to pick the last change per key.
    pub keys_unique: bool,
    /// Delete lines in the batch.
    pub deletes: u64,
}

/// How staged lines are merged (one transaction each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagedMerge {
    /// Each key once: delete the `D` keys, upsert the rest (`INSERT ...
    /// SELECT ... ON DUPLICATE KEY UPDATE`). Measured 2.5x faster than the
    /// last-change merge on MariaDB.
    Upsert,
    /// Keys repeat: delete every staged key, insert each key's last line
    /// (`ROW_NUMBER()`) unless it is a `D`.
    LastChange,
    /// Some lines lack unchanged (TOAST) values: they are filled from the
    /// key's earlier lines or the target first, then as `LastChange`.
    Fill,
}

pub fn staged_merge(shape: &MergeShape) -> StagedMerge {
    if shape.unchanged {
        StagedMerge::Fill
    } else if shape.keys_unique {
        StagedMerge::Upsert
    } else {
        StagedMerge::LastChange
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(unchanged: bool, truncate: bool, keys_unique: bool) -> ManifestTable {
        ManifestTable {
            source: "s.t".into(),
            source_schema: "s".into(),
            source_table: "t".into(),
            dest_db: "d".into(),
            dest_table: "t".into(),
            file: "001_d.t.csv".into(),
            part: 0,
            rows: 1,
            inserts: 1,
            updates: 0,
            deletes: 0,
            truncate_seq: truncate.then_some(3),
            truncates: vec![],
            unchanged,
            keys_unique,
            enum_errors: 0,
            bad_values: vec![],
            columns: vec![],
            history: None,
            keyless: false,
        }
    }

    #[test]
    fn the_plan_follows_the_manifest() {
        let m = Dialect::Mysql;
        assert_eq!(delta_plan(m, &table(false, false, true)), DeltaPlan::Direct);
        assert_eq!(
            delta_plan(m, &table(false, false, false)),
            DeltaPlan::LastChange
        );
        assert_eq!(delta_plan(m, &table(true, false, true)), DeltaPlan::Staged);
        assert_eq!(delta_plan(m, &table(false, true, true)), DeltaPlan::Staged);
        assert_eq!(
            delta_plan(Dialect::SingleStore, &table(false, false, true)),
            DeltaPlan::Staged
        );
        let shape = |unchanged, keys_unique| MergeShape {
            unchanged,
            keys_unique,
            ..Default::default()
        };
        assert_eq!(staged_merge(&shape(false, true)), StagedMerge::Upsert);
        assert_eq!(staged_merge(&shape(false, false)), StagedMerge::LastChange);
        assert_eq!(staged_merge(&shape(true, true)), StagedMerge::Fill);
    }
}
