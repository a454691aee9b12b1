//! pgoutput messages → spool lines: the decoding half of the PostgreSQL
//! source (no I/O).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use anyhow::{anyhow, bail, Result};

use super::pgoutput::{self, Datum, Message, OldKind};
use super::{lsn_text, parse_lsn};
use crate::schema::{convert, TableSchema};
use crate::source::{DeltaOutcome, Warnings};
use crate::spool::{BatchWriter, Op, TableWriter};

/// A new row waiting for values the log did not carry.
pub(super) struct Deferred {
    pub(super) table: (String, String),
    pub(super) seq: u64,
    pub(super) ts: String,
    pub(super) row: Vec<Option<Vec<u8>>>,
    pub(super) unchanged: Vec<bool>,
}

/// Turns pgoutput messages into spool lines, one writer per table.
pub struct Decoder<'t> {
    pub(super) tables: &'t HashMap<(String, String), TableSchema>,
    types: HashMap<(String, String), Vec<(u32, i32)>>,
    /// Per table: the LSN read before its snapshot.
    since: HashMap<(String, String), u64>,
    /// Column names of Relation messages that do not match, for messages.
    shapes: HashMap<(String, String), String>,
    /// Commit LSN of the transaction being read.
    txn_lsn: u64,
    /// Relation oid → (schema, table) and the column mapping into the schema.
    relations: HashMap<u32, Rel>,
    writers: HashMap<(String, String), TableWriter>,
    changed: Vec<((String, String), String)>,
    seq: u64,
    pub(super) ts: String,
    last_lsn: Option<u64>,
    transactions: u64,
    pub(super) deferred: Vec<Deferred>,
    puts: Puts,
}

/// A table's (schema, name), shared by every change of it.
type SharedName = Rc<(String, String)>;

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

/// The row this batch last put at each key of a REPLICA IDENTITY FULL table,
/// as hashes, to tell which row a delete removes.
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
pub(super) struct Puts(HashMap<(String, String), HashMap<u64, Put>>);

/// Hash of a put row's values, over the columns it carried (unchanged
/// TOAST values excluded; their positions kept, usually none).
struct Put {
    row: u64,
    unchanged: Box<[usize]>,
}

impl Puts {
    fn key_hash(s: &TableSchema, tuple: &[Datum<'_>]) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        for &k in &s.key {
            tuple.get(k).hash(&mut h);
        }
        h.finish()
    }

    fn row_hash(tuple: &[Datum<'_>], skip: &[usize]) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        for (i, d) in tuple.iter().enumerate() {
            if !skip.contains(&i) {
                d.hash(&mut h);
            }
        }
        h.finish()
    }

    pub(super) fn put(&mut self, s: &TableSchema, name: &(String, String), tuple: &[Datum<'_>]) {
        let unchanged: Box<[usize]> = (0..tuple.len())
            .filter(|&i| tuple[i] == Datum::Unchanged)
            .collect();
        let row = Self::row_hash(tuple, &unchanged);
        let key = Self::key_hash(s, tuple);
        if !self.0.contains_key(name) {
            self.0.insert(name.clone(), HashMap::new());
        }
        if let Some(t) = self.0.get_mut(name) {
            t.insert(key, Put { row, unchanged });
        }
    }

    /// Whether a delete (its whole old row) removes an older row than the
    /// one this batch put at its key: then it must not be applied. A delete
    /// that is applied ends what the batch put there.
    pub(super) fn stale_delete(
        &mut self,
        s: &TableSchema,
        name: &(String, String),
        old: &[Datum<'_>],
    ) -> bool {
        let Some(t) = self.0.get_mut(name) else {
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
    pub(super) fn truncate(&mut self, name: &(String, String)) {
        self.0.remove(name);
    }
}

impl<'t> Decoder<'t> {
    pub fn new(
        tables: &'t HashMap<(String, String), TableSchema>,
        types: HashMap<(String, String), Vec<(u32, i32)>>,
        since: HashMap<(String, String), u64>,
    ) -> Self {
        Decoder {
            tables,
            types,
            since,
            shapes: HashMap::new(),
            txn_lsn: 0,
            relations: HashMap::new(),
            writers: HashMap::new(),
            changed: vec![],
            seq: 0,
            ts: String::new(),
            last_lsn: None,
            transactions: 0,
            deferred: vec![],
            puts: Puts::default(),
        }
    }

    pub fn apply(
        &mut self,
        msg: Message<'_>,
        lsn: &str,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<()> {
        match msg {
            Message::Begin {
                commit_ts,
                final_lsn,
                ..
            } => {
                self.ts = crate::clock::format_micros(commit_ts + pgoutput::PG_EPOCH_UNIX_MICROS);
                self.txn_lsn = final_lsn;
            }
            Message::Commit { .. } => {
                self.transactions += 1;
                self.last_lsn = Some(parse_lsn(lsn).ok_or_else(|| anyhow!("bad LSN {lsn}"))?);
            }
            Message::Relation(r) => {
                let name = (r.namespace.clone(), r.name.clone());
                let (selected, same) = match (self.tables.get(&name), self.types.get(&name)) {
                    (Some(s), Some(types)) => {
                        let columns_same =
                            r.columns.len() == s.columns.len()
                                && r.columns.iter().zip(&s.columns).zip(types).all(
                                    |((a, b), t)| {
                                        a.name == b.name && a.type_oid == t.0 && a.type_mod == t.1
                                    },
                                );
                        // Deletes and key changes carry the replica identity's
                        // columns: the key must be among them (the identity
                        // can be switched to another index mid-stream).
                        let key_sent = columns_same && s.key.iter().all(|&k| r.columns[k].key);
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
                    self.seq += 1;
                    self.emit(&name, Op::Insert, self.seq, &new, batch, warnings)?;
                    if full {
                        self.puts.put(&self.tables[&name], &name, &new);
                    }
                }
            }
            Message::Update { rel, old, mut new } => {
                if let Some((name, full)) = self.selected(rel)? {
                    let s = &self.tables[&name];
                    // A key column marked unchanged holds the old key's value:
                    // PostgreSQL 15+ logs the old key when a key value is
                    // stored out of line, even if the update left it alone.
                    for &k in &s.key {
                        if new.get(k) == Some(&Datum::Unchanged) {
                            match &old {
                                Some((_, o)) => new[k] = o.get(k).copied().unwrap_or(Datum::Null),
                                None => {
                                    // This table's changes stop; the others go on.
                                    let why = format!(
                                        "an update at {lsn} carries no value for key column {} (stored \
                                         out of line and unchanged; PostgreSQL before 15 does not log \
                                         it): use a key that is never stored out of line, then run \
                                         `ingest full-extract {}`",
                                        s.columns[k].name,
                                        s.source_name()
                                    );
                                    log::error!("{}: {why}", s.source_name());
                                    self.changed.push(((*name).clone(), why));
                                    return Ok(());
                                }
                            }
                        }
                    }
                    let key_changed = match &old {
                        Some((_, o)) => s.key.iter().any(|&k| o.get(k) != new.get(k)),
                        None => false,
                    };
                    self.seq += 1;
                    if !key_changed {
                        self.emit(&name, Op::Update, self.seq, &new, batch, warnings)?;
                        if full {
                            self.puts.put(s, &name, &new);
                        }
                        return Ok(());
                    }
                    let (kind, o) = old
                        .as_ref()
                        .ok_or_else(|| anyhow!("update without old tuple"))?;
                    if !(*kind == OldKind::Full && self.puts.stale_delete(s, &name, o)) {
                        self.emit(&name, Op::Delete, self.seq, o, batch, warnings)?;
                    }
                    self.seq += 1;
                    // Unchanged values of the new row: FULL identity sends them in the old row.
                    let mut row = new.clone();
                    if let Some((OldKind::Full, o)) = &old {
                        for (i, d) in row.iter_mut().enumerate() {
                            if *d == Datum::Unchanged {
                                *d = o.get(i).copied().unwrap_or(Datum::Null);
                            }
                        }
                    }
                    if row.contains(&Datum::Unchanged) {
                        // DEFAULT identity: read them from the source once the slot is read.
                        self.deferred.push(Deferred {
                            table: (*name).clone(),
                            seq: self.seq,
                            ts: self.ts.clone(),
                            row: row.iter().map(|d| d.bytes().map(<[u8]>::to_vec)).collect(),
                            unchanged: row.iter().map(|d| *d == Datum::Unchanged).collect(),
                        });
                        return Ok(());
                    }
                    self.emit(&name, Op::Insert, self.seq, &row, batch, warnings)?;
                    if full {
                        self.puts.put(&self.tables[&name], &name, &row);
                    }
                }
            }
            Message::Delete {
                rel,
                old: (kind, o),
            } => {
                if let Some((name, _)) = self.selected(rel)? {
                    self.seq += 1;
                    let s = &self.tables[&name];
                    if !(kind == OldKind::Full && self.puts.stale_delete(s, &name, &o)) {
                        self.emit(&name, Op::Delete, self.seq, &o, batch, warnings)?;
                    }
                }
            }
            Message::Truncate { rels, .. } => {
                for rel in rels {
                    if let Some((name, _)) = self.selected(rel)? {
                        self.puts.truncate(&name);
                        self.seq += 1;
                        let seq = self.seq;
                        self.writer(&name, batch)?.truncate(seq);
                    }
                }
            }
            Message::Type { .. } | Message::Origin { .. } | Message::Logical { .. } => {}
        }
        Ok(())
    }

    /// The table of a relation, if its changes are applied.
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
        if self.changed.iter().any(|(n, _)| *n == *r.name) {
            return Ok(None);
        }
        if r.same {
            return Ok(Some((r.name.clone(), r.full)));
        }
        let older = self.since.get(&*r.name).is_some_and(|&s| self.txn_lsn < s);
        if !older {
            let name = (*r.name).clone();
            let why = format!(
                "structure changed at {} ({}); its changes are not applied: run `ingest full-extract {}.{}`",
                lsn_text(self.txn_lsn),
                self.shapes.get(&name).map(String::as_str).unwrap_or("?"),
                name.0,
                name.1
            );
            log::error!("{}.{}: {why}", name.0, name.1);
            self.changed.push((name, why));
        }
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit(
        &mut self,
        name: &(String, String),
        op: Op,
        seq: u64,
        tuple: &[Datum<'_>],
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<()> {
        let s = &self.tables[name];
        let w = writer_for(&mut self.writers, name, s, batch)?;
        write_tuple(s, w, op, seq, &self.ts, tuple, warnings)?;
        if seq == 1 {
            crate::fault::point("delta-row");
        }
        Ok(())
    }

    fn writer(
        &mut self,
        name: &(String, String),
        batch: &mut BatchWriter,
    ) -> Result<&mut TableWriter> {
        writer_for(&mut self.writers, name, &self.tables[name], batch)
    }

    pub fn finish(self) -> Result<DeltaOutcome> {
        let mut tables = vec![];
        for (_, w) in self.writers {
            tables.push(w.finish()?);
        }
        tables.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(DeltaOutcome {
            tables,
            to_pos: self.last_lsn.map(lsn_text),
            changed: self.changed,
            transactions: self.transactions,
            more: false,
        })
    }
}

/// The table's spool writer, opened at its first change (the name is
/// copied only then).
fn writer_for<'w>(
    writers: &'w mut HashMap<(String, String), TableWriter>,
    name: &(String, String),
    s: &TableSchema,
    batch: &mut BatchWriter,
) -> Result<&'w mut TableWriter> {
    if !writers.contains_key(name) {
        writers.insert(name.clone(), batch.table(s)?);
    }
    Ok(writers.get_mut(name).expect("writer opened above"))
}

#[allow(clippy::too_many_arguments)]
fn write_tuple(
    s: &TableSchema,
    w: &mut TableWriter,
    op: Op,
    seq: u64,
    ts: &str,
    tuple: &[Datum<'_>],
    warnings: &mut Warnings,
) -> Result<()> {
    if tuple.len() != s.columns.len() {
        bail!(
            "{}: change has {} values for {} columns",
            s.source_name(),
            tuple.len(),
            s.columns.len()
        );
    }
    let mut unchanged = vec![];
    // Values borrow the message where no conversion is needed.
    let vals: Vec<Option<std::borrow::Cow<'_, [u8]>>> = tuple
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Datum::Null => None,
            Datum::Unchanged => {
                unchanged.push(i + 1);
                None
            }
            Datum::Text(t) | Datum::Binary(t) => match convert(s.columns[i].conv, t) {
                Ok(v) => Some(v),
                Err(why) => {
                    warnings.add(&s.source_name(), &s.columns[i].name, why);
                    None
                }
            },
        })
        .collect();
    w.write(op, seq, ts, &unchanged, vals.iter().map(|v| v.as_deref()))
}
