//! Change Tracking: the current version, the oldest one each table keeps,
//! and per table its net changes since a version, read in one SNAPSHOT
//! transaction so that every table's changes end at the same version.
//!
//! <https://learn.microsoft.com/sql/relational-databases/track-changes/work-with-change-tracking-sql-server>

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use odbc_api::{Connection, IntoParameter};

use super::fetch::{self, Texts};
use super::types::{qi, Kind, MsCol};
use super::{cells, key_of, odbc, qname, MsSource};
use crate::change::{AsIs, Cell, ChangeSink, Table};
use crate::position::Position;
use crate::source::Warnings;
use crate::table::TableId;

/// `CHANGE_TRACKING_CURRENT_VERSION()`: NULL when the database does not
/// track changes.
pub fn current_version(conn: &Connection<'_>) -> Result<u64> {
    let v = odbc::scalar_i64(conn, "SELECT CHANGE_TRACKING_CURRENT_VERSION()", ())?;
    v.map(|v| v.max(0) as u64).ok_or_else(|| {
        anyhow!(
            "Change Tracking is not enabled for the database (CHANGE_TRACKING_CURRENT_VERSION() is NULL): \
             ALTER DATABASE ... SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 7 DAYS, AUTO_CLEANUP = ON)"
        )
    })
}

/// The oldest version any tracked table of the database still has.
pub fn min_valid_database(conn: &Connection<'_>) -> Result<Option<u64>> {
    Ok(odbc::scalar_i64(
        conn,
        "SELECT MIN(min_valid_version) FROM sys.change_tracking_tables",
        (),
    )?
    .map(|v| v.max(0) as u64))
}

/// What the database and each table lack for Change Tracking, each with
/// the statement that fixes it.
pub fn check(
    conn: &Connection<'_>,
    db: &str,
    user: &str,
    tables: &[TableId],
) -> Result<Vec<String>> {
    let mut out = vec![];
    let qdb = qi(db);
    let snapshot = odbc::scalar_i64(
        conn,
        "SELECT CAST(snapshot_isolation_state AS bigint) FROM sys.databases WHERE name = DB_NAME()",
        (),
    )?;
    if snapshot != Some(1) {
        out.push(format!(
            "snapshot isolation is not allowed (Change Tracking is read in one SNAPSHOT transaction): \
             ALTER DATABASE {qdb} SET ALLOW_SNAPSHOT_ISOLATION ON"
        ));
    }
    let tracked = odbc::scalar_i64(
        conn,
        "SELECT COUNT_BIG(*) FROM sys.change_tracking_databases WHERE database_id = DB_ID()",
        (),
    )?;
    if tracked.unwrap_or(0) == 0 {
        out.push(format!(
            "Change Tracking is off for the database: ALTER DATABASE {qdb} SET CHANGE_TRACKING = ON \
             (CHANGE_RETENTION = 7 DAYS, AUTO_CLEANUP = ON)"
        ));
    }
    for id in tables {
        let q = qname(&id.schema, &id.name);
        let on = odbc::scalar_i64(
            conn,
            "SELECT COUNT_BIG(*) FROM sys.change_tracking_tables WHERE object_id = OBJECT_ID(?)",
            &q.as_str().into_parameter(),
        )?;
        if on.unwrap_or(0) == 0 {
            out.push(format!(
                "table {id} is not tracked: ALTER TABLE {q} ENABLE CHANGE_TRACKING"
            ));
        }
        let perm = odbc::scalar_i64(
            conn,
            "SELECT CAST(HAS_PERMS_BY_NAME(?, 'OBJECT', 'VIEW CHANGE TRACKING') AS bigint)",
            &q.as_str().into_parameter(),
        )?;
        if perm != Some(1) {
            out.push(format!(
                "user {user} may not read the changes of {id}: GRANT VIEW CHANGE TRACKING ON {q} TO {}",
                qi(user)
            ));
        }
    }
    Ok(out)
}

/// Reads the changes of `tables` since `from` (or a table's own snapshot
/// start in `since`, when later) into the sink, in one SNAPSHOT
/// transaction; returns the version they end at: the current one, or
/// `upto` (a catch-up after sync-struct: rows whose last change is later
/// are left to the next delta).
pub fn read(
    src: &mut MsSource,
    from: u64,
    upto: Option<u64>,
    tables: &[TableId],
    since: &HashMap<TableId, Position>,
    sink: &mut ChangeSink<'_, '_>,
    warnings: &mut Warnings,
) -> Result<u64> {
    // Set before the transaction starts: one begun under another level
    // cannot change to SNAPSHOT.
    odbc::run(&src.conn, "SET TRANSACTION ISOLATION LEVEL SNAPSHOT")?;
    src.conn
        .set_autocommit(false)
        .map_err(|e| anyhow!("SQL Server: starting a transaction: {e}"))?;
    let r = read_in_transaction(src, from, upto, tables, since, sink, warnings);
    let end = if r.is_ok() {
        src.conn.commit()
    } else {
        src.conn.rollback()
    };
    let back = src
        .conn
        .set_autocommit(true)
        .map_err(|e| anyhow!("SQL Server: ending the transaction: {e}"))
        .and_then(|_| odbc::run(&src.conn, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"));
    let v = r?;
    end.map_err(|e| anyhow!("SQL Server: committing the Change Tracking read: {e}"))?;
    back?;
    Ok(v)
}

fn read_in_transaction(
    src: &mut MsSource,
    from: u64,
    upto: Option<u64>,
    tables: &[TableId],
    since: &HashMap<TableId, Position>,
    sink: &mut ChangeSink<'_, '_>,
    warnings: &mut Warnings,
) -> Result<u64> {
    let current = match upto {
        Some(u) => u,
        None => current_version(&src.conn)?,
    };
    for id in tables {
        let own = match since.get(id) {
            Some(Position::SqlServer { ct: Some(v), .. }) => *v,
            _ => 0,
        };
        let v = from.max(own);
        let q = qname(&id.schema, &id.name);
        let min = odbc::scalar_i64(
            &src.conn,
            "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(?))",
            &q.as_str().into_parameter(),
        )?;
        let Some(min) = min else {
            sink.fail_table(
                id,
                None,
                format!(
                    "Change Tracking is not on for {id} (or this user lacks VIEW CHANGE TRACKING): \
                     ALTER TABLE {q} ENABLE CHANGE_TRACKING, then run full-extract of the table"
                ),
            );
            continue;
        };
        if (v as i64) < min {
            sink.fail_table(
                id,
                None,
                format!(
                    "its changes since Change Tracking version {v} are no longer kept (the oldest is \
                     {min}: the retention period passed or the table was truncated): run full-extract \
                     of the table"
                ),
            );
            continue;
        }
        if v >= current {
            continue;
        }
        table_changes(src, id, v, upto, sink, warnings)?;
    }
    Ok(current)
}

/// One table's net changes since version `v`: the operation, the key as
/// the change table has it, and the row as it is now (none when deleted
/// since: a delete).
fn table_changes(
    src: &mut MsSource,
    id: &TableId,
    v: u64,
    upto: Option<u64>,
    sink: &mut ChangeSink<'_, '_>,
    warnings: &mut Warnings,
) -> Result<()> {
    let s = sink.tables()[id].clone();
    let cols = src.described(&s)?;
    let q = qname(&id.schema, &id.name);
    let keys: Vec<String> = s.key.iter().map(|&k| qi(&s.columns[k].name)).collect();
    let bound = upto
        .map(|u| format!(" WHERE CT.SYS_CHANGE_VERSION <= {u}"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT CT.SYS_CHANGE_OPERATION, {}, {} FROM CHANGETABLE(CHANGES {q}, ?) AS CT \
         LEFT OUTER JOIN {q} AS T ON {}{bound} ORDER BY CT.SYS_CHANGE_VERSION",
        keys.iter()
            .map(|k| format!("CT.{k}"))
            .collect::<Vec<_>>()
            .join(", "),
        MsSource::select_list(&cols, &s, "T."),
        keys.iter()
            .map(|k| format!("T.{k} = CT.{k}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    );
    let mut fetched = vec![MsCol::extra(
        "SYS_CHANGE_OPERATION",
        Kind::Text { max: Some(2) },
    )];
    fetched.extend(s.key.iter().map(|&k| cols[k].clone()));
    fetched.extend(MsSource::fetched(&cols, &s));
    let what = format!("changes of {id} since version {v}");
    let mut texts = Texts::of(&s, warnings);
    let nk = s.key.len();
    let t = Table {
        whole_old_rows: false,
    };
    fetch::select(
        &src.conn,
        &sql,
        &(v as i64),
        &fetched,
        &mut texts,
        &what,
        |vals, texts| {
            let op = vals[0].unwrap_or(b"");
            let row = &vals[1 + nk..];
            // The row is gone when its key is NULL in the join.
            let gone = row[s.key[0]].is_none();
            if op == b"D" || gone {
                let mut key_vals: Vec<Option<&[u8]>> = vec![None; row.len()];
                for (i, &k) in s.key.iter().enumerate() {
                    key_vals[k] = vals[1 + i];
                }
                texts.warnings.keyed(|| key_of(&s, &key_vals));
                return sink.delete(id, &cells(&key_vals)[..], t, &mut AsIs);
            }
            texts.warnings.keyed(|| key_of(&s, row));
            let cells = cells(row);
            match op {
                b"I" => sink.insert(id, &cells[..], t, &mut AsIs),
                b"U" => sink
                    .update(id, None::<&[Cell<'_>]>, &cells[..], t, &mut AsIs)
                    .map(|_| ()),
                other => Err(anyhow!(
                    "{what}: SYS_CHANGE_OPERATION '{}' is not I, U or D",
                    String::from_utf8_lossy(other)
                )),
            }
        },
    )?;
    Ok(())
}
