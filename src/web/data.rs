//! What the page shows, read from the configuration and state.db only
//! (plus a TCP reachability probe of each server, cached): the dashboard
//! (also `/api/status`), the tables page, the metrics.

use anyhow::Result;
use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::config::{Config, Source};
use crate::meta::Meta;

use super::sys;

#[derive(Debug, Serialize)]
pub struct Card {
    pub kind: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    /// The last run reached it (`None`: no run yet).
    pub reachable: Option<bool>,
    /// Source: the last extract's end; destination: the last load's end.
    pub last: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TablesSummary {
    pub selected: i64,
    pub ready: i64,
    pub failed: i64,
    pub waiting: i64,
    pub extracting: i64,
    pub with_history: i64,
    pub records_24h: i64,
}

#[derive(Debug, Serialize)]
pub struct Schedule {
    pub mode: String,
    pub on: bool,
    pub why_off: Option<String>,
    pub next_run: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Current {
    pub run_id: i64,
    pub kind: String,
    pub started_at: String,
    pub elapsed_s: f64,
    pub tables_done: i64,
    pub rows: i64,
    pub last_table: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub spool_free: Option<u64>,
    pub state_free: Option<u64>,
    pub memory_free: Option<u64>,
    pub spool_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub instance: String,
    pub version: &'static str,
    pub now: String,
    pub source: Card,
    pub destination: Card,
    pub tables: TablesSummary,
    pub schedule: Schedule,
    pub current: Option<Current>,
    pub machine: Machine,
    pub checklist: Vec<(String, bool)>,
    /// Seconds from the last source commit applied to now.
    pub lag_s: Option<f64>,
    pub last_success: Option<String>,
    pub position: Option<String>,
}

/// Whether the last run reached the servers: `None` before any run. The
/// page never connects itself (a MySQL server counts connections that end
/// before the handshake against the host, and blocks it after
/// `max_connect_errors`); a run that could not connect ends in an error
/// that names the connection.
fn reached(meta: &Meta) -> Result<Option<bool>> {
    let last: Option<(String, Option<String>)> = meta.read(|c| {
        c.query_row(
            "SELECT status, error FROM runs WHERE status <> 'running' ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
    })?;
    Ok(last.map(|(status, error)| {
        let e = error.unwrap_or_default().to_ascii_lowercase();
        let unreachable = [
            "connect",
            "refused",
            "unreachable",
            "timed out",
            "reset by peer",
        ]
        .iter()
        .any(|w| e.contains(w));
        !(status == "error" && unreachable)
    }))
}

/// `now - 24 h` (and such) as state.db's time text.
pub fn ago(hours: i64) -> String {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours);
    crate::clock::format_micros(t.as_microsecond())
}

fn one<T: rusqlite::types::FromSql>(meta: &Meta, sql: &str) -> Result<Option<T>> {
    meta.read(|c| {
        c.query_row(sql, [], |r| r.get::<_, Option<T>>(0))
            .optional()
            .map(Option::flatten)
    })
}

const LOADS: &str = "('delta', 'full-extract', 'sync-new-tables', 'sync-struct', 'rollback')";

pub fn status(cfg: &Config, meta: &Meta) -> Result<Status> {
    let (kind, host, port, database) = match &cfg.source {
        Source::Postgres(p) => ("PostgreSQL", p.host.clone(), p.port, p.database.clone()),
        Source::Mysql(m) => ("MySQL/MariaDB", m.host.clone(), m.port, "(server)".into()),
        Source::SqlServer(m) => ("SQL Server", m.host.clone(), m.port, m.database.clone()),
    };
    // What the last run found; when the last load ended.
    let reachable = reached(meta)?;
    let last_load: Option<String> = one(
        meta,
        &format!("SELECT MAX(finished_at) FROM runs WHERE status = 'ok' AND kind IN {LOADS}"),
    )?;
    let last_error: Option<String> = one(
        meta,
        "SELECT error FROM runs WHERE error IS NOT NULL ORDER BY id DESC LIMIT 1",
    )?;
    let d = &cfg.destination;
    let source = Card {
        kind: kind.into(),
        reachable,
        host,
        port,
        database,
        last: one(meta, "SELECT MAX(extracted_at) FROM runs")?,
        last_error: last_error.clone(),
    };
    let destination = Card {
        kind: match d.dialect {
            crate::config::Dialect::SingleStore => "SingleStore".into(),
            crate::config::Dialect::Mysql => "MySQL/MariaDB (dialect mysql)".into(),
        },
        host: d.host.clone(),
        port: d.port,
        database: d.database.clone(),
        reachable,
        last: last_load.clone(),
        last_error,
    };
    let count = |status: &str| -> Result<i64> {
        Ok(one(
            meta,
            &format!("SELECT COUNT(*) FROM tables WHERE status = '{status}'"),
        )?
        .unwrap_or(0))
    };
    let records_24h: i64 = meta
        .transferred(&ago(24), 13)?
        .iter()
        .map(|(_, v)| v.iter().sum::<i64>())
        .sum();
    let tables = TablesSummary {
        selected: one(meta, "SELECT COUNT(*) FROM tables")?.unwrap_or(0),
        ready: count("ready")?,
        failed: one(
            meta,
            "SELECT COUNT(*) FROM tables WHERE status = 'failed' AND resume_pos IS NULL",
        )?
        .unwrap_or(0),
        waiting: one(
            meta,
            "SELECT COUNT(*) FROM tables WHERE resume_pos IS NOT NULL",
        )?
        .unwrap_or(0),
        extracting: count("extracting")?,
        with_history: 0,
        records_24h,
    };
    let s = &cfg.schedule.schedule;
    let (on, why_off, _) = meta.scheduler()?;
    let next_run = s.next(jiff::Timestamp::now(), None).map(|t| {
        t.to_zoned_datetime(s.tz.clone())
            .strftime("%F %T %:z")
            .to_string()
    });
    let schedule = Schedule {
        mode: s.describe(),
        on,
        why_off,
        next_run: next_run.filter(|_| on),
    };
    let current = meta.read(|c| {
        c.query_row(
            "SELECT r.id, r.kind, r.started_at, (julianday('now') - julianday(r.started_at)) * 86400.0, \
                    (SELECT COUNT(*) FROM run_tables t WHERE t.run_id = r.id AND t.status <> 'extracted'), \
                    (SELECT COALESCE(SUM(rows_loaded), 0) FROM run_tables t WHERE t.run_id = r.id), \
                    (SELECT table_name FROM run_tables t WHERE t.run_id = r.id ORDER BY rowid DESC LIMIT 1) \
             FROM runs r WHERE r.status = 'running' ORDER BY r.id DESC LIMIT 1",
            [],
            |r| {
                Ok(Current {
                    run_id: r.get(0)?,
                    kind: r.get(1)?,
                    started_at: r.get(2)?,
                    elapsed_s: (r.get::<_, f64>(3)? * 10.0).round() / 10.0,
                    tables_done: r.get(4)?,
                    rows: r.get(5)?,
                    last_table: r.get(6)?,
                })
            },
        )
        .optional()
    })?;
    let machine = Machine {
        spool_free: sys::free_disk(&cfg.instance.spool_dir),
        state_free: sys::free_disk(&cfg.instance.state_dir),
        memory_free: sys::free_memory(),
        spool_bytes: sys::dir_bytes(&cfg.instance.spool_dir),
    };
    let full_done = one::<i64>(
        meta,
        "SELECT COUNT(*) FROM runs WHERE kind = 'full-extract' AND status = 'ok'",
    )?
    .unwrap_or(0)
        > 0;
    let mut checklist = vec![
        (
            "source reachable (last run)".to_string(),
            source.reachable.unwrap_or(false),
        ),
        (
            "destination reachable (last run)".to_string(),
            destination.reachable.unwrap_or(false),
        ),
    ];
    checklist.push(("tables selected".to_string(), !cfg.tables.is_empty()));
    checklist.push(("full extract done".to_string(), full_done));
    checklist.push(("schedule on".to_string(), on));
    let lag_s = one::<f64>(
        meta,
        "SELECT (julianday('now') - julianday(MAX(last_commit_at))) * 86400.0 FROM runs \
         WHERE status = 'ok' AND last_commit_at IS NOT NULL",
    )?
    .map(|s| (s * 10.0).round() / 10.0);
    Ok(Status {
        instance: cfg.instance.name.clone(),
        version: env!("CARGO_PKG_VERSION"),
        now: crate::clock::now(),
        source,
        destination,
        tables,
        schedule,
        current,
        machine,
        checklist,
        lag_s,
        last_success: last_load,
        position: meta.position()?,
    })
}

/// One selected table on the tables page.
#[derive(Debug, Serialize)]
pub struct TableRow {
    pub table: String,
    pub state: String,
    pub dest: String,
    pub rows_at_full_extract: i64,
    pub last_change: Option<String>,
    /// Inserts, updates, deletes in the last run that had the table.
    pub last_run: [i64; 3],
    pub last_24h: [i64; 3],
    /// Values written as NULL (the destination could not hold them), last 24 h.
    pub warnings: i64,
    pub error: Option<String>,
}

pub fn tables(meta: &Meta) -> Result<Vec<TableRow>> {
    let since = ago(24);
    meta.read(|c| {
        let mut st = c.prepare(
            "SELECT t.table_name, t.status, t.resume_pos IS NOT NULL, t.dest, t.rows, \
               (SELECT MAX(r.started_at) FROM run_tables x JOIN runs r ON r.id = x.run_id \
                 WHERE x.table_name = t.table_name AND x.status = 'loaded' \
                   AND x.inserts + x.updates + x.deletes > 0), \
               (SELECT x.inserts || ',' || x.updates || ',' || x.deletes FROM run_tables x \
                 WHERE x.table_name = t.table_name AND x.status = 'loaded' ORDER BY x.run_id DESC LIMIT 1), \
               (SELECT COALESCE(SUM(x.inserts), 0) || ',' || COALESCE(SUM(x.updates), 0) || ',' || \
                       COALESCE(SUM(x.deletes), 0) FROM run_tables x JOIN runs r ON r.id = x.run_id \
                 WHERE x.table_name = t.table_name AND x.status = 'loaded' AND r.started_at >= ?1), \
               (SELECT COALESCE(SUM(w.count), 0) FROM warnings w JOIN runs r ON r.id = w.run_id \
                 WHERE w.table_name = t.table_name AND r.started_at >= ?1), \
               t.error \
             FROM tables t ORDER BY t.table_name",
        )?;
        let triple = |s: Option<String>| {
            let mut out = [0i64; 3];
            for (i, v) in s.unwrap_or_default().split(',').take(3).enumerate() {
                out[i] = v.parse().unwrap_or(0);
            }
            out
        };
        let rows = st.query_map([&since], |r| {
            let status: String = r.get(1)?;
            let waiting: bool = r.get(2)?;
            Ok(TableRow {
                table: r.get(0)?,
                state: if waiting {
                    "waiting for sync-struct".into()
                } else {
                    status
                },
                dest: r.get(3)?,
                rows_at_full_extract: r.get(4)?,
                last_change: r.get(5)?,
                last_run: triple(r.get(6)?),
                last_24h: triple(r.get(7)?),
                warnings: r.get(8)?,
                error: r.get(9)?,
            })
        })?;
        rows.collect()
    })
}
