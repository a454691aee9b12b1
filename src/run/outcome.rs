//! A table's outcome in a run, recorded in one place: state.db (one
//! SQLite transaction: the table's state, its counts in the run, its line in
//! the batch), the log, and the run's summary (the exit status). Outcomes
//! are what the status page and events will report.

use std::sync::Mutex;

use anyhow::Result;

use super::Summary;
use crate::meta::{BatchTableState, Counts, Meta, RunTableStatus, TableRecord, TableState};

/// Failed loads of one table of one batch before it is given up.
pub const MAX_ATTEMPTS: i64 = 3;

/// Where outcomes of one run go.
pub struct Record<'a> {
    pub meta: &'a Meta,
    pub summary: &'a Mutex<Summary>,
    pub run_id: i64,
}

pub enum Outcome<'a> {
    /// A full extract's new table took the target's place.
    Extracted {
        rows: u64,
        extract_ms: i64,
        load_ms: i64,
    },
    /// A batch's changes of the table were merged.
    Merged {
        batch: &'a str,
        counts: &'a Counts,
        rows: u64,
        load_ms: i64,
    },
    /// A batch's changes of the table failed to load: tried again by the
    /// next runs, given up (the table failed) after [`MAX_ATTEMPTS`].
    LoadFailed {
        batch: &'a str,
        counts: &'a Counts,
        msg: &'a str,
        load_ms: i64,
    },
    /// The table cannot be replicated until its full extract: why, with the
    /// fix. `counted`: it gets a line in the run's per-table counts.
    Failed { msg: String, counted: bool },
    /// The table's changes wait for sync-struct (a structure change): why,
    /// with the fix. Unlike `Failed`, where they wait is kept.
    Waiting { msg: String },
    /// Failed in an earlier run and not extracted since: named again.
    StillFailed(&'a TableRecord),
}

/// What recording decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Done,
    /// A failed load that later runs try again: its batch must wait.
    Retry,
}

impl Record<'_> {
    /// Records `outcome` of `table` (landing in `dest`).
    pub fn outcome(&self, table: &str, dest: &str, outcome: Outcome<'_>) -> Result<Recorded> {
        let run_id = self.run_id;
        let summary = || self.summary.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Outcome::Extracted {
                rows,
                extract_ms,
                load_ms,
            } => {
                let counts = Counts {
                    inserts: rows as i64,
                    ..Default::default()
                };
                self.meta.write(|tx| {
                    let n = Some(rows as i64);
                    tx.set_table_state(
                        table,
                        dest,
                        TableState::Ready,
                        Some(run_id),
                        None,
                        n,
                        None,
                    )?;
                    // Older batches' changes of the table are in the snapshot now.
                    tx.supersede(table)?;
                    tx.add_run_table(
                        run_id,
                        table,
                        &counts,
                        rows as i64,
                        extract_ms,
                        load_ms,
                        RunTableStatus::Loaded,
                        None,
                    )
                })?;
                log::info!("run {run_id}: {table} loaded {rows} row(s) into {dest}");
                summary().add_ok(table, rows);
                let c = Counts {
                    inserts: rows as i64,
                    ..Default::default()
                };
                table_event(
                    "TableExtracted",
                    run_id,
                    table,
                    true,
                    "extracted",
                    &c,
                    false,
                );
                table_event("TableLoaded", run_id, table, true, "loaded", &c, true);
            }
            Outcome::Merged {
                batch,
                counts,
                rows,
                load_ms,
            } => {
                log::info!(
                    "run {run_id}: {table} merged {rows} change(s) into {dest} (batch {batch})"
                );
                summary().add_ok(table, rows);
                self.meta.write(|tx| {
                    tx.set_batch_table(batch, table, BatchTableState::Loaded, None)?;
                    tx.add_run_table(
                        run_id,
                        table,
                        counts,
                        rows as i64,
                        0,
                        load_ms,
                        RunTableStatus::Loaded,
                        None,
                    )
                })?;
                table_event("TableLoaded", run_id, table, true, "merged", counts, true);
            }
            Outcome::LoadFailed {
                batch,
                counts,
                msg,
                load_ms,
            } => {
                log::error!("run {run_id}: {table} (batch {batch}): {msg}");
                summary().add_failed(table, msg.to_string());
                table_event("TableLoaded", run_id, table, false, msg, counts, false);
                return self.meta.write(|tx| {
                    let attempts = tx.fail_batch_table(batch, table, msg)?;
                    tx.add_run_table(
                        run_id,
                        table,
                        counts,
                        0,
                        0,
                        load_ms,
                        RunTableStatus::Failed,
                        Some(msg),
                    )?;
                    if attempts < MAX_ATTEMPTS {
                        return Ok(Recorded::Retry);
                    }
                    // Given up so that the other tables move on: the table
                    // needs a new full extract.
                    let why = format!(
                        "gave up after {attempts} failed loads of batch {batch} ({msg}): \
                         run `ingest full-extract {table}`"
                    );
                    log::error!("run {run_id}: {table}: {why}");
                    tx.clear_waiting(table)?;
                    tx.set_batch_table(batch, table, BatchTableState::Abandoned, Some(msg))?;
                    tx.set_table_state(
                        table,
                        dest,
                        TableState::Failed,
                        None,
                        None,
                        None,
                        Some(&why),
                    )?;
                    Ok(Recorded::Done)
                });
            }
            Outcome::Waiting { msg } => {
                log::error!("run {run_id}: {table}: {msg}");
                self.meta.write(|tx| {
                    tx.set_table_state(
                        table,
                        dest,
                        TableState::Failed,
                        None,
                        None,
                        None,
                        Some(&msg),
                    )
                })?;
                summary().add_failed(table, msg);
            }
            Outcome::Failed { msg, counted } => {
                log::error!("run {run_id}: {table}: {msg}");
                self.meta.write(|tx| {
                    // Only a full extract helps now: its changes no longer
                    // wait for sync-struct.
                    tx.clear_waiting(table)?;
                    let run = counted.then_some(run_id);
                    tx.set_table_state(
                        table,
                        dest,
                        TableState::Failed,
                        run,
                        None,
                        None,
                        Some(&msg),
                    )?;
                    if counted {
                        tx.add_run_table(
                            run_id,
                            table,
                            &Counts::default(),
                            0,
                            0,
                            0,
                            RunTableStatus::Failed,
                            Some(&msg),
                        )?;
                    }
                    Ok(())
                })?;
                summary().add_failed(table, msg);
            }
            Outcome::StillFailed(st) => {
                let msg = match st.status {
                    TableState::Extracting => format!(
                        "its full extract (started {}) did not finish: run `ingest full-extract {table}`",
                        st.updated_at
                    ),
                    _ if st.resume_pos.is_some() => format!(
                        "is {} since {} ({}): its changes wait for `ingest sync-struct {table}`",
                        st.status,
                        st.updated_at,
                        st.error.as_deref().unwrap_or("no reason recorded")
                    ),
                    _ => format!(
                        "is {} since {} ({}): its changes are not applied until `ingest full-extract {table}`",
                        st.status,
                        st.updated_at,
                        st.error.as_deref().unwrap_or("no reason recorded")
                    ),
                };
                log::error!("run {run_id}: {table} {msg}");
                summary().add_failed(table, msg);
            }
        }
        Ok(Recorded::Done)
    }
}

/// The manual's TableExtracted event of a table whose full extract failed.
pub(super) fn extract_failed(run_id: i64, table: &str, msg: &str) {
    table_event(
        "TableExtracted",
        run_id,
        table,
        false,
        msg,
        &Counts::default(),
        false,
    );
}

/// The manual's TableExtracted / TableLoaded event: the source's counts,
/// and the destination's when `landed`.
fn table_event(
    kind: &str,
    run_id: i64,
    table: &str,
    success: bool,
    message: &str,
    c: &Counts,
    landed: bool,
) {
    let dest = |n: i64| if landed { n } else { 0 };
    crate::events::emit(
        kind,
        serde_json::json!({
            "subType": table,
            "tabName": table,
            "success": success,
            "message": message,
            "sourceTS": crate::clock::now(),
            "runId": run_id,
            "sourceInserts": c.inserts,
            "sourceUpdates": c.updates,
            "sourceDeletes": c.deletes,
            "destInserts": dest(c.inserts),
            "destUpdates": dest(c.updates),
            "destDeletes": dest(c.deletes),
        }),
    );
}

/// The manual's ExtractCompleted / LoadCompleted event of a batch.
#[allow(clippy::too_many_arguments)]
pub(super) fn batch_event(
    kind: &str,
    job_sub_type: &str,
    run_id: i64,
    extract_id: &str,
    from: Option<&str>,
    to: Option<&str>,
    table_errors: usize,
    table_totals: usize,
) {
    let (job, done) = if kind == "ExtractCompleted" {
        ("EXTRACT", "extracted")
    } else {
        ("LOAD", "loaded")
    };
    crate::events::emit(
        kind,
        serde_json::json!({
            "jobType": job,
            "jobSubType": job_sub_type,
            "success": if table_errors == 0 { "Y" } else { "N" },
            "message": format!("{done} {} of {table_totals} table(s)", table_totals - table_errors.min(table_totals)),
            "runId": run_id,
            "sourceDate": crate::clock::now(),
            "fromSeq": from,
            "toSeq": to,
            "extractId": extract_id,
            "tableErrors": table_errors,
            "tableTotals": table_totals,
        }),
    );
}
