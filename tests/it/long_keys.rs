//! Keys too long for a destination index (MySQL: 3,072 bytes): a
//! 2,000-character key, on both sources, keyed at the destination by its
//! SHA-256 (`ingest_key_hash`) with the full key beside it. Keys that
//! differ in their last character only stay apart through inserts,
//! updates, key changes, deletes, a TRUNCATE and a killed merge; a history
//! table with such a key keeps its versions.

use mysql::prelude::Queryable;

use crate::common::{my_connect, Case, MyCase};

fn key(n: u32, last: char) -> String {
    format!("{}{n:04}{last}", "k".repeat(1995))
}

/// The changes, the same on both sources.
fn changes() -> String {
    format!(
        "UPDATE t SET v = 'a2' WHERE k = '{a}';
         DELETE FROM t WHERE k = '{b}';
         UPDATE t SET k = '{c}' WHERE k = '{d}';
         INSERT INTO t VALUES ('{e}', 'e');
         UPDATE h SET v = 'h2' WHERE k = '{a}';",
        a = key(1, 'a'),
        b = key(1, 'b'),
        c = key(3, 'a'),
        d = key(2, 'a'),
        e = key(1, 'c'),
    )
}

fn initial() -> String {
    format!(
        "INSERT INTO t VALUES ('{}', 'a'), ('{}', 'b'), ('{}', 'c');
         INSERT INTO h VALUES ('{}', 'h');",
        key(1, 'a'),
        key(1, 'b'),
        key(2, 'a'),
        key(1, 'a')
    )
}

fn hash_key(my: &mut mysql::Conn, db: &str) -> (String, String) {
    my.exec_first(
        "SELECT COLUMN_TYPE, COLUMN_KEY FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't' AND COLUMN_NAME = 'ingest_key_hash'",
        (db,),
    )
    .unwrap()
    .unwrap()
}

fn versions(my: &mut mysql::Conn, db: &str) -> Vec<(String, String)> {
    my.query(format!(
        "SELECT v, ingest_op FROM `{db}`.h ORDER BY ingest_start"
    ))
    .unwrap()
}

const TABLES: &str = "[[table]]\nname = \"{S}.t\"\n\n[[table]]\nname = \"{S}.h\"\nhistory = true\n";

#[test]
fn postgres_long_keys_are_hashed() {
    let c = Case::new("long_keys");
    c.write_config(&TABLES.replace("{S}", "public"), "");
    c.sql(
        "CREATE TABLE t (k text PRIMARY KEY, v text); CREATE TABLE h (k text PRIMARY KEY, v text);",
    );
    c.sql(&initial());
    assert!(c
        .ok(&["check"])
        .contains("key too long for an index: keyed by ingest_key_hash"));
    c.ok(&["full-extract"]);
    let mut my = c.my();
    assert_eq!(
        hash_key(&mut my, &c.db),
        ("binary(32)".into(), "PRI".into())
    );
    c.assert_same("public.t", "t", &["k"]);
    c.sql(&changes());
    c.kill_at(&["delta"], "mid-merge");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["k"]);
    assert_eq!(
        versions(&mut my, &c.db),
        vec![("h".into(), "I".into()), ("h2".into(), "U".into())]
    );
    c.sql(&format!(
        "TRUNCATE t; INSERT INTO t VALUES ('{}', 'x'), ('{}', 'y');",
        key(9, 'a'),
        key(9, 'b')
    ));
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["k"]);
    assert_eq!(c.dest_count("t"), 2);
}

#[test]
fn mysql_long_keys_are_hashed() {
    let c = MyCase::new("long_keys");
    c.write_config(&TABLES.replace("{S}", &c.src));
    // latin1 at the source: 2,000 bytes there, 8,000 as utf8mb4.
    c.sql(
        "CREATE TABLE t (k VARCHAR(2000) CHARACTER SET latin1 PRIMARY KEY, v VARCHAR(10));
         CREATE TABLE h (k VARCHAR(2000) CHARACTER SET latin1 PRIMARY KEY, v VARCHAR(10));",
    );
    c.sql(&initial());
    c.ok(&["full-extract"]);
    let mut my = my_connect(&c.env);
    assert_eq!(
        hash_key(&mut my, &c.dst),
        ("binary(32)".into(), "PRI".into())
    );
    c.assert_same("t", "k");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    c.sql(&changes());
    c.kill_at(&["delta"], "mid-merge");
    c.ok(&["delta"]);
    c.assert_same("t", "k");
    assert_eq!(
        versions(&mut my, &c.dst),
        vec![("h".into(), "I".into()), ("h2".into(), "U".into())]
    );
    c.sql(&format!(
        "TRUNCATE t; INSERT INTO t VALUES ('{}', 'x'), ('{}', 'y');",
        key(9, 'a'),
        key(9, 'b')
    ));
    c.ok(&["delta"]);
    c.assert_same("t", "k");
}
