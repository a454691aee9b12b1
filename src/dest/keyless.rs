//! `keyless = true`: a table without a key, duplicate rows allowed (a log
//! table with REPLICA IDENTITY FULL, a MySQL table without a unique key).
//! Pure SQL text, unit-tested in `keyless_tests.rs`, run on MariaDB by
//! `tests/it/keyless.rs`.
//!
//! The destination table has the source's columns plus `ingest_row`, a
//! number the destination gives each row (its primary key: rows have no
//! other identity). A row is all its values (`TableSchema::key` holds the
//! columns the change log carries). A batch's lines are counted per
//! distinct row: an insert +1, a delete −1 (an update is a delete of the
//! old row and an insert of the new one; an update that changes nothing
//! counts 0). Then, set-based, in one transaction:
//! 1. a TRUNCATE in the batch: every row goes; only lines after it count;
//! 2. for each row counted below zero, that many of its copies go (the
//!    newest numbers first);
//! 3. for each row counted above zero, that many of its insert lines are
//!    inserted.
//!
//! Rows are compared by a SHA-256 of their values (each value with its
//! length, NULL apart), so long text compares whole (MySQL groups `TEXT`
//! by a prefix only) and NULLs match NULLs.
//!
//! Counting is not idempotent: merging a batch twice would apply it twice.
//! The merge's transaction therefore also writes the batch's name into
//! `<table>__ingest_batch`, and a batch whose name is there already is not
//! merged again (a crash after the destination committed, before state.db
//! did). `rollback` reads changes again as new batches: it is refused for
//! keyless tables.

use super::sql::{hash_of, helper_ref, listed, lit, q, table_ref, Bk, Flavor, STAGE};
use crate::config::Dialect;
use crate::schema::{TableSchema, ROW_COLUMN};

/// Suffix of the table that remembers the last batch merged.
pub const MARKER: &str = "batch";

/// The SHA-256 of a row's identity columns, of the table aliased `a`.
fn identity(s: &TableSchema, a: &str) -> String {
    hash_of(
        s.key
            .iter()
            .map(|&i| format!("{a}.{}", q(&s.columns[i].name))),
    )
}

/// The statements of a keyless table's merge, in order, in one
/// transaction (before them the marker is checked, after them set).
pub fn merge(s: &TableSchema, f: &Flavor, truncate_seq: Option<u64>) -> Vec<String> {
    let b = Bk::of(s);
    let (op, seq) = (b.op(), b.seq());
    let (h, net, rn, row) = (b.col("h"), b.col("net"), b.col("rn"), b.col("row"));
    let target = table_ref(&s.dest_db, &s.dest_table);
    let stage = helper_ref(s, f, STAGE);
    let rowc = q(ROW_COLUMN);
    let after = match truncate_seq {
        Some(t) => format!(" AND x.{seq} > {t}"),
        None => String::new(),
    };
    let counts = format!(
        "SELECT y.{h}, SUM(CASE WHEN y.{op} = 'D' THEN -1 WHEN y.{op} = 'I' THEN 1 ELSE 0 END) AS {net} \
         FROM (SELECT {hx} AS {h}, x.{op} FROM {stage} x WHERE 1 = 1{after}) y GROUP BY y.{h}",
        hx = identity(s, "x"),
    );
    let cols = listed(s, 0..s.columns.len(), "");
    let icols = listed(s, 0..s.columns.len(), "i");
    let mut out = vec![];
    if truncate_seq.is_some() {
        out.push(format!("DELETE FROM {target}"));
    }
    out.push(format!(
        "DELETE t FROM {target} t JOIN (SELECT r.{row} FROM (\
         SELECT v.{row}, v.{net}, ROW_NUMBER() OVER (PARTITION BY v.{h} ORDER BY v.{row} DESC) AS {rn} FROM (\
         SELECT t.{rowc} AS {row}, n.{h}, n.{net} FROM {target} t JOIN ({counts}) n ON {ht} = n.{h} WHERE n.{net} < 0) v) r \
         WHERE r.{rn} <= -r.{net}) d ON t.{rowc} = d.{row}",
        ht = identity(s, "t"),
    ));
    out.push(format!(
        "INSERT INTO {target} ({cols}) SELECT {icols} FROM (\
         SELECT x.*, {hx} AS {h}, ROW_NUMBER() OVER (PARTITION BY {hx} ORDER BY x.{seq} DESC) AS {rn} \
         FROM {stage} x WHERE x.{op} = 'I'{after}) i JOIN ({counts}) n ON i.{h} = n.{h} \
         WHERE n.{net} > 0 AND i.{rn} <= n.{net}",
        hx = identity(s, "x"),
    ));
    out
}

/// The table that holds the name of the last batch merged.
pub fn create_marker(s: &TableSchema, f: &Flavor) -> String {
    let kind = match f.dialect {
        Dialect::Mysql => "",
        Dialect::SingleStore => "ROWSTORE ",
    };
    format!(
        "CREATE {kind}TABLE IF NOT EXISTS {} (`batch` VARCHAR(64) NOT NULL)",
        helper_ref(s, f, MARKER)
    )
}

pub fn read_marker(s: &TableSchema, f: &Flavor) -> String {
    format!("SELECT `batch` FROM {}", helper_ref(s, f, MARKER))
}

/// Statements that record `batch` as merged (inside the merge's
/// transaction).
pub fn set_marker(s: &TableSchema, f: &Flavor, batch: &str) -> Vec<String> {
    let m = helper_ref(s, f, MARKER);
    vec![
        format!("DELETE FROM {m}"),
        format!("INSERT INTO {m} (`batch`) VALUES ({})", lit(batch)),
    ]
}

#[cfg(test)]
#[path = "keyless_tests.rs"]
mod tests;
