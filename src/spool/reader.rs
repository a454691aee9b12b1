//! Reading table files: whole (decompressing `.gz`), or only the records
//! of some operations and of the last change of each key.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;

use super::{latest, ManifestTable};

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
pub(crate) struct Records(pub(crate) Box<dyn BufRead + Send>);

impl Records {
    /// Reads the next record into `record` (cleared first); false at the end.
    pub(crate) fn next_into(&mut self, record: &mut Vec<u8>) -> io::Result<bool> {
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
