//! MySQL/MariaDB source: the ways to lose, misplace or refuse data that a
//! line-by-line read of the engine found (issue 9), each shown to hold.

use crate::common::MyCase;
use mysql::prelude::Queryable;

/// Source columns named like the helper tables' bookkeeping columns
/// replicate on every merge path.
#[test]
fn bookkeeping_names_are_free_for_source_columns() {
    let c = MyCase::new("bk_names");
    c.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, _op VARCHAR(20), _seq INT, _ts DATETIME(6), _unch TEXT, _rn INT);
         INSERT INTO t SELECT seq, CONCAT('op', seq), seq, NOW(6), 'u', seq FROM seq_1_to_20;",
    );
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET _op = 'changed' WHERE id <= 5; DELETE FROM t WHERE id = 20;");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
    c.sql("UPDATE t SET _seq = -1 WHERE id = 6; UPDATE t SET _seq = -2 WHERE id = 6; TRUNCATE t; INSERT INTO t (id, _op) VALUES (1, 'after');");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
}

/// A configured key column that allows NULL is refused, named: with
/// `extract_threads` > 1 its NULL rows fell in no key range and were lost.
#[test]
fn nullable_key_columns_are_refused() {
    let c = MyCase::new("null_key");
    c.write_config(&format!(
        "[[table]]\nname = \"{db}.t\"\nkey = [\"k\"]\n",
        db = c.src
    ));
    c.source_options("extract_threads = 3\nextract_split_mb = 0");
    c.sql(
        "CREATE TABLE t (k INT NULL, v VARCHAR(20));
         INSERT INTO t SELECT seq, 'v' FROM seq_1_to_300; INSERT INTO t VALUES (NULL, 'lost');",
    );
    c.expect(&["full-extract"], 2, &["key column \"k\" allows NULL"]);
    c.expect(&["check"], 2, &["key column \"k\" allows NULL"]);
}

/// MySQL checks a unique key row by row, so a shift of keys is written in
/// the order that never collides (`ORDER BY id DESC`): it lands exactly.
#[test]
fn keys_shifted_within_one_statement() {
    let c = MyCase::new("key_shift");
    c.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_1000;",
    );
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET id = id + 1 ORDER BY id DESC;");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
    c.sql("UPDATE t SET id = id - 1 ORDER BY id; UPDATE t SET id = id + 5000 WHERE id < 10;");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
}

/// The binlog rotates while a delta reads it, into a file created after
/// the delta listed the files: MariaDB names it in a fake Rotate event, and
/// the saved name lost 4 characters (`binlog.000011` → `binlog.00`), so
/// the next delta called the file purged.
#[test]
fn a_rotation_during_a_delta_keeps_the_file_name() {
    let c = MyCase::new("rotate_mid");
    c.sql("CREATE TABLE t (id INT PRIMARY KEY, pad VARCHAR(200)); CREATE TABLE u (id INT PRIMARY KEY);");
    c.ok(&["full-extract"]);
    // Enough binlog after the first row that the server is still sending
    // when the delta pauses there.
    c.sql("INSERT INTO t SELECT seq, REPEAT('x', 200) FROM seq_1_to_60000;");
    let mut newest = String::new();
    let (ok, stderr) = crate::common::paused(&c, &["delta"], "delta-row", || {
        c.sql("FLUSH BINARY LOGS");
        c.sql("INSERT INTO u VALUES (1);");
        let r: mysql::Row = crate::common::my_connect(&c.env)
            .query_first("SHOW MASTER STATUS")
            .unwrap()
            .unwrap();
        newest = r.get(0).unwrap();
    });
    assert!(ok, "{stderr}");
    // The position saved is in the new file (or a later one, where other
    // tests rotated meanwhile), named in full: a file the server lists.
    let status = c.ok(&["status"]);
    let position = status.lines().next().unwrap_or("");
    let file = position
        .trim_start_matches("position")
        .trim()
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    let files: Vec<String> = crate::common::my_connect(&c.env)
        .query_map("SHOW BINARY LOGS", |r: mysql::Row| {
            r.get::<String, usize>(0).unwrap()
        })
        .unwrap();
    let seq = |f: &str| f.rsplit('.').next().and_then(|n| n.parse::<u64>().ok());
    assert!(
        files.contains(&file) && seq(&file) >= seq(&newest),
        "saved position {position}: file not listed, or before {newest} (listed: {files:?})"
    );
    c.sql("INSERT INTO u VALUES (2); UPDATE t SET pad = 'y' WHERE id = 7;");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
    c.assert_same("u", "id");
}

/// A row event written before an ALTER TABLE that kept the column count
/// (`DROP COLUMN a, ADD COLUMN c`) was decoded with the new columns when a
/// delta after the table's new full extract replayed it: old values landed
/// in the wrong columns and stayed there. Events in another shape are
/// skipped when older than the table's snapshot, and fail it otherwise.
#[test]
fn old_shape_row_events_are_not_decoded_with_the_new_columns() {
    let c = MyCase::new("old_shape");
    c.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(20), b INT);
         CREATE TABLE u (id INT PRIMARY KEY, a DECIMAL(10,2), b INT);
         INSERT INTO t VALUES (1, 'one', 1), (2, 'two', 2);
         INSERT INTO u VALUES (1, 1.5, 1);",
    );
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET a = 'uno', b = 10 WHERE id = 1; ALTER TABLE t DROP COLUMN a, ADD COLUMN c INT;");
    c.ok(&["full-extract", &format!("{}.t", c.src)]);
    c.sql("UPDATE t SET c = 5 WHERE id = 2;");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
    // Not older than the snapshot: the table fails, named, with the fix.
    c.sql("UPDATE u SET b = 2 WHERE id = 1;");
    c.sql("ALTER TABLE u MODIFY a DECIMAL(12,4);");
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}.u", c.src)) && stderr.contains("full-extract"),
        "{stderr}"
    );
}

/// The table map of every kind of column agrees with the catalog (a
/// disagreement would fail the table as changed at the source).
#[test]
fn table_maps_agree_with_the_catalog_for_every_column_kind() {
    let c = MyCase::new("map_kinds");
    c.sql(
        "CREATE TABLE k (id INT PRIMARY KEY, g GEOMETRY, p POINT, mt MEDIUMTEXT, tb TINYBLOB,
            c100 CHAR(100), v300 VARCHAR(300) CHARACTER SET latin1, c3 CHAR(10) CHARACTER SET utf8mb3,
            dt0 DATETIME, t3 TIME(3), ts2 TIMESTAMP(2) NULL, fd FLOAT(30), d5 DECIMAL(5), d0 DECIMAL(30,10),
            s10 SET('a','b','c','d','e','f','g','h','i','j'), b7 BIT(7), bin300 BINARY(255), vb VARBINARY(7000),
            ltx LONGTEXT CHARACTER SET latin1, y YEAR) DEFAULT CHARSET = utf8mb4;",
    );
    c.ok(&["full-extract"]);
    c.sql(
        "INSERT INTO k VALUES (1, ST_GeomFromText('LINESTRING(0 0, 1 1)'), POINT(1, 2), 'mt', x'00ff', 'c100', 'v300 é',
            'c3', '2024-01-02 03:04:05', '12:34:56.789', '2024-01-02 03:04:05.12', 1.5, 12345, -1.5,
            'a,j', b'1010101', x'01', x'0203', 'long é', 2024);
         UPDATE k SET mt = 'changed' WHERE id = 1;",
    );
    c.ok(&["delta"]);
    c.assert_same("k", "id");
}

/// MariaDB's UUID, INET4 and INET6 arrive as bytes in row events and as
/// text in snapshots: both paths give the same text.
#[test]
fn mariadb_uuid_and_inet_types_read_the_same_on_both_paths() {
    let c = MyCase::new("inet");
    let values = "(1, '6ccd780c-baba-1026-9564-5b8c656024db', '1.2.3.4', '2001:db8::ff00:42:8329'),
         (2, '00000000-0000-0000-0000-000000000001', '0.0.0.0', '::ffff:1.2.3.4'),
         (3, 'ffffffff-ffff-4fff-bfff-ffffffffffff', '255.255.255.255', '::1.2.3.4'),
         (4, '01000000-0000-0000-0000-000000000000', '10.0.0.0', '::'),
         (5, NULL, NULL, '::1'), (6, NULL, NULL, '1:0:1:1:1:1:1:1'), (7, NULL, NULL, '1:0:0:1:0:0:0:1'),
         (8, NULL, NULL, '2001:db8::'), (9, NULL, NULL, 'fe80::202:b3ff:fe1e:8329'),
         (10, NULL, NULL, '::ffff:0.0.0.0'), (11, NULL, NULL, '::0.0.0.2'), (12, NULL, NULL, '0:0:1::')";
    c.sql(&format!(
        "CREATE TABLE nt (id INT PRIMARY KEY, u UUID, i4 INET4, i6 INET6);
         CREATE TABLE ku (u UUID PRIMARY KEY, v INT);
         INSERT INTO nt VALUES {values};
         INSERT INTO ku VALUES ('6ccd780c-baba-1026-9564-5b8c656024db', 1);"
    ));
    c.ok(&["full-extract"]);
    c.assert_same("nt", "id");
    c.sql(&format!(
        "DELETE FROM nt; INSERT INTO nt VALUES {values}; UPDATE nt SET id = id + 100;
         INSERT INTO ku VALUES ('00000000-0000-0000-0000-000000000002', 2); UPDATE ku SET v = 3;"
    ));
    c.ok(&["delta"]);
    c.assert_same("nt", "id");
    c.assert_same("ku", "u");
}

/// A table with a problem of its own (a character set ingest cannot
/// convert, no SELECT grant for the user) fails alone: the other tables are
/// extracted, and the run, and each delta after it, exits 1 naming it.
#[test]
fn a_problem_of_one_table_fails_that_table_only() {
    let c = MyCase::new("one_bad");
    c.sql(
        "CREATE TABLE good (id INT PRIMARY KEY, v VARCHAR(20));
         CREATE TABLE odd (id INT PRIMARY KEY, v VARCHAR(20) CHARACTER SET keybcs2);
         CREATE TABLE hidden (id INT PRIMARY KEY);
         INSERT INTO good VALUES (1, 'a'); INSERT INTO odd VALUES (1, 'b'); INSERT INTO hidden VALUES (1);",
    );
    let mut my = crate::common::my_connect(&c.env);
    my.query_drop("DROP USER IF EXISTS 'partial'@'%'").unwrap();
    my.query_drop("CREATE USER 'partial'@'%' IDENTIFIED BY 'partial'")
        .unwrap();
    my.query_drop("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'partial'@'%'")
        .unwrap();
    for t in ["good", "odd"] {
        my.query_drop(format!(
            "GRANT SELECT ON `{}`.`{t}` TO 'partial'@'%'",
            c.src
        ))
        .unwrap();
    }
    c.write_config(&format!(
        "[[table]]\nname = \"{db}.*\"\n\n[[table]]\nname = \"{db}.hidden\"\n",
        db = c.src
    ));
    let path = c.dir.join("ingest.toml");
    let cfg = std::fs::read_to_string(&path).unwrap();
    let (head, tail) = cfg.split_once("[destination]").unwrap();
    let head = head
        .replace(
            &format!("user = \"{}\"", c.env.my_user),
            "user = \"partial\"",
        )
        .replace(
            &format!("password = \"{}\"", c.env.my_password),
            "password = \"partial\"",
        );
    std::fs::write(&path, format!("{head}[destination]{tail}")).unwrap();
    let odd = format!("{}.odd", c.src);
    let hidden = format!("{}.hidden", c.src);
    let stderr = c.expect(
        &["full-extract"],
        1,
        &[&odd, "keybcs2", &hidden, "GRANT SELECT"],
    );
    assert!(stderr.contains("2 table(s) failed"), "{stderr}");
    c.assert_same("good", "id");
    c.sql("UPDATE good SET v = 'changed';");
    c.expect(&["delta"], 1, &[&odd, &hidden]);
    c.assert_same("good", "id");
}

/// A delta reads at most max_batch_changes changes a batch (stopping at a
/// transaction's end): a backlog is merged and released batch by batch.
#[test]
fn a_backlog_is_read_in_bounded_batches() {
    let c = MyCase::new("batches");
    c.source_options("max_batch_changes = 1000");
    c.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t SELECT seq, 0 FROM seq_1_to_2500;");
    c.ok(&["full-extract"]);
    for i in 0..5 {
        c.sql(&format!("UPDATE t SET v = v + 1 WHERE id % 5 = {i};"));
    }
    c.sql("UPDATE t SET id = id + 10000 ORDER BY id DESC;");
    let out = c.command(&["-v", "delta"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // 2 x 500, 2 x 500, then 500 + the 5,000 lines of the key shift.
    assert!(
        stderr.matches("reading the next batch").count() >= 2,
        "{stderr}"
    );
    c.assert_same("t", "id");
}
