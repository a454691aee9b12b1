//! The rules of [`ChangeSink`], on rows built by hand: the key-change
//! split, unchanged values (filled from the old row, or handed back when
//! only the source has them), stale deletes under whole old rows, changes
//! in another shape older than the snapshot, TRUNCATE.

use super::*;
use crate::config::Compression;
use crate::schema::{Column, Conv};
use crate::spool::Manifest;
use std::io::BufRead;
use std::path::PathBuf;

const V: fn(&'static str) -> Cell<'static> = |s| Cell::Value(s.as_bytes());
const NULL: Cell<'static> = Cell::Null;
const UNCH: Cell<'static> = Cell::Unchanged;
const KEYED: Table = Table {
    whole_old_rows: false,
};
const WHOLE: Table = Table {
    whole_old_rows: true,
};

fn id() -> TableId {
    TableId::new("public", "t")
}

/// `t (id key, v, big)`.
fn tables() -> HashMap<TableId, TableSchema> {
    let col = |n: &str| Column {
        name: n.into(),
        source_type: "text".into(),
        dest_type: "LONGTEXT".into(),
        conv: Conv::Verbatim,
        binary: false,
        toastable: n == "big",
        nullable: n != "id",
        masked: false,
        generated: false,
        type_change: None,
    };
    let s = TableSchema {
        schema: "public".into(),
        name: "t".into(),
        dest_db: "d".into(),
        dest_table: "t".into(),
        columns: vec![col("id"), col("v"), col("big")],
        key: vec![0],
        min_year: 0,
        filter: None,
        bad_value_fail: false,
        history: None,
        keyless: false,
        hashed_key: vec![],
    };
    HashMap::from([(id(), s)])
}

/// A batch in a folder of its own.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> (Scratch, BatchWriter) {
        let root = std::env::temp_dir().join(format!("ingest-sink-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let m = Manifest {
            batch: "b1".into(),
            kind: "delta".into(),
            instance: "i".into(),
            created_at: "now".into(),
            from_pos: None,
            to_pos: None,
            table: vec![],
        };
        let b = BatchWriter::create(&root, m, Compression::None).unwrap();
        (Scratch(root), b)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The table's lines without the time: `op,seq,unchanged,values...`.
fn lines(b: &BatchWriter, t: &ManifestTable) -> Vec<String> {
    crate::spool::open_table(b.dir(), t)
        .unwrap()
        .lines()
        .map(|l| {
            let l = l.unwrap();
            let f: Vec<&str> = l.splitn(4, ',').collect();
            format!("{},{},{}", f[0], f[1], f[3]).replace('"', "")
        })
        .collect()
}

#[test]
fn a_key_change_is_a_delete_of_the_old_key_and_an_insert_of_the_new_row() {
    let tables = tables();
    let (_dir, mut b) = Scratch::new("split");
    let mut sink = ChangeSink::new(&tables, &mut b);
    let t = &id();
    sink.insert(t, &[V("1"), V("a"), V("x")][..], KEYED, &mut AsIs)
        .unwrap();
    // Same key: one update line.
    let old = [V("1"), NULL, NULL];
    let up = sink
        .update(
            t,
            Some(&old[..]),
            &[V("1"), V("b"), V("x")][..],
            KEYED,
            &mut AsIs,
        )
        .unwrap();
    assert_eq!(up, Update::Done);
    // New key: a delete at its own seq, then the insert.
    let up = sink
        .update(
            t,
            Some(&old[..]),
            &[V("2"), V("c"), V("y")][..],
            KEYED,
            &mut AsIs,
        )
        .unwrap();
    assert_eq!(up, Update::Done);
    // An update without old key keeps its key.
    sink.update::<_, [Cell<'_>]>(t, None, &[V("2"), V("d"), V("y")][..], KEYED, &mut AsIs)
        .unwrap();
    sink.delete(t, &[V("2"), NULL, NULL][..], KEYED, &mut AsIs)
        .unwrap();
    assert_eq!(sink.seq(), 6);
    let (files, stopped) = sink.finish().unwrap();
    assert!(stopped.is_empty());
    assert_eq!(
        lines(&b, &files[0]),
        [
            "I,1,NULL,1,a,x",
            "U,2,NULL,1,b,x",
            "D,3,NULL,1,NULL,NULL",
            "I,4,NULL,2,c,y",
            "U,5,NULL,2,d,y",
            "D,6,NULL,2,NULL,NULL",
        ]
    );
    assert_eq!(
        (files[0].inserts, files[0].updates, files[0].deletes),
        (2, 2, 2)
    );
}

#[test]
fn unchanged_values_are_filled_from_the_old_row_or_handed_back() {
    let tables = tables();
    let (_dir, mut b) = Scratch::new("unchanged");
    let mut sink = ChangeSink::new(&tables, &mut b);
    let t = &id();
    // Same key, big unchanged: the line marks column 3 unchanged (the merge
    // keeps the destination's value).
    let up = sink
        .update(
            t,
            Some(&[V("1"), NULL, NULL][..]),
            &[V("1"), V("a"), UNCH][..],
            KEYED,
            &mut AsIs,
        )
        .unwrap();
    assert_eq!(up, Update::Done);
    // A key column marked unchanged holds the old key: no key change.
    sink.update(
        t,
        Some(&[V("1"), NULL, NULL][..]),
        &[UNCH, V("b"), V("z")][..],
        KEYED,
        &mut AsIs,
    )
    .unwrap();
    // Key change, big unchanged, only the old key logged: the new row
    // needs the source; it comes back with its seq and time, and the
    // delete of the old key is written already.
    sink.set_ts("2024-05-01 10:00:00.000000".into());
    let up = sink
        .update(
            t,
            Some(&[V("1"), NULL, NULL][..]),
            &[V("7"), V("c"), UNCH][..],
            KEYED,
            &mut AsIs,
        )
        .unwrap();
    let Update::Incomplete(inc) = up else {
        panic!("expected an incomplete row, got {up:?}");
    };
    assert_eq!(inc.seq, 4);
    assert_eq!(inc.ts, "2024-05-01 10:00:00.000000");
    assert_eq!(inc.row, [Some(b"7".to_vec()), Some(b"c".to_vec()), None]);
    assert_eq!(inc.unchanged, [false, false, true]);
    // Key change with a whole old row (FULL identity): the old row has the
    // value, no trip to the source.
    let up = sink
        .update(
            t,
            Some(&[V("7"), V("c"), V("big value")][..]),
            &[V("8"), V("d"), UNCH][..],
            WHOLE,
            &mut AsIs,
        )
        .unwrap();
    assert_eq!(up, Update::Done);
    let (files, stopped) = sink.finish().unwrap();
    assert!(stopped.is_empty());
    assert!(files[0].unchanged);
    assert_eq!(
        lines(&b, &files[0]),
        [
            "U,1,3,1,a,NULL",
            "U,2,NULL,1,b,z",
            "D,3,NULL,1,NULL,NULL",
            "D,5,NULL,7,c,big value",
            "I,6,NULL,8,d,big value",
        ]
    );
}

#[test]
fn an_unchanged_key_without_an_old_key_fails_the_table_only() {
    let tables = tables();
    let (_dir, mut b) = Scratch::new("nokey");
    let mut sink = ChangeSink::new(&tables, &mut b);
    let t = &id();
    sink.update::<_, [Cell<'_>]>(t, None, &[UNCH, V("a"), NULL][..], KEYED, &mut AsIs)
        .unwrap();
    assert!(sink.is_changed(t));
    let (files, stopped) = sink.finish().unwrap();
    assert!(files.is_empty());
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].table, id());
    assert_eq!(stopped[0].at, None);
    assert!(
        stopped[0].why.contains("key column id")
            && stopped[0].why.contains("full-extract public.t"),
        "{}",
        stopped[0].why
    );
}

#[test]
fn a_delete_of_a_row_the_batch_replaced_is_dropped() {
    let tables = tables();
    let (_dir, mut b) = Scratch::new("stale");
    let mut sink = ChangeSink::new(&tables, &mut b);
    let t = &id();
    // `UPDATE t SET id = id + 1` over keys 1 and 2 under a deferred key:
    // row 1 moves to key 2 while row 2 is still there, then row 2 moves on.
    sink.update(
        t,
        Some(&[V("1"), V("one"), NULL][..]),
        &[V("2"), V("one"), NULL][..],
        WHOLE,
        &mut AsIs,
    )
    .unwrap();
    sink.update(
        t,
        Some(&[V("2"), V("two"), NULL][..]),
        &[V("3"), V("two"), NULL][..],
        WHOLE,
        &mut AsIs,
    )
    .unwrap();
    // The delete of key 2 carried row "two", not the row put there ("one"):
    // dropped, so the last change of key 2 is the insert of "one".
    // A delete of the row the batch put is applied.
    sink.delete(t, &[V("3"), V("two"), NULL][..], WHOLE, &mut AsIs)
        .unwrap();
    // Under key-only deletes nothing can be told apart: always applied.
    sink.insert(t, &[V("9"), V("new"), NULL][..], KEYED, &mut AsIs)
        .unwrap();
    sink.delete(t, &[V("9"), NULL, NULL][..], KEYED, &mut AsIs)
        .unwrap();
    let (files, _) = sink.finish().unwrap();
    assert_eq!(
        lines(&b, &files[0]),
        [
            "D,1,NULL,1,one,NULL",
            "I,2,NULL,2,one,NULL",
            "I,4,NULL,3,two,NULL",
            "D,5,NULL,3,two,NULL",
            "I,6,NULL,9,new,NULL",
            "D,7,NULL,9,NULL,NULL",
        ]
    );
}

#[test]
fn another_shape_older_than_the_snapshot_is_skipped_newer_fails_the_table() {
    let tables = tables();
    let (_dir, mut b) = Scratch::new("shape");
    let mut sink = ChangeSink::new(&tables, &mut b);
    let t = &id();
    assert!(!sink.shape_changed(t, true, "0/10", "columns a, b", "0/10", None));
    assert!(!sink.is_changed(t));
    assert!(sink.shape_changed(t, false, "0/20", "columns a, c", "0/1F", Some("ALTER 1")));
    assert!(sink.is_changed(t));
    // Named once, with the first reason and where its changes wait; later
    // DDL statements are kept with it.
    assert!(sink.shape_changed(t, false, "0/30", "columns d", "0/30", Some("ALTER 2")));
    let (_, stopped) = sink.finish().unwrap();
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].at.as_deref(), Some("0/20"));
    assert_eq!(stopped[0].resume.as_deref(), Some("0/1F"));
    assert_eq!(stopped[0].ddl, vec!["ALTER 1", "ALTER 2"]);
    assert_eq!(
        stopped[0].why,
        "structure changed at 0/20 (columns a, c); its changes from 0/1F on wait: run \
         `ingest sync-struct public.t` to change the destination table and apply them \
         (or `ingest full-extract public.t`)"
    );
}

#[test]
fn a_truncate_is_kept_at_its_seq_and_forgets_the_rows_put_before() {
    let tables = tables();
    let (_dir, mut b) = Scratch::new("truncate");
    let mut sink = ChangeSink::new(&tables, &mut b);
    let t = &id();
    sink.insert(t, &[V("1"), V("a"), NULL][..], WHOLE, &mut AsIs)
        .unwrap();
    sink.truncate(t).unwrap();
    // After the TRUNCATE, a delete of key 1 (a row inserted again) is not
    // compared with the row put before it.
    sink.insert(t, &[V("1"), V("b"), NULL][..], KEYED, &mut AsIs)
        .unwrap();
    sink.delete(t, &[V("1"), V("b"), NULL][..], WHOLE, &mut AsIs)
        .unwrap();
    let (files, _) = sink.finish().unwrap();
    assert_eq!(files[0].truncate_seq, Some(2));
    assert_eq!(
        lines(&b, &files[0]),
        [
            "I,1,NULL,1,a,NULL",
            "I,3,NULL,1,b,NULL",
            "D,4,NULL,1,b,NULL"
        ]
    );
}

#[test]
fn a_change_with_too_few_values_is_an_error() {
    let tables = tables();
    let (_dir, mut b) = Scratch::new("short");
    let mut sink = ChangeSink::new(&tables, &mut b);
    let e = sink
        .insert(&id(), &[V("1"), V("a")][..], KEYED, &mut AsIs)
        .unwrap_err();
    assert_eq!(e.to_string(), "public.t: change has 2 values for 3 columns");
}
