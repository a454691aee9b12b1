//! pgoutput messages → spool lines: the decoding half of the PostgreSQL
//! source (no I/O).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use anyhow::{anyhow, bail, Result};

use super::pgoutput::{self, Datum, Message, OldKind};
use super::{lsn_text, parse_lsn};
use crate::change::{Cell, ChangeSink, Incomplete, Row, Table, Texts, Update};
use crate::position::Position;
use crate::schema::TableSchema;
use crate::source::{DeltaOutcome, Warnings};
use crate::spool::{BatchWriter, Op};
use crate::table::TableId;

/// pgoutput's values are cells of the change boundary as they are.
impl Row for [Datum<'_>] {
    fn len(&self) -> usize {
        <[Datum<'_>]>::len(self)
    }
    fn cell(&self, i: usize) -> Cell<'_> {
        match self[i] {
            Datum::Null => Cell::Null,
            Datum::Unchanged => Cell::Unchanged,
            Datum::Text(t) | Datum::Binary(t) => Cell::Value(t),
        }
    }
}

/// PostgreSQL's text form of a value → its spool text, by the column's
/// conversion; a value the destination cannot hold is NULL, counted.
pub(super) struct PgTexts<'w>(pub(super) &'w mut Warnings);

impl Texts for PgTexts<'_> {
    fn text<'v>(&mut self, s: &TableSchema, col: usize, v: &'v [u8]) -> Option<Cow<'v, [u8]>> {
        match s.convert(col, v) {
            Ok(t) => Some(t),
            Err(why) => {
                self.0.add(&s.source_name(), &s.columns[col].name, why);
                None
            }
        }
    }
    fn keyed(&mut self, key: &dyn Fn() -> String) {
        self.0.keyed(key);
    }
}

/// Turns pgoutput messages into changes of the batch's [`ChangeSink`].
pub struct Decoder<'t, 'b> {
    pub(super) sink: ChangeSink<'t, 'b>,
    types: HashMap<TableId, Vec<(u32, i32)>>,
    /// Per table: the LSN read before its snapshot.
    since: HashMap<TableId, u64>,
    /// Per table: its changes in transactions committed before this LSN
    /// were applied (a catch-up after `sync-struct` starts there).
    pub(super) resume: HashMap<TableId, u64>,
    /// Transactions committed after this LSN are not read (a catch-up ends
    /// where the deltas of the other tables are).
    pub(super) upto: Option<u64>,
    /// Per table: changes of it in its `resume` transaction that were
    /// applied before its structure changed there (a catch-up skips them).
    pub(super) skip: HashMap<TableId, u64>,
    /// Changes of each table in the transaction being read so far.
    in_txn: HashMap<TableId, u64>,
    /// Tables with generated columns: where the message's values go
    /// (schema indexes), and the table's width.
    widths: HashMap<TableId, (Vec<usize>, usize)>,
    /// Column names of Relation messages that do not match, for messages.
    shapes: HashMap<TableId, String>,
    /// Commit LSN of the transaction being read.
    txn_lsn: u64,
    /// Relation oid → (schema, table) and the column mapping into the schema.
    relations: HashMap<u32, Rel>,
    last_lsn: Option<u64>,
    transactions: u64,
    /// Key changes waiting for values the log did not carry.
    pub(super) deferred: Vec<Incomplete>,
    /// Their keys in this batch: a later update of one with unchanged
    /// values is read back too (had the source lost the row since, nothing
    /// would be written before it to fill them from).
    deferred_keys: HashSet<(TableId, Vec<Vec<u8>>)>,
}

/// A table's (schema, name), shared by every change of it.
type SharedName = Rc<TableId>;

struct Rel {
    /// Shared with every change of the relation (no copy per row).
    name: SharedName,
    /// Changes of the table are applied (it is selected and ready).
    selected: bool,
    /// The Relation message matches the table's columns and types, and
    /// its replica identity holds the key.
    same: bool,
    /// REPLICA IDENTITY FULL: deletes carry the whole old row.
    full: bool,
}

impl<'t, 'b> Decoder<'t, 'b> {
    pub fn new(
        tables: &'t HashMap<TableId, TableSchema>,
        types: HashMap<TableId, Vec<(u32, i32)>>,
        since: HashMap<TableId, u64>,
        batch: &'b mut BatchWriter,
    ) -> Self {
        Decoder {
            sink: ChangeSink::new(tables, batch),
            types,
            since,
            resume: HashMap::new(),
            upto: None,
            skip: HashMap::new(),
            in_txn: HashMap::new(),
            widths: HashMap::new(),
            shapes: HashMap::new(),
            txn_lsn: 0,
            relations: HashMap::new(),
            last_lsn: None,
            transactions: 0,
            deferred: vec![],
            deferred_keys: HashSet::new(),
        }
    }

    pub fn apply(&mut self, msg: Message<'_>, lsn: &str, warnings: &mut Warnings) -> Result<()> {
        let texts = &mut PgTexts(warnings);
        if let Message::Begin { final_lsn, .. } = msg {
            self.txn_lsn = final_lsn;
            self.in_txn.clear();
        }
        // `upto` is a commit's end (what a Commit row's LSN is); the
        // transactions after it commit at or after it.
        if self.upto.is_some_and(|u| self.txn_lsn >= u) {
            return Ok(());
        }
        match msg {
            Message::Begin {
                commit_ts,
                final_lsn,
                ..
            } => {
                self.sink.set_ts(crate::clock::format_micros(
                    commit_ts + pgoutput::PG_EPOCH_UNIX_MICROS,
                ));
                self.txn_lsn = final_lsn;
            }
            Message::Commit { .. } => {
                self.transactions += 1;
                self.last_lsn = Some(parse_lsn(lsn).ok_or_else(|| anyhow!("bad LSN {lsn}"))?);
            }
            Message::Relation(r) => {
                let name = TableId::new(r.namespace.clone(), r.name.clone());
                let (selected, same) = match (self.sink.tables().get(&name), self.types.get(&name))
                {
                    (Some(s), Some(types)) => {
                        // Generated columns are not published before
                        // PostgreSQL 18 (and by a publication without
                        // `publish_generated_columns = stored`): the
                        // message has the others, in order. Else all.
                        let every = r.columns.len() == s.columns.len()
                            && r.columns
                                .iter()
                                .zip(&s.columns)
                                .all(|(a, b)| a.name == b.name);
                        let published: Vec<usize> = (0..s.columns.len())
                            .filter(|&i| every || !s.columns[i].generated)
                            .collect();
                        let columns_same = r.columns.len() == published.len()
                            && r.columns.iter().zip(&published).all(|(a, &i)| {
                                let (b, t) = (&s.columns[i], types.get(i));
                                t.is_some_and(|t| {
                                    a.name == b.name && a.type_oid == t.0 && a.type_mod == t.1
                                })
                            });
                        // Deletes and key changes carry the replica identity's
                        // columns: the key must be among them (the identity
                        // can be switched to another index mid-stream).
                        let key_sent = columns_same
                            && s.key.iter().all(|k| {
                                published
                                    .iter()
                                    .position(|p| p == k)
                                    .is_some_and(|ri| r.columns[ri].key)
                            });
                        if published.len() < s.columns.len() {
                            self.widths
                                .insert(name.clone(), (published, s.columns.len()));
                        } else {
                            self.widths.remove(&name);
                        }
                        let same = columns_same && key_sent;
                        if !columns_same {
                            self.shapes.insert(
                                name.clone(),
                                format!(
                                    "source columns now: {}",
                                    r.columns
                                        .iter()
                                        .map(|c| c.name.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            );
                        } else if !key_sent {
                            self.shapes.insert(
                                name.clone(),
                                format!(
                                    "its replica identity is now ({}), which does not hold the key",
                                    r.columns
                                        .iter()
                                        .filter(|c| c.key)
                                        .map(|c| c.name.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            );
                        }
                        (true, same)
                    }
                    _ => (false, false),
                };
                self.relations.insert(
                    r.oid,
                    Rel {
                        name: Rc::new(name),
                        selected,
                        same,
                        full: r.replica_identity == b'f',
                    },
                );
            }
            Message::Insert { rel, new } => {
                if let Some((name, full)) = self.selected(rel)? {
                    if let Some(row) = self.widen(&name, &new) {
                        // Its generated values are read from the source.
                        let d = self
                            .sink
                            .incomplete_update(&name, row.as_slice(), row.as_slice());
                        self.defer(d);
                        return Ok(());
                    }
                    let t = Table {
                        whole_old_rows: full,
                    };
                    self.sink.insert(&name, new.as_slice(), t, texts)?;
                }
            }
            Message::Update { rel, old, new } => {
                if let Some((name, full)) = self.selected(rel)? {
                    if let Some(new_w) = self.widen(&name, &new) {
                        let old_w = old.as_ref().and_then(|(_, o)| self.widen(&name, o));
                        let s = &self.sink.tables()[&*name];
                        if old_w.is_none()
                            && s.key
                                .iter()
                                .any(|&k| new_w.as_slice().cell(k) == Cell::Unchanged)
                        {
                            // As `ChangeSink::update` says it: no key to
                            // read the row back by.
                            let (no_old, t): (Option<&[Datum<'_>]>, _) = (None, Table::default());
                            self.sink
                                .update(&name, no_old, new_w.as_slice(), t, texts)?;
                            return Ok(());
                        }
                        let moved = old_w.as_ref().is_some_and(|o| {
                            s.key.iter().any(|&k| {
                                match (o.as_slice().cell(k), new_w.as_slice().cell(k)) {
                                    (Cell::Value(a), Cell::Value(b)) => a != b,
                                    _ => false,
                                }
                            })
                        });
                        if let (true, Some(o)) = (moved, &old_w) {
                            let t = Table {
                                whole_old_rows: full && matches!(old, Some((OldKind::Full, _))),
                            };
                            self.sink.delete(&name, o.as_slice(), t, texts)?;
                        }
                        // The new row with its generated values read from
                        // the source (and unchanged values, as under TOAST).
                        let base = old_w.as_ref().unwrap_or(&new_w);
                        let d =
                            self.sink
                                .incomplete_update(&name, base.as_slice(), new_w.as_slice());
                        self.defer(d);
                        return Ok(());
                    }
                    let t = Table {
                        whole_old_rows: full && matches!(old, Some((OldKind::Full, _))),
                    };
                    let old = old.as_ref().map(|(_, o)| o.as_slice());
                    let new = new.as_slice();
                    if !self.deferred_keys.is_empty()
                        && (0..new.len()).any(|i| new.cell(i) == Cell::Unchanged)
                    {
                        let s = &self.sink.tables()[&*name];
                        let key = s
                            .key
                            .iter()
                            .map(|&k| match (new.cell(k), old.map(|o| o.cell(k))) {
                                (Cell::Value(v), _) | (_, Some(Cell::Value(v))) => v.to_vec(),
                                _ => vec![],
                            })
                            .collect();
                        if self.deferred_keys.contains(&((*name).clone(), key)) {
                            let d = self.sink.incomplete_update(&name, old.unwrap_or(new), new);
                            self.defer(d);
                            return Ok(());
                        }
                    }
                    if let Update::Incomplete(row) = self.sink.update(&name, old, new, t, texts)? {
                        // DEFAULT identity: read them from the source.
                        self.defer(row);
                    }
                }
            }
            Message::Delete {
                rel,
                old: (kind, o),
            } => {
                if let Some((name, _)) = self.selected(rel)? {
                    let t = Table {
                        whole_old_rows: kind == OldKind::Full,
                    };
                    match self.widen(&name, &o) {
                        Some(w) => self.sink.delete(&name, w.as_slice(), t, texts)?,
                        None => self.sink.delete(&name, o.as_slice(), t, texts)?,
                    }
                }
            }
            Message::Truncate { rels, .. } => {
                for rel in rels {
                    if let Some((name, _)) = self.selected(rel)? {
                        self.sink.truncate(&name)?;
                    }
                }
            }
            Message::Type { .. } | Message::Origin { .. } | Message::Logical { .. } => {}
        }
        Ok(())
    }

    /// A message's values at their places in a table with generated
    /// columns (those unchanged: read from the source); `None` for a table
    /// without.
    fn widen<'d>(&self, table: &TableId, values: &[Datum<'d>]) -> Option<Vec<Datum<'d>>> {
        let (map, width) = self.widths.get(table)?;
        let mut row = vec![Datum::Unchanged; *width];
        for (v, &i) in values.iter().zip(map) {
            row[i] = *v;
        }
        Some(row)
    }

    /// A row to complete from the source, its key remembered.
    fn defer(&mut self, d: Incomplete) {
        let key = d.key_texts(&self.sink.tables()[&d.table]);
        self.deferred_keys.insert((d.table.clone(), key));
        self.deferred.push(d);
    }

    /// The table of a relation, if this change of it is applied. A change
    /// in another shape than the table has now is skipped when it is older
    /// than the table's snapshot (the snapshot holds it), and otherwise
    /// fails the table: it needs a new full extract.
    /// Also says whether the table has REPLICA IDENTITY FULL.
    fn selected(&mut self, rel: u32) -> Result<Option<(SharedName, bool)>> {
        let r = match self.relations.get(&rel) {
            None => bail!("change for relation {rel} before its Relation message"),
            Some(r) if !r.selected => return Ok(None),
            Some(r) => r,
        };
        let resume = self.resume.get(&*r.name).copied();
        if self.sink.is_changed(&r.name) || resume.is_some_and(|p| self.txn_lsn < p) {
            return Ok(None);
        }
        let n = self.in_txn.entry((*r.name).clone()).or_insert(0);
        *n += 1;
        let before_here = *n - 1;
        if resume == Some(self.txn_lsn)
            && before_here < self.skip.get(&*r.name).copied().unwrap_or(0)
        {
            return Ok(None);
        }
        if r.same {
            return Ok(Some((r.name.clone(), r.full)));
        }
        let name = r.name.clone();
        let older = self.since.get(&*name).is_some_and(|&s| self.txn_lsn < s);
        let what = self.shapes.get(&*name).map(String::as_str).unwrap_or("?");
        let at = lsn_text(self.txn_lsn);
        // Its changes before this one in the transaction were applied.
        let resume = crate::source::resume_text(&at, before_here);
        self.sink
            .shape_changed(&name, older, &at, what, &resume, None);
        Ok(None)
    }

    /// A key change completed from the source: its line, at the place and
    /// time the change had.
    pub(super) fn complete(
        &mut self,
        d: &Incomplete,
        row: &[Datum<'_>],
        warnings: &mut Warnings,
    ) -> Result<()> {
        let texts = &mut PgTexts(warnings);
        self.sink
            .write_at(&d.table, Op::Insert, d.seq, &d.ts, row, texts)
    }

    pub fn tables(&self) -> &'t HashMap<TableId, TableSchema> {
        self.sink.tables()
    }

    pub fn finish(self) -> Result<DeltaOutcome> {
        let commits = self.sink.commits();
        let (tables, changed) = self.sink.finish()?;
        Ok(DeltaOutcome {
            tables,
            to_pos: self.last_lsn.map(Position::Lsn),
            changed,
            transactions: self.transactions,
            more: false,
            commits,
        })
    }
}
