//! Writing a batch: table files (`.tmp`, fsynced, renamed), snapshot parts
//! handed on as they fill, and MANIFEST last.

use std::collections::HashSet;
use std::fs::{self, File};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use flate2::write::GzEncoder;

use super::{
    push_decimal, push_quoted, sync_dir, Manifest, ManifestColumn, ManifestTable, Op, MANIFEST,
};
use crate::config::Compression;
use crate::schema::TableSchema;

/// Writes one batch folder. Nothing is visible to loaders until
/// [`BatchWriter::finish`] has written the MANIFEST.
pub struct BatchWriter {
    dir: PathBuf,
    compression: Compression,
    /// `min_free_disk`: writing stops when the folder has less free.
    min_free: u64,
    manifest: Manifest,
    next_index: usize,
    /// Keys the batch's trackers may still hold, all tables together.
    pub(super) key_budget: Arc<AtomicUsize>,
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
            min_free: 0,
            manifest,
            next_index: 1,
            key_budget: Arc::new(AtomicUsize::new(KEY_TRACK_LIMIT)),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops writing (an error naming the folder) when its file system has
    /// less than `min` bytes free, checked every few megabytes.
    pub fn watch_disk(&mut self, min: u64) {
        self.min_free = min;
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
        let (tmp, out) = open_file(&self.dir, &file, self.compression, self.min_free)?;
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
                truncates: vec![],
                unchanged: false,
                keys_unique: false,
                enum_errors: 0,
                bad_values: vec![],
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
                history: schema.history.clone(),
                keyless: schema.keyless,
            },
            changes: if schema.columns.iter().any(|c| c.type_change.is_some()) {
                schema
                    .columns
                    .iter()
                    .map(|c| {
                        let spec = c.type_change.as_ref()?;
                        let tc = crate::type_change::TypeChange::parse(spec).ok()?;
                        Some((tc, spec.clone()))
                    })
                    .collect()
            } else {
                vec![]
            },
            fail_bad: schema.bad_value_fail,
            min_year: schema.min_year,
            bad: vec![0; schema.columns.len()],
            names: (
                schema.source_name(),
                schema.columns.iter().map(|c| c.name.clone()).collect(),
                schema.key.clone(),
            ),
            tmp,
            out,
            line: Vec::with_capacity(4096),
            dir: self.dir.clone(),
            compression: self.compression,
            min_free: self.min_free,
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
            enum_error: schema
                .columns
                .iter()
                .map(|c| crate::schema::enum_error_text(&c.source_type))
                .collect(),
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

/// A spool file that checks its folder's free space every
/// [`CHECK_EVERY`] bytes written (`min_free_disk`).
struct Watched {
    file: File,
    dir: PathBuf,
    min_free: u64,
    since_check: u64,
}

/// How often a file being written looks at its disk's free space.
const CHECK_EVERY: u64 = 4 << 20;

impl Write for Watched {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.min_free > 0 {
            self.since_check += buf.len() as u64;
            if self.since_check >= CHECK_EVERY {
                self.since_check = 0;
                if let Err(e) = crate::error::check_disk(&self.dir, self.min_free, " while writing")
                {
                    let low = e
                        .downcast::<crate::error::DiskLow>()
                        .unwrap_or_else(|e| crate::error::DiskLow(e.to_string()));
                    return Err(io::Error::other(low));
                }
            }
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn open_file(
    dir: &Path,
    file: &str,
    compression: Compression,
    min_free: u64,
) -> Result<(PathBuf, Sink)> {
    let tmp = dir.join(format!("{file}.tmp"));
    let f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let f = Watched {
        file: f,
        dir: dir.to_path_buf(),
        min_free,
        since_check: 0,
    };
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
    }
    .file;
    file.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))?;
    drop(file);
    fs::rename(tmp, tmp.with_extension(""))
        .with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}

enum Sink {
    Gzip(Box<BufWriter<GzEncoder<BufWriter<Watched>>>>),
    Plain(BufWriter<Watched>),
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
    min_free: u64,
    base: String,
    ext: &'static str,
    parts: Option<Parts>,
    /// Delta files: hashes of the keys written so far.
    keys: Option<KeyTracker>,
    /// Per column: the spool text of the ENUM error value, if an ENUM.
    enum_error: Vec<Option<&'static [u8]>>,
    /// `type_change`: per column its conversion, if any (empty: none).
    changes: Vec<Option<(crate::type_change::TypeChange, String)>>,
    /// `on_bad_value = "fail"`.
    fail_bad: bool,
    /// Dates before this year do not convert (the destination's first).
    min_year: u16,
    /// Values a conversion did not take, per column (written as NULL).
    bad: Vec<u64>,
    /// The table's name and key columns, for messages.
    names: (String, Vec<String>, Vec<usize>),
}

/// (column, count) of the columns with values a conversion did not take.
fn bad_values(cols: &[String], bad: &[u64]) -> Vec<(String, u64)> {
    cols.iter()
        .zip(bad)
        .filter(|(_, &n)| n > 0)
        .map(|(c, &n)| (c.clone(), n))
        .collect()
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
pub(crate) struct Prehashed(u64);

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

impl TableWriter {
    /// Writes one change. `values` are spool text (already converted), `None`
    /// for NULL; `unchanged` lists 1-based positions of unchanged columns.
    pub fn write<V: AsRef<[u8]>>(
        &mut self,
        op: Op,
        seq: u64,
        ts: &str,
        unchanged: &[usize],
        values: impl IntoIterator<Item = Option<V>>,
    ) -> Result<()> {
        if self.changes.is_empty() {
            return self.write_line(op, seq, ts, unchanged, values);
        }
        let mut vals: Vec<Option<Vec<u8>>> = values
            .into_iter()
            .map(|v| v.map(|x| x.as_ref().to_vec()))
            .collect();
        if op == Op::Delete {
            // A delete is merged by its key (never type-changed): the old
            // row's other values are not converted, counted or failed on.
            for (i, change) in self.changes.iter().enumerate() {
                if change.is_some() {
                    vals[i] = None;
                }
            }
            return self.write_line(op, seq, ts, unchanged, vals);
        }
        let mut bad = vec![];
        for (i, change) in self.changes.iter().enumerate() {
            let (Some((tc, spec)), Some(Some(v))) = (change, vals.get(i)) else {
                continue;
            };
            match tc.convert(v, self.min_year) {
                Some(t) => vals[i] = Some(t.into_bytes()),
                None => bad.push((i, String::from_utf8_lossy(v).into_owned(), spec.clone())),
            }
        }
        for (i, value, spec) in bad {
            let (table, cols, key) = &self.names;
            let key_text = key
                .iter()
                .map(|&k| {
                    vals.get(k)
                        .cloned()
                        .flatten()
                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                        .unwrap_or_else(|| "NULL".into())
                })
                .collect::<Vec<_>>()
                .join(", ");
            let msg = format!(
                "{table}.{}: value '{value}' (key {key_text}) does not convert by type_change {spec}",
                cols[i]
            );
            if self.fail_bad {
                return Err(crate::type_change::BadValue(msg).into());
            }
            self.bad[i] += 1;
            if self.bad[i] <= 10 {
                log::warn!("{msg}: written as NULL (on_bad_value = \"null\")");
            }
            vals[i] = None;
        }
        self.write_line(op, seq, ts, unchanged, vals)
    }

    fn write_line<V: AsRef<[u8]>>(
        &mut self,
        op: Op,
        seq: u64,
        ts: &str,
        unchanged: &[usize],
        values: impl IntoIterator<Item = Option<V>>,
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
            let v = v.as_ref().map(AsRef::as_ref);
            line.push(b',');
            match v {
                Some(v) => {
                    if self.enum_error.get(i).copied().flatten() == Some(v) {
                        self.entry.enum_errors += 1;
                    }
                    push_quoted(line, v)
                }
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
    pub fn truncate(&mut self, seq: u64, ts: &str) {
        self.entry.truncate_seq = Some(seq);
        self.entry.truncates.push((seq, ts.to_string()));
    }

    /// Flushes, fsyncs and renames the file into place.
    pub fn finish(mut self) -> Result<ManifestTable> {
        close_file(self.out, &self.tmp)?;
        self.entry.keys_unique = self.keys.is_some_and(|k| !k.repeated);
        self.entry.bad_values = bad_values(&self.names.1, &self.bad);
        Ok(self.entry)
    }

    /// Closes the current part, hands it on, and opens the next one.
    fn next_part(&mut self) -> Result<()> {
        let file = file_name(&self.base, self.entry.part + 1, self.ext);
        let (tmp, out) = open_file(&self.dir, &file, self.compression, self.min_free)?;
        let old_out = std::mem::replace(&mut self.out, out);
        let old_tmp = std::mem::replace(&mut self.tmp, tmp);
        close_file(old_out, &old_tmp)?;
        let mut next = self.entry.clone();
        next.file = file;
        next.part += 1;
        (next.rows, next.inserts, next.updates, next.deletes) = (0, 0, 0, 0);
        next.enum_errors = 0;
        let mut done = std::mem::replace(&mut self.entry, next);
        done.bad_values = bad_values(&self.names.1, &self.bad);
        self.bad.iter_mut().for_each(|n| *n = 0);
        if let Some((_, hand_on)) = &mut self.parts {
            hand_on(done)?;
        }
        Ok(())
    }
}
