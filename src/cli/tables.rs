//! `ingest tables`.

use anyhow::Result;

use crate::config::Config;
use crate::meta::Meta;

/// `ingest tables`: source tables, the selected ones marked.
pub fn tables(cfg: &Config, meta: &Meta) -> Result<()> {
    let mut src = crate::run::source(cfg)?;
    let all = src.list_tables()?;
    for id in &all {
        let name = id.to_string();
        let sel = cfg.rule_for(&id.schema, &id.name).is_some();
        let state = meta.table_state(&name)?.map(|st| st.status);
        println!(
            "{} {name}{}",
            if sel { "*" } else { " " },
            state.map(|s| format!("  [{s}]")).unwrap_or_default()
        );
    }
    println!(
        "{} table(s), {} selected (*)",
        all.len(),
        all.iter()
            .filter(|id| cfg.rule_for(&id.schema, &id.name).is_some())
            .count()
    );
    Ok(())
}
