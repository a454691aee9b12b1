//! `ingest sync-struct [TABLE...]`: a table whose structure changed at the
//! source gets it at the destination in place (columns added, kept or
//! dropped, widened, renamed where the source says so), then the changes
//! that waited since the change are applied, and its deltas go on with the
//! others', without a full extract.
//!
//! A delta that meets a structure change of a table stops that table's
//! changes at the start of the transaction that has it (`resume_pos`); the
//! others go on. PostgreSQL cannot read a slot twice, so a copy of the slot
//! made before that batch is released keeps the WAL from there
//! (`ChangeLog::hold`); MySQL reads its binlog again. `sync-struct` then:
//!
//! 1. notes the log's end, then reads the table's structure now;
//! 2. plans the destination's change ([`crate::dest::alter`]); what cannot
//!    be done in place (a narrower type, a changed key, a column the rows
//!    had before it was added cannot be known) is refused with the reason,
//!    and the table keeps waiting for its full extract;
//! 3. changes the destination table;
//! 4. reads the table's changes from `resume_pos` up to the deltas'
//!    committed position into a batch of its own and merges it;
//! 5. marks the table ready: the next delta takes it with the others.
//!
//! A crash anywhere leaves the table waiting; running it again redoes the
//! steps that did not finish (each is a no-op when done; merges converge).
//! With `[schedule] auto_sync_struct = true` the delta does this itself
//! after the batch in which it met the change.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{anyhow, Result};

use crate::config::Config;
use crate::dest::{alter, sql::lit, Dest};
use crate::meta::{Batch, BatchState, Meta, RunStatus, TableRecord, TableState};
use crate::position::Position;
use crate::source::{self as sources, CatchUp, Fill, Warnings};
use crate::spool::{self, BatchWriter, Manifest};
use crate::table::TableId;

use super::load::{committed, load_batch};
use super::outcome::{Outcome, Record};
use super::{col_ids_text, connect_all, describe, key_text, record_warnings, shape_text, Summary};

/// Structure changes met again while catching up, synced in one go.
const MAX_ROUNDS: usize = 5;

/// `ingest sync-struct [TABLE...]`: every selected table (or these) whose
/// changes wait at a structure change, or whose destination differs.
pub fn sync_struct(cfg: &Config, meta: &Meta, only: &[String]) -> Result<Summary> {
    super::saved(cfg, sync_struct_run(cfg, meta, only))
}

fn sync_struct_run(cfg: &Config, meta: &Meta, only: &[String]) -> Result<Summary> {
    let (mut src, mut dest, _, _) = connect_all(cfg)?;
    let from = meta.position()?;
    let run_id = meta.start_run("sync-struct", from.as_deref())?;
    let summary = Mutex::new(Summary {
        run_id,
        ..Default::default()
    });
    let r = (|| {
        discard_catch_ups(cfg, meta)?;
        if let Some(b) = meta.open_batches()?.first() {
            // Its tables' changes up to where they stopped are not merged
            // yet: catching up from there would leave them out.
            return Err(crate::error::config(format!(
                "batch {} (run {}) waits to be merged: run `ingest delta` first",
                b.id, b.run_id
            )));
        }
        let mut names = sources::selected(src.as_mut(), cfg)?;
        sources::narrow(&mut names, only)?;
        let ctx = Ctx {
            cfg,
            meta,
            run_id,
            summary: &summary,
        };
        for id in &names {
            ctx.table(src.as_mut(), &mut dest, id)?;
        }
        release_hold(cfg, meta, src.as_mut())
    })();
    let summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    let (status, err) = match &r {
        Ok(_) if summary.tables_failed.is_empty() => (RunStatus::Ok, None),
        Ok(_) => (RunStatus::Failed, None),
        Err(e) => (RunStatus::Error, Some(format!("{e:#}"))),
    };
    meta.finish_run(run_id, status, from.as_deref(), err.as_deref())?;
    r?;
    summary.into_result()
}

/// Catch-up batches a sync-struct cut short left: dropped (their table
/// still waits, and the next sync-struct reads its changes again).
pub(super) fn discard_catch_ups(cfg: &Config, meta: &Meta) -> Result<()> {
    for b in meta
        .open_batches()?
        .into_iter()
        .filter(|b| b.kind == "sync-struct")
    {
        log::info!(
            "removing batch {} of a sync-struct cut short; its table still waits",
            b.id
        );
        meta.set_batch_status(&b.id, BatchState::Lost)?;
        spool::remove_batch(&cfg.instance.spool_dir, &b.id)?;
    }
    Ok(())
}

/// Drops what kept the changes of waiting tables once no selected table
/// waits any more. A waiting table the source no longer has stops waiting
/// (it needs a full extract if it comes back).
pub(super) fn release_hold(cfg: &Config, meta: &Meta, src: &mut dyn sources::Source) -> Result<()> {
    if waiting(cfg, meta, src)?.is_empty() {
        src.drop_hold()?;
    }
    Ok(())
}

/// The selected tables the source has whose changes wait for sync-struct.
pub(super) fn waiting(
    cfg: &Config,
    meta: &Meta,
    src: &mut dyn sources::Source,
) -> Result<Vec<TableId>> {
    let (names, _) = sources::selected_and_missing(src, cfg)?;
    let mut out = vec![];
    for t in meta.table_states()? {
        if t.resume_pos.is_none() {
            continue;
        }
        match names.iter().find(|id| id.to_string() == t.table) {
            Some(id) => out.push(id.clone()),
            None if src
                .list_tables()?
                .iter()
                .all(|id| id.to_string() != t.table) =>
            {
                log::warn!(
                    "{}: gone from the source while its changes waited for sync-struct",
                    t.table
                );
                meta.write(|tx| tx.clear_waiting(&t.table))?;
            }
            None => {}
        }
    }
    Ok(out)
}

/// Where one sync-struct's outcomes go.
pub(super) struct Ctx<'a> {
    pub cfg: &'a Config,
    pub meta: &'a Meta,
    pub run_id: i64,
    pub summary: &'a Mutex<Summary>,
}

impl Ctx<'_> {
    fn record(&self) -> Record<'_> {
        Record {
            meta: self.meta,
            summary: self.summary,
            run_id: self.run_id,
        }
    }

    /// Syncs one table; true when it is ready. A refusal or a failure of
    /// the table is recorded (the table waits, failed, with the reason);
    /// `Err` only for what stops the whole run.
    pub fn table(
        &self,
        src: &mut dyn sources::Source,
        dest: &mut Dest,
        id: &TableId,
    ) -> Result<bool> {
        let name = id.to_string();
        let Some(st) = self.meta.table_state(&name)? else {
            log::warn!(
                "run {}: {name} has had no full extract yet: run `ingest full-extract {name}`",
                self.run_id
            );
            return Ok(false);
        };
        match st.status {
            TableState::Ready => {}
            TableState::Failed if st.resume_pos.is_some() => {}
            _ => {
                self.record()
                    .outcome(&name, &st.dest, Outcome::StillFailed(&st))?;
                return Ok(false);
            }
        }
        let fail = |msg: String| {
            let fix = format!("full-extract {name}`");
            let msg = if msg.contains(&fix) {
                msg
            } else {
                format!("{msg}: run `ingest {fix}")
            };
            self.record()
                .outcome(&name, &st.dest, Outcome::Failed { msg, counted: true })
        };
        let mut prev = st.resume_pos.clone();
        for _ in 0..MAX_ROUNDS {
            let st = self
                .meta
                .table_state(&name)?
                .ok_or_else(|| anyhow!("{name} left state.db"))?;
            match self.round(src, dest, id, &st) {
                Ok(Round::Ready(rows)) => {
                    self.meta.write(|tx| {
                        tx.set_table_state(
                            &name,
                            &st.dest,
                            TableState::Ready,
                            None,
                            None,
                            None,
                            None,
                        )
                    })?;
                    log::info!(
                        "run {}: {name}: structure synced; {rows} waiting change(s) merged",
                        self.run_id
                    );
                    return Ok(true);
                }
                Ok(Round::Refused(why)) => {
                    fail(why)?;
                    return Ok(false);
                }
                Ok(Round::NotYet(steps)) => {
                    log::warn!(
                        "run {}: {name}: the source's structure differs from the destination's \
                         ({steps}), but no delta has met the change yet: run `ingest delta` (it \
                         stops the table's changes where the structure changed), then \
                         `ingest sync-struct {name}`",
                        self.run_id
                    );
                    return Ok(false);
                }
                Ok(Round::Again { resume, changed }) => {
                    // Changed again while waiting: once more from there,
                    // unless nothing moved (rows in a structure between
                    // the destination's old and the source's new one).
                    if !changed && prev.as_deref() == Some(resume.as_str()) {
                        fail(format!(
                            "its changes at {resume} have a structure that is neither the \
                             destination's nor the source's now (it changed more than once \
                             between two reads of the log)"
                        ))?;
                        return Ok(false);
                    }
                    prev = Some(resume);
                }
                Err(e) => {
                    // It keeps waiting: the next sync-struct tries again.
                    let msg = format!(
                        "sync-struct: {e:#}; its changes keep waiting: run `ingest sync-struct {name}` again"
                    );
                    self.record()
                        .outcome(&name, &st.dest, Outcome::Waiting { msg })?;
                    return Ok(false);
                }
            }
        }
        fail(format!(
            "its structure kept changing during {MAX_ROUNDS} rounds of sync-struct"
        ))?;
        Ok(false)
    }

    /// One round: destination changed, waiting changes applied.
    fn round(
        &self,
        src: &mut dyn sources::Source,
        dest: &mut Dest,
        id: &TableId,
        st: &TableRecord,
    ) -> Result<Round> {
        let name = id.to_string();
        // DDL before this point is in the description read next.
        let seen = src.current_position()?;
        let s = describe(src, self.cfg, id)?;
        let key_now = key_text(&s);
        if let Some(k) = st.key_cols.as_ref().filter(|k| **k != key_now) {
            return Ok(Round::Refused(format!(
                "its key changed from {k} to {key_now}"
            )));
        }
        let mut have = dest.columns(&s)?;
        if have.is_empty() {
            return Ok(Round::Refused(format!(
                "destination table {} does not exist",
                s.dest_name()
            )));
        }
        // Columns kept from earlier drops (`on_drop_column = "keep"`) are
        // not the source's: neither matched nor dropped again (a column of
        // the source's name is: added by a sync-struct cut short).
        if let Some(kept) = kept_columns(st.shape.as_deref()) {
            let named = |n: &str| {
                kept.iter()
                    .chain(s.columns.iter().map(|c| &c.name))
                    .any(|k| k.eq_ignore_ascii_case(n))
            };
            have.retain(|d| named(&d.name));
        }
        let ids_now = src.column_ids(&s)?;
        let ids_then: Option<Vec<(String, i64)>> = st
            .col_ids
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok());
        let ddl: Vec<String> = st
            .struct_ddl
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let (renames, dropped) = src.ddl_column_changes(&ddl);
        let ids = match (&ids_then, &ids_now) {
            (Some(then), Some(now)) => Some((then.as_slice(), now.as_slice())),
            _ => None,
        };
        let on_drop = self.cfg.schedule.on_drop_column;
        let planned = alter::origins(&s, &have, ids, &renames, &dropped)
            .and_then(|o| alter::plan(&s, &have, &o, ids.is_some(), &dropped, on_drop));
        let steps = match planned {
            Ok(steps) => steps,
            Err(why) => return Ok(Round::Refused(why)),
        };
        if st.resume_pos.is_none() {
            if steps.is_empty() {
                log::info!(
                    "run {}: {name}: the destination has the source's structure",
                    self.run_id
                );
                return Ok(Round::Ready(0));
            }
            let what: Vec<String> = steps.iter().map(|x| alter::describe(&s, x)).collect();
            return Ok(Round::NotYet(what.join("; ")));
        }
        let mut fills = HashMap::new();
        let kept = st.shape.as_deref().and_then(kept_extra);
        for step in &steps {
            if let alter::Step::Add { col } = step {
                if s.columns[*col].masked {
                    // Never read: NULL, as in every row.
                    continue;
                }
                match src.added_fill(&s, *col, &ddl, kept.as_ref())? {
                    Fill::Null => {}
                    Fill::Value(_) if s.columns[*col].binary => {
                        return Ok(Round::Refused(format!(
                            "column {} was added with a binary default",
                            s.columns[*col].name
                        )))
                    }
                    Fill::Value(v) => {
                        let c = &s.columns[*col];
                        let v = match c.type_change.as_deref() {
                            None => v,
                            Some(spec) => match crate::type_change::TypeChange::parse(spec)
                                .ok()
                                .and_then(|tc| tc.convert(v.as_bytes(), s.min_year))
                            {
                                Some(t) => t,
                                None => {
                                    return Ok(Round::Refused(format!(
                                        "column {} was added with the value {v}, which its \
                                         type_change {spec} does not convert",
                                        c.name
                                    )))
                                }
                            },
                        };
                        fills.insert(*col, lit(&v));
                    }
                    Fill::Unknown(why) => {
                        return Ok(Round::Refused(format!(
                            "column {} was added and the rows there got values ingest cannot \
                             know ({why})",
                            s.columns[*col].name
                        )))
                    }
                }
            }
        }
        let statements = alter::statements(&s, &steps, self.cfg.destination.dialect, &|c| {
            fills.get(&c).cloned()
        });
        for step in &steps {
            log::info!("run {}: {name}: {}", self.run_id, alter::describe(&s, step));
        }
        super::load::with_retries(self.cfg, dest, &name, |d| d.alter(&s, &statements))?;
        let ids = col_ids_text(src, &s)?;
        let shape = shape_text(src, &s)?;
        let seen_text = seen.to_string();
        let rows = match &st.resume_pos {
            None => 0,
            Some(resume) => {
                let resume = sources::parse_resume(resume, &format!("{name}'s resume_pos"))?;
                match self.catch_up(src, id, &s, &resume, &seen)? {
                    CaughtUp::Done(rows) => rows,
                    CaughtUp::Refused(why) => return Ok(Round::Refused(why)),
                    CaughtUp::Changed(at, ddl) => {
                        let changed = !steps.is_empty();
                        self.meta.write(|tx| {
                            tx.set_col_ids(&name, ids.as_deref(), Some(&shape))?;
                            tx.set_resume(&name, &at, &ddl)
                        })?;
                        return Ok(Round::Again {
                            resume: at,
                            changed,
                        });
                    }
                }
            }
        };
        self.meta.write(|tx| {
            tx.set_table_shape(
                &name,
                &key_now,
                st.fingerprint.as_deref(),
                ids.as_deref(),
                Some(&shape),
            )?;
            tx.set_struct_synced(&name, ids.as_deref(), Some(&seen_text))
        })?;
        Ok(Round::Ready(rows))
    }

    /// Reads the table's changes from `resume` up to the deltas' committed
    /// position into a batch of its own, and merges it.
    fn catch_up(
        &self,
        src: &mut dyn sources::Source,
        id: &TableId,
        s: &crate::schema::TableSchema,
        (resume, skip): &(Position, u64),
        seen: &Position,
    ) -> Result<CaughtUp> {
        let cfg = self.cfg;
        let upto = committed(self.meta)?
            .ok_or_else(|| anyhow!("no committed position: run `ingest full-extract`"))?;
        if crate::position::before(&upto, resume) {
            return Err(anyhow!(
                "its changes stopped at {resume}, after the committed position {upto}: the batch \
                 with the change is not merged yet; run `ingest delta` first"
            ));
        }
        let spool_dir = &cfg.instance.spool_dir;
        let batch_id = spool::new_batch_id(spool_dir, self.run_id);
        let manifest = Manifest {
            batch: batch_id.clone(),
            kind: "sync-struct".into(),
            instance: cfg.instance.name.clone(),
            created_at: crate::clock::now(),
            from_pos: Some(resume.to_string()),
            to_pos: None,
            table: vec![],
        };
        let mut bw = BatchWriter::create(spool_dir, manifest, cfg.instance.spool_compression)?;
        bw.watch_disk(cfg.instance.min_free_disk);
        let tables = HashMap::from([(id.clone(), s.clone())]);
        let c = CatchUp {
            resume: HashMap::from([(id.clone(), resume.clone())]),
            skip: HashMap::from([(id.clone(), *skip)]),
            upto,
            struct_seen: HashMap::from([(id.clone(), seen.clone())]),
        };
        let mut warnings = Warnings::default();
        let out = src.catch_up(&c, &tables, &mut bw, &mut warnings)?;
        record_warnings(self.meta, self.run_id, &warnings)?;
        let again = out
            .changed
            .iter()
            .find_map(|e| Some((e.resume.clone()?, e.ddl.clone())));
        if let Some(e) = out.changed.iter().find(|e| e.resume.is_none()) {
            // Not a structure change to sync (a statement-logged change, a
            // structure that changed twice): nothing of it is merged.
            drop(bw);
            spool::remove_batch(spool_dir, &batch_id)?;
            return Ok(CaughtUp::Refused(e.why.clone()));
        }
        for t in &out.tables {
            bw.add(t.clone());
        }
        let rows: u64 = out.tables.iter().map(|t| t.rows).sum();
        if out.tables.is_empty() {
            drop(bw);
            spool::remove_batch(spool_dir, &batch_id)?;
        } else {
            let m = bw.finish()?;
            let batch = Batch {
                id: batch_id.clone(),
                run_id: self.run_id,
                kind: "sync-struct".into(),
                from_pos: Some(resume.to_string()),
                to_pos: None,
                status: BatchState::Extracted,
            };
            let counts: Vec<(String, i64)> = m
                .table
                .iter()
                .map(|t| (t.source.clone(), t.rows as i64))
                .collect();
            self.meta.add_batch(&batch, &counts)?;
            crate::fault::point("recorded");
            if !load_batch(cfg, self.meta, self.run_id, &batch, &m, self.summary)? {
                return Err(anyhow!(
                    "the changes that waited since {resume} did not merge (the log has why); \
                     they are tried again by the next sync-struct"
                ));
            }
            crate::fault::point("merged");
            self.meta
                .set_batch_status(&batch_id, BatchState::Released)?;
            spool::remove_batch(spool_dir, &batch_id)?;
        }
        Ok(match again {
            Some((at, ddl)) => CaughtUp::Changed(at, ddl),
            None => CaughtUp::Done(rows),
        })
    }
}

/// The source columns of the table as the destination got it (its kept
/// shape), `None` if not kept.
fn kept_columns(shape: Option<&str>) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(shape?).ok()?;
    let t: crate::schema::TableSchema = serde_json::from_value(v["table"].clone()).ok()?;
    Some(t.columns.into_iter().map(|c| c.name).collect())
}

/// What the source kept with the table's shape (`Catalog::shape_extra`).
fn kept_extra(shape: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(shape).ok()?;
    Some(v["source"].clone())
}

enum Round {
    /// Synced; this many waiting changes merged.
    Ready(u64),
    /// Cannot be done in place: why.
    Refused(String),
    /// A ready table whose destination differs: what would change.
    NotYet(String),
    /// The structure changed again in the waiting changes, at `resume`
    /// (the changes before it are merged); `changed`: the destination
    /// changed in this round.
    Again { resume: String, changed: bool },
}

enum CaughtUp {
    Done(u64),
    /// Cannot be applied: why (with the fix).
    Refused(String),
    /// The structure changed again at this position (with the DDL there).
    Changed(String, Vec<String>),
}
