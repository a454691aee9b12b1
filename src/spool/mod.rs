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

mod line;
mod manifest;
pub(crate) mod reader;
mod writer;

pub mod latest;

pub use line::{push_decimal, push_quoted, Op};
pub use manifest::{read_manifest, Manifest, ManifestColumn, ManifestTable, MANIFEST};
pub(crate) use reader::Records;
pub use reader::{open_table, open_table_ops};
pub(crate) use writer::Prehashed;
pub use writer::{BatchWriter, TableWriter};

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use anyhow::{Context, Result};

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

pub(crate) fn sync_dir(dir: &Path) {
    // Directories can be fsynced on Unix; Windows has no such call (NTFS
    // journals the rename).
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
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
    use crate::config::Compression;
    use crate::schema::{Column, Conv, TableSchema};
    use std::io::Read;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    fn schema() -> TableSchema {
        let col = |n: &str, binary| Column {
            name: n.into(),
            source_type: "text".into(),
            dest_type: "LONGTEXT".into(),
            conv: Conv::Verbatim,
            binary,
            toastable: false,
            nullable: true,
            masked: false,
            generated: false,
            type_change: None,
        };
        TableSchema {
            schema: "public".into(),
            name: "t x".into(),
            dest_db: "d".into(),
            dest_table: "t x".into(),
            columns: vec![col("id", false), col("v", false), col("b", true)],
            key: vec![0],
            min_year: 0,
            filter: None,
            bad_value_fail: false,
            history: None,
            keyless: false,
            hashed_key: vec![],
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
            t.truncate(3, "2026-01-01 00:00:00.000000");
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
