//! `history = true` (type-2): every version of a row, on both sources.
//! The exact version rows after inserts, updates, key changes, deletes
//! (with and without `history_keep_deleted`), a TRUNCATE, `max_updates`
//! and full extracts of a history table; a batch merged again after a kill
//! between the destination's commit and state.db leaves the versions as
//! they were, to the microsecond.

use std::time::Duration;

use mysql::prelude::Queryable;

use crate::common::{my_connect, Bin, Case, MyCase};

/// A version as the test compares it: key, values, op, still open.
type Version = (i32, Option<String>, Option<i32>, String, bool);

/// A source row: key, values.
type SourceRow = (i32, Option<String>, Option<i32>);

/// A version row with its start and end as text.
type Timed = (i32, Option<String>, Option<i32>, String, String, String);

const OPEN: &str = "9999-12-31 00:00:00";

/// Every version of `table`, by key and start; checks that each key's
/// versions follow each other (start < end, end <= next start, only the
/// last one open).
fn versions(my: &mut mysql::Conn, db: &str, table: &str) -> Vec<Version> {
    let rows: Vec<Timed> = my
        .query(format!(
            "SELECT id, v, n, ingest_op, CAST(ingest_start AS CHAR), CAST(ingest_end AS CHAR) \
             FROM `{db}`.`{table}` ORDER BY id, ingest_start"
        ))
        .unwrap();
    for w in rows.windows(2) {
        if w[0].0 == w[1].0 {
            assert!(
                w[0].5 != format!("{OPEN}.000000") && w[0].5 <= w[1].4,
                "{table}: versions of key {} overlap: {w:?}",
                w[0].0
            );
        }
    }
    for r in &rows {
        assert!(r.4 < r.5, "{table}: a version ends before it starts: {r:?}");
    }
    rows.into_iter()
        .map(|(id, v, n, op, _, end)| (id, v, n, op, end.starts_with(OPEN)))
        .collect()
}

/// The versions with their start and end, as text (for the replay test).
fn exact(my: &mut mysql::Conn, db: &str, table: &str) -> Vec<mysql::Row> {
    my.query(format!(
        "SELECT * FROM `{db}`.`{table}` ORDER BY id, ingest_start"
    ))
    .unwrap()
}

fn v(id: i32, val: &str, n: i32, op: &str, open: bool) -> Version {
    (id, Some(val.into()), Some(n), op.into(), open)
}

/// The open versions that are not deletes are the source's rows.
fn current(all: &[Version]) -> Vec<SourceRow> {
    all.iter()
        .filter(|r| r.4 && r.3 != "D")
        .map(|r| (r.0, r.1.clone(), r.2))
        .collect()
}

struct Side<'a> {
    bin: &'a Bin,
    sql: &'a dyn Fn(&str),
    source_rows: &'a dyn Fn(&str) -> Vec<SourceRow>,
    db: String,
    /// The tables' source schema (PostgreSQL) or database (MySQL).
    src: String,
    /// Between two changes of one key: MySQL/MariaDB binlogs time a
    /// transaction to the second, and one key's changes within one second
    /// are one version.
    gap: Duration,
}

impl Side<'_> {
    /// Each step after a gap (the first too: a snapshot's versions start
    /// when it was read, and a change in that second would be one version
    /// with it).
    fn changes(&self, steps: &[&str]) {
        for s in steps {
            std::thread::sleep(self.gap);
            (self.sql)(s);
        }
    }
}

fn scenario(c: &Side) {
    let mut my = my_connect(&crate::common::env());
    let db = &c.db;
    (c.sql)(
        "INSERT INTO h VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3);
         INSERT INTO k VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3);",
    );
    c.bin.ok(&["full-extract"]);
    for t in ["h", "k"] {
        assert_eq!(
            versions(&mut my, db, t),
            vec![
                v(1, "a", 1, "I", true),
                v(2, "b", 2, "I", true),
                v(3, "c", 3, "I", true)
            ]
        );
    }

    // Batch A: updates, a delete, a key change, an insert. The run is
    // killed once the merges committed, before state.db knows: the next
    // delta merges the batch again, and the versions stay as they were.
    c.changes(&[
        "UPDATE h SET v = 'a2' WHERE id = 1; UPDATE k SET v = 'a2' WHERE id = 1;",
        "UPDATE h SET v = 'a3' WHERE id = 1; UPDATE k SET v = 'a3' WHERE id = 1;
         DELETE FROM h WHERE id = 2; DELETE FROM k WHERE id = 2;
         UPDATE h SET id = 30 WHERE id = 3; UPDATE k SET id = 30 WHERE id = 3;
         INSERT INTO h VALUES (4, 'd', 4); INSERT INTO k VALUES (4, 'd', 4);",
    ]);
    let before: Vec<_> = ["h", "k"].map(|t| exact(&mut my, db, t)).into();
    c.bin.kill_at(&["delta"], "committed");
    let once: Vec<_> = ["h", "k"].map(|t| exact(&mut my, db, t)).into();
    c.bin.ok(&["delta"]);
    // The table whose merge stood at `committed` (the other one's may not
    // have begun: two load threads) merged its batch twice.
    let mut twice = 0;
    for (i, t) in ["h", "k"].iter().enumerate() {
        if once[i] != before[i] {
            twice += 1;
            assert_eq!(
                exact(&mut my, db, t),
                once[i],
                "{t}: merging the batch again changed the versions"
            );
        }
    }
    assert!(twice > 0, "no merge had committed before the kill");
    let h_a = vec![
        v(1, "a", 1, "I", false),
        v(1, "a2", 1, "U", false),
        v(1, "a3", 1, "U", true),
        v(2, "b", 2, "I", false),
        v(3, "c", 3, "I", false),
        v(4, "d", 4, "I", true),
        v(30, "c", 3, "I", true),
    ];
    assert_eq!(versions(&mut my, db, "h"), h_a);
    // history_keep_deleted: a delete leaves a D version with the last values.
    let k_a = vec![
        v(1, "a", 1, "I", false),
        v(1, "a2", 1, "U", false),
        v(1, "a3", 1, "U", true),
        v(2, "b", 2, "I", false),
        v(2, "b", 2, "D", true),
        v(3, "c", 3, "I", false),
        v(3, "c", 3, "D", true),
        v(4, "d", 4, "I", true),
        v(30, "c", 3, "I", true),
    ];
    assert_eq!(versions(&mut my, db, "k"), k_a);
    assert_eq!(current(&h_a), (c.source_rows)("h"));

    // Batch B: key 4 changes five times (max_updates = 3 keeps the first
    // two and the last), key 2 comes back, then a TRUNCATE and an insert.
    // Killed in the middle of its merges: rolled back, merged again.
    c.changes(&[
        "UPDATE h SET n = 41 WHERE id = 4; UPDATE k SET n = 41 WHERE id = 4;
         INSERT INTO k VALUES (2, 'b2', 2);",
        "UPDATE h SET n = 42 WHERE id = 4; UPDATE k SET n = 42 WHERE id = 4;",
        "UPDATE h SET n = 43 WHERE id = 4; UPDATE k SET n = 43 WHERE id = 4;",
        "UPDATE h SET n = 44 WHERE id = 4; UPDATE k SET n = 44 WHERE id = 4;",
        "UPDATE h SET n = 45 WHERE id = 4; UPDATE k SET n = 45 WHERE id = 4;",
        "TRUNCATE TABLE h; TRUNCATE TABLE k;
         INSERT INTO h VALUES (5, 'e', 5); INSERT INTO k VALUES (5, 'e', 5);",
    ]);
    c.bin.kill_at(&["delta"], "mid-merge");
    c.bin.ok(&["delta"]);
    let h_b = vec![
        v(1, "a", 1, "I", false),
        v(1, "a2", 1, "U", false),
        v(1, "a3", 1, "U", false),
        v(2, "b", 2, "I", false),
        v(3, "c", 3, "I", false),
        v(4, "d", 4, "I", false),
        v(4, "d", 41, "U", false),
        v(4, "d", 42, "U", false),
        v(4, "d", 45, "U", false),
        v(5, "e", 5, "I", true),
        v(30, "c", 3, "I", false),
    ];
    assert_eq!(versions(&mut my, db, "h"), h_b);
    let k_b = vec![
        v(1, "a", 1, "I", false),
        v(1, "a2", 1, "U", false),
        v(1, "a3", 1, "U", false),
        v(1, "a3", 1, "D", true),
        v(2, "b", 2, "I", false),
        v(2, "b", 2, "D", false),
        v(2, "b2", 2, "I", false),
        v(2, "b2", 2, "D", true),
        v(3, "c", 3, "I", false),
        v(3, "c", 3, "D", true),
        v(4, "d", 4, "I", false),
        v(4, "d", 41, "U", false),
        v(4, "d", 42, "U", false),
        v(4, "d", 45, "U", false),
        v(4, "d", 45, "D", true),
        v(5, "e", 5, "I", true),
        v(30, "c", 3, "I", false),
        v(30, "c", 3, "D", true),
    ];
    assert_eq!(versions(&mut my, db, "k"), k_b);
    assert_eq!(current(&h_b), (c.source_rows)("h"));

    // A full extract of a history table compares: nothing changed, no new
    // version; a changed row and a new one get theirs.
    let before = exact(&mut my, db, "h");
    c.bin.ok(&["full-extract"]);
    assert_eq!(exact(&mut my, db, "h"), before, "an unchanged full extract");
    (c.sql)("UPDATE h SET v = 'e2' WHERE id = 5; INSERT INTO h VALUES (6, 'f', 6);");
    c.bin.ok(&["full-extract", &format!("{}.h", c.src)]);
    let mut h_c = h_b.clone();
    h_c[9].4 = false;
    h_c.insert(10, v(5, "e2", 5, "U", true));
    h_c.insert(11, v(6, "f", 6, "I", true));
    assert_eq!(versions(&mut my, db, "h"), h_c);
    c.bin.ok(&["delta"]);
    assert_eq!(versions(&mut my, db, "h"), h_c);
    assert_eq!(current(&h_c), (c.source_rows)("h"));

    // A batch with one line per key (the merge without window functions),
    // merged twice after a kill once it committed.
    c.changes(&[
        "UPDATE h SET v = 'e3' WHERE id = 5; INSERT INTO h VALUES (7, 'g', 7);
         DELETE FROM k WHERE id = 5; INSERT INTO k VALUES (1, 'a4', 1);",
    ]);
    let before: Vec<_> = ["h", "k"].map(|t| exact(&mut my, db, t)).into();
    c.bin.kill_at(&["delta"], "committed");
    let once: Vec<_> = ["h", "k"].map(|t| exact(&mut my, db, t)).into();
    assert!(once != before, "no merge had committed before the kill");
    c.bin.ok(&["delta"]);
    for (i, t) in ["h", "k"].iter().enumerate() {
        if once[i] != before[i] {
            assert_eq!(exact(&mut my, db, t), once[i], "{t}: merged twice");
        }
    }
    let mut h_d = h_c.clone();
    h_d[10].4 = false;
    h_d.insert(11, v(5, "e3", 5, "U", true));
    h_d.insert(13, v(7, "g", 7, "I", true));
    assert_eq!(versions(&mut my, db, "h"), h_d);
    let k = versions(&mut my, db, "k");
    let of = |id: i32| k.iter().filter(|r| r.0 == id).cloned().collect::<Vec<_>>();
    // Key 1, deleted by the TRUNCATE, comes back: its D version ends; key
    // 5 deleted keeps a D version.
    assert_eq!(
        of(1)[3..].to_vec(),
        vec![v(1, "a3", 1, "D", false), v(1, "a4", 1, "I", true)]
    );
    assert_eq!(
        of(5),
        vec![v(5, "e", 5, "I", false), v(5, "e", 5, "D", true)]
    );
}

const CONFIG: &str = "[history]\ndefault = true\nmax_updates = 3\n\n\
    [[table]]\nname = \"{S}.*\"\n\n\
    [[table]]\nname = \"{S}.k\"\nhistory_keep_deleted = true\n";

#[test]
fn postgres_history_versions_exact_and_replay_safe() {
    let c = Case::new("history");
    c.write_config(&CONFIG.replace("{S}", "public"), "");
    c.sql(
        "CREATE TABLE h (id int PRIMARY KEY, v text, n int);
         CREATE TABLE k (id int PRIMARY KEY, v text, n int);",
    );
    let check = c.ok(&["check"]);
    assert!(
        check.contains("history (ingest_start, ingest_end, ingest_op; max_updates 3)")
            && check.contains("max_updates 3; deletes kept)"),
        "{check}"
    );
    let sql = |s: &str| c.sql(s);
    let rows = |t: &str| {
        let mut pg = c.pg();
        pg.query(&format!("SELECT id, v, n FROM {t} ORDER BY id"), &[])
            .unwrap()
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    };
    scenario(&Side {
        bin: &c,
        sql: &sql,
        source_rows: &rows,
        db: c.db.clone(),
        src: "public".into(),
        gap: Duration::ZERO,
    });
    // `ingest sql` shows the history merge.
    let text = c.ok(&["sql", "public.h"]);
    assert!(
        text.contains("PRIMARY KEY (`id`, `ingest_start`)") && text.contains("`ingest_end`"),
        "{text}"
    );
}

#[test]
fn mysql_history_versions_exact_and_replay_safe() {
    let c = MyCase::new("history");
    c.write_config(&CONFIG.replace("{S}", &c.src));
    c.sql(
        "CREATE TABLE h (id INT PRIMARY KEY, v VARCHAR(20), n INT);
         CREATE TABLE k (id INT PRIMARY KEY, v VARCHAR(20), n INT);",
    );
    let sql = |s: &str| c.sql(s);
    let rows = |t: &str| {
        let mut my = my_connect(&c.env);
        my.query(format!("SELECT id, v, n FROM `{}`.{t} ORDER BY id", c.src))
            .unwrap()
    };
    scenario(&Side {
        bin: &c,
        sql: &sql,
        source_rows: &rows,
        db: c.dst.clone(),
        src: c.src.clone(),
        gap: Duration::from_millis(1100),
    });
}

/// PostgreSQL: an update that leaves a TOASTed value out of the change
/// gets it from the key's version before, in the new version.
#[test]
fn postgres_history_fills_unchanged_toast_values() {
    let c = Case::new("history_toast");
    c.write_config("[[table]]\nname = \"public.t\"\nhistory = true\n", "");
    c.sql(
        "CREATE TABLE t (id int PRIMARY KEY, big text, n int);
         INSERT INTO t SELECT 1, string_agg(md5(g::text), ''), 0 FROM generate_series(1, 400) g;",
    );
    c.ok(&["full-extract"]);
    // One transaction each (changes of one transaction are one version).
    for u in [
        "UPDATE t SET n = 1 WHERE id = 1",
        "UPDATE t SET n = 2 WHERE id = 1",
        "UPDATE t SET big = 'small', n = 3 WHERE id = 1",
        "UPDATE t SET n = 4 WHERE id = 1",
    ] {
        c.sql(u);
    }
    c.ok(&["delta"]);
    let mut my = c.my();
    let got: Vec<(i32, usize, String)> = my
        .query(format!(
            "SELECT n, LENGTH(big), ingest_op FROM `{}`.t ORDER BY ingest_start",
            c.db
        ))
        .unwrap()
        .into_iter()
        .map(|(n, len, op): (i32, u64, String)| (n, len as usize, op))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 12800, "I".to_string()),
            (1, 12800, "U".to_string()),
            (2, 12800, "U".to_string()),
            (3, 5, "U".to_string()),
            (4, 5, "U".to_string()),
        ]
    );
}
