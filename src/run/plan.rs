//! What a run will handle, decided before anything is created: the selected
//! tables (narrowed to those named on the command line), described, and
//! the tables that fail already (with why).

use anyhow::Result;

use crate::config::Config;
use crate::error;
use crate::schema::TableSchema;
use crate::source::{self as sources, Source};
use crate::table::TableId;

/// The tables of a full extract.
pub(super) struct FullPlan {
    pub names: Vec<TableId>,
    /// Their descriptions, in the same order.
    pub schemas: Vec<TableSchema>,
    /// Tables that fail before the extract: (table, why with the fix).
    pub early: Vec<(String, String)>,
}

/// Plans a full extract of the selected tables, or of those `only` names
/// (globs). A configuration problem is an error (exit 2) before anything is
/// created; a problem of one table fails that table alone.
pub(super) fn plan_full(cfg: &Config, src: &mut dyn Source, only: &[String]) -> Result<FullPlan> {
    let (mut names, missing) = sources::selected_and_missing(src, cfg)?;
    // Problems of one table fail that table; the others are extracted.
    let mut early: Vec<(String, String)> = vec![];
    for m in missing {
        // A table this extract is not for (`sync-new-tables`, or names
        // given) is the delta's to report.
        if !sources::wanted(only, &m) {
            continue;
        }
        match src.missing_reason(&m)? {
            Some(why) => early.push((m, why)),
            None => {
                return Err(error::config(format!(
                    "table {m} not found in source {} database {} (check [[table]] name; `ingest tables` lists them)",
                    src.kind(),
                    src.database()
                )))
            }
        }
    }
    if names.is_empty() && early.is_empty() {
        return Err(error::config(
            "no source table matches the [[table]] entries (`ingest tables` lists them)",
        ));
    }
    sources::narrow(&mut names, only)?;
    let mut schemas = vec![];
    for id in &names {
        match super::describe(src, cfg, id) {
            Ok(schema) => schemas.push(schema),
            // The configuration must change: stop before anything is created.
            Err(e) if error::exit_code(&e) == 2 => return Err(e),
            Err(e) => early.push((id.to_string(), format!("{e:#}"))),
        }
    }
    names.retain(|id| {
        schemas
            .iter()
            .any(|x| x.schema == id.schema && x.name == id.name)
    });
    Ok(FullPlan {
        names,
        schemas,
        early,
    })
}
