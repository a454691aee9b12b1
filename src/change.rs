//! The one boundary every source's decoder writes to: changes in, spool
//! lines out.
//!
//! A decoder turns its log's bytes (pgoutput messages, binlog row images,
//! later SQL_REDO and CT/CDC rows) into inserts, updates, deletes and
//! truncates of rows given as [`Row`]s of [`Cell`]s; the [`ChangeSink`]
//! does what every source needs done the same way:
//!
//! - the order of the batch (`_seq`) and the commit time of each line;
//! - one spool file per table, opened at its first change;
//! - an update that changes the key becomes a delete of the old key and an
//!   insert of the new row; a key column the log marks unchanged holds the
//!   old row's value (PostgreSQL 15+ logs the old key when a key value is
//!   stored out of line);
//! - unchanged values (PostgreSQL TOAST) of a moved row are taken from the
//!   whole old row where the log sends one, else the row is handed back to
//!   the decoder to complete from the source ([`Update::Incomplete`]);
//! - under a whole-old-row delete (REPLICA IDENTITY FULL), a delete that
//!   removes an older row than the one the batch put at its key is dropped
//!   (see [`Puts`]);
//! - a change in another shape than the table has: skipped when older than
//!   the table's snapshot, else the table fails, once, with the reason.
//!
//! Cells are the log's values; the sink writes them through a [`Texts`]
//! converter of the decoder's (PostgreSQL: text form to spool text; MySQL:
//! converted already), lazily, straight into the line. Everything is
//! generic: no dynamic dispatch on the row path.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use anyhow::{bail, Result};

use crate::schema::TableSchema;
use crate::spool::{BatchWriter, ManifestTable, Op, TableWriter};
use crate::table::TableError;
use crate::table::TableId;

/// Tables whose changes stopped in a batch, each with why and the fix.
pub type Stopped = Vec<TableError>;

/// One value of a change, as the decoder has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell<'a> {
    Null,
    /// The log did not carry the value: it did not change (PostgreSQL's
    /// unchanged TOAST).
    Unchanged,
    Value(&'a [u8]),
}

/// A row of cells, one per column of the table.
pub trait Row {
    fn len(&self) -> usize;
    fn cell(&self, i: usize) -> Cell<'_>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Row for [Cell<'_>] {
    fn len(&self) -> usize {
        <[Cell<'_>]>::len(self)
    }
    fn cell(&self, i: usize) -> Cell<'_> {
        self[i]
    }
}

/// A row with its unchanged cells taken from another row of the same table
/// (`keys_only`: only the key columns').
struct Filled<'r, N: ?Sized, O: ?Sized> {
    new: &'r N,
    old: &'r O,
    key: &'r [usize],
    keys_only: bool,
}

impl<N: Row + ?Sized, O: Row + ?Sized> Row for Filled<'_, N, O> {
    fn len(&self) -> usize {
        self.new.len()
    }
    fn cell(&self, i: usize) -> Cell<'_> {
        match self.new.cell(i) {
            Cell::Unchanged if !self.keys_only || self.key.contains(&i) => {
                if i < self.old.len() {
                    self.old.cell(i)
                } else {
                    Cell::Null
                }
            }
            c => c,
        }
    }
}

/// Turns a cell's bytes into the spool text of column `col` (`None`: the
/// value cannot be held, written as NULL; the converter counts why).
pub trait Texts {
    fn text<'v>(&mut self, s: &TableSchema, col: usize, v: &'v [u8]) -> Option<Cow<'v, [u8]>>;
    /// After a row's values: `key` names the row (for the first value of
    /// a kind the destination cannot hold).
    fn keyed(&mut self, _key: &dyn Fn() -> String) {}
}

/// Cells that are spool text already.
pub struct AsIs;

impl Texts for AsIs {
    fn text<'v>(&mut self, _: &TableSchema, _: usize, v: &'v [u8]) -> Option<Cow<'v, [u8]>> {
        Some(Cow::Borrowed(v))
    }
}

/// A key change whose new row lacks values the log did not carry: the
/// decoder completes it from the source and writes it with
/// [`ChangeSink::write_at`] under its `seq` and `ts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    pub table: TableId,
    pub seq: u64,
    pub ts: String,
    /// The row's values (`None`: NULL or not carried).
    pub row: Vec<Option<Vec<u8>>>,
    /// Which columns the log did not carry.
    pub unchanged: Vec<bool>,
}

impl Incomplete {
    /// The row's key values as the log had them (empty for NULL), to find
    /// it at the source and to tell its later changes.
    pub fn key_texts(&self, s: &TableSchema) -> Vec<Vec<u8>> {
        s.key
            .iter()
            .map(|&k| self.row[k].clone().unwrap_or_default())
            .collect()
    }
}

/// What an update needs from the decoder.
#[derive(Debug, PartialEq, Eq)]
pub enum Update {
    Done,
    Incomplete(Incomplete),
}

/// What a source's change log must tell about a table's changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Table {
    /// Deletes and key changes carry the whole old row (REPLICA IDENTITY
    /// FULL): a delete can be told from the row the batch put at its key.
    pub whole_old_rows: bool,
}

/// Writes a batch's changes as spool lines, one writer per table.
pub struct ChangeSink<'t, 'b> {
    tables: &'t HashMap<TableId, TableSchema>,
    batch: &'b mut BatchWriter,
    writers: HashMap<TableId, TableWriter>,
    seq: u64,
    ts: String,
    /// Tables that cannot go on in this batch, with why and the fix.
    changed: Stopped,
    puts: Puts,
    first_ts: Option<String>,
}

impl<'t, 'b> ChangeSink<'t, 'b> {
    pub fn new(tables: &'t HashMap<TableId, TableSchema>, batch: &'b mut BatchWriter) -> Self {
        ChangeSink {
            tables,
            batch,
            writers: HashMap::new(),
            seq: 0,
            ts: crate::clock::format_micros(0),
            changed: vec![],
            puts: Puts::default(),
            first_ts: None,
        }
    }

    pub fn tables(&self) -> &'t HashMap<TableId, TableSchema> {
        self.tables
    }

    /// A transaction committed at `ts` (UTC text) starts.
    pub fn set_ts(&mut self, ts: String) {
        if self.first_ts.is_none() {
            self.first_ts = Some(ts.clone());
        }
        self.ts = ts;
    }

    /// The commit times of the first and last transaction read.
    pub fn commits(&self) -> Option<(String, String)> {
        Some((self.first_ts.clone()?, self.ts.clone()))
    }

    pub fn ts(&self) -> &str {
        &self.ts
    }

    /// Changes written (or dropped) so far: the batch's last `_seq`.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether the table's changes stopped in this batch.
    pub fn is_changed(&self, table: &TableId) -> bool {
        self.changed.iter().any(|e| e.table == *table)
    }

    /// The table's changes stop: `why` says why, with the fix; `at`: the
    /// log position where that was found, when known. Logged once.
    pub fn fail_table(&mut self, table: &TableId, at: Option<&str>, why: String) {
        if !self.is_changed(table) {
            log::error!("{table}: {why}");
            self.changed.push(TableError {
                table: table.clone(),
                at: at.map(str::to_string),
                why,
                resume: None,
                ddl: vec![],
            });
        }
    }

    /// A change in another shape than the table has, at `at`: skipped when
    /// `older` than the table's snapshot (which holds it; returns false),
    /// else the table's changes stop (returns true): they wait at `resume`
    /// (the start of the transaction) for `sync-struct`, which brings the
    /// destination to the new structure and applies them from there; `ddl`:
    /// the statement that changed it, where the log has one.
    pub fn shape_changed(
        &mut self,
        table: &TableId,
        older: bool,
        at: &str,
        what: &str,
        resume: &str,
        ddl: Option<&str>,
    ) -> bool {
        if older {
            return false;
        }
        if self.is_changed(table) {
            self.more_ddl(table, ddl);
            return true;
        }
        let why = format!(
            "structure changed at {at} ({what}); its changes from {resume} on wait: run \
             `ingest sync-struct {table}` to change the destination table and apply them \
             (or `ingest full-extract {table}`)"
        );
        log::error!("{table}: {why}");
        self.changed.push(TableError {
            table: table.clone(),
            at: Some(at.to_string()),
            why,
            resume: Some(resume.to_string()),
            ddl: ddl.map(str::to_string).into_iter().collect(),
        });
        true
    }

    /// A later DDL statement of a table whose changes wait for sync-struct.
    pub fn more_ddl(&mut self, table: &TableId, ddl: Option<&str>) {
        if let (Some(sql), Some(e)) = (ddl, self.changed.iter_mut().find(|e| e.table == *table)) {
            if e.resume.is_some() {
                e.ddl.push(sql.to_string());
            }
        }
    }

    pub fn insert<R: Row + ?Sized>(
        &mut self,
        table: &TableId,
        row: &R,
        t: Table,
        texts: &mut impl Texts,
    ) -> Result<()> {
        self.seq += 1;
        let seq = self.seq;
        self.put(table, Op::Insert, seq, row, t, texts)
    }

    /// An update; `old`: the old row or key where the log sends it.
    pub fn update<N: Row + ?Sized, O: Row + ?Sized>(
        &mut self,
        table: &TableId,
        old: Option<&O>,
        new: &N,
        t: Table,
        texts: &mut impl Texts,
    ) -> Result<Update> {
        let s = &self.tables[table];
        let Some(old) = old else {
            if let Some(&k) = s.key.iter().find(|&&k| new.cell(k) == Cell::Unchanged) {
                let why = format!(
                    "an update carries no value for key column {} (stored out of line and unchanged; \
                     PostgreSQL before 15 does not log it): use a key that is never stored out of \
                     line, then run `ingest full-extract {}`",
                    s.columns[k].name,
                    s.source_name()
                );
                self.fail_table(table, None, why);
                return Ok(Update::Done);
            }
            self.seq += 1;
            let seq = self.seq;
            self.put(table, Op::Update, seq, new, t, texts)?;
            return Ok(Update::Done);
        };
        // Key columns the log marks unchanged hold the old key's values.
        let new = Filled {
            new,
            old,
            key: &s.key,
            keys_only: true,
        };
        let key_changed = s.key.iter().any(|&k| old.cell(k) != new.cell(k));
        self.seq += 1;
        let seq = self.seq;
        if !key_changed {
            self.put(table, Op::Update, seq, &new, t, texts)?;
            return Ok(Update::Done);
        }
        if !(t.whole_old_rows && self.puts.stale_delete(s, table, old)) {
            self.write(table, Op::Delete, seq, old, texts)?;
        }
        self.seq += 1;
        let seq = self.seq;
        // Unchanged values of the moved row: a whole old row has them.
        let row = Filled {
            new: &new,
            old,
            key: &s.key,
            keys_only: !t.whole_old_rows,
        };
        if (0..row.len()).any(|i| row.cell(i) == Cell::Unchanged) {
            return Ok(Update::Incomplete(self.incomplete(table, seq, &row)));
        }
        self.put(table, Op::Insert, seq, &row, t, texts)?;
        Ok(Update::Done)
    }

    /// An insert whose row lacks values the log did not carry (MySQL's
    /// `binlog_row_image = MINIMAL` logs the columns the statement named):
    /// handed back to be completed from the source, at its place.
    pub fn incomplete_insert<R: Row + ?Sized>(&mut self, table: &TableId, row: &R) -> Incomplete {
        self.seq += 1;
        self.incomplete(table, self.seq, row)
    }

    /// An update whose new row lacks a value that must be read back (a
    /// MySQL JSON value logged as a diff): handed back whole, its key
    /// taken from the old row where the new one does not log it.
    pub fn incomplete_update<O: Row + ?Sized, N: Row + ?Sized>(
        &mut self,
        table: &TableId,
        old: &O,
        new: &N,
    ) -> Incomplete {
        let s = &self.tables[table];
        let row = Filled {
            new,
            old,
            key: &s.key,
            keys_only: true,
        };
        self.seq += 1;
        self.incomplete(table, self.seq, &row)
    }

    fn incomplete<R: Row + ?Sized>(&self, table: &TableId, seq: u64, row: &R) -> Incomplete {
        Incomplete {
            table: table.clone(),
            seq,
            ts: self.ts.clone(),
            row: (0..row.len())
                .map(|i| match row.cell(i) {
                    Cell::Value(v) => Some(v.to_vec()),
                    Cell::Null | Cell::Unchanged => None,
                })
                .collect(),
            unchanged: (0..row.len())
                .map(|i| row.cell(i) == Cell::Unchanged)
                .collect(),
        }
    }

    /// A delete, identified by its old row or key.
    pub fn delete<O: Row + ?Sized>(
        &mut self,
        table: &TableId,
        old: &O,
        t: Table,
        texts: &mut impl Texts,
    ) -> Result<()> {
        self.seq += 1;
        let seq = self.seq;
        let s = &self.tables[table];
        if t.whole_old_rows && self.puts.stale_delete(s, table, old) {
            return Ok(());
        }
        self.write(table, Op::Delete, seq, old, texts)
    }

    /// A TRUNCATE of the table: everything before it in the batch is gone.
    pub fn truncate(&mut self, table: &TableId) -> Result<()> {
        self.seq += 1;
        let seq = self.seq;
        self.puts.truncate(table);
        let ts = self.ts.clone();
        self.writer(table)?.truncate(seq, &ts);
        Ok(())
    }

    /// Writes a line as a put (tracking it where deletes carry whole rows).
    fn put<R: Row + ?Sized>(
        &mut self,
        table: &TableId,
        op: Op,
        seq: u64,
        row: &R,
        t: Table,
        texts: &mut impl Texts,
    ) -> Result<()> {
        self.write(table, op, seq, row, texts)?;
        if t.whole_old_rows {
            self.puts.put(&self.tables[table], table, row);
        }
        Ok(())
    }

    /// Writes one line of `row` at `seq`, with the batch's current time.
    pub fn write<R: Row + ?Sized>(
        &mut self,
        table: &TableId,
        op: Op,
        seq: u64,
        row: &R,
        texts: &mut impl Texts,
    ) -> Result<()> {
        let ts = std::mem::take(&mut self.ts);
        let r = self.write_at(table, op, seq, &ts, row, texts);
        self.ts = ts;
        r
    }

    /// Writes one line of `row` at `seq` and `ts` (a row completed later).
    pub fn write_at<R: Row + ?Sized>(
        &mut self,
        table: &TableId,
        op: Op,
        seq: u64,
        ts: &str,
        row: &R,
        texts: &mut impl Texts,
    ) -> Result<()> {
        let s = &self.tables[table];
        if row.len() != s.columns.len() {
            bail!(
                "{}: change has {} values for {} columns",
                s.source_name(),
                row.len(),
                s.columns.len()
            );
        }
        let unchanged: Vec<usize> = (0..row.len())
            .filter(|&i| row.cell(i) == Cell::Unchanged)
            .map(|i| i + 1)
            .collect();
        let w = self.writer(table)?;
        let written = w.write(
            op,
            seq,
            ts,
            &unchanged,
            (0..row.len()).map(|i| match row.cell(i) {
                // `mask`: never written, whatever the log carried.
                Cell::Value(_) if s.columns[i].masked => None,
                Cell::Value(v) => texts.text(s, i, v),
                Cell::Null | Cell::Unchanged => None,
            }),
        );
        texts.keyed(&|| {
            crate::source::key_text(s, |k| match row.cell(k) {
                Cell::Value(v) => Some(String::from_utf8_lossy(v).into_owned()),
                Cell::Null | Cell::Unchanged => None,
            })
        });
        if let Err(e) = written {
            // `on_bad_value = "fail"`: the table stops, the others go on.
            let Some(bad) = e.downcast_ref::<crate::type_change::BadValue>() else {
                return Err(e);
            };
            let why = format!(
                "{bad} (on_bad_value = \"fail\"): fix the value or the type_change, then run \
                 `ingest full-extract {}`",
                s.source_name()
            );
            self.fail_table(table, None, why);
            return Ok(());
        }
        if seq == 1 {
            crate::fault::point("delta-row");
        }
        Ok(())
    }

    /// The table's spool writer, opened at its first change.
    fn writer(&mut self, table: &TableId) -> Result<&mut TableWriter> {
        if !self.writers.contains_key(table) {
            let w = self.batch_table(table)?;
            self.writers.insert(table.clone(), w);
        }
        Ok(self.writers.get_mut(table).expect("writer opened above"))
    }

    fn batch_table(&mut self, table: &TableId) -> Result<TableWriter> {
        self.batch.table(&self.tables[table])
    }

    /// The finished table files (by file name) and the tables that stopped.
    pub fn finish(self) -> Result<(Vec<ManifestTable>, Stopped)> {
        let mut tables = vec![];
        for (_, w) in self.writers {
            tables.push(w.finish()?);
        }
        tables.sort_by(|a, b| a.file.cmp(&b.file));
        Ok((tables, self.changed))
    }
}

/// The row this batch last put at each key of a table whose deletes carry
/// whole old rows, as hashes, to tell which row a delete removes.
///
/// Within one statement on a table whose unique key is checked at the end
/// (`DEFERRABLE`), two rows can hold one key for a moment: `UPDATE t SET id =
/// id + 1` moves row 1 to key 2 while row 2 is still there, and row 2's own
/// move then deletes key 2 (`id = 3 - id` swaps do the same). Each move is a
/// delete of the old key and an insert of the new row, and "last change per
/// key" would take that delete for the end of the row just put at key 2:
/// 1,000 shifted rows left one. Under FULL identity a delete carries its old
/// row: when that differs from the row this batch last put at its key, it
/// removes the older row, which the put already replaced, and is dropped.
/// (A row identical to the one put, key included, cannot be told apart:
/// then the delete is applied, as always before.)
#[derive(Default)]
struct Puts(HashMap<TableId, HashMap<u64, Put>>);

/// Hash of a put row's values, over the columns it carried (unchanged
/// TOAST values excluded; their positions kept, usually none).
struct Put {
    row: u64,
    unchanged: Box<[usize]>,
}

impl Puts {
    fn key_hash<R: Row + ?Sized>(s: &TableSchema, row: &R) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        for &k in &s.key {
            (k < row.len()).then(|| row.cell(k)).hash(&mut h);
        }
        h.finish()
    }

    fn row_hash<R: Row + ?Sized>(row: &R, skip: &[usize]) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        for i in 0..row.len() {
            if !skip.contains(&i) {
                row.cell(i).hash(&mut h);
            }
        }
        h.finish()
    }

    fn put<R: Row + ?Sized>(&mut self, s: &TableSchema, table: &TableId, row: &R) {
        let unchanged: Box<[usize]> = (0..row.len())
            .filter(|&i| row.cell(i) == Cell::Unchanged)
            .collect();
        let hash = Self::row_hash(row, &unchanged);
        let key = Self::key_hash(s, row);
        if !self.0.contains_key(table) {
            self.0.insert(table.clone(), HashMap::new());
        }
        if let Some(t) = self.0.get_mut(table) {
            t.insert(
                key,
                Put {
                    row: hash,
                    unchanged,
                },
            );
        }
    }

    /// Whether a delete (its whole old row) removes an older row than the
    /// one this batch put at its key: then it must not be applied. A delete
    /// that is applied ends what the batch put there.
    fn stale_delete<R: Row + ?Sized>(&mut self, s: &TableSchema, table: &TableId, old: &R) -> bool {
        let Some(t) = self.0.get_mut(table) else {
            return false;
        };
        let key = Self::key_hash(s, old);
        match t.get(&key) {
            Some(p) if p.row != Self::row_hash(old, &p.unchanged) => true,
            Some(_) => {
                t.remove(&key);
                false
            }
            None => false,
        }
    }

    /// A TRUNCATE: nothing put before it is left.
    fn truncate(&mut self, table: &TableId) {
        self.0.remove(table);
    }
}

#[cfg(test)]
#[path = "change_tests.rs"]
pub(crate) mod tests;
