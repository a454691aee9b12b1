//! `ingest check`.

use anyhow::Result;

use crate::config::{Config, Dialect};
use crate::dest::probe::Verdict;
use crate::dest::Dest;
use crate::source as sources;

/// `ingest check`: connections and prerequisites, one line each.
pub fn check(cfg: &Config) -> Result<()> {
    let (mut src, mut dest, sv, dv) = crate::run::connect_all(cfg)?;
    println!(
        "source      {} {sv}: prerequisites for deltas: ok",
        src.kind()
    );
    println!("destination {dv}: LOAD DATA LOCAL allowed: ok");
    if cfg.destination.dialect == Dialect::SingleStore {
        probe(&mut dest)?;
    }
    let names = sources::selected(src.as_mut(), cfg)?;
    for id in &names {
        let schema = crate::run::describe(src.as_mut(), cfg, id)?;
        src.check_filter(&schema)?;
        let rule = cfg.rule_for(&id.schema, &id.name);
        let mut options = vec![];
        if let Some(t) = cfg.extract_type_for(&id.schema, &id.name) {
            let by = rule
                .and_then(|r| r.timestamp_column.as_deref())
                .filter(|_| t == crate::config::ExtractType::Timestamps)
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            options.push(format!("extract type {}{by}", t.name()));
        }
        if let Some(f) = &schema.filter {
            options.push(format!("initial extract where {f}"));
        }
        let masked: Vec<&str> = schema
            .columns
            .iter()
            .filter(|c| c.masked)
            .map(|c| c.name.as_str())
            .collect();
        if !masked.is_empty() {
            options.push(format!("masked {}", masked.join(", ")));
        }
        if rule.is_some_and(|r| r.skip_initial) {
            options.push("no initial extract".into());
        }
        if rule.is_some_and(|r| r.redo_initial) {
            options.push("initial extract again at the next sync-new-tables".into());
        }
        if let Some(h) = &schema.history {
            options.push(format!(
                "history ({}, {}, {}; max_updates {}{})",
                h.start,
                h.end,
                h.op,
                h.max_updates,
                if h.keep_deleted { "; deletes kept" } else { "" }
            ));
        }
        if crate::dest::sql::needs_key_hash(&schema, cfg.destination.dialect) {
            options.push(format!(
                "key too long for an index: keyed by {}",
                crate::dest::sql::KEY_HASH
            ));
        }
        let key = if schema.keyless {
            "none: rows counted (keyless)".to_string()
        } else {
            schema
                .key
                .iter()
                .map(|&k| schema.columns[k].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "table       {id} -> {} ({} columns, key {}){}",
            schema.dest_name(),
            schema.columns.len(),
            key,
            if options.is_empty() {
                String::new()
            } else {
                format!("; {}", options.join("; "))
            }
        );
    }
    let position = match src.log_state()? {
        sources::LogState::Slot { name, at: Some(at) } => format!("slot {name} exists at {at}"),
        sources::LogState::Slot { name, at: None } => {
            format!("slot {name} not created yet (full-extract creates it)")
        }
        sources::LogState::Binlog { end, server_id } => {
            format!("binlog end now {end} (server_id {server_id} for the dump)")
        }
        sources::LogState::Version { at } => format!("changes kept up to {at}"),
    };
    println!("position    {position}");
    println!("{} table(s) selected; all checks passed", names.len());
    Ok(())
}

/// The SingleStore probe: one line per assumption; one that breaks
/// exactness fails `check` (exit 2) with what to do.
fn probe(dest: &mut Dest) -> Result<()> {
    let mut broken = vec![];
    for (name, v) in dest.probe() {
        let line = match &v {
            Verdict::Ok(what) => format!("ok {what}"),
            Verdict::Differs { what, .. } => format!("differs: {what}"),
            Verdict::Unknown { error, .. } => format!("unknown: {error}"),
        };
        println!("singlestore {name}: {line}");
        if matches!(
            v,
            Verdict::Differs { breaks: true, .. } | Verdict::Unknown { breaks: true, .. }
        ) {
            broken.push(format!("{name}: {line}"));
        }
    }
    if broken.is_empty() {
        return Ok(());
    }
    Err(crate::error::config(format!(
        "the destination does not behave as the singlestore dialect needs ({}); \
         sql/singlestore_probe.sql holds the probe to run by hand",
        broken.join("; ")
    )))
}
