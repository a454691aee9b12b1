//! Change Data Capture: the changes of each table's capture instance
//! between the LSN after the saved one and the newest, in commit order.
//!
//! <https://learn.microsoft.com/sql/relational-databases/system-functions/cdc-fn-cdc-get-all-changes-capture-instance-transact-sql>

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use odbc_api::{Connection, IntoParameter};

use super::fetch::{self, Texts};
use super::types::{qi, Kind, MsCol};
use super::{cells, key_of, odbc, qname, MsSource};
use crate::change::{AsIs, Cell, ChangeSink, Table};
use crate::position::{lsn_text, Position};
use crate::source::Warnings;
use crate::table::TableId;

fn lsn_of(v: Option<Vec<u8>>, what: &str) -> Result<Option<[u8; 10]>> {
    match v {
        None => Ok(None),
        Some(b) => <[u8; 10]>::try_from(b.as_slice())
            .map(Some)
            .map_err(|_| anyhow!("{what} returned {} bytes, not an LSN's 10", b.len())),
    }
}

/// `sys.fn_cdc_get_max_lsn()`: NULL until the capture job ran once.
pub fn max_lsn(conn: &Connection<'_>) -> Result<[u8; 10]> {
    let v = odbc::scalar_binary(conn, "SELECT sys.fn_cdc_get_max_lsn()", ())?;
    lsn_of(v, "sys.fn_cdc_get_max_lsn()")?.ok_or_else(|| {
        anyhow!(
            "CDC has no changes captured yet (sys.fn_cdc_get_max_lsn() is NULL): is CDC enabled \
             (EXEC sys.sp_cdc_enable_db) and the capture job running (SQL Server Agent)?"
        )
    })
}

/// The table's capture instances, newest first, each with the columns it
/// captures.
fn instances(conn: &Connection<'_>, id: &TableId) -> Result<Vec<(String, Vec<String>)>> {
    let q = qname(&id.schema, &id.name);
    let rows = odbc::text_rows(
        conn,
        "SELECT ct.capture_instance, cc.column_name FROM cdc.change_tables AS ct \
         JOIN cdc.captured_columns AS cc ON cc.object_id = ct.object_id \
         WHERE ct.source_object_id = OBJECT_ID(?) ORDER BY ct.create_date DESC, ct.capture_instance, cc.column_ordinal",
        &q.as_str().into_parameter(),
    )?;
    let mut out: Vec<(String, Vec<String>)> = vec![];
    for r in rows {
        let (Some(Some(inst)), Some(Some(col))) = (r.first(), r.get(1)) else {
            continue;
        };
        match out.last_mut() {
            Some((i, cols)) if i == inst => cols.push(col.clone()),
            _ => out.push((inst.clone(), vec![col.clone()])),
        }
    }
    Ok(out)
}

/// What the database and each table lack for CDC, with the fixes.
pub fn check(
    conn: &Connection<'_>,
    db: &str,
    user: &str,
    tables: &[TableId],
) -> Result<Vec<String>> {
    let mut out = vec![];
    let on = odbc::scalar_i64(
        conn,
        "SELECT CAST(is_cdc_enabled AS bigint) FROM sys.databases WHERE name = DB_NAME()",
        (),
    )?;
    if on != Some(1) {
        out.push(format!(
            "CDC is off for database {db}: USE {}; EXEC sys.sp_cdc_enable_db",
            qi(db)
        ));
        return Ok(out);
    }
    for id in tables {
        let inst = instances(conn, id)?;
        let Some((name, _)) = inst.first() else {
            out.push(format!(
                "table {id} has no CDC capture instance: EXEC sys.sp_cdc_enable_table \
                 @source_schema = N'{}', @source_name = N'{}', @role_name = NULL",
                id.schema.replace('\'', "''"),
                id.name.replace('\'', "''")
            ));
            continue;
        };
        let f = format!("cdc.fn_cdc_get_all_changes_{name}");
        let perm = odbc::scalar_i64(
            conn,
            "SELECT CAST(HAS_PERMS_BY_NAME(?, 'OBJECT', 'SELECT') AS bigint)",
            &f.as_str().into_parameter(),
        )?;
        if perm != Some(1) {
            out.push(format!(
                "user {user} may not read {f}: add it to the capture instance's gating role \
                 (cdc.change_tables.role_name) or GRANT SELECT ON SCHEMA::cdc TO {}",
                qi(user)
            ));
        }
    }
    Ok(out)
}

/// Reads the changes of `tables` after `from` (or a table's own snapshot
/// start in `since`, when later) up to the newest LSN (or `upto`, a
/// catch-up's end) into the sink; returns that LSN and the number of
/// transactions read.
pub fn read(
    src: &mut MsSource,
    from: [u8; 10],
    upto: Option<[u8; 10]>,
    tables: &[TableId],
    since: &HashMap<TableId, Position>,
    sink: &mut ChangeSink<'_, '_>,
    warnings: &mut Warnings,
) -> Result<([u8; 10], u64)> {
    let to = match upto {
        Some(u) => u,
        None => max_lsn(&src.conn)?,
    };
    let mut transactions = 0;
    for id in tables {
        let own = match since.get(id) {
            Some(Position::SqlServer { lsn: Some(l), .. }) => *l,
            _ => [0; 10],
        };
        let saved = from.max(own);
        if saved >= to {
            continue;
        }
        transactions += table_changes(src, id, saved, to, sink, warnings)?;
    }
    Ok((to, transactions))
}

/// One table's changes in `(saved, to]`; returns its transactions.
fn table_changes(
    src: &mut MsSource,
    id: &TableId,
    saved: [u8; 10],
    to: [u8; 10],
    sink: &mut ChangeSink<'_, '_>,
    warnings: &mut Warnings,
) -> Result<u64> {
    let s = sink.tables()[id].clone();
    let cols = src.described(&s)?;
    let wanted: Vec<&str> = cols
        .iter()
        .enumerate()
        .filter(|(i, _)| !s.columns[*i].masked)
        .map(|(_, c)| c.name.as_str())
        .collect();
    let all = instances(&src.conn, id)?;
    let Some((inst, _)) = all
        .iter()
        .find(|(_, have)| wanted.iter().all(|w| have.iter().any(|h| h == w)))
    else {
        let why = match all.first() {
            None => format!(
                "it has no CDC capture instance: EXEC sys.sp_cdc_enable_table @source_schema = N'{}', \
                 @source_name = N'{}', @role_name = NULL, then run full-extract of the table",
                id.schema.replace('\'', "''"),
                id.name.replace('\'', "''")
            ),
            Some((name, have)) => format!(
                "its capture instance {name} lacks column(s) {} (the table changed after capture \
                 started): create a capture instance for the new structure (sys.sp_cdc_enable_table \
                 with another @capture_instance), then run sync-struct or full-extract of the table",
                wanted
                    .iter()
                    .filter(|w| !have.iter().any(|h| h == *w))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        sink.fail_table(id, None, why);
        return Ok(0);
    };
    let min = lsn_of(
        odbc::scalar_binary(
            &src.conn,
            "SELECT sys.fn_cdc_get_min_lsn(?)",
            &inst.as_str().into_parameter(),
        )?,
        "sys.fn_cdc_get_min_lsn",
    )?
    .unwrap_or([0; 10]);
    let lo = lsn_of(
        odbc::scalar_binary(
            &src.conn,
            "SELECT sys.fn_cdc_increment_lsn(?)",
            &saved.as_slice().into_parameter(),
        )?,
        "sys.fn_cdc_increment_lsn",
    )?
    .ok_or_else(|| anyhow!("sys.fn_cdc_increment_lsn returned NULL"))?;
    if min == [0; 10] {
        sink.fail_table(
            id,
            None,
            format!(
                "capture instance {inst} is gone or this user may not read it (sys.fn_cdc_get_min_lsn \
                 is 0x00...): check cdc.change_tables and the instance's role"
            ),
        );
        return Ok(0);
    }
    if lo < min {
        let older: Vec<&str> = all
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n != inst)
            .collect();
        let why = if older.is_empty() {
            format!(
                "its changes after LSN {} are no longer kept by capture instance {inst} (the oldest \
                 is {}: the cleanup job removed them): run full-extract of the table",
                lsn_text(&saved),
                lsn_text(&min)
            )
        } else {
            // Two instances: the structure changed, and the changes before
            // the new instance began are in the old one, in the old shape.
            format!(
                "its structure changed: capture instance {inst} starts at {}, after LSN {}, and the \
                 changes before it are in {} in the old structure: run full-extract of the table \
                 (then drop the old instance: sys.sp_cdc_disable_table @capture_instance = N'{}')",
                lsn_text(&min),
                lsn_text(&saved),
                older.join(", "),
                older[0].replace('\'', "''")
            )
        };
        sink.fail_table(id, None, why);
        return Ok(0);
    }
    let sql = format!(
        "SELECT __$start_lsn, __$operation, sys.fn_cdc_map_lsn_to_time(__$start_lsn), {} \
         FROM cdc.{}(?, ?, N'all') ORDER BY __$start_lsn, __$seqval, __$operation",
        MsSource::select_list(&cols, &s, ""),
        qi(&format!("fn_cdc_get_all_changes_{inst}"))
    );
    let mut fetched = vec![
        MsCol::extra("__$start_lsn", Kind::Binary { max: Some(10) }),
        MsCol::extra("__$operation", Kind::I32),
        MsCol::extra("commit time", Kind::Timestamp { scale: 6 }),
    ];
    fetched.extend(MsSource::fetched(&cols, &s));
    let what = format!(
        "changes of {id} from LSN {} to {}",
        lsn_text(&lo),
        lsn_text(&to)
    );
    let mut texts = Texts::of(&s, warnings);
    let t = Table {
        whole_old_rows: false,
    };
    let mut last: Option<Vec<u8>> = None;
    let mut transactions = 0u64;
    let window = (
        &lo.as_slice().into_parameter(),
        &to.as_slice().into_parameter(),
    );
    fetch::select(
        &src.conn,
        &sql,
        window,
        &fetched,
        &mut texts,
        &what,
        |vals, texts| {
            let lsn = vals[0].unwrap_or(b"");
            if last.as_deref() != Some(lsn) {
                last = Some(lsn.to_vec());
                transactions += 1;
                // The commit time, or the time it was read where the
                // server has none for the LSN.
                sink.set_ts(match vals[2] {
                    Some(ts) => String::from_utf8_lossy(ts).into_owned(),
                    None => crate::clock::format_micros(crate::clock::now_micros()),
                });
            }
            let row = &vals[3..];
            texts.warnings.keyed(|| key_of(&s, row));
            let cells = cells(row);
            match vals[1] {
                Some(b"1") => sink.delete(id, &cells[..], t, &mut AsIs),
                Some(b"2") => sink.insert(id, &cells[..], t, &mut AsIs),
                // The row before an update: only with 'all update old'.
                Some(b"3") => Ok(()),
                Some(b"4") => sink
                    .update(id, None::<&[Cell<'_>]>, &cells[..], t, &mut AsIs)
                    .map(|_| ()),
                other => Err(anyhow!(
                    "{what}: __$operation {} is not 1, 2, 3 or 4",
                    String::from_utf8_lossy(other.unwrap_or(b"NULL"))
                )),
            }
        },
    )?;
    Ok(transactions)
}
