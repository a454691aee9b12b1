//! Rows the binlog did not carry whole, completed from the source.
//!
//! Under `binlog_row_image = MINIMAL` an insert logs only the columns its
//! statement named (the others hold defaults the log does not tell), and a
//! key change under MINIMAL or NOBLOB lacks the values it did not change,
//! with no row at the new key to take them from. Such a row is read from
//! the source by its key, as PostgreSQL's unchanged TOAST values of a moved
//! row are, and written at its place in the batch. The source may hold a
//! later version of the row: the changes after it in the log are applied
//! over it, so the end state is the same. A row no longer there was deleted
//! since: its delete follows in the log, and nothing is written for it.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use super::decode::RowDecoder;
use super::qi;
use super::snapshot::{query_row_texts, select_expr, select_list};
use crate::change::{AsIs, Cell, Incomplete};
use crate::error::mysql_message;
use crate::source::Warnings;
use crate::spool::Op;
use crate::table::TableId;

/// Keys looked up in one statement.
const KEYS_AT_ONCE: usize = 500;
/// Rows a batch defers before they are completed (memory stays bounded).
pub(super) const DEFERRED_AT_ONCE: usize = 2 * KEYS_AT_ONCE;

/// Completes the rows `dec` deferred, reading them on `conn`.
pub(super) fn complete(
    conn: &mut Conn,
    dec: &mut RowDecoder,
    warnings: &mut Warnings,
) -> Result<()> {
    let mut by_table: BTreeMap<TableId, Vec<Incomplete>> = BTreeMap::new();
    for d in std::mem::take(&mut dec.deferred) {
        by_table.entry(d.table.clone()).or_default().push(d);
    }
    let (tables, all_cols) = (dec.sink.tables(), dec.cols);
    for (table, rows) in by_table {
        let s = &tables[&table];
        let cols = &all_cols[&table];
        let name = table.to_string();
        let list = select_list(cols, s);
        let from = format!("{}.{}", qi(&s.schema), qi(&s.name));
        // Key texts are spool text: hex for binary columns.
        // A FLOAT or DOUBLE travels as the exact double (`1.5e0`): compared
        // as a number, not as text.
        let param = |k: usize| match cols[k].data_type.as_str() {
            _ if cols[k].binary() => "UNHEX(?)",
            "float" | "double" => "CAST(? AS DOUBLE)",
            _ => "?",
        };
        let tuple = format!(
            "({})",
            s.key
                .iter()
                .map(|&k| param(k))
                .collect::<Vec<_>>()
                .join(", ")
        );
        // As the spool has them: an ENUM listing `''` by its index.
        let key_cols = format!(
            "({})",
            s.key
                .iter()
                .map(|&k| select_expr(&cols[k]))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut scratch = vec![];
        // A row read, as owned spool texts (converted once: a value the
        // destination cannot hold is counted once).
        let mut texts = |row: &mysql::Row, warnings: &mut Warnings| -> Vec<Option<Vec<u8>>> {
            let vals = query_row_texts(cols, s, row, &mut scratch, &name, warnings);
            vals.iter()
                .map(|v| v.as_ref().map(|t| t.get(&scratch).to_vec()))
                .collect()
        };
        let write = |dec: &mut RowDecoder, d: &Incomplete, vals: &[Option<Vec<u8>>]| {
            let cells: Vec<Cell> = vals
                .iter()
                .map(|v| v.as_deref().map_or(Cell::Null, Cell::Value))
                .collect();
            dec.sink
                .write_at(&table, Op::Insert, d.seq, &d.ts, &cells[..], &mut AsIs)
        };
        for chunk in rows.chunks(KEYS_AT_ONCE) {
            let sql = format!(
                "SELECT {list} FROM {from} WHERE {key_cols} IN ({})",
                vec![tuple.as_str(); chunk.len()].join(", ")
            );
            let params: Vec<Value> = chunk
                .iter()
                .flat_map(|d| d.key_texts(s).into_iter().map(Value::Bytes))
                .collect();
            let found: Vec<mysql::Row> = conn.exec(sql.as_str(), params).map_err(|e| {
                anyhow!(
                    "reading rows of {name} the binlog did not log whole: {}",
                    mysql_message(&e)
                )
            })?;
            // Found rows by their key's spool text.
            let mut by_key: HashMap<Vec<Vec<u8>>, Vec<Option<Vec<u8>>>> = HashMap::new();
            for row in &found {
                let vals = texts(row, warnings);
                let k = s
                    .key
                    .iter()
                    .map(|&k| vals[k].clone().unwrap_or_default())
                    .collect();
                by_key.insert(k, vals);
            }
            for d in chunk {
                if let Some(vals) = by_key.get(&d.key_texts(s)) {
                    write(dec, d, vals)?;
                    continue;
                }
                // Not matched by text (a key whose text the two paths
                // write differently would be): asked for alone.
                let one = format!("SELECT {list} FROM {from} WHERE {key_cols} = {tuple}");
                let params: Vec<Value> = d.key_texts(s).into_iter().map(Value::Bytes).collect();
                let row: Option<mysql::Row> =
                    conn.exec_first(one.as_str(), params).map_err(|e| {
                        anyhow!(
                            "reading a row of {name} the binlog did not log whole: {}",
                            mysql_message(&e)
                        )
                    })?;
                if let Some(row) = row {
                    let vals = texts(&row, warnings);
                    write(dec, d, &vals)?;
                }
            }
        }
    }
    Ok(())
}
