//! `ingest status`.

use anyhow::Result;

use crate::config::Config;
use crate::meta::Meta;

/// `ingest status`: last runs, position, per-table state.
pub fn status(cfg: &Config, meta: &Meta, out: &mut dyn std::io::Write) -> Result<()> {
    writeln!(
        out,
        "position    {}",
        meta.position()?.unwrap_or_else(|| "(none yet)".into())
    )?;
    let s = &cfg.schedule.schedule;
    let mode = s.describe();
    let zone = s.tz.iana_name().unwrap_or("local");
    let (on, why, since) = meta.scheduler()?;
    let next = s.next(jiff::Timestamp::now(), None).map(|t| {
        t.to_zoned_datetime(s.tz.clone())
            .strftime("%F %T %:z")
            .to_string()
    });
    writeln!(
        out,
        "scheduler   {} ({mode}, time zone {zone}){}{}",
        if on { "on" } else { "off" },
        match (on, next) {
            (true, Some(n)) => format!(", next run {n}"),
            _ => String::new(),
        },
        match (on, why, since) {
            (false, Some(w), Some(at)) => format!(
                "\n            halted at {at}: {w}\n            fix it, then `ingest scheduler on`"
            ),
            (false, None, Some(at)) => format!(" since {at}"),
            _ => String::new(),
        }
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
