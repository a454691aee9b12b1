//! `ingest sql`: the statements ingest would send to the destination for
//! each selected table, printed for review; nothing is run.

use anyhow::Result;

use crate::config::{Config, Dialect};
use crate::dest::{sql, Dest};
use crate::source as sources;

/// The collation a dialect's tables get when the destination cannot be
/// asked: MySQL/MariaDB pick the first binary NO PAD collation the server
/// has, SingleStore has none.
fn assumed_collation(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Mysql => "utf8mb4_nopad_bin",
        Dialect::SingleStore => "utf8mb4_bin",
    }
}

/// `ingest sql [TABLE...]`: `only` narrows the selected tables (globs).
pub fn sql(cfg: &Config, only: &[String], out: &mut impl std::io::Write) -> Result<()> {
    let mut src = crate::run::source(cfg)?;
    let mut names = sources::selected(src.as_mut(), cfg)?;
    sources::narrow(&mut names, only)?;
    let flavor = match Dest::connect(&cfg.destination) {
        Ok(d) => d.flavor().clone(),
        Err(e) => {
            let f = sql::Flavor {
                rowstore: cfg.destination.rowstore,
                staging: cfg.destination.staging_schema.clone(),
                ..sql::Flavor::new(
                    cfg.destination.dialect,
                    assumed_collation(cfg.destination.dialect),
                )
            };
            writeln!(
                out,
                "-- destination not reached ({}): collation {} assumed\n",
                e.to_string().lines().next().unwrap_or(""),
                f.collation
            )?;
            f
        }
    };
    for id in &names {
        let schema = crate::run::describe(src.as_mut(), cfg, id)?;
        writeln!(
            out,
            "{}",
            sql::review(&sql::shaped(&schema, flavor.dialect), &flavor)
        )?;
    }
    Ok(())
}
