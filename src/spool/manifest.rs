//! MANIFEST: the last file of a batch, naming its tables, counts, column
//! types, truncate points and positions (TOML).

use std::fs;
use std::io;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::schema::{Column, Conv, TableSchema};

/// A column as the MANIFEST keeps it: enough to create and load the table
/// without asking the source again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestColumn {
    pub name: String,
    pub source_type: String,
    pub dest_type: String,
    #[serde(default)]
    pub binary: bool,
    #[serde(default)]
    pub toastable: bool,
    #[serde(default)]
    pub key: bool,
    #[serde(default = "yes")]
    pub nullable: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestTable {
    pub source: String,
    pub source_schema: String,
    pub source_table: String,
    pub dest_db: String,
    pub dest_table: String,
    pub file: String,
    /// Part number when a snapshot is split into several files (0: whole).
    #[serde(default)]
    pub part: u32,
    pub rows: u64,
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
    /// `_seq` of the last TRUNCATE in this batch: rows at or before it are gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate_seq: Option<u64>,
    /// Every TRUNCATE in this batch: `_seq` and source time (history
    /// tables end the versions live at each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncates: Vec<(u64, String)>,
    /// Some line has a non-NULL `_unch`.
    #[serde(default)]
    pub unchanged: bool,
    /// Every key appears in one line only (deltas; tracked while writing,
    /// false when unknown): the merge can load the lines straight into the
    /// target.
    #[serde(default)]
    pub keys_unique: bool,
    /// ENUM "error values" (index 0) in the file, which a destination
    /// stores only with a warning (1265) each.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub enum_errors: u64,
    /// Values a `type_change` could not convert, written as NULL: (column,
    /// count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bad_values: Vec<(String, u64)>,
    pub columns: Vec<ManifestColumn>,
    /// The table keeps history (as configured when the batch was written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::schema::History>,
    /// The table has no key: its rows are counted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keyless: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ManifestTable {
    /// The table's shape as the destination needs it.
    pub fn schema(&self) -> TableSchema {
        TableSchema {
            // Values were converted when spooled: no limit applies here.
            min_year: 0,
            schema: self.source_schema.clone(),
            name: self.source_table.clone(),
            dest_db: self.dest_db.clone(),
            dest_table: self.dest_table.clone(),
            key: self
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.key)
                .map(|(i, _)| i)
                .collect(),
            columns: self
                .columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    source_type: c.source_type.clone(),
                    dest_type: c.dest_type.clone(),
                    conv: Conv::Verbatim,
                    binary: c.binary,
                    toastable: c.toastable,
                    nullable: c.nullable,
                    masked: false,
                    generated: false,
                    type_change: None,
                })
                .collect(),
            filter: None,
            bad_value_fail: false,
            history: self.history.clone(),
            keyless: self.keyless,
            hashed_key: vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub batch: String,
    pub kind: String,
    pub instance: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pos: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_pos: Option<String>,
    #[serde(default)]
    pub table: Vec<ManifestTable>,
}

pub const MANIFEST: &str = "MANIFEST";

/// Reads a batch's MANIFEST; `None` if the folder holds an unfinished extract.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(toml::from_str(&text).with_context(|| {
            format!("{} is not a valid MANIFEST", path.display())
        })?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
