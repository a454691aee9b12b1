//! The manual's reports, from state.db only: a day (per run) and a month
//! (per day), each with its performance figures. Days are UTC days, as
//! state.db keeps its times.

use anyhow::Result;
use rusqlite::params;
use serde::Serialize;

use super::Meta;

/// One run of a day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayRow {
    pub run_id: i64,
    pub kind: String,
    pub batch_id: Option<String>,
    pub extract_start: String,
    pub extract_end: Option<String>,
    pub extract_s: Option<f64>,
    pub load_start: Option<String>,
    pub load_end: Option<String>,
    pub load_s: Option<f64>,
    pub tables: i64,
    pub loaded: i64,
    pub failed: i64,
    pub initial: i64,
    pub inserts: i64,
    pub updates: i64,
    pub deletes: i64,
    pub status: String,
    /// The performance report: start to end.
    pub total_s: Option<f64>,
    /// The first source commit read to the extract's start.
    pub db_delay_s: Option<f64>,
    /// Extract end to load start.
    pub load_wait_s: Option<f64>,
}

/// One day of a month.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonthRow {
    pub day: String,
    pub runs: i64,
    pub failed_runs: i64,
    pub initial: i64,
    pub inserts: i64,
    pub updates: i64,
    pub deletes: i64,
    pub extract_s: f64,
    pub load_s: f64,
    pub total_s: f64,
    /// The longest DB delay of the day's runs.
    pub db_delay_s: Option<f64>,
    pub load_wait_s: f64,
}

/// Seconds between two state.db times, as SQL.
fn secs(a: &str, b: &str) -> String {
    format!("ROUND((julianday({b}) - julianday({a})) * 86400.0, 3)")
}

/// When a run's loads started: recorded, else its extract's end (older
/// runs), else its start.
const LOAD_START: &str = "COALESCE(r.load_started_at, r.extracted_at, r.started_at)";

/// A run's timings in seconds, as SQL over `runs r`: the day and month
/// reports' columns and the performance report's parts.
struct Timings {
    extract: String,
    load: String,
    total: String,
    /// The first source commit read to the extract's start.
    delay: String,
    /// Extract end to load start.
    wait: String,
}

impl Timings {
    fn of_run() -> Timings {
        Timings {
            extract: secs("r.started_at", "r.extracted_at"),
            load: secs(LOAD_START, "r.finished_at"),
            total: secs("r.started_at", "r.finished_at"),
            delay: secs("r.first_commit_at", "r.started_at"),
            wait: secs("r.extracted_at", LOAD_START),
        }
    }
}

/// The kinds of run whose rows are initial loads.
const INITIAL: &str = "('full-extract', 'sync-new-tables')";

/// Rows count where they landed: a failed load's counts are recorded too,
/// and its retry records them again.
pub const LANDED: &str = "t.status = 'loaded'";

/// The scheduler's records of a retry or a halt: not runs of their own.
pub const BOOKKEEPING: &str = "('retry', 'halt')";

impl Meta {
    /// The runs started on `day` (`YYYY-MM-DD`, UTC), oldest first;
    /// `table`: counts of that table only (runs without it left out).
    pub fn day_report(&self, day: &str, table: Option<&str>) -> Result<Vec<DayRow>> {
        let t = Timings::of_run();
        let sql = format!(
            "SELECT r.id, r.kind, r.batch_id, r.started_at, r.extracted_at, {ex}, {LOAD_START}, \
                    r.finished_at, {ld}, \
                    COUNT(t.table_name), SUM(t.status = 'loaded'), SUM(t.status = 'failed'), \
                    COALESCE(SUM(CASE WHEN {LANDED} AND r.kind IN {INITIAL} THEN t.inserts END), 0), \
                    COALESCE(SUM(CASE WHEN {LANDED} AND r.kind NOT IN {INITIAL} THEN t.inserts END), 0), \
                    COALESCE(SUM(CASE WHEN {LANDED} THEN t.updates END), 0), \
                    COALESCE(SUM(CASE WHEN {LANDED} THEN t.deletes END), 0), r.status, \
                    {total}, {delay}, {wait} \
             FROM runs r LEFT JOIN run_tables t ON t.run_id = r.id AND (?2 IS NULL OR t.table_name = ?2) \
             WHERE substr(r.started_at, 1, 10) = ?1 \
             GROUP BY r.id HAVING ?2 IS NULL OR COUNT(t.table_name) > 0 ORDER BY r.id",
            ex = t.extract,
            ld = t.load,
            total = t.total,
            delay = t.delay,
            wait = t.wait,
        );
        let db = self.db();
        let mut st = db.prepare(&sql)?;
        let rows = st.query_map(params![day, table], |r| {
            Ok(DayRow {
                run_id: r.get(0)?,
                kind: r.get(1)?,
                batch_id: r.get(2)?,
                extract_start: r.get(3)?,
                extract_end: r.get(4)?,
                extract_s: r.get(5)?,
                load_start: r.get(6)?,
                load_end: r.get(7)?,
                load_s: r.get(8)?,
                tables: r.get(9)?,
                loaded: r.get::<_, Option<i64>>(10)?.unwrap_or(0),
                failed: r.get::<_, Option<i64>>(11)?.unwrap_or(0),
                initial: r.get(12)?,
                inserts: r.get(13)?,
                updates: r.get(14)?,
                deletes: r.get(15)?,
                status: r.get(16)?,
                total_s: r.get(17)?,
                db_delay_s: r.get(18)?,
                load_wait_s: r.get(19)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The days of `month` (`YYYY-MM`, UTC) that had runs.
    pub fn month_report(&self, month: &str) -> Result<Vec<MonthRow>> {
        let t = Timings::of_run();
        let sql = format!(
            "WITH c AS (SELECT run_id, \
                    SUM(inserts) AS ins, SUM(updates) AS upd, SUM(deletes) AS del \
                    FROM run_tables t WHERE {LANDED} GROUP BY run_id) \
             SELECT substr(r.started_at, 1, 10) AS day, COUNT(*), \
                    SUM(r.status IN ('failed', 'error')), \
                    COALESCE(SUM(CASE WHEN r.kind IN {INITIAL} THEN c.ins END), 0), \
                    COALESCE(SUM(CASE WHEN r.kind NOT IN {INITIAL} THEN c.ins END), 0), \
                    COALESCE(SUM(c.upd), 0), COALESCE(SUM(c.del), 0), \
                    COALESCE(SUM({ex}), 0), COALESCE(SUM({ld}), 0), COALESCE(SUM({total}), 0), \
                    MAX({delay}), COALESCE(SUM({wait}), 0) \
             FROM runs r LEFT JOIN c ON c.run_id = r.id \
             WHERE substr(r.started_at, 1, 7) = ?1 AND r.kind NOT IN {BOOKKEEPING} \
             GROUP BY day ORDER BY day",
            ex = t.extract,
            ld = t.load,
            total = t.total,
            delay = t.delay,
            wait = t.wait,
        );
        let db = self.db();
        let mut st = db.prepare(&sql)?;
        let rows = st.query_map([month], |r| {
            Ok(MonthRow {
                day: r.get(0)?,
                runs: r.get(1)?,
                failed_runs: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                initial: r.get(3)?,
                inserts: r.get(4)?,
                updates: r.get(5)?,
                deletes: r.get(6)?,
                extract_s: r.get(7)?,
                load_s: r.get(8)?,
                total_s: r.get(9)?,
                db_delay_s: r.get(10)?,
                load_wait_s: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records transferred per hour (`YYYY-MM-DD HH`) since `since`, as
    /// (bucket, initial, inserts, updates, deletes); `len`: 13 for hours,
    /// 10 for days.
    pub fn transferred(&self, since: &str, len: usize) -> Result<Vec<(String, [i64; 4])>> {
        let sql = format!(
            "SELECT substr(r.started_at, 1, ?2) AS b, \
                    COALESCE(SUM(CASE WHEN r.kind IN {INITIAL} THEN t.inserts END), 0), \
                    COALESCE(SUM(CASE WHEN r.kind NOT IN {INITIAL} THEN t.inserts END), 0), \
                    COALESCE(SUM(t.updates), 0), COALESCE(SUM(t.deletes), 0) \
             FROM runs r JOIN run_tables t ON t.run_id = r.id \
             WHERE r.started_at >= ?1 AND {LANDED} GROUP BY b ORDER BY b"
        );
        let db = self.db();
        let mut st = db.prepare(&sql)?;
        let rows = st.query_map(params![since, len as i64], |r| {
            Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
