//! One run, end to end: plan → extract → load → commit.
//!
//! `full-extract`: record the slot position, then snapshot each table into
//! the spool while load threads pick finished tables up and replace the
//! target's rows. `delta`: first finish any batch a crash left behind, then
//! read the slot into a new batch, make it durable (MANIFEST, then state.db),
//! load and merge it, and only then release the position at the source.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use crossbeam::channel;

use crate::config::{Config, Source};
use crate::dest::{Dest, Loaded};
use crate::error::{self, Fatal};
use crate::meta::{Batch, Counts, Meta};
use crate::position::Position;
use crate::schema::TableSchema;
use crate::source::postgres::PgSource;
use crate::source::{self as sources, Warnings};
use crate::spool::{self, BatchWriter, Manifest, ManifestTable};

/// What a command reports when it ends.
#[derive(Debug, Default)]
pub struct Summary {
    pub run_id: i64,
    pub tables_ok: Vec<(String, u64)>,
    pub tables_failed: Vec<(String, String)>,
    pub rows: u64,
}

impl Summary {
    /// A table failed: named once (the first reason kept; the log has all).
    pub fn add_failed(&mut self, table: &str, why: String) {
        if !self.tables_failed.iter().any(|(t, _)| t == table) {
            self.tables_failed.push((table.to_string(), why));
        }
    }

    /// A table loaded `rows` (added up when a delta merges several batches).
    fn add_ok(&mut self, table: &str, rows: u64) {
        match self.tables_ok.iter_mut().find(|(t, _)| t == table) {
            Some((_, n)) => *n += rows,
            None => self.tables_ok.push((table.to_string(), rows)),
        }
        self.rows += rows;
    }

    /// Ok, or the error that gives exit status 1 naming the failed tables.
    pub fn into_result(self) -> Result<Summary> {
        if self.tables_failed.is_empty() {
            Ok(self)
        } else {
            Err(Fatal::TablesFailed(self.tables_failed).into())
        }
    }
}

fn source(cfg: &Config) -> Result<Box<dyn sources::Source>> {
    match &cfg.source {
        Source::Postgres(p) => Ok(Box::new(PgSource::connect(p)?)),
        Source::Mysql(m) => Ok(Box::new(crate::source::mysql::MySource::connect(m)?)),
    }
}

/// Connects everything and checks prerequisites; nothing is changed.
pub fn connect_all(cfg: &Config) -> Result<(Box<dyn sources::Source>, Dest, String, String)> {
    let mut src = source(cfg)?;
    let mut dest = Dest::connect(&cfg.destination)?;
    let sv = src.check()?;
    let dv = dest.check()?;
    Ok((src, dest, sv, dv))
}

fn ms(t: Instant) -> i64 {
    t.elapsed().as_millis() as i64
}

fn record_warnings(meta: &Meta, run_id: i64, w: &Warnings) -> Result<()> {
    for ((table, column, why), n) in &w.0 {
        log::warn!("{table}.{column}: {n} value(s): {}", why.describe());
        meta.add_warning(run_id, table, column, why.describe(), *n as i64)?;
    }
    Ok(())
}

/// Runs `load` for every job on `threads` workers, each with its own
/// destination connection (opened before any work starts).
fn load_parallel<J: Send, F>(
    cfg: &Config,
    threads: usize,
    rx: channel::Receiver<J>,
    work: F,
) -> Result<()>
where
    F: Fn(&mut Dest, J) + Sync,
{
    let mut dests = vec![];
    for _ in 0..threads.max(1) {
        dests.push(Dest::connect(&cfg.destination)?);
    }
    std::thread::scope(|scope| {
        for mut d in dests {
            let rx = rx.clone();
            let work = &work;
            scope.spawn(move || {
                for job in rx {
                    work(&mut d, job);
                }
            });
        }
    });
    Ok(())
}

/// Tries of one destination step when its errors are transient (lock
/// waits, deadlocks, dropped connections), each on a fresh connection.
const TRANSIENT_TRIES: u32 = 5;

/// Runs `step` on `d`; a transient error is tried again on a new
/// connection after a pause (1, 2, 4, 8 s), without counting as a failed
/// load. Merges are idempotent, so a step that did commit before its
/// connection broke gives the same rows when run again. A connection that
/// broke is never used again, also when the step finally fails.
fn with_retries<T>(
    cfg: &Config,
    d: &mut Dest,
    what: &str,
    mut step: impl FnMut(&mut Dest) -> Result<T>,
) -> Result<T> {
    let mut tries = 1;
    loop {
        let e = match step(d) {
            Ok(v) => return Ok(v),
            Err(e) if crate::dest::is_transient(&e) => e,
            Err(e) => return Err(e),
        };
        if tries >= TRANSIENT_TRIES {
            if let Ok(fresh) = Dest::connect(&cfg.destination) {
                *d = fresh;
            }
            return Err(e.context(format!("{what}: still failing after {tries} tries")));
        }
        let pause = std::time::Duration::from_secs(1 << (tries - 1));
        log::warn!(
            "{what}: {e:#}; trying again in {} s on a new connection ({} of {TRANSIENT_TRIES})",
            pause.as_secs(),
            tries + 1
        );
        std::thread::sleep(pause);
        tries += 1;
        match Dest::connect(&cfg.destination) {
            Ok(fresh) => *d = fresh,
            Err(ce) => log::warn!("{what}: reconnecting: {ce:#}"),
        }
    }
}

/// `ingest full-extract`.
pub fn full_extract(cfg: &Config, meta: &Meta, only: &[String]) -> Result<Summary> {
    let (mut src, mut dest, _, _) = connect_all(cfg)?;
    let (mut names, missing) = sources::selected_and_missing(src.as_mut(), cfg)?;
    // Problems of one table fail that table; the others are extracted.
    let mut early: Vec<(String, String)> = vec![];
    for m in missing {
        match src.missing_reason(&m)? {
            Some(why) if only.is_empty() || only.iter().any(|p| crate::config::glob_match(p, &m)) => {
                early.push((m, why))
            }
            Some(_) => {}
            None => {
                return Err(error::config(format!(
                    "table {m} not found in source {} database {} (check [[table]] name; `ingest tables` lists them)",
                    src.kind(),
                    src.database()
                )))
            }
        }
    }
    if names.is_empty() && early.is_empty() {
        return Err(error::config(
            "no source table matches the [[table]] entries (`ingest tables` lists them)",
        ));
    }
    if !only.is_empty() {
        for pattern in only {
            if !names
                .iter()
                .any(|(s, t)| crate::config::glob_match(pattern, &format!("{s}.{t}")))
            {
                return Err(error::config(format!(
                    "{pattern} matches no selected table (`ingest tables` lists them)"
                )));
            }
        }
        names.retain(|(s, t)| {
            only.iter()
                .any(|p| crate::config::glob_match(p, &format!("{s}.{t}")))
        });
    }
    let mut schemas = vec![];
    for (s, t) in &names {
        match src.describe(cfg, s, t) {
            Ok(schema) => schemas.push(schema),
            // The configuration must change: stop before anything is created.
            Err(e) if error::exit_code(&e) == 2 => return Err(e),
            Err(e) => early.push((format!("{s}.{t}"), format!("{e:#}"))),
        }
    }
    names.retain(|(s, t)| schemas.iter().any(|x| x.schema == *s && x.name == *t));
    if schemas.is_empty() {
        let run_id = meta.start_run("full-extract", None)?;
        let mut summary = Summary {
            run_id,
            ..Default::default()
        };
        for (name, msg) in early {
            log::error!("run {run_id}: {name}: {msg}");
            meta.set_table_state(&name, "", "failed", Some(run_id), None, None, Some(&msg))?;
            summary.add_failed(&name, msg);
        }
        meta.finish_run(run_id, "failed", None, None)?;
        return summary.into_result();
    }
    let (pos_text, created) = src.prepare_full(&names)?;
    if created || meta.position()?.is_none() {
        meta.set_position(&pos_text)?;
    }
    if created && !only.is_empty() {
        // A new slot keeps changes from now on only: the tables not
        // extracted now missed everything since the old slot went away.
        for st in meta.table_states()? {
            let extracted = names.iter().any(|(s, t)| format!("{s}.{t}") == st.table);
            if st.status == "ready" && !extracted {
                let msg = format!(
                    "the change log was started anew at {pos_text} by the full extract of other tables \
                     (the old one was gone): changes before it are lost to this table; \
                     run `ingest full-extract {}`",
                    st.table
                );
                log::error!("{}: {msg}", st.table);
                meta.set_table_state(&st.table, &st.dest, "failed", None, None, None, Some(&msg))?;
            }
        }
    }
    let run_id = meta.start_run("full-extract", Some(&pos_text))?;
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
    let dir = batch.dir().to_path_buf();
    let summary = Mutex::new(Summary {
        run_id,
        ..Default::default()
    });
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
        log::error!("run {run_id}: {table}: {msg}");
        meta.set_table_state(table, dest, "failed", Some(run_id), None, None, Some(&msg))?;
        meta.add_run_table(
            run_id,
            table,
            &Counts::default(),
            0,
            0,
            0,
            "failed",
            Some(&msg),
        )?;
        summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add_failed(table, msg);
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
            (pr.schema.clone(), pr.rows, pr.extract_ms, pr.t0)
        };
        let (schema, rows, ems, t0) = finished;
        let res = with_retries(cfg, d, table, |d| d.swap_in(&schema)).and_then(|_| {
            log::info!(
                "run {run_id}: {table} loaded {rows} row(s) into {}",
                schema.dest_name()
            );
            let counts = Counts {
                inserts: rows as i64,
                ..Default::default()
            };
            meta.set_table_state(
                table,
                &schema.dest_name(),
                "ready",
                Some(run_id),
                None,
                Some(rows as i64),
                None,
            )?;
            // Older batches' changes of the table are in the snapshot now.
            meta.supersede(table)?;
            meta.add_run_table(
                run_id,
                table,
                &counts,
                rows as i64,
                ems,
                ms(t0),
                "loaded",
                None,
            )?;
            let mut s = summary.lock().unwrap_or_else(|p| p.into_inner());
            s.add_ok(table, rows);
            Ok(())
        });
        if let Err(e) = res {
            let _ = fail(table, &schema.dest_name(), &e);
        }
    };
    // Few parts wait: the extract pauses when the loads fall behind, which
    // bounds the spool's size on disk (loaded parts are removed at once).
    let (tx, rx) = channel::bounded::<Job>(cfg.destination.load_threads * 2);
    let threads = cfg.destination.load_threads;
    let mut warnings = Warnings::default();
    let mut extract_err: Option<anyhow::Error> = None;
    let load_result = std::thread::scope(|scope| -> Result<()> {
        let loader = scope.spawn(|| {
            load_parallel(cfg, threads, rx, |d, job| match job {
                Job::Part(entry) => {
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
            let prepared = dest
                .prepare_shadow(s)
                .and_then(|_| src.current_position())
                .and_then(|p| Ok((p, src.fingerprint(s)?)));
            // Changes older than this, in another shape, are in the snapshot.
            let (since, fingerprint) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    fail(&name, &s.dest_name(), &e)?;
                    continue;
                }
            };
            meta.set_table_state(
                &name,
                &s.dest_name(),
                "extracting",
                Some(run_id),
                Some(&since),
                None,
                None,
            )?;
            meta.set_table_shape(&name, &key_text(s), fingerprint.as_deref())?;
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
                },
            );
            let snap_ts = crate::clock::format_micros(crate::clock::now_micros());
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
                        .all(|last| tx.send(Job::Part(last)).is_ok());
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
        loader
            .join()
            .map_err(|_| anyhow!("a load thread panicked"))?
    });
    record_warnings(meta, run_id, &warnings)?;
    let finished = batch.finish();
    let summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    let status = if extract_err.is_some() || load_result.is_err() {
        "error"
    } else if summary.tables_failed.is_empty() {
        "ok"
    } else {
        "failed"
    };
    let err_text = extract_err
        .as_ref()
        .or(load_result.as_ref().err())
        .map(|e| format!("{e:#}"));
    // Every selected table was snapshotted after `pos`: deltas may start
    // there, even if the old position is gone (a purged binlog).
    if status == "ok" && only.is_empty() {
        meta.set_position(&pos_text)?;
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
                .send(Job::Part(entry))
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
    Part(ManifestTable),
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

/// Failed loads of one table of one batch before it is given up.
const MAX_ATTEMPTS: i64 = 3;

/// Loads the still-pending tables of a batch; true when all are done
/// (loaded, superseded by a full extract, or given up).
fn load_batch(
    cfg: &Config,
    meta: &Meta,
    run_id: i64,
    batch: &Batch,
    m: &Manifest,
    summary: &Mutex<Summary>,
) -> Result<bool> {
    let dir = cfg.instance.spool_dir.join(&batch.id);
    let states: HashMap<String, String> = meta
        .batch_tables(&batch.id)?
        .into_iter()
        .map(|t| (t.table, t.status))
        .collect();
    let pending: Vec<ManifestTable> = m
        .table
        .iter()
        .filter(|t| {
            matches!(
                states.get(&t.source).map(String::as_str),
                Some("pending") | Some("failed")
            )
        })
        .cloned()
        .collect();
    if pending.is_empty() {
        return Ok(true);
    }
    let (tx, rx) = channel::bounded(pending.len());
    for p in &pending {
        let _ = tx.send(p.clone());
    }
    drop(tx);
    let all_ok = Mutex::new(true);
    let budget = crate::spool::latest::KeyBudget::new(crate::spool::latest::KEY_INDEX_LIMIT);
    load_parallel(
        cfg,
        cfg.destination.load_threads.min(pending.len()),
        rx,
        |d, entry| {
            let t0 = Instant::now();
            let schema = entry.schema();
            let r = with_retries(cfg, d, &entry.source, |d| {
                d.ensure_target(&schema)
                    .and_then(|_| d.load(&dir, &entry, &budget))
            });
            let counts = Counts {
                inserts: entry.inserts as i64,
                updates: entry.updates as i64,
                deletes: entry.deletes as i64,
                truncates: i64::from(entry.truncate_seq.is_some()),
            };
            let rec = match r {
                Ok(Loaded { rows }) => {
                    log::info!(
                        "run {run_id}: {} merged {rows} change(s) into {} (batch {})",
                        entry.source,
                        schema.dest_name(),
                        batch.id
                    );
                    summary
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .add_ok(&entry.source, rows);
                    meta.set_batch_table(&batch.id, &entry.source, "loaded", None)
                        .and_then(|_| {
                            meta.add_run_table(
                                run_id,
                                &entry.source,
                                &counts,
                                rows as i64,
                                0,
                                ms(t0),
                                "loaded",
                                None,
                            )
                        })
                }
                Err(e) => {
                    let msg = format!("{e:#}");
                    log::error!("run {run_id}: {} (batch {}): {msg}", entry.source, batch.id);
                    summary
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .add_failed(&entry.source, msg.clone());
                    meta.fail_batch_table(&batch.id, &entry.source, &msg)
                        .and_then(|attempts| {
                            if attempts < MAX_ATTEMPTS {
                                // Tried again by the next run; the batch waits.
                                *all_ok.lock().unwrap_or_else(|p| p.into_inner()) = false;
                                return Ok(());
                            }
                            // Give the table up so the other tables move on:
                            // it needs a new full extract.
                            let why = format!(
                                "gave up after {attempts} failed loads of batch {} ({msg}): \
                                 run `ingest full-extract {}`",
                                batch.id, entry.source
                            );
                            log::error!("run {run_id}: {}: {why}", entry.source);
                            meta.set_batch_table(
                                &batch.id,
                                &entry.source,
                                "abandoned",
                                Some(&msg),
                            )?;
                            meta.set_table_state(
                                &entry.source,
                                &schema.dest_name(),
                                "failed",
                                None,
                                None,
                                None,
                                Some(&why),
                            )
                        })
                        .and_then(|_| {
                            meta.add_run_table(
                                run_id,
                                &entry.source,
                                &counts,
                                0,
                                0,
                                ms(t0),
                                "failed",
                                Some(&msg),
                            )
                        })
                }
            };
            if let Err(e) = rec {
                // What state.db does not hold did not happen: the batch stays
                // unreleased and the next run loads the table again (a merge
                // that did commit gives the same rows twice).
                let msg = format!("recording the outcome in state.db: {e:#}");
                log::error!("run {run_id}: {}: {msg}", entry.source);
                *all_ok.lock().unwrap_or_else(|p| p.into_inner()) = false;
                let mut s = summary.lock().unwrap_or_else(|p| p.into_inner());
                s.add_failed(&entry.source, msg);
            }
        },
    )?;
    Ok(all_ok.into_inner().unwrap_or(false))
}

/// The furthest position this instance let the source go of: state.db's
/// committed position, or the end of a batch whose release a crash may have
/// interrupted after the source let go and before state.db recorded it.
fn released_upto(meta: &Meta) -> Result<Option<String>> {
    use crate::position::Position;
    let mut best = meta.position()?;
    for b in meta.open_batches()? {
        let Some(to) = b.to_pos else { continue };
        let later = match (
            best.as_deref().and_then(Position::parse),
            Position::parse(&to),
        ) {
            (Some(cur), Some(new)) => new > cur,
            _ => best.is_none(),
        };
        if later {
            best = Some(to);
        }
    }
    Ok(best)
}

/// Makes `to` the committed position, unless that would move it backwards:
/// a batch read before a full extract of every table ends behind the
/// position that full extract recorded.
fn commit_position(meta: &Meta, to: &str) -> Result<()> {
    let current = meta.position()?;
    if crate::position::moves_forward(current.as_deref(), to) {
        meta.set_position(to)
    } else {
        log::info!(
            "position stays at {} ({to}, released now, is behind it)",
            current.as_deref().unwrap_or("-")
        );
        Ok(())
    }
}

/// Releases a merged batch: slot advanced, then state.db, then the spool.
fn release(cfg: &Config, meta: &Meta, src: &mut dyn sources::Source, b: &Batch) -> Result<()> {
    if let Some(to) = b.to_pos.as_deref() {
        src.release(to)
            .map_err(|e| anyhow!("batch {}: releasing {to} at the source: {e:#}", b.id))?;
        crate::fault::point("advanced");
        commit_position(meta, to)?;
    }
    meta.set_batch_status(&b.id, "released")?;
    spool::remove_batch(&cfg.instance.spool_dir, &b.id)?;
    Ok(())
}

/// `ingest delta`.
pub fn delta(cfg: &Config, meta: &Meta) -> Result<Summary> {
    let (mut src, _dest, _, _) = connect_all(cfg)?;
    src.check_position(released_upto(meta)?.as_deref())?;
    let Some(start) = src.start_position(meta.position()?.as_deref())? else {
        return Err(error::config(
            "no change position yet (no full extract prepared the source): run `ingest full-extract` first",
        ));
    };
    let run_id = meta.start_run("delta", Some(&start))?;
    let summary = Mutex::new(Summary {
        run_id,
        ..Default::default()
    });
    let r = delta_inner(cfg, meta, src.as_mut(), run_id, &summary);
    let summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    let (status, err) = match &r {
        Ok(_) if summary.tables_failed.is_empty() => ("ok", None),
        Ok(_) => ("failed", None),
        Err(e) => ("error", Some(format!("{e:#}"))),
    };
    let to_pos = meta.position()?;
    meta.finish_run(run_id, status, to_pos.as_deref(), err.as_deref())?;
    r?;
    log::info!(
        "run {run_id}: delta {status}: {} table(s) merged, {} failed, {} change(s)",
        summary.tables_ok.len(),
        summary.tables_failed.len(),
        summary.rows
    );
    summary.into_result()
}

fn delta_inner(
    cfg: &Config,
    meta: &Meta,
    src: &mut dyn sources::Source,
    run_id: i64,
    summary: &Mutex<Summary>,
) -> Result<Option<String>> {
    let spool_dir = &cfg.instance.spool_dir;
    // 1. Batches a crash left behind: unfinished extracts are dropped (the
    //    slot still has their changes); recorded ones are loaded and released.
    let open = meta.open_batches()?;
    // Tables truncated whole in a batch merged by this run.
    let mut truncated: Vec<String> = vec![];
    for (id, done) in spool::list_batches(spool_dir)? {
        if !open.iter().any(|b| b.id == id) {
            log::info!("run {run_id}: removing unfinished spool folder {id} (done: {done}); the slot still holds it");
            spool::remove_batch(spool_dir, &id)?;
        }
    }
    for b in &open {
        let dir = spool_dir.join(&b.id);
        let Some(m) = spool::read_manifest(&dir)? else {
            // Its position was never released, so the source still has
            // every change of it: read them again (merging twice is harmless).
            log::warn!(
                "run {run_id}: batch {} is recorded but its spool folder {} is gone; \
                 its changes are read again from the source",
                b.id,
                dir.display()
            );
            meta.set_batch_status(&b.id, "lost")?;
            continue;
        };
        log::info!(
            "run {run_id}: finishing batch {} left by run {}",
            b.id,
            b.run_id
        );
        if !load_batch(cfg, meta, run_id, b, &m, summary)? {
            return Ok(None);
        }
        release(cfg, meta, src, b)?;
        truncated.extend(
            m.table
                .iter()
                .filter(|t| t.truncate_seq.is_some())
                .map(|t| t.source.clone()),
        );
    }
    // 2. New batch. A table that was loaded but whose changes cannot be
    //    read now fails and needs a new full extract: the position moves on
    //    without it.
    let (names, missing) = sources::selected_and_missing(src, cfg)?;
    let fail_table = |name: &str, dest: &str, msg: String| {
        fail_ready_table(meta, summary, run_id, name, dest, msg)
    };
    // Failed earlier: it stays in the exit status of every delta until its
    // full extract, so that no run looks all well.
    let still_failed = |name: &str, st: &crate::meta::TableState| {
        let msg = format!(
            "is {} since {} ({}): its changes are not applied until `ingest full-extract {name}`",
            st.status,
            st.updated_at,
            st.error.as_deref().unwrap_or("no reason recorded")
        );
        log::error!("run {run_id}: {name} {msg}");
        summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add_failed(name, msg);
    };
    for name in missing {
        match meta.table_state(&name)? {
            Some(st) if st.status == "ready" => {
                let why = src
                    .missing_reason(&name)?
                    .unwrap_or_else(|| "not found at the source any more".to_string());
                fail_table(&name, &st.dest, why)?;
            }
            Some(st) => still_failed(&name, &st),
            None => log::warn!(
                "run {run_id}: {name} is named in the configuration but not found at the source"
            ),
        }
    }
    let mut tables: HashMap<(String, String), TableSchema> = HashMap::new();
    // Tables whose files were rewritten since the last delta: (table, new
    // fingerprint, why it may be a loss).
    let mut suspects: Vec<(String, String, String)> = vec![];
    for (s, t) in names {
        let name = format!("{s}.{t}");
        let st = match meta.table_state(&name)? {
            Some(st) if st.status == "ready" => st,
            Some(st) if st.status == "extracting" => {
                // Its full extract did not finish (killed, or the source went
                // away): the table is not replicating, say so in the result.
                let msg =
                    format!("its full extract did not finish: run `ingest full-extract {name}`");
                log::error!("run {run_id}: {name}: {msg}");
                summary
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .add_failed(&name, msg);
                continue;
            }
            Some(st) => {
                still_failed(&name, &st);
                continue;
            }
            None => {
                log::warn!(
                    "run {run_id}: {name} has had no full extract yet: run `ingest full-extract {name}`"
                );
                continue;
            }
        };
        let dest = st.dest.clone();
        if let Some(msg) = src.unreadable(&s, &t)? {
            fail_table(&name, &dest, msg)?;
            continue;
        }
        let schema = match src.describe(cfg, &s, &t) {
            Ok(schema) => schema,
            Err(e) => {
                fail_table(&name, &dest, format!("{e:#}"))?;
                continue;
            }
        };
        match unlogged_change(src, meta, &st, &schema)? {
            Unlogged::None => {}
            Unlogged::Failed(msg) => {
                fail_table(&name, &dest, msg)?;
                continue;
            }
            Unlogged::Rewritten(now, why) => {
                suspects.push((name.clone(), now, why));
            }
        }
        tables.insert((s, t), schema);
    }
    // The change log is read in batches of at most max_batch_changes
    // changes, each merged and released before the next is read, until the
    // position the log had when the delta started: memory, the spool and
    // the source's resources stay bounded after a long outage.
    let end_at_start = src.current_position()?;
    let mut last = None;
    loop {
        let (to_pos, more, released) = read_and_merge(
            cfg,
            meta,
            src,
            run_id,
            summary,
            &mut tables,
            &mut suspects,
            &truncated,
        )?;
        if !released {
            return Ok(to_pos);
        }
        let behind = match (
            to_pos.as_deref().and_then(Position::parse),
            Position::parse(&end_at_start),
        ) {
            (Some(at), Some(end)) => at < end,
            _ => true,
        };
        if to_pos.is_some() {
            last = to_pos;
        }
        if !(more && behind) {
            // No batch of the run held a TRUNCATE of the whole table that
            // explains its rewritten partitions: one may have been truncated
            // alone, which is not published.
            for (name, _, why) in suspects {
                let dest = meta
                    .table_state(&name)?
                    .map(|st| st.dest)
                    .unwrap_or_default();
                let msg = format!("{why}: run `ingest full-extract {name}`");
                fail_ready_table(meta, summary, run_id, &name, &dest, msg)?;
            }
            return Ok(last);
        }
        log::info!(
            "run {run_id}: more changes than max_batch_changes ({}): reading the next batch from {}",
            cfg.source.max_batch_changes(),
            last.as_deref().unwrap_or("-")
        );
    }
}

/// Reads one batch of changes (at most max_batch_changes), writes it to the
/// spool, records it, merges it and releases it. Returns the position read
/// up to, whether the log holds more, and whether the batch was released.
#[allow(clippy::too_many_arguments)]
fn read_and_merge(
    cfg: &Config,
    meta: &Meta,
    src: &mut dyn sources::Source,
    run_id: i64,
    summary: &Mutex<Summary>,
    tables: &mut HashMap<(String, String), TableSchema>,
    suspects: &mut Vec<(String, String, String)>,
    truncated: &[String],
) -> Result<(Option<String>, bool, bool)> {
    let spool_dir = &cfg.instance.spool_dir;
    let from = src
        .start_position(meta.position()?.as_deref())?
        .ok_or_else(|| anyhow!("the source lost its change position: run `ingest full-extract`"))?;
    let batch_id = spool::new_batch_id(spool_dir, run_id);
    let manifest = Manifest {
        batch: batch_id.clone(),
        kind: "delta".into(),
        instance: cfg.instance.name.clone(),
        created_at: crate::clock::now(),
        from_pos: Some(from.clone()),
        to_pos: None,
        table: vec![],
    };
    let mut bw = BatchWriter::create(spool_dir, manifest, cfg.instance.spool_compression)?;
    let t0 = Instant::now();
    let mut warnings = Warnings::default();
    let mut since = HashMap::new();
    for (s, t) in tables.keys() {
        if let Some(p) = meta
            .table_state(&format!("{s}.{t}"))?
            .and_then(|st| st.full_pos)
        {
            since.insert((s.clone(), t.clone()), p);
        }
    }
    let max = cfg.source.max_batch_changes();
    let outcome = src.changes(&from, tables, &since, &mut bw, &mut warnings, max)?;
    let more = outcome.more;
    // A rewritten partition is explained by a TRUNCATE of the whole table
    // (published, and it rewrites every partition) in any batch of the run;
    // the tables left unexplained when the run has read everything fail.
    let mut accepted = vec![];
    suspects.retain(|(name, now, _)| {
        let whole = truncated.contains(name)
            || outcome
                .tables
                .iter()
                .any(|t| t.source == *name && t.truncate_seq.is_some());
        if whole {
            accepted.push((name.clone(), now.clone()));
        }
        !whole
    });
    record_warnings(meta, run_id, &warnings)?;
    for ((s, t), msg) in &outcome.changed {
        let name = format!("{s}.{t}");
        let msg = msg.clone();
        let dest = tables
            .get(&(s.clone(), t.clone()))
            .map(|x| x.dest_name())
            .unwrap_or_default();
        meta.set_table_state(&name, &dest, "failed", None, None, None, Some(&msg))?;
        summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add_failed(&name, msg);
    }
    let to_pos = outcome.to_pos.clone();
    log::info!(
        "run {run_id}: read {} transaction(s) from {} to {} in {} ms, {} table(s) changed",
        outcome.transactions,
        from,
        to_pos.as_deref().unwrap_or("(nothing)"),
        t0.elapsed().as_millis(),
        outcome.tables.len()
    );
    for t in &outcome.tables {
        bw.add(t.clone());
    }
    bw.set_to_pos(to_pos.clone());
    let batch = Batch {
        id: batch_id.clone(),
        run_id,
        kind: "delta".into(),
        from_pos: Some(from.clone()),
        to_pos: to_pos.clone(),
        status: "extracted".into(),
    };
    if outcome.tables.is_empty() {
        drop(bw);
        spool::remove_batch(spool_dir, &batch_id)?;
        if let Some(to) = &to_pos {
            // state.db first: no batch records this read, so a crash between
            // the two must leave the source behind state.db (read again,
            // harmlessly), never ahead of it (refused as consumed by others).
            commit_position(meta, to)?;
            src.release(to)?;
        }
        for (name, now) in &accepted {
            meta.set_fingerprint(name, Some(now))?;
        }
        forget_failed(tables, summary);
        return Ok((to_pos, more, true));
    }
    crate::fault::point("spooled");
    let m = bw.finish()?;
    crate::fault::point("manifest");
    let counts: Vec<(String, i64)> = m
        .table
        .iter()
        .map(|t| (t.source.clone(), t.rows as i64))
        .collect();
    meta.add_batch(&batch, &counts)?;
    meta.run_extracted(run_id, &batch_id, to_pos.as_deref())?;
    let ems = ms(t0);
    for t in &m.table {
        meta.add_run_table(
            run_id,
            &t.source,
            &Counts::default(),
            0,
            ems / m.table.len() as i64,
            0,
            "extracted",
            None,
        )?;
    }
    crate::fault::point("recorded");
    if !load_batch(cfg, meta, run_id, &batch, &m, summary)? {
        return Ok((to_pos, more, false));
    }
    crate::fault::point("merged");
    release(cfg, meta, src, &batch)?;
    for (name, now) in &accepted {
        meta.set_fingerprint(name, Some(now))?;
    }
    forget_failed(tables, summary);
    Ok((to_pos, more, true))
}

/// Marks a table failed in state.db and in the run's summary (it needs a
/// new full extract: `msg` says why, with the fix).
fn fail_ready_table(
    meta: &Meta,
    summary: &Mutex<Summary>,
    run_id: i64,
    name: &str,
    dest: &str,
    msg: String,
) -> Result<()> {
    log::error!("run {run_id}: {name}: {msg}");
    meta.set_table_state(name, dest, "failed", None, None, None, Some(&msg))?;
    summary
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .add_failed(name, msg);
    Ok(())
}

/// Tables that failed in this run are not read in its next batches.
fn forget_failed(tables: &mut HashMap<(String, String), TableSchema>, summary: &Mutex<Summary>) {
    let s = summary.lock().unwrap_or_else(|p| p.into_inner());
    tables.retain(|_, t| !s.tables_failed.iter().any(|(n, _)| *n == t.source_name()));
}

/// The key columns of a table as state.db records them (JSON array).
fn key_text(s: &TableSchema) -> String {
    let names: Vec<&str> = s.key.iter().map(|&k| s.columns[k].name.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_default()
}

/// What a delta finds changed at the source outside the change log.
enum Unlogged {
    None,
    /// The table must not be merged: the reason, with the fix.
    Failed(String),
    /// Files rewritten: the new fingerprint and why it may be a loss.
    Rewritten(String, String),
}

/// Compares a ready table's key and fingerprint with those of its full
/// extract (tables extracted before they were recorded get them now).
fn unlogged_change(
    src: &mut dyn sources::Source,
    meta: &Meta,
    st: &crate::meta::TableState,
    schema: &TableSchema,
) -> Result<Unlogged> {
    let name = &st.table;
    let key_now = key_text(schema);
    let now = src.fingerprint(schema)?;
    let Some(key_then) = &st.key_cols else {
        meta.set_table_shape(name, &key_now, now.as_deref())?;
        return Ok(Unlogged::None);
    };
    if *key_then != key_now {
        return Ok(Unlogged::Failed(format!(
            "its key changed from {key_then} to {key_now} since its full extract (another replica \
             identity index, or another configured key): run `ingest full-extract {name}`"
        )));
    }
    let (then, now) = match (&st.fingerprint, now) {
        (None, None) => return Ok(Unlogged::None),
        (Some(then), Some(now)) => (then, now),
        _ => {
            return Ok(Unlogged::Failed(format!(
                "it is not partitioned as at its full extract: run `ingest full-extract {name}`"
            )))
        }
    };
    Ok(match src.fingerprint_change(then, &now) {
        sources::FingerprintChange::Same => Unlogged::None,
        sources::FingerprintChange::Changed(why) => {
            Unlogged::Failed(format!("{why}: run `ingest full-extract {name}`"))
        }
        sources::FingerprintChange::Rewritten(why) => Unlogged::Rewritten(now, why),
    })
}

/// `ingest check`: connections and prerequisites, one line each.
pub fn check(cfg: &Config) -> Result<()> {
    let (mut src, mut dest, sv, dv) = connect_all(cfg)?;
    println!(
        "source      {} {sv}: prerequisites for deltas: ok",
        src.kind()
    );
    println!("destination {dv}: LOAD DATA LOCAL allowed: ok");
    let names = sources::selected(src.as_mut(), cfg)?;
    for (s, t) in &names {
        let schema = src.describe(cfg, s, t)?;
        println!(
            "table       {s}.{t} -> {} ({} columns, key {})",
            schema.dest_name(),
            schema.columns.len(),
            schema
                .key
                .iter()
                .map(|&k| schema.columns[k].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("position    {}", src.position_line()?);
    let _ = dest.conn();
    println!("{} table(s) selected; all checks passed", names.len());
    Ok(())
}

/// `ingest tables`: source tables, the selected ones marked.
pub fn tables(cfg: &Config, meta: &Meta) -> Result<()> {
    let mut src = source(cfg)?;
    let all = src.list_tables()?;
    for (s, t) in &all {
        let name = format!("{s}.{t}");
        let sel = cfg.rule_for(s, t).is_some();
        let state = meta
            .table_state(&name)?
            .map(|st| st.status)
            .unwrap_or_default();
        println!(
            "{} {name}{}",
            if sel { "*" } else { " " },
            if state.is_empty() {
                String::new()
            } else {
                format!("  [{state}]")
            }
        );
    }
    println!(
        "{} table(s), {} selected (*)",
        all.len(),
        all.iter()
            .filter(|(s, t)| cfg.rule_for(s, t).is_some())
            .count()
    );
    Ok(())
}

/// `ingest status`: last runs, position, per-table state.
pub fn status(meta: &Meta, out: &mut dyn std::io::Write) -> Result<()> {
    writeln!(
        out,
        "position    {}",
        meta.position()?.unwrap_or_else(|| "(none yet)".into())
    )?;
    let runs = meta.recent_runs(10)?;
    writeln!(out, "runs (newest first):")?;
    for r in &runs {
        writeln!(
            out,
            "  #{:<5} {:<13} {:<8} {} -> {}  {} .. {}{}",
            r.id,
            r.kind,
            r.status,
            r.from_pos.as_deref().unwrap_or("-"),
            r.to_pos.as_deref().unwrap_or("-"),
            r.started_at,
            r.finished_at.as_deref().unwrap_or("(running)"),
            r.error
                .as_deref()
                .map(|e| format!("\n         error: {e}"))
                .unwrap_or_default()
        )?;
    }
    if let Some(last) = runs.first() {
        writeln!(out, "last run #{} by table:", last.id)?;
        for (t, c, loaded, st, err) in meta.run_tables(last.id)? {
            writeln!(
                out,
                "  {t:<40} {st:<9} ins {:<8} upd {:<8} del {:<8} trunc {:<3} loaded {loaded}{}",
                c.inserts,
                c.updates,
                c.deletes,
                c.truncates,
                err.map(|e| format!("  ({e})")).unwrap_or_default()
            )?;
        }
        for (t, c, m, n) in meta.warnings(last.id)? {
            writeln!(out, "  warning: {t}.{c}: {n} value(s): {m}")?;
        }
    }
    writeln!(out, "tables:")?;
    for t in meta.table_states()? {
        writeln!(
            out,
            "  {:<40} {:<10} -> {:<40} rows at full extract {}  since {}{}",
            t.table,
            t.status,
            t.dest,
            t.rows,
            t.full_pos.as_deref().unwrap_or("-"),
            t.error.map(|e| format!("  ({e})")).unwrap_or_default()
        )?;
    }
    Ok(())
}
