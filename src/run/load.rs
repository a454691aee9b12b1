//! Loading: the load threads, retries of transient destination errors,
//! merging a batch's tables, and releasing a merged batch.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Result};
use crossbeam::channel;

use crate::config::Config;
use crate::dest::{Dest, Loaded};
use crate::meta::{Batch, Counts, Meta};
use crate::position::Position;
use crate::source::{self as sources};
use crate::spool::{self, Manifest, ManifestTable};

use super::outcome::{Outcome, Record, Recorded};
use super::{ms, Summary};
use crate::meta::{BatchState, BatchTableState};

/// Runs `load` for every job on `threads` workers, each with its own
/// destination connection (opened before any work starts).
pub(super) fn load_parallel<J: Send, F>(
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
pub(super) fn with_retries<T>(
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

/// Loads the still-pending tables of a batch; true when all are done
/// (loaded, superseded by a full extract, or given up).
pub(super) fn load_batch(
    cfg: &Config,
    meta: &Meta,
    run_id: i64,
    batch: &Batch,
    m: &Manifest,
    summary: &Mutex<Summary>,
) -> Result<bool> {
    let dir = cfg.instance.spool_dir.join(&batch.id);
    let states: HashMap<String, BatchTableState> = meta
        .batch_tables(&batch.id)?
        .into_iter()
        .map(|t| (t.table, t.status))
        .collect();
    let pending: Vec<ManifestTable> = m
        .table
        .iter()
        .filter(|t| {
            matches!(
                states.get(&t.source),
                Some(BatchTableState::Pending) | Some(BatchTableState::Failed)
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
    let record = Record {
        meta,
        summary,
        run_id,
    };
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
            // Tests: merged at the destination, not yet in state.db (the
            // next run merges the batch again).
            crate::fault::point("committed");
            let counts = Counts {
                inserts: entry.inserts as i64,
                updates: entry.updates as i64,
                deletes: entry.deletes as i64,
                truncates: i64::from(entry.truncate_seq.is_some()),
            };
            let dest = schema.dest_name();
            let rec = match r {
                Ok(Loaded { rows }) => {
                    let merged = Outcome::Merged {
                        batch: &batch.id,
                        counts: &counts,
                        rows,
                        load_ms: ms(t0),
                    };
                    record.outcome(&entry.source, &dest, merged)
                }
                Err(e) => {
                    let msg = format!("{e:#}");
                    let failed = Outcome::LoadFailed {
                        batch: &batch.id,
                        counts: &counts,
                        msg: &msg,
                        load_ms: ms(t0),
                    };
                    record.outcome(&entry.source, &dest, failed)
                }
            };
            if let Ok(Recorded::Retry) = rec {
                // Tried again by the next run; the batch waits.
                *all_ok.lock().unwrap_or_else(|p| p.into_inner()) = false;
            }
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

/// The manual's LoadCompleted event of a batch whose loads ended (`all_ok`:
/// none waits for another try).
pub(super) fn load_completed(meta: &Meta, run_id: i64, b: &Batch) -> Result<()> {
    let tables = meta.batch_tables(&b.id)?;
    let errors = tables
        .iter()
        .filter(|t| {
            matches!(
                t.status,
                BatchTableState::Failed | BatchTableState::Abandoned
            )
        })
        .count();
    super::outcome::batch_event(
        "LoadCompleted",
        &b.kind,
        run_id,
        &b.id,
        b.from_pos.as_deref(),
        b.to_pos.as_deref(),
        errors,
        tables.len(),
    );
    Ok(())
}

/// The furthest position this instance let the source go of: state.db's
/// committed position, or the end of a batch whose release a crash may have
/// interrupted after the source let go and before state.db recorded it.
pub(super) fn released_upto(meta: &Meta) -> Result<Option<Position>> {
    let mut best = committed(meta)?;
    for b in meta.open_batches()? {
        let Some(to) = b.to_pos else { continue };
        let to = Position::stored(&to, &format!("batch {} in state.db", b.id))?;
        let later = match &best {
            Some(cur) => crate::position::before(cur, &to),
            None => true,
        };
        if later {
            best = Some(to);
        }
    }
    Ok(best)
}

/// state.db's committed position.
pub(super) fn committed(meta: &Meta) -> Result<Option<Position>> {
    meta.position()?
        .map(|p| Position::stored(&p, "state.db's committed position"))
        .transpose()
}

/// Makes `to` the committed position, unless that would move it backwards:
/// a batch read before a full extract of every table ends behind the
/// position that full extract recorded.
pub(super) fn commit_position(meta: &Meta, to: &Position) -> Result<()> {
    match committed(meta)? {
        Some(current) if crate::position::before(to, &current) => {
            log::info!("position stays at {current} ({to}, released now, is behind it)");
            Ok(())
        }
        _ => meta.set_position(&to.to_string()),
    }
}

/// Releases a merged batch: slot advanced, then state.db, then the spool.
pub(super) fn release(
    cfg: &Config,
    meta: &Meta,
    src: &mut dyn sources::Source,
    b: &Batch,
) -> Result<()> {
    if let Some(text) = b.to_pos.as_deref() {
        let to = Position::stored(text, &format!("batch {} in state.db", b.id))?;
        src.release(&to)
            .map_err(|e| anyhow!("batch {}: releasing {to} at the source: {e:#}", b.id))?;
        crate::fault::point("advanced");
        commit_position(meta, &to)?;
    }
    meta.set_batch_status(&b.id, BatchState::Released)?;
    spool::remove_batch(&cfg.instance.spool_dir, &b.id)?;
    Ok(())
}
