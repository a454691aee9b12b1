//! `ingest run`: runs by the schedule until stopped, and `ingest run
//! --once`: what is due now, for Task Scheduler, systemd timers and cron.
//!
//! A run is a full extract while none was done, else a delta. Errors are
//! sorted ([`verdict`]): transient ones (a server restarting, a lost
//! connection, lock waits) are tried again with backoff for
//! `schedule.retry_for` (each try recorded as a `retry` run; the batch is
//! kept in the spool meanwhile); ones that need a person (a login refused,
//! a prerequisite, a purged binlog, a moved slot) turn the scheduler off
//! with the reason (a `halt` run), which `ingest status` shows; failed
//! tables end the run as usual. The run lock is held the whole time, so
//! runs of one instance never overlap.

use std::time::Duration;

use anyhow::Result;
use jiff::Timestamp;

use crate::config::Config;
use crate::meta::{Meta, RunStatus};

/// How an error of a scheduled run is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Likely to pass by itself: tried again with backoff.
    Retry,
    /// Needs a person: the scheduler is turned off, with the reason.
    Halt,
    /// The run ended with failed tables (or an error of its own): the next
    /// scheduled run goes on.
    Failed,
}

/// Sorts an error that ended a run.
pub fn verdict(e: &anyhow::Error) -> Verdict {
    let text = format!("{e:#}").to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    // Matched on codes and the servers' own wording, not on single words
    // (a host may be called db-tls.internal).
    let needs_person = any(&[
        "access denied",
        "error 1044",
        "error 1045",
        "error 1049",
        "error 1130",
        "error 1698",
        "error 1862",
        "password authentication failed",
        "pg_hba.conf",
        "no password supplied",
        "password missing",
        "does not exist",
        "invalid peer certificate",
        "certificate verify failed",
        "unknownissuer",
        "tls: invalid",
        // SQL Server (ODBC): login failed, database not opened.
        "state: 28000",
        "native error: 18456",
        "native error: 4060",
    ]);
    let transient = any(&[
        "connection refused",
        "connection reset",
        "broken pipe",
        "server has gone away",
        "lost connection",
        "shutting down",
        "starting up",
        "too many connections",
        "lock wait timeout",
        "deadlock",
        "timed out",
        "unexpected eof",
        "connection closed",
        "close_notify",
        "error 1040",
        "error 1205",
        "error 1213",
        "error 2006",
        "error 2013",
        // ODBC (SQL Server): communication link failure, cannot connect,
        // timeout; a deadlock victim (1205 says "deadlocked").
        "state: 08s01",
        "state: 08001",
        "state: hyt00",
    ]);
    match crate::error::exit_code(e) {
        2 => Verdict::Halt,
        3 if needs_person => Verdict::Halt,
        3 => Verdict::Retry,
        _ if e
            .chain()
            .any(|c| matches!(c.downcast_ref(), Some(crate::error::Fatal::TablesFailed(_)))) =>
        {
            Verdict::Failed
        }
        _ if transient && !needs_person => Verdict::Retry,
        _ => Verdict::Failed,
    }
}

/// One run: a full extract of every selected table while none was done,
/// else a delta, after the full extract of tables whose own was cut short
/// (killed): what was interrupted is resumed. Prints its summary lines.
fn one_run(cfg: &Config, meta: &Meta) -> Result<()> {
    // Only tables still selected (one cut short and deselected since, or
    // dropped, would fail the extract for good).
    let selected = crate::run::selected_names(cfg)?;
    let interrupted: Vec<String> = meta
        .table_states()?
        .into_iter()
        .filter(|t| t.status == crate::meta::TableState::Extracting && selected.contains(&t.table))
        .map(|t| t.table)
        .collect();
    if meta.position()?.is_none() || !interrupted.is_empty() {
        if !interrupted.is_empty() {
            log::info!(
                "resuming the cut-short full extract of {}",
                interrupted.join(", ")
            );
        }
        let s = crate::run::full_extract(cfg, meta, &interrupted)?;
        println!("{}", s.line("full extract", "row"));
    }
    if meta.position()?.is_some() {
        // A new table that cannot be extracted (no key, no privilege) is
        // the log's to tell: the other tables' delta goes on.
        match crate::run::sync_new_tables(cfg, meta, &selected) {
            Ok(Some(s)) => println!("{}", s.line("sync-new-tables", "row")),
            Ok(None) => {}
            Err(e) => log::error!("sync-new-tables: {e:#}"),
        }
        let s = crate::run::delta(cfg, meta)?;
        println!("{}", s.line("delta", "change"));
    }
    Ok(())
}

/// A run, tried again on transient errors for `retry_for` (waits of 5 s,
/// doubling up to 5 min); an error that needs a person halts the
/// scheduler.
fn run_with_retries(cfg: &Config, meta: &Meta) -> Result<()> {
    let give_up = Timestamp::now()
        .checked_add(cfg.schedule.retry_for)
        .unwrap_or(Timestamp::MAX);
    let mut wait = Duration::from_secs(5);
    loop {
        let Err(e) = one_run(cfg, meta) else {
            return Ok(());
        };
        match verdict(&e) {
            Verdict::Retry
                if !crate::stop::requested()
                    && Timestamp::now()
                        .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default())
                        .is_ok_and(|t| t < give_up) =>
            {
                let msg = format!("{e:#}; trying again in {} s", wait.as_secs());
                log::warn!("{msg}");
                record(meta, "retry", &msg)?;
                if !crate::stop::sleep(wait) {
                    return Err(e);
                }
                wait = (wait * 2).min(Duration::from_secs(300));
            }
            Verdict::Halt => {
                let why = format!("{e:#}");
                log::error!("scheduler turned off: {why}; fix it, then run `ingest scheduler on`");
                record(meta, "halt", &why)?;
                meta.set_scheduler(false, Some(&why))?;
                return Err(e);
            }
            _ => return Err(e),
        }
    }
}

/// Records an event of the scheduler as a run of its kind, and as the
/// manual's RetryError / HaltError event.
fn record(meta: &Meta, kind: &str, msg: &str) -> Result<()> {
    let id = meta.start_run(kind, None)?;
    let event = if kind == "halt" {
        "HaltError"
    } else {
        "RetryError"
    };
    crate::events::emit(
        event,
        serde_json::json!({"message": msg, "errorId": format!("{kind}-{id}"), "runId": id}),
    );
    meta.finish_run(id, RunStatus::Error, None, Some(msg))
}

/// `ingest run --once`: the run due now, unless the scheduler is off.
pub fn run_once(cfg: &Config, meta: &Meta) -> Result<()> {
    crate::stop::install();
    let _lock = crate::instance::lock(cfg)?;
    if let (false, why, _) = meta.scheduler()? {
        println!(
            "scheduler is off{}: nothing run (`ingest scheduler on` turns it on)",
            why.map(|w| format!(" ({w})")).unwrap_or_default()
        );
        return Ok(());
    }
    run_with_retries(cfg, meta)?;
    // An operation asked for on the status page while a run held the
    // instance.
    if let Some(op) = meta.take_request()? {
        log::info!("running `ingest {op}` (asked for on the status page)");
        requested(cfg, meta, &op)?;
    }
    Ok(())
}

/// An operation of the status page, run by `ingest run` (which holds the
/// instance lock).
fn requested(cfg: &Config, meta: &Meta, op: &str) -> Result<()> {
    match op.split_once(' ') {
        Some(("full-extract", table)) => {
            let s = crate::run::full_extract(cfg, meta, &[table.to_string()])?;
            println!("{}", s.line("full extract", "row"));
        }
        _ if op == "sync-new-tables" => {
            let selected = crate::run::selected_names(cfg)?;
            if let Some(s) = crate::run::sync_new_tables(cfg, meta, &selected)? {
                println!("{}", s.line("sync-new-tables", "row"));
            }
        }
        _ if op == "delta" => {
            let s = crate::run::delta(cfg, meta)?;
            println!("{}", s.line("delta", "change"));
        }
        _ => log::warn!("unknown operation {op:?} asked for on the status page: ignored"),
    }
    Ok(())
}

/// `ingest run`: follows the schedule until a stop is asked for; exits 0.
pub fn run_forever(cfg: &Config, meta: &Meta) -> Result<()> {
    crate::stop::install();
    let _lock = crate::instance::lock(cfg)?;
    crate::web::spawn(cfg);
    let schedule = &cfg.schedule.schedule;
    // An interrupted run (killed, the machine stopped) is taken up at once.
    let mut resume = cfg.schedule.restore_on_startup
        && meta
            .recent_runs(1)?
            .first()
            .is_some_and(|r| r.status == RunStatus::Running);
    if resume {
        log::info!("resuming the interrupted run at once (schedule.restore_on_startup)");
    }
    let mut after = Timestamp::now();
    let mut last_end = None;
    let mut told_off = false;
    while !crate::stop::requested() {
        let (on, why, _) = meta.scheduler()?;
        if !on {
            // When it is turned on again, the next slot from then on.
            after = Timestamp::now();
            if !told_off {
                log::warn!(
                    "scheduler is off{}: waiting for `ingest scheduler on`",
                    why.map(|w| format!(" ({w})")).unwrap_or_default()
                );
                told_off = true;
            }
            crate::stop::sleep(Duration::from_secs(2));
            continue;
        }
        told_off = false;
        // An operation asked for on the status page.
        if let Some(op) = meta.take_request()? {
            log::info!("running `ingest {op}` (asked for on the status page)");
            if let Err(e) = requested(cfg, meta, &op) {
                log::error!("`ingest {op}` (from the status page): {e:#}");
            }
            last_end = Some(Timestamp::now());
            continue;
        }
        let due = if resume {
            Some(Timestamp::now())
        } else {
            schedule.next(after, last_end)
        };
        let Some(due) = due else {
            // Manual: nothing is ever due; wait to be stopped.
            crate::stop::sleep(Duration::from_secs(2));
            continue;
        };
        let now = Timestamp::now();
        if due > now {
            // Sleep in short steps: a stop, or the scheduler turned off,
            // is noticed within seconds.
            let left = Duration::try_from(due.duration_since(now)).unwrap_or_default();
            crate::stop::sleep(left.min(Duration::from_secs(2)));
            continue;
        }
        resume = false;
        if let Err(e) = run_with_retries(cfg, meta) {
            log::error!("scheduled run: {e:#}");
        }
        last_end = Some(Timestamp::now());
        // Slots missed meanwhile (a long run, the scheduler off, a
        // suspended machine) are not made up one after another.
        after = due.max(Timestamp::now());
    }
    log::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error;

    #[test]
    fn errors_are_sorted_by_who_can_fix_them() {
        let e = |x: anyhow::Error| verdict(&x);
        assert_eq!(
            e(error::connect(
                "source 127.0.0.1:5432: connection refused (os error 111)"
            )),
            Verdict::Retry
        );
        assert_eq!(
            e(error::connect(
                "source: password authentication failed for user \"x\""
            )),
            Verdict::Halt
        );
        assert_eq!(
            e(error::connect(
                "destination: ERROR 1045 (28000): Access denied for user"
            )),
            Verdict::Halt
        );
        assert_eq!(
            e(error::config(
                "binlog file binlog.000001 is no longer on the source (purged)"
            )),
            Verdict::Halt
        );
        assert_eq!(
            e(anyhow::anyhow!(
                "merging into d.t: ERROR 1213 (40001): Deadlock found"
            )),
            Verdict::Retry
        );
        assert_eq!(
            e(anyhow::anyhow!(
                "reading the slot: db error: FATAL: the database system is shutting down"
            )),
            Verdict::Retry
        );
        assert_eq!(
            e(error::Fatal::TablesFailed(vec![("a.b".into(), "lost connection".into())]).into()),
            Verdict::Failed
        );
        assert_eq!(e(anyhow::anyhow!("something else broke")), Verdict::Failed);
        // A host name is no reason.
        assert_eq!(
            e(error::connect(
                "source db-tls.internal:3306: cannot connect: connection refused"
            )),
            Verdict::Retry
        );
        assert_eq!(
            e(error::connect(
                "source: ERROR 1049 (42000): Unknown database 'x'"
            )),
            Verdict::Halt
        );
        assert_eq!(
            e(error::connect(
                "source: FATAL: pg_hba.conf rejects connection for host"
            )),
            Verdict::Halt
        );
        // SQL Server through ODBC.
        assert_eq!(
            e(anyhow::anyhow!(
                "snapshot of dbo.t, after row 5000: ODBC emitted an error calling 'SQLFetch':\n\
                 State: 08S01, Native error: 20004, Message: [FreeTDS][SQL Server]Read from the server failed"
            )),
            Verdict::Retry
        );
        assert_eq!(
            e(error::connect(
                "cannot connect to SQL Server db:1433 as u through ODBC driver {ODBC Driver 18 for SQL Server}: \
                 State: 28000, Native error: 18456, Message: Login failed for user 'u'."
            )),
            Verdict::Halt
        );
        assert_eq!(
            e(error::connect(
                "cannot connect to SQL Server db:1433 as u: State: 08001, Native error: 0, Message: TCP Provider: Timeout error"
            )),
            Verdict::Retry
        );
    }
}
