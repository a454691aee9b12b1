//! `ingest full-extract`: snapshots into spool parts that stream to the
//! load threads, each table swapped in when its last part is loaded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use crossbeam::channel;

use crate::config::Config;
use crate::dest::{Dest, Loaded};
use crate::meta::Meta;
use crate::schema::TableSchema;
use crate::source::{self as sources, Warnings};
use crate::spool::{self, BatchWriter, Manifest, ManifestTable};

use super::load::{load_parallel, with_retries};
use super::outcome::{Outcome, Record};
use super::plan::{plan_full, FullPlan};
use super::{connect_all, key_text, ms, record_warnings, Summary};
use crate::meta::{RunStatus, TableState};

/// `ingest full-extract`.
pub fn full_extract(cfg: &Config, meta: &Meta, only: &[String]) -> Result<Summary> {
    full_extract_as(cfg, meta, only, "full-extract")
}

/// Tables selected but never extracted (the configuration selects more
/// since): their full extract, recorded as a run of kind
/// `sync-new-tables`, while the other tables' deltas go on from their own
/// positions (a table's changes before its snapshot are skipped by its
/// own). `selected`: the selected tables' names ([`super::selected_names`]).
/// `None`: there is none.
pub fn sync_new_tables(cfg: &Config, meta: &Meta, selected: &[String]) -> Result<Option<Summary>> {
    let states = meta.table_states()?;
    let redo = |name: &str| {
        name.split_once('.')
            .and_then(|(s, t)| cfg.rule_for(s, t))
            .is_some_and(|r| r.redo_initial)
    };
    // `redo_initial` taken once: asked again once it was gone meanwhile.
    for st in states.iter().filter(|st| st.redo_done && !redo(&st.table)) {
        meta.write(|tx| tx.set_redo_done(&st.table, false))?;
    }
    let mut new: Vec<String> = vec![];
    let mut again: Vec<String> = vec![];
    for t in selected {
        match states.iter().find(|st| st.table == *t) {
            None => new.push(t.clone()),
            Some(st) if redo(t) && !st.redo_done => again.push(t.clone()),
            Some(_) => {}
        }
    }
    if new.is_empty() && again.is_empty() {
        return Ok(None);
    }
    if !new.is_empty() {
        log::info!("newly selected: {}", new.join(", "));
    }
    if !again.is_empty() {
        log::info!("redo_initial: {}", again.join(", "));
    }
    let all: Vec<String> = new.iter().chain(&again).cloned().collect();
    full_extract_as(cfg, meta, &all, "sync-new-tables").map(Some)
}

fn full_extract_as(cfg: &Config, meta: &Meta, only: &[String], kind: &str) -> Result<Summary> {
    super::saved(cfg, full_extract_run(cfg, meta, only, kind))
}

fn full_extract_run(cfg: &Config, meta: &Meta, only: &[String], kind: &str) -> Result<Summary> {
    crate::error::check_disk(
        &cfg.instance.spool_dir,
        cfg.instance.min_free_disk,
        " before extracting",
    )?;
    let (mut src, mut dest, _, _) = connect_all(cfg)?;
    let FullPlan {
        names,
        schemas,
        early,
    } = plan_full(cfg, src.as_mut(), only)?;
    if schemas.is_empty() {
        let run_id = meta.start_run(kind, None)?;
        let summary = Mutex::new(Summary {
            run_id,
            ..Default::default()
        });
        let record = Record {
            meta,
            summary: &summary,
            run_id,
        };
        for (name, msg) in early {
            record.outcome(&name, "", Outcome::Failed { msg, counted: true })?;
        }
        meta.finish_run(run_id, RunStatus::Failed, None, None)?;
        return summary
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_result();
    }
    let (pos, created) = src.prepare_full(&names)?;
    let pos_text = pos.to_string();
    if created || meta.position()?.is_none() {
        meta.set_position(&pos_text)?;
    }
    let run_id = meta.start_run(kind, Some(&pos_text))?;
    log::info!(
        "run {run_id}: full extract of {} table(s) from {pos_text}",
        schemas.len()
    );
    let batch_id = spool::batch_id(run_id);
    let manifest = Manifest {
        batch: batch_id.clone(),
        kind: "full".into(),
        instance: cfg.instance.name.clone(),
        created_at: crate::clock::now(),
        from_pos: Some(pos_text.clone()),
        to_pos: None,
        table: vec![],
    };
    let mut batch = BatchWriter::create(
        &cfg.instance.spool_dir,
        manifest,
        cfg.instance.spool_compression,
    )?;
    batch.watch_disk(cfg.instance.min_free_disk);
    let dir = batch.dir().to_path_buf();
    let summary = Mutex::new(Summary {
        run_id,
        ..Default::default()
    });
    let record = Record {
        meta,
        summary: &summary,
        run_id,
    };
    if created && !only.is_empty() {
        // A new slot keeps changes from now on only: the tables not
        // extracted now missed everything since the old slot went away.
        for st in meta.table_states()? {
            let extracted = names.iter().any(|id| id.to_string() == st.table);
            if st.status == TableState::Ready && !extracted {
                let msg = format!(
                    "the change log was started anew at {pos_text} by the full extract of other tables \
                     (the old one was gone): changes before it are lost to this table; \
                     run `ingest full-extract {}`",
                    st.table
                );
                record.outcome(
                    &st.table,
                    &st.dest,
                    Outcome::Failed {
                        msg,
                        counted: false,
                    },
                )?;
            }
        }
    }
    let progress: Mutex<HashMap<String, Progress>> = Mutex::new(HashMap::new());
    let fail = |table: &str, dest: &str, e: &anyhow::Error| -> Result<()> {
        let msg = format!("{e:#}");
        if summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tables_failed
            .iter()
            .any(|(t, _)| t == table)
        {
            // Counted once (a part's load and the extract can both fail).
            log::error!("run {run_id}: {table}: also: {msg}");
            return Ok(());
        }
        super::outcome::extract_failed(run_id, table, &msg);
        record.outcome(table, dest, Outcome::Failed { msg, counted: true })?;
        Ok(())
    };
    for (name, msg) in &early {
        fail(name, "", &anyhow!("{msg}"))?;
    }
    // A part or the end of a table is done: the last one puts the new table
    // in place and records the table as ready.
    let settle = |d: &mut Dest, table: &str| {
        let finished = {
            let mut p = progress.lock().unwrap_or_else(|p| p.into_inner());
            let Some(pr) = p.get_mut(table) else { return };
            let complete = pr.parts.is_some_and(|n| n == pr.loaded) && pr.failed.is_none();
            if !complete || pr.settled {
                return;
            }
            pr.settled = true;
            (
                pr.schema.clone(),
                pr.rows,
                pr.extract_ms,
                pr.t0,
                pr.snap_ts.clone(),
            )
        };
        let (schema, rows, ems, t0, snap_ts) = finished;
        let res = with_retries(cfg, d, table, |d| d.swap_in(&schema, &snap_ts)).and_then(|_| {
            let landed = Outcome::Extracted {
                rows,
                extract_ms: ems,
                load_ms: ms(t0),
            };
            record.outcome(table, &schema.dest_name(), landed)
        });
        if let Err(e) = res {
            let _ = fail(table, &schema.dest_name(), &e);
        }
    };
    // Few parts wait: the extract pauses when the loads fall behind, which
    // bounds the spool's size on disk (loaded parts are removed at once).
    meta.run_load_started(run_id)?;
    // Table files with values a `type_change` did not convert.
    let bad_values: Mutex<Vec<crate::spool::ManifestTable>> = Mutex::new(vec![]);
    let (tx, rx) = channel::bounded::<Job>(cfg.destination.load_threads * 2);
    let threads = cfg.destination.load_threads;
    let mut warnings = Warnings::default();
    let mut extract_err: Option<anyhow::Error> = None;
    let load_result = std::thread::scope(|scope| -> Result<()> {
        let loader = scope.spawn(|| {
            load_parallel(cfg, threads, rx, |d, job| match job {
                Job::Part(entry) => {
                    bad_values
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((*entry).clone());
                    let r = with_retries(cfg, d, &entry.source, |d| d.load_part(&dir, &entry));
                    if r.is_ok() {
                        // In the new table now; a crash restarts the table.
                        let _ = std::fs::remove_file(dir.join(&entry.file));
                    }
                    let mut p = progress.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(pr) = p.get_mut(&entry.source) {
                        match r {
                            Ok(Loaded { rows }) => {
                                pr.loaded += 1;
                                pr.rows += rows;
                            }
                            Err(e) => {
                                if pr.failed.is_none() {
                                    pr.failed = Some(format!("{e:#}"));
                                    drop(p);
                                    let _ = fail(&entry.source, &entry.schema().dest_name(), &e);
                                }
                                return;
                            }
                        }
                    }
                    drop(p);
                    settle(d, &entry.source);
                }
                Job::End(table) => settle(d, &table),
            })
        });
        for s in &schemas {
            let name = s.source_name();
            let t0 = Instant::now();
            let skip = cfg
                .rule_for(&s.schema, &s.name)
                .is_some_and(|r| r.skip_initial);
            // `skip_initial` keeps the table as it is: no new table, and
            // with `truncate_instead_of_drop` no emptying either.
            let shadow = if skip { Ok(()) } else { dest.prepare_shadow(s) };
            let prepared = shadow
                .and_then(|_| src.table_position(s))
                .map(|p| p.to_string())
                .and_then(|p| {
                    let ids = super::col_ids_text(src.as_mut(), s)?;
                    Ok((
                        p,
                        src.fingerprint(s)?,
                        ids,
                        super::shape_text(src.as_ref(), s)?,
                    ))
                });
            // Changes older than this, in another shape, are in the snapshot.
            let (since, fingerprint, col_ids, shape) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    fail(&name, &s.dest_name(), &e)?;
                    continue;
                }
            };
            meta.write(|tx| {
                let dest = s.dest_name();
                let at = Some(since.as_str());
                tx.set_table_state(
                    &name,
                    &dest,
                    TableState::Extracting,
                    Some(run_id),
                    at,
                    None,
                    None,
                )?;
                tx.set_table_shape(
                    &name,
                    &key_text(s),
                    fingerprint.as_deref(),
                    col_ids.as_deref(),
                    Some(&shape),
                )
            })?;
            if skip {
                // `skip_initial`: no rows now; its changes from `since` on
                // are applied by the deltas.
                match dest.skip_initial(s) {
                    Ok(()) => {
                        log::info!(
                            "run {run_id}: {name}: skip_initial: no initial load; its changes from {since} on are applied"
                        );
                        let landed = Outcome::Extracted {
                            rows: 0,
                            extract_ms: 0,
                            load_ms: 0,
                        };
                        record.outcome(&name, &s.dest_name(), landed)?;
                    }
                    Err(e) => fail(&name, &s.dest_name(), &e)?,
                }
                continue;
            }
            let snap_ts = crate::clock::format_micros(crate::clock::now_micros());
            progress.lock().unwrap_or_else(|p| p.into_inner()).insert(
                name.clone(),
                Progress {
                    schema: s.clone(),
                    parts: None,
                    loaded: 0,
                    rows: 0,
                    failed: None,
                    settled: false,
                    extract_ms: 0,
                    t0,
                    snap_ts: snap_ts.clone(),
                },
            );
            match extract_table(
                cfg,
                &mut batch,
                src.as_mut(),
                s,
                &snap_ts,
                &tx,
                &mut warnings,
            ) {
                Ok((n, lasts, ranges)) => {
                    let parts: u32 = lasts.iter().map(|e| e.part).sum();
                    let split = if ranges > 1 {
                        format!(", {ranges} ranges in parallel")
                    } else {
                        String::new()
                    };
                    log::info!(
                        "run {run_id}: {name} extracted {n} row(s) in {} ms ({parts} part(s){split})",
                        t0.elapsed().as_millis()
                    );
                    if let Some(pr) = progress
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_mut(&name)
                    {
                        pr.parts = Some(parts);
                        pr.extract_ms = ms(t0);
                    }
                    let sent = lasts
                        .into_iter()
                        .all(|last| tx.send(Job::Part(Box::new(last))).is_ok());
                    if !sent || tx.send(Job::End(name.clone())).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    if let Some(pr) = progress
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_mut(&name)
                    {
                        pr.failed = Some(format!("{e:#}"));
                    }
                    if is_connection_lost(&e) {
                        extract_err = Some(e);
                        break;
                    }
                    fail(&name, &s.dest_name(), &e)?;
                }
            }
        }
        drop(tx);
        // Every snapshot is read (loads go on meanwhile; they started with
        // the first part).
        meta.run_extracted(run_id, &batch_id, None)?;
        loader
            .join()
            .map_err(|_| anyhow!("a load thread panicked"))?
    });
    warnings.add_bad_values(&bad_values.into_inner().unwrap_or_else(|p| p.into_inner()));
    record_warnings(meta, run_id, &warnings)?;
    let finished = batch.finish();
    let summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    // `redo_initial` is taken by any full extract of the table that landed.
    for (t, _) in &summary.tables_ok {
        let redo = t
            .split_once('.')
            .and_then(|(s, n)| cfg.rule_for(s, n))
            .is_some_and(|r| r.redo_initial);
        if redo {
            meta.write(|tx| tx.set_redo_done(t, true))?;
        }
    }
    let status = if extract_err.is_some() || load_result.is_err() {
        RunStatus::Error
    } else if summary.tables_failed.is_empty() {
        RunStatus::Ok
    } else {
        RunStatus::Failed
    };
    let err_text = extract_err
        .as_ref()
        .or(load_result.as_ref().err())
        .map(|e| format!("{e:#}"));
    // Every selected table was snapshotted after `pos`: deltas may start
    // there, even if the old position is gone (a purged binlog).
    if status == RunStatus::Ok && only.is_empty() {
        meta.set_position(&pos_text)?;
    }
    let (failed, total) = (
        summary.tables_failed.len(),
        summary.tables_ok.len() + summary.tables_failed.len(),
    );
    for event in ["ExtractCompleted", "LoadCompleted"] {
        let b = Some(pos_text.as_str());
        super::outcome::batch_event(event, kind, run_id, &batch_id, b, b, failed, total);
    }
    meta.finish_run(run_id, status, None, err_text.as_deref())?;
    load_result?;
    if let Some(e) = extract_err {
        return Err(e);
    }
    finished?;
    spool::remove_batch(&cfg.instance.spool_dir, &batch_id)?;
    log::info!(
        "run {run_id}: full extract {status}: {} table(s) loaded, {} failed, {} row(s)",
        summary.tables_ok.len(),
        summary.tables_failed.len(),
        summary.rows
    );
    summary.into_result()
}

/// Snapshots one table into spool parts sent to the load threads as they
/// fill; returns the row count, the last part of each writer (to send once
/// the count of parts is known) and the number of ranges read in parallel.
fn extract_table(
    cfg: &Config,
    batch: &mut BatchWriter,
    src: &mut dyn sources::Source,
    s: &TableSchema,
    ts: &str,
    tx: &channel::Sender<Job>,
    warnings: &mut Warnings,
) -> Result<(u64, Vec<ManifestTable>, usize)> {
    let writer = |batch: &mut BatchWriter| {
        let part_tx = tx.clone();
        batch.table_in_parts(s, PART_ROWS, move |entry| {
            part_tx
                .send(Job::Part(Box::new(entry)))
                .map_err(|_| anyhow!("the load threads stopped"))
        })
    };
    let ex = cfg.source.extract();
    let ranges = if ex.threads > 1 {
        // Ranges need connections of their own; without them the table is
        // read whole, as with extract_threads = 1.
        src.split_snapshot(s, ex.threads, ex.split_bytes)
            .unwrap_or_else(|e| {
                log::warn!(
                    "{}: cannot read it in {} ranges ({e:#}); reading it whole",
                    s.source_name(),
                    ex.threads
                );
                None
            })
    } else {
        None
    };
    let Some(ranges) = ranges else {
        let mut w = writer(batch)?;
        let n = src.snapshot(s, &mut w, ts, warnings)?;
        return Ok((n, vec![w.finish()?], 1));
    };
    let count = ranges.len();
    let jobs = ranges
        .into_iter()
        .map(|r| Ok((r, writer(batch)?)))
        .collect::<Result<Vec<_>>>()?;
    let results: Vec<Result<(u64, ManifestTable, Warnings)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(r, mut w)| {
                scope.spawn(move || {
                    let what = r.describe();
                    let mut local = Warnings::default();
                    let n = r
                        .read(&mut w, ts, &mut local)
                        .with_context(|| format!("range {what}"))?;
                    Ok((n, w.finish()?, local))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("an extract thread panicked")))
            })
            .collect()
    });
    let mut rows = 0;
    let mut lasts = vec![];
    for r in results {
        let (n, last, w) = r?;
        rows += n;
        lasts.push(last);
        warnings.merge(w);
    }
    Ok((rows, lasts, count))
}

/// Rows per spool part of a snapshot: parts are loaded while the next ones
/// are extracted. Smaller parts overlap more (the first load starts
/// sooner, the last one is shorter): 50,000 gave 1.26x native where
/// 200,000 gave 1.11x (scripts/bench.sh pg-initial, 1M rows).
const PART_ROWS: u64 = 50_000;

/// Work for the load threads of a full extract.
enum Job {
    /// One part of a table's snapshot: load it into the new table.
    Part(Box<ManifestTable>),
    /// The table's snapshot is complete (all its parts were sent).
    End(String),
}

/// A table of a full extract on its way.
struct Progress {
    schema: TableSchema,
    /// Number of parts, known once the snapshot finished.
    parts: Option<u32>,
    loaded: u32,
    rows: u64,
    failed: Option<String>,
    /// The new table was put in place (or that was tried).
    settled: bool,
    extract_ms: i64,
    t0: Instant,
    /// When the snapshot was read (the start of a history table's versions).
    snap_ts: String,
}

/// The source connection is gone: the remaining tables would all fail.
fn is_connection_lost(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<postgres::Error>()
            .is_some_and(|p| p.is_closed())
            || c.downcast_ref::<mysql::Error>().is_some_and(|m| {
                matches!(m, mysql::Error::IoError(_) | mysql::Error::DriverError(_))
            })
    })
}
