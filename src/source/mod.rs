//! Sources: where changes come from. Each source splits into I/O (connect,
//! catalog, snapshot, change reading) and a pure decoder tested on captured
//! bytes. Snapshot and stream are separate calls: a full extract records the
//! position first, then snapshots; a delta reads from the committed position.

pub mod mysql;
pub mod postgres;
pub mod sqlserver;

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;

use crate::config::Config;
use crate::error;
use crate::position::Position;
use crate::schema::{TableSchema, Unrepresentable};
use crate::spool::{BatchWriter, ManifestTable, TableWriter};
use crate::table::TableId;

/// What a delta read.
pub struct DeltaOutcome {
    /// Finished table files, one per table that had changes.
    pub tables: Vec<ManifestTable>,
    /// The position after the last transaction read: committed (and
    /// released at the source) once the batch is merged. `None`: nothing read.
    pub to_pos: Option<Position>,
    /// Tables whose changes cannot be applied any more (their structure
    /// changed, say), each with why and the fix: they need a full extract.
    pub changed: crate::change::Stopped,
    pub transactions: u64,
    /// The read stopped at the batch's limit of changes: the log holds more.
    pub more: bool,
    /// The source's commit times of the first and last transaction read.
    pub commits: Option<(String, String)>,
}

/// Runs a table's `where` once, reading no row (`SELECT 1 FROM table WHERE
/// (...) LIMIT 0`; `table`: its quoted name, `run`: the source's query,
/// its message on error); a mistake names the table and the condition.
pub fn check_where(
    s: &TableSchema,
    table: &str,
    run: impl FnOnce(&str) -> std::result::Result<(), String>,
) -> Result<()> {
    let Some(f) = &s.filter else { return Ok(()) };
    run(&format!("SELECT 1 FROM {table} WHERE ({f}) LIMIT 0"))
        .map_err(|m| error::config(format!("table {}: where = \"{f}\": {m}", s.source_name())))
}

/// What a table's fingerprint says happened since its full extract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintChange {
    Same,
    /// Files rewritten: harmless when the batch holds a TRUNCATE of the
    /// whole table (which rewrites them all), else a loss (the reason).
    Rewritten(String),
    /// Rows came or went without changes in the log (the reason).
    Changed(String),
}

/// A catch-up after `sync-struct`: the changes of tables whose changes
/// stopped at a structure change, from there up to where the others are.
pub struct CatchUp {
    /// Per table: where its changes stopped (the start of the transaction
    /// with the structure change).
    pub resume: HashMap<TableId, Position>,
    /// Per table: its changes in that transaction that were applied.
    pub skip: HashMap<TableId, u64>,
    /// The committed position of the deltas: the catch-up ends there.
    pub upto: Position,
    /// Per table: DDL statements before this position are in the
    /// destination already (MySQL/MariaDB).
    pub struct_seen: HashMap<TableId, Position>,
}

/// Where a table's changes wait for sync-struct, as state.db keeps it: the
/// start of the transaction with the structure change, and how many of the
/// table's changes in that transaction were applied before it (PostgreSQL:
/// one transaction can change rows, then the structure, then rows).
pub fn resume_text(at: &str, skip: u64) -> String {
    if skip == 0 {
        at.to_string()
    } else {
        format!("{at} skip={skip}")
    }
}

/// [`resume_text`] read back; `kept` names where it was kept.
pub fn parse_resume(text: &str, kept: &str) -> Result<(Position, u64)> {
    let pos = Position::stored(text, kept)?;
    let skip = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("skip="))
        .map(|n| {
            n.parse()
                .map_err(|_| anyhow::anyhow!("{kept} holds '{text}': bad skip= count"))
        })
        .transpose()?
        .unwrap_or(0);
    Ok((pos, skip))
}

/// What the rows a table had when a column was added to it hold in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fill {
    Null,
    /// This value, as text.
    Value(String),
    /// Not known (computed per row, or an implicit default): why.
    Unknown(String),
}

/// One range of a split snapshot, read on its own thread and connection.
pub trait SnapshotRange: Send {
    /// What the range covers, for the log.
    fn describe(&self) -> String;
    /// Streams the range's rows into `w`; returns the row count.
    fn read(self: Box<Self>, w: &mut TableWriter, ts: &str, warnings: &mut Warnings)
        -> Result<u64>;
}

/// Even boundaries splitting `[lo, hi]` into `n` ranges: `n - 1` values, each
/// the first of a range. Fewer when the span is small.
pub fn split_points(lo: i128, hi: i128, n: usize) -> Vec<i128> {
    let span = hi - lo + 1;
    let n = (n as i128).min(span.max(1));
    (1..n).map(|i| lo + span * i / n).collect()
}

/// What a source's change log says of itself, for `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogState {
    /// PostgreSQL: the replication slot, and where it stands if it exists.
    Slot { name: String, at: Option<String> },
    /// MySQL/MariaDB: the binlog's end now, and the replica id of the dump.
    Binlog { end: String, server_id: u32 },
    /// SQL Server: the Change Tracking version and CDC LSN now.
    Version { at: String },
}

/// A source's catalog: what it is, its prerequisites, its tables.
pub trait Catalog {
    /// "PostgreSQL", "MySQL": names the kind of source in messages.
    fn kind(&self) -> &'static str;
    /// The configured database, named in messages.
    fn database(&self) -> &str;
    /// Checks what deltas need; returns the server version.
    fn check(&mut self) -> Result<String>;
    /// All user tables.
    fn list_tables(&mut self) -> Result<Vec<TableId>>;
    /// Columns, key and destination of one table.
    fn describe(&mut self, cfg: &Config, table: &TableId) -> Result<TableSchema>;
    /// Why a table named in the configuration is not listed, when it exists
    /// but this user may not read it (the fix included); `None` when it
    /// does not exist.
    fn missing_reason(&mut self, _name: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// Text that changes when the table changes at the source in a way its
    /// change log does not carry (PostgreSQL: a partitioned table's leaf
    /// partitions and their files); `None` where there is no such way.
    fn fingerprint(&mut self, _s: &TableSchema) -> Result<Option<String>> {
        Ok(None)
    }
    /// What the change log's reader decodes a described table's changes
    /// with, beyond its description (PostgreSQL: type oids; MySQL: catalog
    /// columns), to keep with it ([`Catalog::restore_shape`]).
    fn shape_extra(&self, _s: &TableSchema) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Reads the changes of `s` with a kept description (the structure the
    /// destination has) instead of the catalog's.
    fn restore_shape(&mut self, _s: &TableSchema, _extra: &serde_json::Value) -> Result<()> {
        Ok(())
    }
    /// Runs the table's `where` once (reading no row), so that a mistake in
    /// it is named before a full extract.
    fn check_filter(&mut self, _s: &TableSchema) -> Result<()> {
        Ok(())
    }
    /// The identities of the table's columns that survive a rename
    /// (PostgreSQL attnums), by name; `None` where the source has none.
    fn column_ids(&mut self, _s: &TableSchema) -> Result<Option<Vec<(String, i64)>>> {
        Ok(None)
    }
    /// The columns DDL statements of the log rename ((old, new), in order)
    /// and drop (MySQL/MariaDB).
    fn ddl_column_changes(&self, _ddl: &[String]) -> (Vec<(String, String)>, Vec<String>) {
        (vec![], vec![])
    }
    /// What the rows that were there when column `col` was added hold in
    /// it; `ddl`: the DDL statements the log showed since the destination
    /// got its structure; `kept`: what [`Catalog::shape_extra`] kept then.
    fn added_fill(
        &mut self,
        _s: &TableSchema,
        _col: usize,
        _ddl: &[String],
        _kept: Option<&serde_json::Value>,
    ) -> Result<Fill> {
        Ok(Fill::Unknown("this source cannot tell".into()))
    }
    /// Runs a read-only query and returns its rows as text (NULL apart),
    /// for `ingest verify`; its results are small (aggregates).
    fn query_text(&mut self, _sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        anyhow::bail!("this source cannot run ingest verify's queries")
    }
    /// What changed between a table's recorded fingerprint and today's.
    fn fingerprint_change(&self, saved: &str, now: &str) -> FingerprintChange {
        if saved == now {
            FingerprintChange::Same
        } else {
            FingerprintChange::Changed(format!("was {saved}, now {now}"))
        }
    }
}

/// Reading tables whole for a full extract.
pub trait Snapshot {
    /// Streams one table into its spool file; returns the row count.
    fn snapshot(
        &mut self,
        s: &TableSchema,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64>;
    /// Splits a big table's snapshot into up to `n` key or block ranges,
    /// each with its own connection, to be read on parallel threads; `None`
    /// where the table is smaller than `min_bytes` or cannot be split.
    /// Together the ranges hold each row once, as one snapshot would.
    fn split_snapshot(
        &mut self,
        _s: &TableSchema,
        _n: usize,
        _min_bytes: u64,
    ) -> Result<Option<Vec<Box<dyn SnapshotRange>>>> {
        Ok(None)
    }
}

/// The change log: keeping changes, reading them in batches, releasing
/// them. Positions are [`Position`]s (PostgreSQL LSN, binlog file:offset
/// with GTIDs); state.db and MANIFESTs keep their text.
pub trait ChangeLog {
    /// Before a full extract of `tables`: makes the source keep every change
    /// from now on; returns that position and whether it is new (nothing
    /// was kept before).
    fn prepare_full(&mut self, tables: &[TableId]) -> Result<(Position, bool)>;
    /// The end of the change log now: read before a table's snapshot, so
    /// that older changes in another shape can be told apart.
    fn current_position(&mut self) -> Result<Position>;
    /// [`ChangeLog::current_position`] for the snapshot of `s`, with what
    /// the source keeps per table (SQL Server: the newest value of its
    /// timestamp column).
    fn table_position(&mut self, _s: &TableSchema) -> Result<Position> {
        self.current_position()
    }
    /// Where the next delta starts (`committed`: the position in state.db);
    /// `None` if no full extract prepared the source yet.
    fn start_position(&mut self, committed: Option<&Position>) -> Result<Option<Position>>;
    /// Before a delta: refuses a change log that went past `released`, the
    /// furthest position this instance ever let go of (state.db's position
    /// or the end of a batch not yet recorded as released): changes in
    /// between were consumed by someone else.
    fn check_position(&mut self, _released: Option<&Position>) -> Result<()> {
        Ok(())
    }
    /// Why a selected, loaded table's changes would not be read, if so.
    fn unreadable(&mut self, table: &TableId) -> Result<Option<String>>;
    /// Reads the changes from `from` to the current end into the batch,
    /// stopping at the first transaction end after `max_changes` changes.
    /// `since`: per table, the position read before its snapshot.
    fn changes(
        &mut self,
        from: &Position,
        tables: &HashMap<TableId, TableSchema>,
        since: &HashMap<TableId, Position>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
        max_changes: u64,
    ) -> Result<DeltaOutcome>;
    /// Keeps the changes of tables that wait for sync-struct from the
    /// position the next release would move past (PostgreSQL: a copy of
    /// the slot); called before that release.
    fn hold(&mut self) -> Result<()> {
        Ok(())
    }
    /// No table waits for sync-struct any more: what `hold` kept goes.
    fn drop_hold(&mut self) -> Result<()> {
        Ok(())
    }
    /// Reads the changes of `tables` from where each stopped up to `c.upto`.
    fn catch_up(
        &mut self,
        _c: &CatchUp,
        _tables: &HashMap<TableId, TableSchema>,
        _batch: &mut BatchWriter,
        _warnings: &mut Warnings,
    ) -> Result<DeltaOutcome> {
        anyhow::bail!("this source cannot read a table's changes again after sync-struct")
    }
    /// Per table: DDL statements before this position are in the
    /// destination already (set before `changes`; MySQL/MariaDB).
    fn set_struct_seen(&mut self, _seen: HashMap<TableId, Position>) {}
    /// Everything up to `to` is merged: the source may forget it.
    fn release(&mut self, to: &Position) -> Result<()>;
    /// Where the change log stands, for `check`.
    fn log_state(&mut self) -> Result<LogState>;
    /// Whether the next delta can start again from `to`, an earlier
    /// position (`ingest rollback`): `None` if so, else why not.
    fn rewind_check(&mut self, _to: &Position) -> Result<Option<String>> {
        Ok(Some("this source cannot read its change log again".into()))
    }
}

/// A source database: its catalog, snapshots and change log. A new source
/// implements the three in its own folder and is registered in one line
/// (`crate::run::source`).
pub trait Source: Catalog + Snapshot + ChangeLog {}

impl<T: Catalog + Snapshot + ChangeLog> Source for T {}

/// The selected tables. Entries without wildcards must name an existing table.
pub fn selected(src: &mut dyn Source, cfg: &Config) -> Result<Vec<TableId>> {
    let (picked, missing) = selected_and_missing(src, cfg)?;
    if let Some(m) = missing.first() {
        return Err(error::config(format!(
            "table {m} not found in source {} database {} (check [[table]] name; `ingest tables` lists them)",
            src.kind(),
            src.database()
        )));
    }
    Ok(picked)
}

/// Whether `name` is among `only` (names or globs; none: every table).
pub fn wanted(only: &[String], name: &str) -> bool {
    only.is_empty() || only.iter().any(|p| crate::config::glob_match(p, name))
}

/// Keeps the tables `only` names (names or globs; none: all); a pattern
/// that matches none of them is a usage error.
pub fn narrow(names: &mut Vec<TableId>, only: &[String]) -> Result<()> {
    let matches = |p: &str, id: &TableId| crate::config::glob_match(p, &id.to_string());
    if let Some(p) = only.iter().find(|p| !names.iter().any(|id| matches(p, id))) {
        return Err(error::config(format!(
            "{p} matches no selected table (`ingest tables` lists them)"
        )));
    }
    if !only.is_empty() {
        names.retain(|id| only.iter().any(|p| matches(p, id)));
    }
    Ok(())
}

/// The selected tables, and the entries without wildcards that name no table.
pub fn selected_and_missing(
    src: &mut dyn Source,
    cfg: &Config,
) -> Result<(Vec<TableId>, Vec<String>)> {
    let picked: Vec<TableId> = src
        .list_tables()?
        .into_iter()
        .filter(|id| cfg.rule_for(&id.schema, &id.name).is_some())
        .collect();
    let missing = cfg
        .tables
        .iter()
        .filter(|r| !r.pattern.contains(['*', '?']))
        .filter(|r| !picked.iter().any(|id| id.to_string() == r.pattern))
        .map(|r| r.pattern.clone())
        .collect();
    Ok((picked, missing))
}

/// Values written as NULL because the destination cannot hold them, counted
/// per table, column and reason; logged and kept in state.db after the run.
/// (table, column, why).
type WarnKey = (String, String, Unrepresentable);

/// Values written as NULL because the destination cannot hold them: the
/// count per table, column and reason (`.0`), and the key of the first
/// such row (`.1`: `id=5`), set by [`Warnings::keyed`] after each row.
#[derive(Debug, Default)]
pub struct Warnings(
    pub BTreeMap<WarnKey, u64>,
    pub BTreeMap<WarnKey, String>,
    Vec<WarnKey>,
);

/// `name=value, ...` of a row's key columns (`value`: a column's text, None
/// for NULL), for messages; long values are cut.
pub fn key_text(s: &TableSchema, value: impl Fn(usize) -> Option<String>) -> String {
    s.key
        .iter()
        .map(|&k| {
            let v = value(k).unwrap_or_else(|| "NULL".into());
            let v = if v.chars().count() > 60 {
                format!("{}...", v.chars().take(60).collect::<String>())
            } else {
                v
            };
            format!("{}={v}", s.columns[k].name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Warnings {
    /// The converted value, or NULL with the reason counted.
    pub fn or_null<T>(
        &mut self,
        r: Result<Option<T>, Unrepresentable>,
        table: &str,
        column: &str,
    ) -> Option<T> {
        r.unwrap_or_else(|why| {
            self.add(table, column, why);
            None
        })
    }

    /// Adds the counts of another thread's warnings.
    pub fn merge(&mut self, other: Warnings) {
        for (k, v) in other.0 {
            *self.0.entry(k).or_default() += v;
        }
        for (k, v) in other.1 {
            self.1.entry(k).or_insert(v);
        }
    }

    /// After a row: the values it added are the first of their kind when
    /// none was keyed before; `key` names the row (called only then).
    pub fn keyed(&mut self, key: impl FnOnce() -> String) {
        if self.2.is_empty() {
            return;
        }
        let k = key();
        for w in self.2.drain(..) {
            self.1.entry(w).or_insert_with(|| k.clone());
        }
    }

    /// The values a `type_change` did not convert in these table files.
    pub fn add_bad_values(&mut self, files: &[crate::spool::ManifestTable]) {
        for t in files {
            for (column, n) in &t.bad_values {
                *self
                    .0
                    .entry((
                        t.source.clone(),
                        column.clone(),
                        Unrepresentable::NotConvertible,
                    ))
                    .or_default() += n;
            }
        }
    }

    pub fn add(&mut self, table: &str, column: &str, why: Unrepresentable) {
        let w = (table.to_string(), column.to_string(), why);
        if !self.1.contains_key(&w) && !self.2.contains(&w) {
            self.2.push(w.clone());
        }
        *self.0.entry(w).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::split_points;

    #[test]
    fn split_points_are_even_and_within_the_span() {
        assert_eq!(split_points(1, 100, 4), vec![26, 51, 76]);
        assert_eq!(split_points(-10, 9, 2), vec![0]);
        assert_eq!(split_points(5, 6, 4), vec![6]);
        assert_eq!(split_points(7, 7, 4), Vec::<i128>::new());
        assert_eq!(split_points(i64::MIN as i128, i64::MAX as i128, 2), vec![0]);
    }
}
