//! The `timestamps` extract type: per table, the rows whose
//! `timestamp_column` is newer than the newest value read before, for
//! tables without Change Tracking or CDC. Inserts and updates that set the
//! column are seen; deletes are not, and neither is a row committed after
//! a newer one was read with an older value (a long transaction).

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail, Result};
use odbc_api::Connection;

use super::fetch::{self, Texts};
use super::types::{qi, Kind, MsCol};
use super::{cells, key_of, odbc, qname, MsSource};
use crate::change::{AsIs, Cell, ChangeSink, Table};
use crate::position::{later_watermark, Position};
use crate::schema::TableSchema;
use crate::source::Warnings;
use crate::table::TableId;

/// The text of the column's value (`x`: an expression of it) that orders as
/// the values do: dates in ODBC canonical form (`datetimeoffset` in UTC),
/// binary as `0x...`, integers as digits.
pub fn text_expr(c: &MsCol, x: &str) -> Option<String> {
    Some(match c.kind {
        Kind::Timestamp { .. } | Kind::Date => format!("CONVERT(varchar(40), {x}, 121)"),
        Kind::Offset { .. } => format!("CONVERT(varchar(40), SWITCHOFFSET({x}, '+00:00'), 121)"),
        Kind::Binary { max: Some(_) } => format!("CONVERT(varchar(40), {x}, 1)"),
        Kind::U8 | Kind::I16 | Kind::I32 | Kind::I64 => format!("CAST({x} AS varchar(40))"),
        _ => return None,
    })
}

/// The column's declared type, for a literal of it.
fn decl(c: &MsCol) -> String {
    match c.type_name.as_str() {
        "datetime2" | "datetimeoffset" | "time" => format!("{}({})", c.type_name, c.scale),
        t => t.to_string(),
    }
}

/// A value of [`text_expr`] as an SQL literal of the column's type; the
/// text is checked to be of its form (it comes from the server, and goes
/// into the statement).
pub fn literal(c: &MsCol, v: &str) -> Result<String> {
    let ok = |allowed: &dyn Fn(char) -> bool| !v.is_empty() && v.chars().all(allowed);
    let bad = || {
        anyhow!(
            "the newest value of {} is '{v}', which is not of its type's form",
            c.name
        )
    };
    match c.kind {
        Kind::Timestamp { .. } | Kind::Date | Kind::Offset { .. } => {
            if !ok(&|ch| ch.is_ascii_digit() || "-:. +".contains(ch)) {
                return Err(bad());
            }
            Ok(format!("CONVERT({}, '{v}', 121)", decl(c)))
        }
        Kind::Binary { .. } => {
            let hex = v.strip_prefix("0x").ok_or_else(bad)?;
            if !hex.chars().all(|ch| ch.is_ascii_hexdigit()) {
                return Err(bad());
            }
            Ok(format!("0x{hex}"))
        }
        _ => v.parse::<i64>().map(|n| n.to_string()).map_err(|_| bad()),
    }
}

/// The timestamp column of a table read by timestamps: its index.
pub fn column(cols: &[MsCol], s: &TableSchema, name: Option<&str>) -> Result<usize> {
    let table = s.source_name();
    let Some(name) = name else {
        bail!(
            "table {table} is read by extract_type = \"timestamps\" and names no column: add \
             timestamp_column = \"...\" to its [[table]] entry"
        );
    };
    let i = cols
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| anyhow!("table {table}: timestamp_column \"{name}\" does not exist"))?;
    if text_expr(&cols[i], "x").is_none() {
        bail!(
            "table {table}: timestamp_column \"{name}\" is {}: it must be a date or time, \
             rowversion, binary or integer column",
            cols[i].type_name
        );
    }
    Ok(i)
}

/// The newest value of the column now (`-`: the table is empty).
pub fn newest(conn: &Connection<'_>, s: &TableSchema, c: &MsCol) -> Result<String> {
    let expr = text_expr(c, &format!("MAX({})", qi(&c.name)))
        .ok_or_else(|| anyhow!("{}: no timestamp column", s.source_name()))?;
    let sql = format!("SELECT {expr} FROM {}", qname(&s.schema, &s.name));
    Ok(odbc::text_rows(conn, &sql, ())?
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
        .unwrap_or_else(|| "-".into()))
}

/// Reads the rows of `tables` newer than their newest value in `from` (or
/// in `since`, when later) into the sink as upserts; returns the newest
/// values after them.
pub fn read(
    src: &mut MsSource,
    tables: &[TableId],
    from: &BTreeMap<String, String>,
    since: &HashMap<TableId, Position>,
    sink: &mut ChangeSink<'_, '_>,
    warnings: &mut Warnings,
) -> Result<BTreeMap<String, String>> {
    let mut out = from.clone();
    for id in tables {
        let key = id.to_string();
        let own = match since.get(id) {
            Some(Position::SqlServer { ts, .. }) => ts.get(&key).map(String::as_str),
            _ => None,
        };
        let Some(wm) = later_watermark(from.get(&key).map(String::as_str), own) else {
            sink.fail_table(
                id,
                None,
                format!(
                    "no newest value of its timestamp column is kept: run full-extract of {id}"
                ),
            );
            continue;
        };
        let s = sink.tables()[id].clone();
        let cols = src.described(&s)?;
        let rule = src.config.rule_for(&id.schema, &id.name);
        let tc = column(&cols, &s, rule.and_then(|r| r.timestamp_column.as_deref()))?;
        let c = &cols[tc];
        let expr = text_expr(c, &qi(&c.name)).unwrap_or_default();
        let mut sql = format!(
            "SELECT {}, {expr} FROM {}",
            MsSource::select_list(&cols, &s, ""),
            qname(&s.schema, &s.name)
        );
        if wm != "-" {
            sql.push_str(&format!(" WHERE {} > {}", qi(&c.name), literal(c, wm)?));
        }
        let mut fetched = MsSource::fetched(&cols, &s);
        fetched.push(MsCol::extra("newest", Kind::Text { max: Some(40) }));
        let what = format!("rows of {id} newer than {wm}");
        let mut texts = Texts::of(&s, warnings);
        let t = Table {
            whole_old_rows: false,
        };
        let mut newest = wm.to_string();
        let n = s.columns.len();
        fetch::select(
            &src.conn,
            &sql,
            (),
            &fetched,
            &mut texts,
            &what,
            |vals, texts| {
                if let Some(v) = vals[n] {
                    let v = String::from_utf8_lossy(v);
                    if later_watermark(Some(&newest), Some(&v)) == Some(&*v) {
                        newest = v.into_owned();
                    }
                }
                let row = &vals[..n];
                texts.warnings.keyed(|| key_of(&s, row));
                sink.update(id, None::<&[Cell<'_>]>, &cells(row)[..], t, &mut AsIs)
                    .map(|_| ())
            },
        )?;
        out.insert(key, newest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: &str, len: i32, p: u8, s: u8) -> MsCol {
        super::super::types::column("u", t, len, p, s, true)
            .unwrap()
            .0
    }

    #[test]
    fn literals_of_each_kind_and_nothing_else() {
        assert_eq!(
            literal(&col("datetime2", 8, 27, 7), "2024-05-01 10:00:00.1234567").unwrap(),
            "CONVERT(datetime2(7), '2024-05-01 10:00:00.1234567', 121)"
        );
        assert_eq!(
            literal(&col("datetime", 8, 23, 3), "2024-05-01 10:00:00.997").unwrap(),
            "CONVERT(datetime, '2024-05-01 10:00:00.997', 121)"
        );
        assert_eq!(
            literal(&col("rowversion", 8, 0, 0), "0x00000000000007D1").unwrap(),
            "0x00000000000007D1"
        );
        assert_eq!(literal(&col("bigint", 8, 19, 0), "42").unwrap(), "42");
        assert!(literal(&col("datetime2", 8, 27, 7), "2024' OR 1=1 --").is_err());
        assert!(literal(&col("rowversion", 8, 0, 0), "0x12 OR 1=1").is_err());
        assert!(literal(&col("int", 4, 10, 0), "1; DROP").is_err());
        assert_eq!(
            text_expr(&col("datetimeoffset", 10, 34, 7), "[u]").unwrap(),
            "CONVERT(varchar(40), SWITCHOFFSET([u], '+00:00'), 121)"
        );
        assert!(text_expr(&col("nvarchar", 20, 0, 0), "[u]").is_none());
    }
}
