//! Snapshots through the binary protocol: a table whole, or in ranges of
//! an integer key read on connections of their own.

use anyhow::{anyhow, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use super::column::MyCol;
use super::values::{value_into, within_years, Origin, Text};
use super::{qi, MySource};
use crate::error::mysql_message;
use crate::schema::TableSchema;
use crate::source::{SnapshotRange, Warnings};
use crate::spool::{Op, TableWriter};

/// Streams the table's rows (those matching `filter`, a `WHERE ...` clause
/// or empty) into the spool file: one consistent read, without locks.
fn select_rows(
    conn: &mut Conn,
    cols: &[MyCol],
    s: &TableSchema,
    filter: &str,
    w: &mut TableWriter,
    ts: &str,
    warnings: &mut Warnings,
) -> Result<u64> {
    let list = select_list(cols, s);
    // `where`: the initial extract's rows, within the range asked for.
    let filter = match (&s.filter, filter.trim()) {
        (None, _) => filter.to_string(),
        (Some(f), "") => format!(" WHERE ({f})"),
        (Some(f), range) => format!(" {range} AND ({f})"),
    };
    let sql = format!(
        "SELECT {list} FROM {}.{}{filter}",
        qi(&s.schema),
        qi(&s.name)
    );
    let table = s.source_name();
    let mut n = 0u64;
    let result = conn
        .exec_iter(sql.as_str(), ())
        .map_err(|e| anyhow!("snapshot of {table}: {}", mysql_message(&e)))?;
    let mut scratch = Vec::with_capacity(1024);
    for row in result {
        let row =
            row.map_err(|e| anyhow!("snapshot of {table}, row {}: {}", n + 1, mysql_message(&e)))?;
        let vals = query_row_texts(cols, s, &row, &mut scratch, &table, warnings);
        n += 1;
        w.write(
            Op::Insert,
            n,
            ts,
            &[],
            vals.iter().map(|v| v.as_ref().map(|t| t.get(&scratch))),
        )?;
        if n == 1 {
            crate::fault::point("snapshot-row");
        }
    }
    Ok(n)
}

/// The columns of a SELECT reading rows: names, but the index of an ENUM
/// that lists `''` as a member (it and the error value read the same), and
/// NULL for a masked column (never read).
pub(super) fn select_list(cols: &[MyCol], s: &TableSchema) -> String {
    cols.iter()
        .enumerate()
        .map(|(i, c)| {
            if s.columns.get(i).is_some_and(|x| x.masked) {
                "NULL".to_string()
            } else {
                select_expr(c)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One column as a SELECT reads it (see [`select_list`]).
pub(super) fn select_expr(c: &MyCol) -> String {
    if crate::schema::enum_by_index(&c.column_type) {
        format!("({} + 0)", qi(&c.name))
    } else {
        qi(&c.name)
    }
}

/// The spool texts of a row a query read (formatted values in `scratch`,
/// cleared first); a value the destination cannot hold is NULL, counted.
pub(super) fn query_row_texts<'r>(
    cols: &[MyCol],
    s: &TableSchema,
    row: &'r mysql::Row,
    scratch: &mut Vec<u8>,
    table: &str,
    warnings: &mut Warnings,
) -> Vec<Option<Text<'r>>> {
    scratch.clear();
    let mut vals = Vec::with_capacity(cols.len());
    for (i, c) in cols.iter().enumerate() {
        let v = row.as_ref(i).unwrap_or(&Value::NULL);
        let t = value_into(c, v, Origin::Snapshot, scratch).and_then(|t| {
            if let Some(x) = &t {
                within_years(c, x.get(scratch))?;
            }
            Ok(t)
        });
        vals.push(warnings.or_null(t, table, &c.name));
    }
    warnings.keyed(|| {
        crate::source::key_text(s, |k| {
            vals.get(k)
                .and_then(|v| v.as_ref())
                .map(|t| String::from_utf8_lossy(t.get(scratch)).into_owned())
        })
    });
    vals
}

/// A key range of a table, read on its own connection. Ranges are read at
/// slightly different moments: a row whose key moves between them during
/// the extract may be missed or read twice, and the binlog from the
/// recorded position replays its full row image (`binlog_row_image =
/// FULL`), as for a row changed during an unsplit snapshot.
struct MyRange {
    conn: Conn,
    cols: Vec<MyCol>,
    schema: TableSchema,
    filter: String,
}

impl SnapshotRange for MyRange {
    fn describe(&self) -> String {
        self.filter.trim_start_matches(" WHERE ").to_string()
    }

    fn read(
        self: Box<Self>,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        let MyRange {
            mut conn,
            cols,
            schema,
            filter,
        } = *self;
        select_rows(&mut conn, &cols, &schema, &filter, w, ts, warnings)
    }
}

impl MySource {
    pub(super) fn select_table(
        &mut self,
        s: &TableSchema,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        let cols = self.described(s)?;
        select_rows(&mut self.conn, &cols, s, "", w, ts, warnings)
    }
    /// Ranges of a single integer key, split evenly between its minimum
    /// and maximum (the first and last ranges are open-ended).
    pub(super) fn split_ranges(
        &mut self,
        s: &TableSchema,
        n: usize,
        min_bytes: u64,
    ) -> Result<Option<Vec<Box<dyn SnapshotRange>>>> {
        let cols = self.described(s)?;
        let [k] = s.key[..] else { return Ok(None) };
        let integer = ["tinyint", "smallint", "mediumint", "int", "bigint"];
        if n < 2 || !integer.contains(&cols[k].data_type.as_str()) {
            return Ok(None);
        }
        let bytes: Option<u64> = self.conn.exec_first(
            "SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&s.schema, &s.name),
        )?;
        if bytes.unwrap_or(0) < min_bytes {
            return Ok(None);
        }
        let key = qi(&s.columns[k].name);
        let (lo, hi): (Option<String>, Option<String>) = self
            .conn
            .query_first(format!(
                "SELECT CAST(MIN({key}) AS CHAR), CAST(MAX({key}) AS CHAR) FROM {}.{}",
                qi(&s.schema),
                qi(&s.name)
            ))?
            .unwrap_or((None, None));
        let (Some(lo), Some(hi)) = (
            lo.and_then(|v| v.parse::<i128>().ok()),
            hi.and_then(|v| v.parse::<i128>().ok()),
        ) else {
            return Ok(None);
        };
        let points = crate::source::split_points(lo, hi, n);
        if points.is_empty() {
            return Ok(None);
        }
        let mut out: Vec<Box<dyn SnapshotRange>> = vec![];
        for i in 0..=points.len() {
            let mut cond = vec![];
            if i > 0 {
                cond.push(format!("{key} >= {}", points[i - 1]));
            }
            if let Some(p) = points.get(i) {
                cond.push(format!("{key} < {p}"));
            }
            let conn = Conn::new(self.opts.clone())
                .map_err(|e| anyhow!("snapshot connection: {}", mysql_message(&e)))?;
            out.push(Box::new(MyRange {
                conn,
                cols: cols.clone(),
                schema: s.clone(),
                filter: format!(" WHERE {}", cond.join(" AND ")),
            }));
        }
        Ok(Some(out))
    }
}
