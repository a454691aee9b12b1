//! Row events → spool lines: the decoding half of the MySQL source (no
//! I/O), one writer per table.

use std::collections::HashMap;
use std::rc::Rc;

use anyhow::{anyhow, Context, Result};
use mysql::binlog::events::RowsEventData;

use super::column::MyCol;
use super::rows::{row_texts, Raw, RowLayout};
use super::{before, pos_text};
use crate::schema::TableSchema;
use crate::source::Warnings;
use crate::spool::{BatchWriter, Op, TableWriter};

/// Turns row events into spool lines, one writer per table.
pub(super) struct RowDecoder<'t> {
    pub(super) tables: &'t HashMap<(String, String), TableSchema>,
    pub(super) cols: &'t HashMap<(String, String), Vec<MyCol>>,
    pub(super) since: HashMap<(String, String), (String, u64)>,
    pub(super) writers: HashMap<(String, String), TableWriter>,
    pub(super) changed: Vec<((String, String), String)>,
    pub(super) seq: u64,
    pub(super) ts: String,
    /// Converted values of the current row (reused).
    pub(super) scratch: Vec<u8>,
    pub(super) layouts: Layouts,
    /// Per layout: why its rows are not of the described table, if so.
    pub(super) verdicts: HashMap<usize, LayoutVerdict>,
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

impl RowDecoder<'_> {
    pub(super) fn writer(
        &mut self,
        key: &(String, String),
        batch: &mut BatchWriter,
    ) -> Result<&mut TableWriter> {
        Ok(match self.writers.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(batch.table(&self.tables[key])?)
            }
        })
    }

    /// Marks a table changed unless the change is older than its snapshot.
    pub(super) fn structure_changed(
        &mut self,
        key: &(String, String),
        at: &(String, u64),
        what: &str,
    ) -> bool {
        if self.since.get(key).is_some_and(|s| before(at, s)) {
            return false;
        }
        if !self.changed.iter().any(|(k, _)| k == key) {
            let why = format!(
                "structure changed at {} ({what}); its changes are not applied: run `ingest full-extract {}.{}`",
                pos_text(&at.0, at.1),
                key.0,
                key.1
            );
            log::error!("{}.{}: {why}", key.0, key.1);
            self.changed.push((key.clone(), why));
        }
        true
    }

    pub(super) fn rows(
        &mut self,
        key: &(String, String),
        re: &mysql::binlog::events::RowsEventData<'_>,
        tme: &mysql::binlog::events::TableMapEvent<'_>,
        at: &(String, u64),
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<()> {
        if self.changed.iter().any(|(k, _)| k == key) {
            return Ok(());
        }
        let s = &self.tables[key];
        let at_text = || format!("{}.{} at {}", key.0, key.1, pos_text(&at.0, at.1));
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
            self.structure_changed(key, at, &what);
            return Ok(());
        }
        let n = s.columns.len();
        let partial = [re.columns_before_image(), re.columns_after_image()]
            .into_iter()
            .flatten()
            .any(|bits| bits.len() < n || bits[..n].not_all());
        if partial {
            // Missing columns cannot be told from unchanged ones: like a
            // statement-logged change, the table needs a full extract.
            self.structure_changed(
                key,
                at,
                "a rows event with only some columns (the writing session has binlog_row_image = \
                 MINIMAL or NOBLOB; deltas need FULL images)",
            );
            return Ok(());
        }
        let shared_image = matches!(re, RowsEventData::PartialUpdateRowsEvent(_));
        let has_before = re.columns_before_image().is_some();
        let has_after = re.columns_after_image().is_some();
        let mut data = mysql_common::io::ParseBuf(re.rows_data());
        let mut b: Vec<Raw<'_>> = Vec::with_capacity(n);
        let mut a: Vec<Raw<'_>> = Vec::with_capacity(n);
        while !data.0.is_empty() {
            if has_before {
                layout
                    .read_image(&mut data, false, &mut b)
                    .with_context(|| format!("decoding rows of {}", at_text()))?;
            }
            if has_after {
                layout
                    .read_image(&mut data, shared_image, &mut a)
                    .with_context(|| format!("decoding rows of {}", at_text()))?;
            }
            match (has_before, has_after) {
                (false, true) => self.emit(key, Op::Insert, &a, batch, warnings)?,
                (true, false) => self.emit(key, Op::Delete, &b, batch, warnings)?,
                (true, true) => {
                    let key_changed = s.key.iter().any(|&k| b[k] != a[k]);
                    if key_changed {
                        self.emit(key, Op::Delete, &b, batch, warnings)?;
                        self.emit(key, Op::Insert, &a, batch, warnings)?;
                    } else {
                        self.emit(key, Op::Update, &a, batch, warnings)?;
                    }
                }
                (false, false) => break,
            }
        }
        Ok(())
    }

    pub(super) fn emit(
        &mut self,
        key: &(String, String),
        op: Op,
        row: &[Raw<'_>],
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<()> {
        let cols = &self.cols[key];
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut vals = Vec::with_capacity(cols.len());
        row_texts(cols, row, &mut scratch, &mut vals, |c, why| {
            warnings.add(&format!("{}.{}", key.0, key.1), &c.name, why)
        })
        .map_err(|e| anyhow!("{}.{}: {e}", key.0, key.1))?;
        self.seq += 1;
        let seq = self.seq;
        if !self.writers.contains_key(key) {
            self.writer(key, batch)?;
        }
        let w = self.writers.get_mut(key).expect("writer opened above");
        let written = w.write(
            op,
            seq,
            &self.ts,
            &[],
            vals.iter().map(|v| v.as_ref().map(|t| t.get(&scratch))),
        );
        drop(vals);
        self.scratch = scratch;
        written?;
        if seq == 1 {
            crate::fault::point("delta-row");
        }
        Ok(())
    }
}
