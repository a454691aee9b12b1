//! Row events → changes of the batch's [`ChangeSink`]: the decoding half
//! of the MySQL source (no I/O).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use anyhow::{Context, Result};
use mysql::binlog::events::RowsEventData;

use super::column::MyCol;
use super::rows::{row_texts, Raw, RowLayout};
use super::values::Text;
use super::{before, pos_text};
use crate::change::{AsIs, Cell, ChangeSink, Incomplete, Row, Table, Update};
use crate::source::Warnings;
use crate::table::TableId;
use mysql_common::binlog::value::BinlogValue;

/// A row image converted to spool texts (some kept in a scratch buffer).
struct Converted<'r> {
    vals: &'r [Option<Text<'r>>],
    scratch: &'r [u8],
    /// The columns the image logged, when not all: the others are
    /// unchanged (an update) or not named (an insert).
    logged: Option<&'r [bool]>,
}

impl Row for Converted<'_> {
    fn len(&self) -> usize {
        self.vals.len()
    }
    fn cell(&self, i: usize) -> Cell<'_> {
        if self.logged.is_some_and(|l| !l[i]) {
            return Cell::Unchanged;
        }
        match &self.vals[i] {
            Some(t) => Cell::Value(t.get(self.scratch)),
            None => Cell::Null,
        }
    }
}

/// Turns row events into changes, one writer per table.
pub(super) struct RowDecoder<'t, 'b> {
    pub(super) sink: ChangeSink<'t, 'b>,
    pub(super) cols: &'t HashMap<TableId, Vec<MyCol>>,
    pub(super) since: HashMap<TableId, (String, u64)>,
    /// Per table: its DDL statements before this position are in the
    /// destination already (it was synced after them).
    pub(super) struct_seen: HashMap<TableId, (String, u64)>,
    /// Where the transaction being read starts, as position text: a table
    /// whose structure changed in it waits there for sync-struct.
    pub(super) txn_start: String,
    /// Tables with rows in this read (a DDL statement skipped by
    /// `struct_seen` after them means they were read in the wrong shape).
    pub(super) with_rows: HashSet<TableId>,
    /// Converted values of the current row's images (reused).
    pub(super) scratch: Vec<u8>,
    pub(super) scratch_before: Vec<u8>,
    pub(super) layouts: Layouts,
    /// Per layout: why its rows are not of the described table, if so.
    pub(super) verdicts: HashMap<usize, LayoutVerdict>,
    /// Rows the log did not carry whole, to complete from the source.
    pub(super) deferred: Vec<Incomplete>,
    /// The keys of this batch's deferred rows: a later update of one that
    /// lacks values is deferred too (had the source lost the row since,
    /// nothing would be written before it to fill them from).
    pub(super) deferred_keys: HashSet<(TableId, Vec<Vec<u8>>)>,
}

/// A layout (held, so its address stays its own) and how it compares.
type LayoutVerdict = (Rc<RowLayout>, Option<String>);

/// Row layouts by table id, each read once from its table map. The server
/// repeats a table's map before every transaction's rows: the layout is
/// dropped only when the map's bytes differ (the table was altered, or the
/// id reused).
#[derive(Default)]
pub(super) struct Layouts(HashMap<u64, (Vec<u8>, Option<Rc<RowLayout>>)>);

impl Layouts {
    /// A table map event's data went by.
    pub(super) fn table_map(&mut self, data: &[u8]) {
        let Some(id) = data.get(..6) else { return };
        let id = id.iter().rev().fold(0u64, |a, &b| (a << 8) | u64::from(b));
        match self.0.get_mut(&id) {
            Some((seen, _)) if seen.as_slice() == data => {}
            _ => {
                self.0.insert(id, (data.to_vec(), None));
            }
        }
    }

    pub(super) fn get(
        &mut self,
        tme: &mysql::binlog::events::TableMapEvent<'_>,
    ) -> std::io::Result<Rc<RowLayout>> {
        let entry = self
            .0
            .entry(tme.table_id())
            .or_insert_with(|| (vec![], None));
        if let Some(l) = &entry.1 {
            return Ok(l.clone());
        }
        let l = Rc::new(RowLayout::new(tme)?);
        entry.1 = Some(l.clone());
        Ok(l)
    }
}

impl RowDecoder<'_, '_> {
    /// A row to complete from the source, its key remembered.
    fn defer(&mut self, d: Incomplete) {
        let key = d.key_texts(&self.sink.tables()[&d.table]);
        self.deferred_keys.insert((d.table.clone(), key));
        self.deferred.push(d);
    }

    /// Marks a table changed unless the change is older than its snapshot.
    pub(super) fn structure_changed(
        &mut self,
        key: &TableId,
        at: &(String, u64),
        what: &str,
        ddl: Option<&str>,
    ) -> bool {
        let older = self.since.get(key).is_some_and(|s| before(at, s));
        let resume = if self.txn_start.is_empty() {
            pos_text(&at.0, at.1)
        } else {
            self.txn_start.clone()
        };
        self.sink
            .shape_changed(key, older, &pos_text(&at.0, at.1), what, &resume, ddl)
    }

    /// A DDL statement of a selected table at `at`: its structure changed,
    /// unless the destination was synced after it.
    pub(super) fn ddl(&mut self, key: &TableId, at: &(String, u64), sql: &str) {
        if self.struct_seen.get(key).is_some_and(|s| before(at, s)) {
            if self.with_rows.contains(key) {
                // Rows before it were read in the structure described after
                // it: a change that keeps every type (a reorder, say)
                // would put their values in the wrong columns unseen.
                let why = format!(
                    "statement `{sql}` at {} changed its structure after rows this read decoded in \
                     the structure described later (it changed more than once between two reads \
                     of the binlog): run `ingest full-extract {key}`",
                    pos_text(&at.0, at.1)
                );
                self.sink.fail_table(key, Some(&pos_text(&at.0, at.1)), why);
            }
            return;
        }
        self.structure_changed(key, at, &format!("statement `{sql}`"), Some(sql));
    }

    pub(super) fn rows(
        &mut self,
        key: &TableId,
        re: &mysql::binlog::events::RowsEventData<'_>,
        tme: &mysql::binlog::events::TableMapEvent<'_>,
        at: &(String, u64),
        warnings: &mut Warnings,
    ) -> Result<()> {
        if self.sink.is_changed(key) {
            return Ok(());
        }
        if !self.with_rows.contains(key) {
            self.with_rows.insert(key.clone());
        }
        let s = &self.sink.tables()[key];
        let at_text = || format!("{key} at {}", pos_text(&at.0, at.1));
        let layout = self
            .layouts
            .get(tme)
            .with_context(|| format!("reading the table map of {}", at_text()))?;
        // A layout is compared with the catalog once (per table map seen).
        let id = Rc::as_ptr(&layout) as usize;
        let differs = match self.verdicts.get(&id) {
            Some((l, v)) if Rc::ptr_eq(l, &layout) => v.clone(),
            _ => {
                let v = layout.differs_from(&self.cols[key]);
                self.verdicts.insert(id, (layout.clone(), v.clone()));
                v
            }
        };
        if let Some(what) = differs {
            // Older than the snapshot, in another shape: the snapshot has
            // it; otherwise the table is marked changed.
            self.structure_changed(key, at, &what, None);
            return Ok(());
        }
        let n = s.columns.len();
        // MINIMAL and NOBLOB images leave columns out: which are logged.
        let before_mask = re
            .columns_before_image()
            .and_then(|b| logged_columns(b.len(), n, |i| b[i]));
        let after_mask = re
            .columns_after_image()
            .and_then(|b| logged_columns(b.len(), n, |i| b[i]));
        // A row is found by its key: an image without a key column cannot
        // be applied (MINIMAL logs the primary key; `key = [...]` may name
        // other columns).
        let keyless = |m: &Option<Vec<bool>>| {
            m.as_ref()
                .and_then(|m| s.key.iter().find(|&&k| !m[k]))
                .map(|&k| s.columns[k].name.clone())
        };
        let has_before = re.columns_before_image().is_some();
        let has_after = re.columns_after_image().is_some();
        let missing_key = if has_before {
            keyless(&before_mask)
        } else {
            keyless(&after_mask)
        };
        if let Some(col) = missing_key {
            let why = format!(
                "a rows event at {} does not log key column {col} (binlog_row_image = MINIMAL logs the \
                 primary key only): make the configured key the primary key, or set binlog_row_image = \
                 FULL, then run `ingest full-extract {key}`",
                pos_text(&at.0, at.1)
            );
            self.sink.fail_table(key, Some(&pos_text(&at.0, at.1)), why);
            return Ok(());
        }
        let shared_image = matches!(re, RowsEventData::PartialUpdateRowsEvent(_));
        let mut data = mysql_common::io::ParseBuf(re.rows_data());
        let mut b: Vec<Raw<'_>> = Vec::with_capacity(n);
        let mut a: Vec<Raw<'_>> = Vec::with_capacity(n);
        let cols = &self.cols[key];
        let table = key.to_string();
        // Counted after each image, with the row's key (the first of a kind).
        let noted = std::cell::RefCell::new(Vec::new());
        let mut warn = |c: &MyCol, why| noted.borrow_mut().push((c.name.clone(), why));
        let mut counted = |vals: &[Option<Text<'_>>], scratch: &[u8]| {
            for (c, why) in noted.borrow_mut().drain(..) {
                warnings.add(&table, &c, why);
            }
            warnings.keyed(|| {
                crate::source::key_text(s, |k| {
                    vals.get(k)
                        .and_then(|v| v.as_ref())
                        .map(|t| String::from_utf8_lossy(t.get(scratch)).into_owned())
                })
            });
        };
        let t = Table::default();
        // A value that cannot be read (bytes not valid in the column's
        // character set, a partial JSON update): the table stops here.
        let mut stop = None;
        while !data.0.is_empty() {
            if has_before {
                layout
                    .read_image(&mut data, false, before_mask.as_deref(), &mut b)
                    .with_context(|| format!("decoding rows of {}", at_text()))?;
            }
            if has_after {
                match layout.read_image(&mut data, shared_image, after_mask.as_deref(), &mut a) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                        stop = Some(e.to_string());
                        break;
                    }
                    Err(e) => {
                        return Err(e).with_context(|| format!("decoding rows of {}", at_text()))
                    }
                }
            }
            let mut vals = Vec::with_capacity(n);
            match (has_before, has_after) {
                (false, true) => {
                    if let Err(e) = row_texts(cols, &a, &mut self.scratch, &mut vals, &mut warn) {
                        stop = Some(e);
                        break;
                    }
                    counted(&vals, &self.scratch);
                    let row = Converted {
                        vals: &vals,
                        scratch: &self.scratch,
                        logged: after_mask.as_deref(),
                    };
                    if after_mask.is_some() {
                        // The columns the statement did not name hold
                        // defaults the log does not tell: from the source.
                        let d = self.sink.incomplete_insert(key, &row);
                        self.defer(d);
                    } else {
                        self.sink.insert(key, &row, t, &mut AsIs)?;
                    }
                }
                (true, false) => {
                    if let Err(e) = row_texts(cols, &b, &mut self.scratch, &mut vals, &mut warn) {
                        stop = Some(e);
                        break;
                    }
                    counted(&vals, &self.scratch);
                    // A delete needs its key only: absent values are NULL.
                    let row = Converted {
                        vals: &vals,
                        scratch: &self.scratch,
                        logged: None,
                    };
                    self.sink.delete(key, &row, t, &mut AsIs)?;
                }
                (true, true) => {
                    // JSON values logged as diffs (PARTIAL_JSON): their new
                    // value is not in the event; the row is read back.
                    let diffs = shared_image
                        .then(|| {
                            a.iter()
                                .map(|v| !matches!(v, Raw::Value(BinlogValue::JsonDiff(_))))
                                .collect::<Vec<bool>>()
                        })
                        .filter(|m| m.contains(&false));
                    let logged = match (&after_mask, &diffs) {
                        (Some(m), Some(d)) => {
                            Some(m.iter().zip(d).map(|(x, y)| *x && *y).collect())
                        }
                        (m, d) => m.clone().or_else(|| d.clone()),
                    };
                    if let Err(e) = row_texts(cols, &a, &mut self.scratch, &mut vals, &mut warn) {
                        stop = Some(e);
                        break;
                    }
                    counted(&vals, &self.scratch);
                    let new = Converted {
                        vals: &vals,
                        scratch: &self.scratch,
                        logged: logged.as_deref(),
                    };
                    let in_after = |k: usize| after_mask.as_ref().is_none_or(|m| m[k]);
                    let same_key = s.key.iter().all(|&k| !in_after(k) || b[k] == a[k]);
                    // The before image is converted only when a key value
                    // differs (the sink then splits the change) or the
                    // after image lacks some (MINIMAL: an unchanged key is
                    // not logged): most updates keep their key.
                    if logged.is_none() && same_key {
                        self.sink.update(key, None::<&[Cell]>, &new, t, &mut AsIs)?;
                        continue;
                    }
                    let mut old_vals = Vec::with_capacity(n);
                    if let Err(e) =
                        row_texts(cols, &b, &mut self.scratch_before, &mut old_vals, &mut warn)
                    {
                        stop = Some(e);
                        break;
                    }
                    counted(&old_vals, &self.scratch_before);
                    let old = Converted {
                        vals: &old_vals,
                        scratch: &self.scratch_before,
                        logged: None,
                    };
                    let pending = || {
                        let k = s
                            .key
                            .iter()
                            .map(|&k| match old.cell(k) {
                                Cell::Value(v) => v.to_vec(),
                                _ => vec![],
                            })
                            .collect();
                        self.deferred_keys.contains(&(key.clone(), k))
                    };
                    if same_key && (diffs.is_some() || (logged.is_some() && pending())) {
                        let d = self.sink.incomplete_update(key, &old, &new);
                        self.defer(d);
                        continue;
                    }
                    // Values the after image lacks are unchanged: filled
                    // from earlier lines or the destination row at load,
                    // or, for a moved row, completed from the source.
                    if let Update::Incomplete(d) =
                        self.sink.update(key, Some(&old), &new, t, &mut AsIs)?
                    {
                        self.defer(d);
                    }
                }
                (false, false) => break,
            }
        }
        if let Some(e) = stop {
            let why = format!(
                "{e} at {}; its changes are not applied from there: correct the value at the source, \
                 then run `ingest full-extract {key}`",
                at_text()
            );
            self.sink.fail_table(key, Some(&pos_text(&at.0, at.1)), why);
        }
        Ok(())
    }
}

/// Whether a rows event's image holds every one of the table's `n` columns
/// (`len` bits, `present(i)`: column `i` is in the image), or only some
/// (`binlog_row_image = MINIMAL` or `NOBLOB`).
fn every_column(len: usize, n: usize, present: impl Fn(usize) -> bool) -> bool {
    len >= n && (0..n).all(present)
}

/// Which of the `n` columns an image logs, when not every one.
fn logged_columns(len: usize, n: usize, present: impl Fn(usize) -> bool) -> Option<Vec<bool>> {
    (!every_column(len, n, &present)).then(|| (0..n).map(|i| i < len && present(i)).collect())
}

#[cfg(test)]
mod tests {
    use super::every_column;

    #[test]
    fn images_with_only_some_columns_are_partial() {
        let bits = |b: &'static [bool]| move |i: usize| b[i];
        assert!(every_column(3, 3, bits(&[true, true, true])));
        // MINIMAL: the key only; NOBLOB: all but an unchanged BLOB.
        assert!(!every_column(3, 3, bits(&[true, false, false])));
        assert!(!every_column(3, 3, bits(&[true, true, false])));
        // Fewer columns logged than the table has.
        assert!(!every_column(2, 3, bits(&[true, true])));
        // Bits past the table's columns (padding) do not matter.
        assert!(every_column(8, 2, bits(&[true, true, false])));
    }
}
