//! `ingest check`.

use anyhow::Result;

use crate::config::Config;
use crate::source as sources;

/// `ingest check`: connections and prerequisites, one line each.
pub fn check(cfg: &Config) -> Result<()> {
    let (mut src, mut dest, sv, dv) = crate::run::connect_all(cfg)?;
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
