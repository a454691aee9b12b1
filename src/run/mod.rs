//! One run, end to end: plan → extract → load → commit.
//!
//! `full-extract` ([`full`]): record the slot position, then snapshot each
//! table into the spool while load threads pick finished parts up and
//! replace the target's rows. `delta` ([`delta`]): first finish any batch a
//! crash left behind, then read the change log into a new batch, make it
//! durable (MANIFEST, then state.db), load and merge it ([`load`]), and only
//! then release the position at the source; batch after batch, up to the
//! position the log had when the delta started.

mod delta;
mod full;
mod load;
mod outcome;
mod plan;
pub mod rollback;
mod sync_struct;

pub use delta::delta;
pub use full::{full_extract, sync_new_tables};
pub use sync_struct::sync_struct;

use std::time::Instant;

use anyhow::Result;

use crate::config::{Config, Source};
use crate::dest::Dest;
use crate::error::Fatal;
use crate::meta::Meta;
use crate::schema::TableSchema;
use crate::source::postgres::PgSource;
use crate::source::{self as sources, Warnings};

/// What a command reports when it ends.
#[derive(Debug, Default)]
pub struct Summary {
    pub run_id: i64,
    pub tables_ok: Vec<(String, u64)>,
    pub tables_failed: Vec<(String, String)>,
    pub rows: u64,
}

impl Summary {
    /// The line a command prints when it ends: `delta (run 4): 2
    /// table(s), 10 change(s)`; `unit` names what `rows` counts.
    pub fn line(&self, what: &str, unit: &str) -> String {
        format!(
            "{what} (run {}): {} table(s), {} {unit}(s)",
            self.run_id,
            self.tables_ok.len(),
            self.rows
        )
    }

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

/// A run's result, after which a successful run leaves its recovery copy
/// (`[recovery] dir`).
pub(crate) fn saved<T>(cfg: &Config, r: Result<T>) -> Result<T> {
    if r.is_ok() {
        crate::recovery::save(cfg);
    }
    r
}

pub(crate) fn source(cfg: &Config) -> Result<Box<dyn sources::Source>> {
    match &cfg.source {
        Source::Postgres(p) => Ok(Box::new(PgSource::connect(p)?)),
        Source::Mysql(m) => Ok(Box::new(crate::source::mysql::MySource::connect(m)?)),
        Source::SqlServer(m) => Ok(Box::new(crate::source::sqlserver::MsSource::connect(
            m, cfg,
        )?)),
    }
}

/// The names of the selected tables the source has (a configured table
/// missing there is for `check` to name).
pub fn selected_names(cfg: &Config) -> Result<Vec<String>> {
    let mut src = source(cfg)?;
    let (selected, _) = sources::selected_and_missing(src.as_mut(), cfg)?;
    Ok(selected.iter().map(|t| t.to_string()).collect())
}

/// A table as the source describes it, with the destination types of the
/// configured dialect.
pub(crate) fn describe(
    src: &mut dyn sources::Source,
    cfg: &Config,
    id: &crate::table::TableId,
) -> Result<TableSchema> {
    let mut s = src.describe(cfg, id)?;
    crate::dest::types::adapt(&mut s, cfg.destination.dialect);
    Ok(s)
}

/// Connects everything and checks prerequisites; nothing is changed.
pub fn connect_all(cfg: &Config) -> Result<(Box<dyn sources::Source>, Dest, String, String)> {
    let mut src = source(cfg)?;
    let mut dest = Dest::connect(&cfg.destination)?;
    let sv = src.check()?;
    let dv = dest.check()?;
    Ok((src, dest, sv, dv))
}

pub(super) fn ms(t: Instant) -> i64 {
    t.elapsed().as_millis() as i64
}

pub(super) fn record_warnings(meta: &Meta, run_id: i64, w: &Warnings) -> Result<()> {
    for ((table, column, why), n) in &w.0 {
        let what = match w.1.get(&(table.clone(), column.clone(), *why)) {
            Some(key) => format!("{} (the first at key {key})", why.describe()),
            None => why.describe().to_string(),
        };
        log::warn!("{table}.{column}: {n} value(s): {what}");
        meta.write(|tx| tx.add_warning(run_id, table, column, &what, *n as i64))?;
    }
    Ok(())
}

/// The source's column identities of a table as state.db records them
/// (JSON `[[name, id]]`), where the source has them.
pub(super) fn col_ids_text(
    src: &mut dyn sources::Source,
    s: &TableSchema,
) -> Result<Option<String>> {
    Ok(src
        .column_ids(s)?
        .map(|ids| serde_json::to_string(&ids))
        .transpose()?)
}

/// A described table as state.db keeps it: the structure the destination
/// gets, and what the source decodes its changes with.
pub(super) fn shape_text(src: &dyn sources::Source, s: &TableSchema) -> Result<String> {
    Ok(serde_json::to_string(&serde_json::json!({
        "table": s,
        "source": src.shape_extra(s),
    }))?)
}

/// The table as the destination has it, when that differs from `now` (the
/// catalog's description): the source reads its changes in that structure
/// until the log reaches the change (then the table waits for
/// sync-struct).
pub(super) fn kept_shape(
    src: &mut dyn sources::Source,
    text: &str,
    now: &TableSchema,
) -> Result<Option<TableSchema>> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let mut kept: TableSchema = serde_json::from_value(v["table"].clone())?;
    // Generated columns are not in the change log: a change of them (one
    // added, dropped, retyped) is seen here only, and their values at the
    // destination cannot be followed; nor can a `mask` or `type_change`
    // set on a table already loaded take effect without a full extract.
    let of = |s: &TableSchema, f: &dyn Fn(&crate::schema::Column) -> bool| -> Vec<String> {
        s.columns
            .iter()
            .filter(|c| f(c))
            .map(|c| format!("{} {}", c.name, c.source_type))
            .collect()
    };
    let generated = |c: &crate::schema::Column| c.generated;
    if of(&kept, &generated) != of(now, &generated) {
        anyhow::bail!(
            "its generated columns changed since the destination got its structure ({:?} -> {:?}); \
             their values are not in the change log",
            of(&kept, &generated),
            of(now, &generated)
        );
    }
    let options = |s: &TableSchema| -> Vec<(String, bool, Option<String>)> {
        s.columns
            .iter()
            .map(|c| (c.name.clone(), c.masked, c.type_change.clone()))
            .collect()
    };
    let then = options(&kept);
    let changed_option = options(now)
        .into_iter()
        .find(|n| then.iter().any(|k| k.0 == n.0 && k != n));
    if let Some((col, _, _)) = changed_option {
        anyhow::bail!(
            "the mask or type_change of column {col} changed since the destination got its structure"
        );
    }
    if kept.columns == now.columns && kept.key == now.key {
        return Ok(None);
    }
    // Today's `mask` holds for the changes read in the kept structure too.
    for c in &mut kept.columns {
        if now.columns.iter().any(|n| n.masked && n.name == c.name) {
            c.masked = true;
        }
    }
    kept.filter.clone_from(&now.filter);
    kept.dest_db.clone_from(&now.dest_db);
    kept.dest_table.clone_from(&now.dest_table);
    kept.min_year = now.min_year;
    src.restore_shape(&kept, &v["source"])?;
    Ok(Some(kept))
}

/// The key columns of a table as state.db records them (JSON array).
pub(super) fn key_text(s: &TableSchema) -> String {
    let names: Vec<&str> = s.key.iter().map(|&k| s.columns[k].name.as_str()).collect();
    serde_json::to_string(&names).unwrap_or_default()
}
