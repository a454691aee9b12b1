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
use crate::source::{self as sources};
use crate::spool::{self, Manifest, ManifestTable};

use super::{ms, Summary};

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

/// Failed loads of one table of one batch before it is given up.
const MAX_ATTEMPTS: i64 = 3;

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
pub(super) fn released_upto(meta: &Meta) -> Result<Option<String>> {
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
pub(super) fn commit_position(meta: &Meta, to: &str) -> Result<()> {
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
pub(super) fn release(
    cfg: &Config,
    meta: &Meta,
    src: &mut dyn sources::Source,
    b: &Batch,
) -> Result<()> {
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
