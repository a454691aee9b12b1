//! Spool: extracted batches on disk, durable before anything is loaded.
//!
//! ```text
//! spool/<batch_id>/                 one folder per batch (the "file id")
//!     001_<dest_db>.<dest_table>.csv[.gz]   one file per table, index first
//!     MANIFEST                      TOML, written last: batch, positions, tables
//! ```
//! Every file is written as `<name>.tmp`, fsynced and renamed; MANIFEST is
//! written the same way after all table files, so a folder without MANIFEST is
//! an unfinished extract and is deleted, never loaded.
//!
//! A table file is CSV, one change per line (`\n`), no header:
//! `_op,_seq,_ts,_unch,<columns in destination order>` where
//! - `_op` is `I`, `U` or `D` (an update that changes the key is a `D` of the
//!   old key and an `I` of the new row);
//! - `_seq` orders changes within the batch (source order);
//! - `_ts` is the source commit time, UTC `YYYY-MM-DD HH:MM:SS.ffffff`;
//! - `_unch` lists the 1-based positions of columns whose value did not come
//!   with the change (PostgreSQL unchanged TOAST), comma separated, or NULL.
//!
//! Every value is enclosed in `"` with `"` doubled inside; SQL NULL is a bare
//! `NULL`; binary columns hold hex. MySQL's `LOAD DATA ... FIELDS TERMINATED BY
//! ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''` reads this back exactly.
//! A TRUNCATE is not a line: the MANIFEST records the `_seq` it happened at.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use crate::config::Compression;
use crate::schema::{Column, Conv, TableSchema};

pub mod latest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    fn code(self) -> &'static [u8] {
        match self {
            Op::Insert => b"\"I\"",
            Op::Update => b"\"U\"",
            Op::Delete => b"\"D\"",
        }
    }
}

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
    /// Some line has a non-NULL `_unch`.
    #[serde(default)]
    pub unchanged: bool,
    /// Every key appears in one line only (deltas; tracked while writing,
    /// false when unknown): the merge can load the lines straight into the
    /// target.
    #[serde(default)]
    pub keys_unique: bool,
    pub columns: Vec<ManifestColumn>,
}

impl ManifestTable {
    /// The table's shape as the destination needs it.
    pub fn schema(&self) -> TableSchema {
        TableSchema {
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
                })
                .collect(),
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

/// New batch id: sortable UTC time plus the run id.
pub fn batch_id(run_id: i64) -> String {
    let now = crate::clock::now();
    let compact: String = now.chars().filter(|c| c.is_ascii_digit()).collect();
    format!("{}-{}-r{run_id}", &compact[..8], &compact[8..])
}

/// A batch id no folder in the spool has yet (one run may write several
/// batches, each read in its own moment).
pub fn new_batch_id(spool_dir: &Path, run_id: i64) -> String {
    loop {
        let id = batch_id(run_id);
        if !spool_dir.join(&id).exists() {
            return id;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect()
}

fn sync_dir(dir: &Path) {
    // Directories can be fsynced on Unix; Windows has no such call (NTFS
    // journals the rename).
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Writes one batch folder. Nothing is visible to loaders until
/// [`BatchWriter::finish`] has written the MANIFEST.
pub struct BatchWriter {
    dir: PathBuf,
    compression: Compression,
    manifest: Manifest,
    next_index: usize,
    /// Keys the batch's trackers may still hold, all tables together.
    key_budget: Arc<AtomicUsize>,
}

impl BatchWriter {
    pub fn create(
        spool_dir: &Path,
        manifest: Manifest,
        compression: Compression,
    ) -> Result<BatchWriter> {
        let dir = spool_dir.join(&manifest.batch);
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // The new folder's entry must survive a power loss as well.
        sync_dir(spool_dir);
        Ok(BatchWriter {
            dir,
            compression,
            manifest,
            next_index: 1,
            key_budget: Arc::new(AtomicUsize::new(KEY_TRACK_LIMIT)),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the file for one table.
    pub fn table(&mut self, schema: &TableSchema) -> Result<TableWriter> {
        self.open(schema, None)
    }

    /// Opens a table whose lines are split into files of `rows` lines:
    /// each finished part goes to `done` at once (a load can start while the
    /// rest is extracted); the last part comes from [`TableWriter::finish`].
    pub fn table_in_parts(
        &mut self,
        schema: &TableSchema,
        rows: u64,
        done: impl FnMut(ManifestTable) -> Result<()> + Send + 'static,
    ) -> Result<TableWriter> {
        self.open(schema, Some((rows.max(1), Box::new(done))))
    }

    fn open(&mut self, schema: &TableSchema, parts: Option<Parts>) -> Result<TableWriter> {
        let ext = match self.compression {
            Compression::Gzip => "csv.gz",
            Compression::None => "csv",
        };
        let base = format!("{:03}_{}", self.next_index, sanitize(&schema.dest_name()));
        self.next_index += 1;
        let part = u32::from(parts.is_some());
        let file = file_name(&base, part, ext);
        let (tmp, out) = open_file(&self.dir, &file, self.compression)?;
        Ok(TableWriter {
            entry: ManifestTable {
                source: schema.source_name(),
                source_schema: schema.schema.clone(),
                source_table: schema.name.clone(),
                dest_db: schema.dest_db.clone(),
                dest_table: schema.dest_table.clone(),
                file,
                part,
                rows: 0,
                inserts: 0,
                updates: 0,
                deletes: 0,
                truncate_seq: None,
                unchanged: false,
                keys_unique: false,
                columns: schema
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ManifestColumn {
                        name: c.name.clone(),
                        source_type: c.source_type.clone(),
                        dest_type: c.dest_type.clone(),
                        binary: c.binary,
                        toastable: c.toastable,
                        key: schema.is_key(i),
                        nullable: c.nullable,
                    })
                    .collect(),
            },
            tmp,
            out,
            line: Vec::with_capacity(4096),
            dir: self.dir.clone(),
            compression: self.compression,
            base,
            ext,
            keys: parts.is_none().then(|| KeyTracker {
                is_key: (0..schema.columns.len())
                    .map(|i| schema.is_key(i))
                    .collect(),
                seen: HashSet::default(),
                repeated: false,
                budget: self.key_budget.clone(),
            }),
            parts,
        })
    }

    /// Adds a finished table file to the batch.
    pub fn add(&mut self, entry: ManifestTable) {
        self.manifest.table.push(entry);
    }

    pub fn set_to_pos(&mut self, pos: Option<String>) {
        self.manifest.to_pos = pos;
    }

    /// Writes MANIFEST (last, atomically) and returns it.
    pub fn finish(self) -> Result<Manifest> {
        let text = toml::to_string(&self.manifest).context("serializing MANIFEST")?;
        let tmp = self.dir.join("MANIFEST.tmp");
        {
            let mut f =
                File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join(MANIFEST))?;
        sync_dir(&self.dir);
        Ok(self.manifest)
    }
}

type Parts = (u64, Box<dyn FnMut(ManifestTable) -> Result<()> + Send>);

fn file_name(base: &str, part: u32, ext: &str) -> String {
    if part == 0 {
        format!("{base}.{ext}")
    } else {
        format!("{base}.p{part:04}.{ext}")
    }
}

fn open_file(dir: &Path, file: &str, compression: Compression) -> Result<(PathBuf, Sink)> {
    let tmp = dir.join(format!("{file}.tmp"));
    let f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let buf = BufWriter::with_capacity(256 * 1024, f);
    let out = match compression {
        // Lines reach the encoder in 64 KB blocks: its CRC over each ~100-byte
        // line cost a third of the writer's time (callgrind).
        Compression::Gzip => Sink::Gzip(Box::new(BufWriter::with_capacity(
            64 * 1024,
            GzEncoder::new(buf, flate2::Compression::fast()),
        ))),
        Compression::None => Sink::Plain(buf),
    };
    Ok((tmp, out))
}

/// Flushes, fsyncs and renames a file into place.
fn close_file(out: Sink, tmp: &Path) -> Result<()> {
    let file = match out {
        Sink::Gzip(w) => w
            .into_inner()
            .map_err(|e| e.into_error())?
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?,
        Sink::Plain(w) => w.into_inner().map_err(|e| e.into_error())?,
    };
    file.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))?;
    drop(file);
    fs::rename(tmp, tmp.with_extension(""))
        .with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}

enum Sink {
    Gzip(Box<BufWriter<GzEncoder<BufWriter<File>>>>),
    Plain(BufWriter<File>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Gzip(w) => w.write(buf),
            Sink::Plain(w) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Gzip(w) => w.write_all(buf),
            Sink::Plain(w) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Gzip(w) => w.flush(),
            Sink::Plain(w) => w.flush(),
        }
    }
}

/// One table's file. Must be [`TableWriter::finish`]ed to count.
pub struct TableWriter {
    entry: ManifestTable,
    tmp: PathBuf,
    out: Sink,
    line: Vec<u8>,
    dir: PathBuf,
    compression: Compression,
    base: String,
    ext: &'static str,
    parts: Option<Parts>,
    /// Delta files: hashes of the keys written so far.
    keys: Option<KeyTracker>,
}

/// Whether any key repeats within a table's delta file: a set of key
/// hashes, dropped at the first repeat (or hash collision, which only costs
/// the slower merge) or once the batch's tables together hold
/// `KEY_TRACK_LIMIT` keys (~20 bytes each), after which the answer is
/// "unknown", treated as "repeats".
struct KeyTracker {
    is_key: Vec<bool>,
    /// Hashes of the keys seen (already SipHash: not hashed again).
    seen: HashSet<u64, BuildHasherDefault<Prehashed>>,
    repeated: bool,
    budget: Arc<AtomicUsize>,
}

const KEY_TRACK_LIMIT: usize = 2_000_000;

/// The hasher of a set of hashes: the value is its own hash.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64s go in; anything else still hashes to something usable.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl KeyTracker {
    fn add(&mut self, hash: u64) {
        if self.repeated {
            return;
        }
        let granted = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if !(granted && self.seen.insert(hash)) {
            self.repeated = true;
            let held = std::mem::take(&mut self.seen).len() + usize::from(granted);
            self.budget.fetch_add(held, Ordering::Relaxed);
        }
    }
}

/// Appends the decimal digits of `n` (no allocation, unlike `to_string`).
pub fn push_decimal(line: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    line.extend_from_slice(&digits[i..]);
}

/// Appends `v` to `line` as a quoted CSV field.
pub fn push_quoted(line: &mut Vec<u8>, v: &[u8]) {
    line.push(b'"');
    let mut rest = v;
    while let Some(p) = rest.iter().position(|&b| b == b'"') {
        line.extend_from_slice(&rest[..=p]);
        line.push(b'"');
        rest = &rest[p + 1..];
    }
    line.extend_from_slice(rest);
    line.push(b'"');
}

impl TableWriter {
    /// Writes one change. `values` are spool text (already converted), `None`
    /// for NULL; `unchanged` lists 1-based positions of unchanged columns.
    pub fn write<'v>(
        &mut self,
        op: Op,
        seq: u64,
        ts: &str,
        unchanged: &[usize],
        values: impl IntoIterator<Item = Option<&'v [u8]>>,
    ) -> Result<()> {
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(op.code());
        line.extend_from_slice(b",\"");
        push_decimal(line, seq);
        line.extend_from_slice(b"\",\"");
        line.extend_from_slice(ts.as_bytes());
        line.extend_from_slice(b"\",");
        if unchanged.is_empty() {
            line.extend_from_slice(b"NULL");
        } else {
            self.entry.unchanged = true;
            line.push(b'"');
            for (i, u) in unchanged.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                push_decimal(line, *u as u64);
            }
            line.push(b'"');
        }
        let mut key_hash = self.keys.as_ref().map(|_| DefaultHasher::new());
        for (i, v) in values.into_iter().enumerate() {
            line.push(b',');
            match v {
                Some(v) => push_quoted(line, v),
                None => line.extend_from_slice(b"NULL"),
            }
            if let (Some(h), Some(k)) = (key_hash.as_mut(), self.keys.as_ref()) {
                if k.is_key.get(i) == Some(&true) {
                    v.hash(h);
                }
            }
        }
        if let (Some(h), Some(k)) = (key_hash, self.keys.as_mut()) {
            k.add(h.finish());
        }
        line.push(b'\n');
        self.out
            .write_all(line)
            .with_context(|| format!("writing {}", self.tmp.display()))?;
        self.entry.rows += 1;
        match op {
            Op::Insert => self.entry.inserts += 1,
            Op::Update => self.entry.updates += 1,
            Op::Delete => self.entry.deletes += 1,
        }
        if matches!(self.parts, Some((n, _)) if self.entry.rows >= n) {
            self.next_part()?;
        }
        Ok(())
    }

    /// Records a TRUNCATE at `seq`: everything before it in this table is gone.
    pub fn truncate(&mut self, seq: u64) {
        self.entry.truncate_seq = Some(seq);
    }

    /// Flushes, fsyncs and renames the file into place.
    pub fn finish(mut self) -> Result<ManifestTable> {
        close_file(self.out, &self.tmp)?;
        self.entry.keys_unique = self.keys.is_some_and(|k| !k.repeated);
        Ok(self.entry)
    }

    /// Closes the current part, hands it on, and opens the next one.
    fn next_part(&mut self) -> Result<()> {
        let file = file_name(&self.base, self.entry.part + 1, self.ext);
        let (tmp, out) = open_file(&self.dir, &file, self.compression)?;
        let old_out = std::mem::replace(&mut self.out, out);
        let old_tmp = std::mem::replace(&mut self.tmp, tmp);
        close_file(old_out, &old_tmp)?;
        let mut next = self.entry.clone();
        next.file = file;
        next.part += 1;
        (next.rows, next.inserts, next.updates, next.deletes) = (0, 0, 0, 0);
        let done = std::mem::replace(&mut self.entry, next);
        if let Some((_, hand_on)) = &mut self.parts {
            hand_on(done)?;
        }
        Ok(())
    }
}

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

/// Opens a table file for reading only the lines of some operations
/// (`b'D'`, or `b'I'` and `b'U'`), and of those only the ones `keep` marks
/// (the last change of each key) when given.
pub fn open_table_ops(
    dir: &Path,
    t: &ManifestTable,
    ops: &'static [u8],
    keep: Option<Arc<latest::Latest>>,
) -> Result<Box<dyn Read + Send>> {
    Ok(Box::new(OpFilter {
        records: Records(open_table(dir, t)?),
        ops,
        keep,
        index: 0,
        record: Vec::with_capacity(4096),
        pos: 0,
    }))
}

/// The CSV records of a table file. A quoted value may hold newlines, so a
/// record ends at a newline outside quotes (an even count of `"` so far:
/// quotes inside values are doubled).
struct Records(Box<dyn BufRead + Send>);

impl Records {
    /// Reads the next record into `record` (cleared first); false at the end.
    fn next_into(&mut self, record: &mut Vec<u8>) -> io::Result<bool> {
        record.clear();
        let mut quotes = 0usize;
        loop {
            let from = record.len();
            if self.0.read_until(b'\n', record)? == 0 {
                return Ok(!record.is_empty());
            }
            quotes += record[from..].iter().filter(|&&b| b == b'"').count();
            if quotes.is_multiple_of(2) {
                return Ok(true);
            }
        }
    }
}

struct OpFilter {
    records: Records,
    ops: &'static [u8],
    keep: Option<Arc<latest::Latest>>,
    /// Index of the next record in the file (all operations counted).
    index: u64,
    record: Vec<u8>,
    pos: usize,
}

impl Read for OpFilter {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.record.len() {
            self.pos = 0;
            if !self.records.next_into(&mut self.record)? {
                return Ok(0);
            }
            let index = self.index;
            self.index += 1;
            let op = self.record.get(1).copied().unwrap_or(0);
            let wanted =
                self.ops.contains(&op) && self.keep.as_ref().is_none_or(|k| k.is_last(index));
            if !wanted {
                self.record.clear();
            }
        }
        let n = out.len().min(self.record.len() - self.pos);
        out[..n].copy_from_slice(&self.record[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Opens a table file for reading (decompressing `.gz`), buffered.
pub fn open_table(dir: &Path, t: &ManifestTable) -> Result<Box<dyn BufRead + Send>> {
    let path = dir.join(&t.file);
    let f = File::open(&path).with_context(|| format!("opening spool file {}", path.display()))?;
    let r = BufReader::with_capacity(256 * 1024, f);
    if t.file.ends_with(".gz") {
        Ok(Box::new(BufReader::with_capacity(
            64 * 1024,
            MultiGzDecoder::new(r),
        )))
    } else {
        Ok(Box::new(r))
    }
}

/// Removes a batch folder once its position was released.
pub fn remove_batch(spool_dir: &Path, batch: &str) -> Result<()> {
    let dir = spool_dir.join(batch);
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// Whether a folder name is one [`batch_id`] makes: `YYYYMMDD-HHMMSSmmm-r<run>`.
/// Only such folders are ever deleted from the spool: anything else in it
/// (a user's files, another program's) is left alone.
pub fn is_batch_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 20
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..18].iter().all(u8::is_ascii_digit)
        && &b[18..20] == b"-r"
        && b[20..].iter().all(u8::is_ascii_digit)
}

/// Lists batch folders in the spool: (id, has MANIFEST), oldest first.
/// Folders whose names are not batch ids are not listed.
pub fn list_batches(spool_dir: &Path) -> Result<Vec<(String, bool)>> {
    let mut out = BTreeMap::new();
    let rd = match fs::read_dir(spool_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).with_context(|| format!("reading {}", spool_dir.display())),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if e.file_type()?.is_dir() && is_batch_id(&name) {
            let done = e.path().join(MANIFEST).exists();
            out.insert(name, done);
        }
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> TableSchema {
        let col = |n: &str, binary| Column {
            name: n.into(),
            source_type: "text".into(),
            dest_type: "LONGTEXT".into(),
            conv: Conv::Verbatim,
            binary,
            toastable: false,
            nullable: true,
        };
        TableSchema {
            schema: "public".into(),
            name: "t x".into(),
            dest_db: "d".into(),
            dest_table: "t x".into(),
            columns: vec![col("id", false), col("v", false), col("b", true)],
            key: vec![0],
        }
    }

    #[test]
    fn decimal_digits() {
        for n in [0u64, 7, 10, 1234567890, u64::MAX] {
            let mut v = b"x".to_vec();
            push_decimal(&mut v, n);
            assert_eq!(v, format!("x{n}").into_bytes());
        }
    }

    pub(super) fn batch(root: &Path, compression: Compression) -> BatchWriter {
        let m = Manifest {
            batch: "b1".into(),
            kind: "delta".into(),
            instance: "i".into(),
            created_at: "now".into(),
            from_pos: None,
            to_pos: None,
            table: vec![],
        };
        BatchWriter::create(root, m, compression).unwrap()
    }

    #[test]
    fn delta_files_know_whether_keys_repeat() {
        let root = std::env::temp_dir().join(format!("ingest-keys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let mut b = batch(&root, Compression::None);
        let ts = "2024-01-01 00:00:00.000000";
        // Keys "1", "", NULL and "11" are four different keys.
        let mut t = b.table(&schema()).unwrap();
        for (seq, k) in [Some(&b"1"[..]), Some(b""), None, Some(b"11")]
            .iter()
            .enumerate()
        {
            t.write(Op::Insert, seq as u64, ts, &[], [*k, Some(b"x"), None])
                .unwrap();
        }
        assert!(t.finish().unwrap().keys_unique);
        let mut t = b.table(&schema()).unwrap();
        t.write(Op::Insert, 1, ts, &[], [Some(&b"7"[..]), Some(b"a"), None])
            .unwrap();
        t.write(Op::Delete, 2, ts, &[], [Some(&b"7"[..]), None, None])
            .unwrap();
        assert!(!t.finish().unwrap().keys_unique);
        // Past the batch's budget of keys, a table counts as "may repeat".
        b.key_budget = Arc::new(AtomicUsize::new(3));
        let mut a = b.table(&schema()).unwrap();
        let mut c = b.table(&schema()).unwrap();
        for (seq, k) in [&b"1"[..], b"2"].iter().enumerate() {
            a.write(Op::Insert, seq as u64, ts, &[], [Some(*k), None, None])
                .unwrap();
            c.write(Op::Insert, seq as u64, ts, &[], [Some(*k), None, None])
                .unwrap();
        }
        assert!(a.finish().unwrap().keys_unique);
        assert!(!c.finish().unwrap().keys_unique);
        // Snapshot parts do not track keys.
        let mut t = b.table_in_parts(&schema(), 10, |_| Ok(())).unwrap();
        t.write(Op::Insert, 1, ts, &[], [Some(&b"7"[..]), None, None])
            .unwrap();
        assert!(!t.finish().unwrap().keys_unique);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn op_filter_reads_whole_records() {
        let root = std::env::temp_dir().join(format!("ingest-ops-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for compression in [Compression::None, Compression::Gzip] {
            let mut b = batch(&root, compression);
            let ts = "2024-01-01 00:00:00.000000";
            let mut t = b.table(&schema()).unwrap();
            // A value that holds a newline followed by what looks like a
            // delete line, and doubled quotes.
            let tricky = b"a\n\"D\",\"9\"\n\"\"".as_slice();
            t.write(
                Op::Update,
                1,
                ts,
                &[],
                [Some(&b"1"[..]), Some(tricky), None],
            )
            .unwrap();
            t.write(Op::Delete, 2, ts, &[], [Some(&b"2"[..]), None, None])
                .unwrap();
            t.write(Op::Insert, 3, ts, &[], [Some(&b"3"[..]), Some(b"b"), None])
                .unwrap();
            let entry = t.finish().unwrap();
            let dir = root.join("b1");
            let mut all = String::new();
            open_table(&dir, &entry)
                .unwrap()
                .read_to_string(&mut all)
                .unwrap();
            let lines: Vec<&str> = all.split_inclusive("NULL\n").collect();
            assert_eq!(lines.len(), 3, "{all}");
            let mut upserts = String::new();
            open_table_ops(&dir, &entry, b"IU", None)
                .unwrap()
                .read_to_string(&mut upserts)
                .unwrap();
            assert_eq!(upserts, format!("{}{}", lines[0], lines[2]));
            let mut deletes = String::new();
            open_table_ops(&dir, &entry, b"D", None)
                .unwrap()
                .read_to_string(&mut deletes)
                .unwrap();
            assert_eq!(deletes, lines[1]);
            let _ = fs::remove_dir_all(&root);
        }
    }

    #[test]
    fn writes_quoted_lines_and_manifest_last() {
        let root = std::env::temp_dir().join(format!("ingest-spool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let id = batch_id(7);
        assert!(is_batch_id(&id), "{id}");
        assert!(!is_batch_id("b1") && !is_batch_id("log") && !is_batch_id("20250301-101502123-r"));
        for compression in [Compression::None, Compression::Gzip] {
            let m = Manifest {
                batch: id.clone(),
                kind: "delta".into(),
                instance: "i".into(),
                created_at: "now".into(),
                from_pos: Some("0/1".into()),
                to_pos: None,
                table: vec![],
            };
            let mut b = BatchWriter::create(&root, m, compression).unwrap();
            let mut t = b.table(&schema()).unwrap();
            let ts = "2024-01-01 00:00:00.000000";
            t.write(
                Op::Insert,
                1,
                ts,
                &[],
                [Some(&b"1"[..]), Some(b"a\"b,\r\n"), None],
            )
            .unwrap();
            t.write(
                Op::Update,
                2,
                ts,
                &[2, 3],
                [Some(&b"1"[..]), Some(b""), Some(b"NULL")],
            )
            .unwrap();
            t.truncate(3);
            assert!(read_manifest(b.dir()).unwrap().is_none());
            let e = t.finish().unwrap();
            assert_eq!(
                (e.rows, e.inserts, e.updates, e.truncate_seq, e.unchanged),
                (2, 1, 1, Some(3), true)
            );
            b.add(e);
            b.set_to_pos(Some("0/2".into()));
            let m = b.finish().unwrap();
            let dir = root.join(&id);
            let back = read_manifest(&dir).unwrap().unwrap();
            assert_eq!(back, m);
            assert_eq!(back.table[0].schema().key, vec![0]);
            let mut text = String::new();
            open_table(&dir, &back.table[0])
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(
                text,
                "\"I\",\"1\",\"2024-01-01 00:00:00.000000\",NULL,\"1\",\"a\"\"b,\r\n\",NULL\n\
                 \"U\",\"2\",\"2024-01-01 00:00:00.000000\",\"2,3\",\"1\",\"\",\"NULL\"\n"
            );
            // Other folders in the spool are neither listed nor touched.
            fs::create_dir_all(root.join("not-a-batch")).unwrap();
            assert_eq!(list_batches(&root).unwrap(), vec![(id.clone(), true)]);
        }
        let _ = fs::remove_dir_all(&root);
    }
}
