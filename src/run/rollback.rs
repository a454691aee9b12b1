//! `ingest rollback`: the source position moved back to where an earlier
//! run started, and the changes since read again (the manual's rollback).
//! Merges are by key, last change wins: changes applied once already are
//! applied again in their order and end where the source is. Possible as
//! far back as the source still holds its change log (MySQL: any binlog
//! file still on the server; PostgreSQL: not before the slot's confirmed
//! position, which only moves forward).

use std::io::Write;

use anyhow::Result;

use super::Summary;
use crate::config::Config;
use crate::error;
use crate::meta::{Meta, RunStatus};
use crate::position::Position;

/// The runs a rollback can go back to: full extracts and deltas with the
/// position they started from, newest first.
fn targets(meta: &Meta) -> Result<Vec<(i64, String, String, Position)>> {
    let mut out = vec![];
    for r in meta.recent_runs(i64::MAX)? {
        if !["delta", "full-extract", "sync-new-tables"].contains(&r.kind.as_str()) {
            continue;
        }
        let Some(p) = r.from_pos else { continue };
        let pos = Position::stored(&p, &format!("run {} in state.db", r.id))?;
        out.push((r.id, r.kind, r.started_at, pos));
    }
    Ok(out)
}

/// `ingest rollback --list`: each run to go back to, and whether the
/// source still allows it.
pub fn list(cfg: &Config, meta: &Meta, out: &mut dyn Write) -> Result<()> {
    let mut src = super::source(cfg)?;
    writeln!(out, "runs to roll back to (newest first):")?;
    for (id, kind, at, pos) in targets(meta)?.into_iter().take(50) {
        let verdict = match src.rewind_check(&pos)? {
            None => "possible".to_string(),
            Some(why) => format!("not possible: {why}"),
        };
        writeln!(out, "  #{id:<5} {kind:<13} {at}  from {pos}: {verdict}")?;
    }
    Ok(())
}

/// `ingest rollback --to RUN_ID`: moves the position back to where that
/// run started, then runs a delta that reads everything since again.
pub fn to(cfg: &Config, meta: &Meta, run_id: i64) -> Result<Summary> {
    let Some((_, _, _, pos)) = targets(meta)?.into_iter().find(|t| t.0 == run_id) else {
        return Err(error::config(format!(
            "run {run_id} is not a full extract or delta with a start position (`ingest rollback --list` lists them)"
        )));
    };
    if let Some(r) = cfg.tables.iter().find(|r| r.keyless) {
        return Err(error::config(format!(
            "{} is keyless: its rows are counted, and changes read again would count twice; \
             run `ingest full-extract` of its tables instead of a rollback",
            r.pattern
        )));
    }
    if !meta.open_batches()?.is_empty() {
        return Err(error::config(
            "a batch is still waiting to be merged: run `ingest delta` first, then roll back",
        ));
    }
    let mut src = super::source(cfg)?;
    if let Some(why) = src.rewind_check(&pos)? {
        return Err(error::config(format!(
            "cannot roll back to run {run_id} ({pos}): {why}"
        )));
    }
    drop(src);
    let current = meta.position()?;
    let id = meta.start_run("rollback", current.as_deref())?;
    meta.set_position(&pos.to_string())?;
    meta.finish_run(id, RunStatus::Ok, Some(&pos.to_string()), None)?;
    log::warn!(
        "rollback (run {id}): position moved back from {} to {pos}, where run {run_id} started; \
         reading the changes since again",
        current.as_deref().unwrap_or("-")
    );
    super::delta(cfg, meta)
}
