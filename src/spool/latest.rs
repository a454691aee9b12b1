//! The last change of each key in a delta's table file.
//!
//! Applying every line straight to the target (`REPLACE` for `I`/`U`,
//! a delete for `D`) is exact when each key has one line. When keys repeat
//! (a row changed twice between two runs), the last change of each key
//! alone decides the row's final state, as long as lines carry whole rows
//! (no unchanged TOAST values) and no TRUNCATE cuts the batch: this reads
//! the file once and marks those lines, so a few repeated keys no longer
//! send a whole table to the staging merge. "Last" is by `_seq`, not by
//! position: a PostgreSQL key change whose new row had to be completed from
//! the source is written after the changes that followed it.
//!
//! Keys are compared exactly, by their CSV text (a value's text is the same
//! wherever the key appears). The index keeps the key bytes in one arena and
//! a table of their hashes; its size is bounded by a [`KeyBudget`] of keys
//! shared by the loaders of a run (they run at once), past which the caller
//! falls back to the staging merge.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

use anyhow::{bail, Result};

use super::{open_table, ManifestTable, Prehashed, Records};

/// Keys the indexes of all loaders may hold at once (about 60 bytes each).
pub const KEY_INDEX_LIMIT: usize = 1_000_000;

/// The keys the last-change passes of one run's loaders may hold together,
/// and the lock that lets a pass which ran out run again alone. One per
/// run, passed to each load.
pub struct KeyBudget {
    keys: AtomicUsize,
    /// Passes share it (read); a pass that ran out gives its part back and
    /// runs again alone (write: once the passes running now are done), so
    /// tables that fit one at a time do not take the staging merge just
    /// because they came together. No pass waits while holding budget.
    passes: RwLock<()>,
}

impl KeyBudget {
    pub fn new(keys: usize) -> KeyBudget {
        KeyBudget {
            keys: AtomicUsize::new(keys),
            passes: RwLock::new(()),
        }
    }
}

/// Keys taken from the budget at a time.
const CHUNK: usize = 16_384;

/// Which records of a table file are the last change of their key.
#[derive(Debug)]
pub struct Latest {
    keep: Vec<u64>,
    /// Kept `I`/`U` lines and kept `D` lines.
    pub upserts: u64,
    pub deletes: u64,
}

impl Latest {
    /// Whether record `index` (0-based, all operations counted) is the last
    /// change of its key.
    pub fn is_last(&self, index: u64) -> bool {
        self.keep
            .get((index / 64) as usize)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }
}

/// One distinct key: its text in the arena, and its last change.
struct Entry {
    start: u32,
    len: u32,
    /// `_seq` of the key's last change.
    seq: u64,
    /// Index of the key's last line (low 30 bits) and whether that line is
    /// a `D` (top bit).
    last: u32,
    /// Next entry with the same hash (`u32::MAX`: none).
    next: u32,
}

const DELETE_BIT: u32 = 1 << 31;
/// Lines a file may have for the index (30 bits of `Entry::last`).
const MAX_LINES: u64 = 1 << 30;

/// Budget taken by one index, given back when it is dropped.
struct Reserved<'b> {
    budget: &'b AtomicUsize,
    held: usize,
}

impl Reserved<'_> {
    fn grow(&mut self) -> bool {
        let ok = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                n.checked_sub(CHUNK)
            })
            .is_ok();
        if ok {
            self.held += CHUNK;
        }
        ok
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.budget.fetch_add(self.held, Ordering::Relaxed);
    }
}

/// The `_seq` of a record (its second field, `"123"`).
pub(crate) fn seq_of(record: &[u8]) -> Option<u64> {
    let comma = record.iter().position(|&b| b == b',')?;
    let digits = record.get(comma + 2..)?;
    let end = digits.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Appends the CSV text of the key fields of `record` to `out` (each
/// followed by a comma); false when the record has fewer fields. `key`:
/// value positions (0-based, after the four bookkeeping fields).
pub(crate) fn key_text(record: &[u8], key: &[usize], out: &mut Vec<u8>) -> bool {
    let last = key.iter().copied().max().unwrap_or(0) + 4;
    let mut pos = 0;
    for field in 0..=last {
        let start = pos;
        if record.get(pos) == Some(&b'"') {
            pos += 1;
            loop {
                match record.get(pos) {
                    None => return false,
                    Some(b'"') if record.get(pos + 1) == Some(&b'"') => pos += 2,
                    Some(b'"') => {
                        pos += 1;
                        break;
                    }
                    Some(_) => pos += 1,
                }
            }
        } else {
            while !matches!(record.get(pos), None | Some(b',') | Some(b'\n')) {
                pos += 1;
            }
        }
        if field >= 4 && key.contains(&(field - 4)) {
            out.extend_from_slice(&record[start..pos]);
            out.push(b',');
        }
        if field < last {
            if record.get(pos) != Some(&b',') {
                return false;
            }
            pos += 1;
        }
    }
    true
}

/// Reads table file `t` and marks the last change of every key (`key`: the
/// key's value positions). `None` when the run's key budget does not hold
/// this table's keys even alone: the caller merges through staging.
pub fn latest_per_key(
    dir: &Path,
    t: &ManifestTable,
    key: &[usize],
    budget: &KeyBudget,
) -> Result<Option<Latest>> {
    {
        let _shared = budget.passes.read().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = latest_within(dir, t, key, &budget.keys)? {
            return Ok(Some(l));
        }
    }
    let _alone = budget.passes.write().unwrap_or_else(|p| p.into_inner());
    latest_within(dir, t, key, &budget.keys)
}

fn latest_within(
    dir: &Path,
    t: &ManifestTable,
    key: &[usize],
    budget: &AtomicUsize,
) -> Result<Option<Latest>> {
    let mut reserved = Reserved { budget, held: 0 };
    let mut records = Records(open_table(dir, t)?);
    if t.rows >= MAX_LINES {
        return Ok(None);
    }
    // Sized for every line being a new key up to a quarter of the budget
    // (no growth, which would hold old and new tables at once, for most
    // batches); beyond that the index grows only as keys come: sizing for
    // millions of lines would take the memory the budget is there to bound.
    let first = (t.rows as usize).min(KEY_INDEX_LIMIT / 4);
    let mut arena: Vec<u8> = Vec::with_capacity(first * 8);
    let mut entries: Vec<Entry> = Vec::with_capacity(first);
    let mut heads: HashMap<u64, u32, BuildHasherDefault<Prehashed>> =
        HashMap::with_capacity_and_hasher(first, Default::default());
    let (mut record, mut text) = (Vec::with_capacity(4096), Vec::with_capacity(64));
    let mut index = 0u32;
    while records.next_into(&mut record)? {
        if u64::from(index) >= t.rows {
            bail!("{}: more lines than the MANIFEST's {}", t.file, t.rows);
        }
        text.clear();
        let seq = seq_of(&record);
        let (Some(seq), true) = (seq, key_text(&record, key, &mut text)) else {
            bail!(
                "{}: line {} has no _seq or fewer fields than the key needs",
                t.file,
                index + 1
            );
        };
        let last = index
            | if record.get(1) == Some(&b'D') {
                DELETE_BIT
            } else {
                0
            };
        let mut h = DefaultHasher::new();
        h.write(&text);
        let hash = h.finish();
        let mut at = heads.get(&hash).copied().unwrap_or(u32::MAX);
        while at != u32::MAX {
            let e = &mut entries[at as usize];
            let from = e.start as usize;
            if arena[from..from + e.len as usize] == text[..] {
                if seq > e.seq {
                    (e.seq, e.last) = (seq, last);
                }
                break;
            }
            at = e.next;
        }
        if at == u32::MAX {
            if entries.len() == reserved.held && !reserved.grow() {
                return Ok(None);
            }
            let (Ok(start), Ok(len)) = (u32::try_from(arena.len()), u32::try_from(text.len()))
            else {
                return Ok(None);
            };
            let n = entries.len() as u32;
            let next = heads.insert(hash, n).unwrap_or(u32::MAX);
            entries.push(Entry {
                start,
                len,
                seq,
                last,
                next,
            });
            arena.extend_from_slice(&text);
        }
        index += 1;
    }
    drop((heads, arena));
    if u64::from(index) != t.rows {
        bail!(
            "{}: {index} line(s) read, the MANIFEST says {}",
            t.file,
            t.rows
        );
    }
    let mut keep = vec![0u64; (index as usize).div_ceil(64)];
    let (mut upserts, mut deletes) = (0, 0);
    for e in &entries {
        let line = e.last & !DELETE_BIT;
        keep[(line / 64) as usize] |= 1 << (line % 64);
        if e.last & DELETE_BIT != 0 {
            deletes += 1;
        } else {
            upserts += 1;
        }
    }
    Ok(Some(Latest {
        keep,
        upserts,
        deletes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Compression;
    use crate::schema::{Column, TableSchema};
    use crate::spool::Op;
    use std::io::Read;
    use std::sync::Arc;

    fn schema() -> TableSchema {
        let col = |n: &str| Column {
            source_type: "text".into(),
            ..crate::schema::test_column(n, "LONGTEXT")
        };
        TableSchema {
            schema: "public".into(),
            name: "t".into(),
            dest_db: "d".into(),
            dest_table: "t".into(),
            columns: vec![col("v"), col("k1"), col("k2")],
            key: vec![1, 2],
            min_year: 0,
            filter: None,
            bad_value_fail: false,
            history: None,
            keyless: false,
            hashed_key: vec![],
        }
    }

    #[test]
    fn the_last_change_of_each_key_is_kept() {
        let root = std::env::temp_dir().join(format!("ingest-latest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for compression in [Compression::None, Compression::Gzip] {
            let mut b = super::super::tests::batch(&root, compression);
            let mut w = b.table(&schema()).unwrap();
            let ts = "2024-01-01 00:00:00.000000";
            // (op, v, k1, k2): keys (a,1) three times, (a,"1\n\"D\"") with a
            // tricky value, ("a,1", NULL) that only looks like (a,1).
            type Line<'a> = (Op, &'a [u8], &'a [u8], Option<&'a [u8]>);
            let lines: [Line; 6] = [
                (Op::Insert, b"first", b"a", Some(b"1")),
                (Op::Insert, b"x\n\"D\",\"9\"", b"a", Some(b"1\n\"D\"")),
                (Op::Update, b"second", b"a", Some(b"1")),
                (Op::Insert, b"other", b"a,1", None),
                (Op::Delete, b"", b"a", Some(b"1\n\"D\"")),
                (Op::Update, b"third", b"a", Some(b"1")),
            ];
            for (seq, (op, v, k1, k2)) in lines.iter().enumerate() {
                w.write(*op, seq as u64 + 1, ts, &[], [Some(*v), Some(*k1), *k2])
                    .unwrap();
            }
            let t = w.finish().unwrap();
            assert!(!t.keys_unique);
            let dir = root.join("b1");
            let l = latest_within(&dir, &t, &[1, 2], &AtomicUsize::new(KEY_INDEX_LIMIT))
                .unwrap()
                .unwrap();
            let kept: Vec<u64> = (0..6).filter(|&i| l.is_last(i)).collect();
            assert_eq!(kept, vec![3, 4, 5]);
            assert_eq!((l.upserts, l.deletes), (2, 1));
            // The filter passes exactly those lines, whole.
            let l = Arc::new(l);
            let mut iu = String::new();
            super::super::open_table_ops(&dir, &t, b"IU", Some(l.clone()))
                .unwrap()
                .read_to_string(&mut iu)
                .unwrap();
            assert!(
                iu.starts_with("\"I\",\"4\",")
                    && iu.contains("\"U\",\"6\",\"")
                    && iu.contains("third"),
                "{iu}"
            );
            assert_eq!(iu.matches("\n\"").count(), 1, "{iu}");
            let mut d = String::new();
            super::super::open_table_ops(&dir, &t, b"D", Some(l))
                .unwrap()
                .read_to_string(&mut d)
                .unwrap();
            assert_eq!(
                d,
                "\"D\",\"5\",\"2024-01-01 00:00:00.000000\",NULL,\"\",\"a\",\"1\n\"\"D\"\"\"\n"
            );
            // Past the budget: no answer, and the budget is given back.
            let small = AtomicUsize::new(CHUNK - 1);
            assert!(latest_within(&dir, &t, &[1, 2], &small).unwrap().is_none());
            assert_eq!(small.load(Ordering::Relaxed), CHUNK - 1);
            let enough = AtomicUsize::new(CHUNK);
            assert!(latest_within(&dir, &t, &[1, 2], &enough).unwrap().is_some());
            assert_eq!(enough.load(Ordering::Relaxed), CHUNK);
            std::fs::remove_dir_all(&root).unwrap();
        }
    }

    /// A PostgreSQL key change completed from the source comes after the
    /// changes that followed it: the last change is the highest `_seq`.
    #[test]
    fn the_last_change_is_by_seq_not_by_position() {
        let root = std::env::temp_dir().join(format!("ingest-latest-seq-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut b = super::super::tests::batch(&root, Compression::None);
        let mut w = b.table(&schema()).unwrap();
        let ts = "2024-01-01 00:00:00.000000";
        for (op, seq, k) in [
            (Op::Delete, 1, b"1"),
            (Op::Delete, 3, b"2"),
            (Op::Insert, 2, b"2"),
        ] {
            w.write(op, seq, ts, &[], [None, Some(&b"a"[..]), Some(&k[..])])
                .unwrap();
        }
        let t = w.finish().unwrap();
        let l = latest_per_key(
            &root.join("b1"),
            &t,
            &[1, 2],
            &KeyBudget::new(KEY_INDEX_LIMIT),
        )
        .unwrap()
        .unwrap();
        let kept: Vec<u64> = (0..3).filter(|&i| l.is_last(i)).collect();
        assert_eq!(kept, vec![0, 1]);
        assert_eq!((l.upserts, l.deletes), (0, 2));
        assert_eq!(seq_of(b"\"U\",\"12345\",\"ts\",NULL"), Some(12345));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_pass_that_runs_out_waits_for_the_others_and_runs_alone() {
        let root = std::env::temp_dir().join(format!("ingest-latest-wait-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut b = super::super::tests::batch(&root, Compression::None);
        let mut w = b.table(&schema()).unwrap();
        for seq in 1..=3u64 {
            w.write(
                Op::Update,
                seq,
                "ts",
                &[],
                [None, Some(&b"k"[..]), Some(&b"1"[..])],
            )
            .unwrap();
        }
        let t = w.finish().unwrap();
        // Another pass holds nearly all of the budget for a while.
        let budget = std::sync::Arc::new(KeyBudget::new(KEY_INDEX_LIMIT));
        let (held, release) = std::sync::mpsc::channel();
        let theirs = budget.clone();
        let other = std::thread::spawn(move || {
            let _shared = theirs.passes.read().unwrap();
            theirs.keys.fetch_sub(KEY_INDEX_LIMIT - 1, Ordering::SeqCst);
            held.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            theirs.keys.fetch_add(KEY_INDEX_LIMIT - 1, Ordering::SeqCst);
        });
        release.recv().unwrap();
        let l = latest_per_key(&root.join("b1"), &t, &[1, 2], &budget).unwrap();
        other.join().unwrap();
        let l = l.expect("the second, lone pass has the whole budget");
        assert!(l.is_last(2) && !l.is_last(0) && !l.is_last(1));
        assert_eq!(budget.keys.load(Ordering::SeqCst), KEY_INDEX_LIMIT);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn key_fields_are_cut_out_exactly() {
        let rec =
            b"\"U\",\"7\",\"2024-01-01 00:00:00.000000\",NULL,\"a,\"\"b\",\"1\",NULL,\"x\ny\"\n";
        let mut out = vec![];
        assert!(key_text(rec, &[0], &mut out));
        assert_eq!(out, b"\"a,\"\"b\",");
        out.clear();
        assert!(key_text(rec, &[3, 1], &mut out));
        assert_eq!(out, b"\"1\",\"x\ny\",");
        out.clear();
        assert!(!key_text(rec, &[4], &mut out));
    }
}
