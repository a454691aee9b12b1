//! `ingest delta`: finish batches a crash left, then read the change log in
//! batches, each merged and released before the next.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::config::Config;
use crate::error::{self};
use crate::meta::{Batch, Counts, Meta};
use crate::position::Position;
use crate::schema::TableSchema;
use crate::source::{self as sources, Warnings};
use crate::spool::{self, BatchWriter, Manifest};
use crate::table::TableId;

use super::load::{commit_position, committed, load_batch, load_completed, release, released_upto};
use super::outcome::{Outcome, Record};
use super::{connect_all, key_text, ms, record_warnings, Summary};
use crate::meta::{BatchState, RunStatus, RunTableStatus, TableRecord, TableState};

/// `ingest delta`.
pub fn delta(cfg: &Config, meta: &Meta) -> Result<Summary> {
    super::saved(cfg, delta_run(cfg, meta))
}

fn delta_run(cfg: &Config, meta: &Meta) -> Result<Summary> {
    let (mut src, mut dest, _, _) = connect_all(cfg)?;
    src.check_position(released_upto(meta)?.as_ref())?;
    let Some(start) = src.start_position(committed(meta)?.as_ref())? else {
        return Err(error::config(
            "no change position yet (no full extract prepared the source): run `ingest full-extract` first",
        ));
    };
    let run_id = meta.start_run("delta", Some(&start.to_string()))?;
    let summary = Mutex::new(Summary {
        run_id,
        ..Default::default()
    });
    let r = delta_inner(cfg, meta, src.as_mut(), &mut dest, run_id, &summary);
    let summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    let (status, err) = match &r {
        Ok(_) if summary.tables_failed.is_empty() => (RunStatus::Ok, None),
        Ok(_) => (RunStatus::Failed, None),
        Err(e) => (RunStatus::Error, Some(format!("{e:#}"))),
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
    dest: &mut crate::dest::Dest,
    run_id: i64,
    summary: &Mutex<Summary>,
) -> Result<Option<Position>> {
    let spool_dir = &cfg.instance.spool_dir;
    // 1. Batches a crash left behind: unfinished extracts are dropped (the
    //    slot still has their changes); recorded ones are loaded and released.
    super::sync_struct::discard_catch_ups(cfg, meta)?;
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
            meta.set_batch_status(&b.id, BatchState::Lost)?;
            continue;
        };
        log::info!(
            "run {run_id}: finishing batch {} left by run {}",
            b.id,
            b.run_id
        );
        let loaded = load_batch(cfg, meta, run_id, b, &m, summary)?;
        load_completed(meta, run_id, b)?;
        if !loaded {
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
    // Tables whose changes wait for sync-struct: synced first under
    // auto_sync_struct; what keeps their changes goes when none waits.
    let sync = super::sync_struct::Ctx {
        cfg,
        meta,
        run_id,
        summary,
    };
    if cfg.schedule.auto_sync_struct {
        for id in super::sync_struct::waiting(cfg, meta, src)? {
            sync.table(src, dest, &id)?;
        }
    }
    super::sync_struct::release_hold(cfg, meta, src)?;
    // 2. New batch. A table that was loaded but whose changes cannot be
    //    read now fails and needs a new full extract: the position moves on
    //    without it.
    let (names, missing) = sources::selected_and_missing(src, cfg)?;
    let record = Record {
        meta,
        summary,
        run_id,
    };
    let fail_table = |name: &str, dest: &str, msg: String| {
        record.outcome(
            name,
            dest,
            Outcome::Failed {
                msg,
                counted: false,
            },
        )
    };
    // Failed earlier: it stays in the exit status of every delta until its
    // full extract, so that no run looks all well.
    let still_failed =
        |st: &TableRecord| record.outcome(&st.table, &st.dest, Outcome::StillFailed(st));
    for name in &missing {
        match meta.table_state(name)? {
            Some(st) if st.status == TableState::Ready => {
                let why = src
                    .missing_reason(name)?
                    .unwrap_or_else(|| "not found at the source any more".to_string());
                fail_table(name, &st.dest, why)?;
            }
            Some(st) => {
                still_failed(&st)?;
            }
            None => log::warn!(
                "run {run_id}: {name} is named in the configuration but not found at the source"
            ),
        }
    }
    // Selected by a glob and gone from the source (dropped, renamed): the
    // delta that first misses it fails it; its destination table is left
    // as it was, and `status` keeps saying why.
    let listed: std::collections::HashSet<String> = names.iter().map(|id| id.to_string()).collect();
    for st in meta.table_states()? {
        let gone = st.status == TableState::Ready
            && !listed.contains(&st.table)
            && !missing.contains(&st.table)
            && st
                .table
                .split_once('.')
                .is_some_and(|(schema, table)| cfg.rule_for(schema, table).is_some());
        if gone {
            let why = src.missing_reason(&st.table)?.unwrap_or_else(|| {
                format!(
                    "not found at the source any more (dropped or renamed?); its destination \
                     table {} is left as it was",
                    st.dest
                )
            });
            fail_table(&st.table, &st.dest, why)?;
        }
    }
    let mut tables: HashMap<TableId, TableSchema> = HashMap::new();
    // Tables whose files were rewritten since the last delta: (table, new
    // fingerprint, why it may be a loss).
    let mut suspects: Vec<(String, String, String)> = vec![];
    for id in names {
        let name = id.to_string();
        let st = match meta.table_state(&name)? {
            Some(st) if st.status == TableState::Ready => st,
            // Extracting: its full extract did not finish (killed, or the
            // source went away); failed: since an earlier run.
            Some(st) => {
                still_failed(&st)?;
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
        if let Some(msg) = src.unreadable(&id)? {
            fail_table(&name, &dest, msg)?;
            continue;
        }
        let schema = match super::describe(src, cfg, &id) {
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
        // The source's structure changed since the destination got its
        // own: the changes before that change are read in the structure
        // they have; the table stops where the new one starts.
        let schema = match st
            .shape
            .as_deref()
            .map(|k| super::kept_shape(src, k, &schema))
        {
            Some(Ok(Some(old))) => {
                log::info!(
                    "run {run_id}: {name}: the source's structure differs from the destination's; \
                     its changes are read in the destination's up to the structure change"
                );
                old
            }
            Some(Err(e)) => {
                let msg = format!("{e:#}: run `ingest full-extract {name}`");
                fail_table(&name, &dest, msg)?;
                continue;
            }
            Some(Ok(None)) | None => schema,
        };
        tables.insert(id, schema);
    }
    // The change log is read in batches of at most max_batch_changes
    // changes, each merged and released before the next is read, until the
    // position the log had when the delta started: memory, the spool and
    // the source's resources stay bounded after a long outage.
    let end_at_start = src.current_position()?;
    let mut last = None;
    loop {
        let (to_pos, more, released, waiting) = read_and_merge(
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
        if cfg.schedule.auto_sync_struct && !waiting.is_empty() {
            for id in &waiting {
                if sync.table(src, dest, id)? {
                    let schema = super::describe(src, cfg, id)?;
                    tables.insert(id.clone(), schema);
                }
            }
            super::sync_struct::release_hold(cfg, meta, src)?;
        }
        let behind = match &to_pos {
            Some(at) => crate::position::before(at, &end_at_start),
            None => true,
        };
        if to_pos.is_some() {
            last = to_pos;
        }
        if more && behind && crate::stop::requested() {
            // What the later batches would have shown (a TRUNCATE that
            // explains rewritten partitions) is for the next run to judge.
            log::warn!(
                "run {run_id}: stop requested: the changes after this batch wait for the next run"
            );
            return Ok(last);
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
                record.outcome(
                    &name,
                    &dest,
                    Outcome::Failed {
                        msg,
                        counted: false,
                    },
                )?;
            }
            return Ok(last);
        }
        log::info!(
            "run {run_id}: more changes than max_batch_changes ({}): reading the next batch from {}",
            cfg.source.max_batch_changes(),
            last.as_ref().map_or("-".to_string(), Position::to_string)
        );
    }
}

/// Reads one batch of changes (at most max_batch_changes), writes it to the
/// spool, records it, merges it and releases it. Returns the position read
/// up to, whether the log holds more, whether the batch was released, and
/// the tables whose changes now wait for sync-struct.
#[allow(clippy::too_many_arguments)]
fn read_and_merge(
    cfg: &Config,
    meta: &Meta,
    src: &mut dyn sources::Source,
    run_id: i64,
    summary: &Mutex<Summary>,
    tables: &mut HashMap<TableId, TableSchema>,
    suspects: &mut Vec<(String, String, String)>,
    truncated: &[String],
) -> Result<(Option<Position>, bool, bool, Vec<TableId>)> {
    let spool_dir = &cfg.instance.spool_dir;
    let from = src
        .start_position(committed(meta)?.as_ref())?
        .ok_or_else(|| anyhow!("the source lost its change position: run `ingest full-extract`"))?;
    crate::error::check_disk(spool_dir, cfg.instance.min_free_disk, " before extracting")?;
    let batch_id = spool::new_batch_id(spool_dir, run_id);
    let manifest = Manifest {
        batch: batch_id.clone(),
        kind: "delta".into(),
        instance: cfg.instance.name.clone(),
        created_at: crate::clock::now(),
        from_pos: Some(from.to_string()),
        to_pos: None,
        table: vec![],
    };
    let mut bw = BatchWriter::create(spool_dir, manifest, cfg.instance.spool_compression)?;
    bw.watch_disk(cfg.instance.min_free_disk);
    let t0 = Instant::now();
    let mut warnings = Warnings::default();
    let since = kept_positions(meta, tables, "full_pos", |st| st.full_pos)?;
    // DDL statements of a table before its last sync-struct are in the
    // destination (MySQL reads them again).
    let seen = kept_positions(meta, tables, "struct_at", |st| st.struct_at)?;
    src.set_struct_seen(seen);
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
    warnings.add_bad_values(&outcome.tables);
    record_warnings(meta, run_id, &warnings)?;
    if let Some((first, last)) = &outcome.commits {
        meta.run_commits(run_id, first, last)?;
    }
    let record = Record {
        meta,
        summary,
        run_id,
    };
    // Tables whose changes stop at a structure change wait for sync-struct:
    // the source keeps their changes (PostgreSQL: a copy of the slot) before
    // anything records the batch, and their waiting is recorded in the same
    // SQLite transaction as the batch that holds their changes before it
    // (recorded apart, a crash between would lose those changes, or let
    // the batch go without the table waiting).
    let waits: Vec<&crate::table::TableError> = outcome
        .changed
        .iter()
        .filter(|e| e.resume.is_some())
        .collect();
    if !waits.is_empty() {
        src.hold()?;
    }
    let set_waits = |tx: &crate::meta::Tx<'_>| -> Result<()> {
        for e in &waits {
            let resume = e.resume.as_deref().unwrap_or_default();
            tx.set_waiting(&e.table.to_string(), resume, &e.ddl)?;
        }
        Ok(())
    };
    let waiting: Vec<TableId> = waits.iter().map(|e| e.table.clone()).collect();
    let stopped = || -> Result<()> {
        for e in &outcome.changed {
            let name = e.table.to_string();
            let dest = tables
                .get(&e.table)
                .map(|x| x.dest_name())
                .unwrap_or_default();
            let msg = e.why.clone();
            let outcome = match &e.resume {
                Some(_) if cfg.schedule.auto_sync_struct => {
                    log::warn!(
                        "run {run_id}: {name}: {msg}; auto_sync_struct syncs it after this batch"
                    );
                    continue;
                }
                Some(_) => Outcome::Waiting { msg },
                None => Outcome::Failed {
                    msg,
                    counted: false,
                },
            };
            record.outcome(&name, &dest, outcome)?;
        }
        Ok(())
    };
    let to_pos = outcome.to_pos.clone();
    log::info!(
        "run {run_id}: read {} transaction(s) from {} to {} in {} ms, {} table(s) changed",
        outcome.transactions,
        from,
        to_pos
            .as_ref()
            .map_or("(nothing)".to_string(), Position::to_string),
        t0.elapsed().as_millis(),
        outcome.tables.len()
    );
    for t in &outcome.tables {
        bw.add(t.clone());
    }
    let to_text = to_pos.as_ref().map(Position::to_string);
    bw.set_to_pos(to_text.clone());
    let batch = Batch {
        id: batch_id.clone(),
        run_id,
        kind: "delta".into(),
        from_pos: Some(from.to_string()),
        to_pos: to_text.clone(),
        status: BatchState::Extracted,
    };
    if outcome.tables.is_empty() {
        drop(bw);
        spool::remove_batch(spool_dir, &batch_id)?;
        meta.write(set_waits)?;
        stopped()?;
        if let Some(to) = &to_pos {
            // state.db first: no batch records this read, so a crash between
            // the two must leave the source behind state.db (read again,
            // harmlessly), never ahead of it (refused as consumed by others).
            commit_position(meta, to)?;
            src.release(to)?;
        }
        accept_fingerprints(meta, &accepted)?;
        forget_failed(tables, summary, &waiting);
        return Ok((to_pos, more, true, waiting));
    }
    crate::fault::point("spooled");
    let m = bw.finish()?;
    crate::fault::point("manifest");
    let counts: Vec<(String, i64)> = m
        .table
        .iter()
        .map(|t| (t.source.clone(), t.rows as i64))
        .collect();
    meta.write(|tx| {
        tx.add_batch(&batch, &counts)?;
        set_waits(tx)
    })?;
    stopped()?;
    super::outcome::batch_event(
        "ExtractCompleted",
        "delta",
        run_id,
        &batch_id,
        batch.from_pos.as_deref(),
        to_text.as_deref(),
        outcome.changed.len(),
        m.table.len() + outcome.changed.len(),
    );
    meta.run_extracted(run_id, &batch_id, to_text.as_deref())?;
    let ems = ms(t0) / m.table.len() as i64;
    meta.write(|tx| {
        for t in &m.table {
            let none = Counts::default();
            tx.add_run_table(
                run_id,
                &t.source,
                &none,
                0,
                ems,
                0,
                RunTableStatus::Extracted,
                None,
            )?;
        }
        Ok(())
    })?;
    crate::fault::point("recorded");
    meta.run_load_started(run_id)?;
    let loaded = load_batch(cfg, meta, run_id, &batch, &m, summary)?;
    load_completed(meta, run_id, &batch)?;
    if !loaded {
        return Ok((to_pos, more, false, waiting));
    }
    crate::fault::point("merged");
    release(cfg, meta, src, &batch)?;
    accept_fingerprints(meta, &accepted)?;
    forget_failed(tables, summary, &waiting);
    Ok((to_pos, more, true, waiting))
}

/// A position state.db keeps per table (`field` names it), of the tables
/// that have one.
fn kept_positions(
    meta: &Meta,
    tables: &HashMap<TableId, TableSchema>,
    field: &str,
    get: impl Fn(TableRecord) -> Option<String>,
) -> Result<HashMap<TableId, Position>> {
    let mut out = HashMap::new();
    for id in tables.keys() {
        if let Some(p) = meta.table_state(&id.to_string())?.and_then(&get) {
            let kept = format!("state.db's {field} of {id}");
            out.insert(id.clone(), Position::stored(&p, &kept)?);
        }
    }
    Ok(out)
}

/// Tables whose rewritten partitions a batch explained: their fingerprints
/// now, kept once the batch is released.
fn accept_fingerprints(meta: &Meta, accepted: &[(String, String)]) -> Result<()> {
    meta.write(|tx| {
        for (name, now) in accepted {
            tx.set_fingerprint(name, Some(now))?;
        }
        Ok(())
    })
}

/// Tables that failed in this run, or wait for sync-struct, are not read
/// in its next batches.
fn forget_failed(
    tables: &mut HashMap<TableId, TableSchema>,
    summary: &Mutex<Summary>,
    waiting: &[TableId],
) {
    let s = summary.lock().unwrap_or_else(|p| p.into_inner());
    tables.retain(|id, t| {
        !waiting.contains(id) && !s.tables_failed.iter().any(|(n, _)| *n == t.source_name())
    });
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
    st: &TableRecord,
    schema: &TableSchema,
) -> Result<Unlogged> {
    let name = &st.table;
    let key_now = key_text(schema);
    let now = src.fingerprint(schema)?;
    let Some(key_then) = &st.key_cols else {
        let ids = super::col_ids_text(src, schema)?;
        let shape = super::shape_text(src, schema)?;
        meta.write(|tx| {
            tx.set_table_shape(name, &key_now, now.as_deref(), ids.as_deref(), Some(&shape))
        })?;
        return Ok(Unlogged::None);
    };
    if st.shape.is_none() {
        // Extracted before they were recorded: the destination has the
        // structure the source has now, or this delta fails it.
        let ids = super::col_ids_text(src, schema)?;
        let shape = super::shape_text(src, schema)?;
        meta.write(|tx| tx.set_col_ids(name, ids.as_deref(), Some(&shape)))?;
    }
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
