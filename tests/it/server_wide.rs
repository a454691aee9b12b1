//! Tests that change the shared test servers' global state (binlogs purged
//! or reset, binlog settings, lock timeouts, `local_infile`): each runs
//! alone, while no other test of the binary runs ([`crate::common::alone`]).

use crate::common::{Case, MyCase};
use mysql::prelude::Queryable;

/// Puts the server's global settings back, also when a test fails.
struct Restore(mysql::Conn);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = self.0.query_drop("SET GLOBAL binlog_format = 'ROW'");
        let _ = self.0.query_drop("SET GLOBAL binlog_row_image = 'FULL'");
        let _ = self
            .0
            .query_drop("SET GLOBAL binlog_row_metadata = 'NO_LOG'");
        let _ = self
            .0
            .query_drop("SET GLOBAL innodb_lock_wait_timeout = 50");
        let _ = self.0.query_drop("SET GLOBAL local_infile = 1");
    }
}

/// Purges every binlog file but the newest.
fn purge_to_newest(c: &MyCase) {
    let mut my = crate::common::my_connect(&c.env);
    let r: mysql::Row = my.query_first("SHOW MASTER STATUS").unwrap().unwrap();
    let newest: String = r.get(0).unwrap();
    // MariaDB keeps a file until its binlog checkpoint has passed: retry.
    for _ in 0..100 {
        my.query_drop(format!("PURGE BINARY LOGS TO '{newest}'"))
            .unwrap();
        let files: Vec<mysql::Row> = my.query("SHOW BINARY LOGS").unwrap();
        if files.len() == 1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the server kept the old binlog files");
}

/// A batch left unreleased by a failing table, released after a full
/// extract of every table, must not move the saved position back behind
/// that full extract's: it did, and the next delta asked for a purged file.
#[test]
fn the_saved_position_never_moves_backwards() {
    let _alone = crate::common::alone();
    let c = MyCase::new("backwards");
    c.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT); CREATE TABLE u (id INT PRIMARY KEY); INSERT INTO t VALUES (1, 1);");
    c.ok(&["full-extract"]);
    // t cannot load (its destination table is gone): the batch stays.
    let mut my = crate::common::my_connect(&c.env);
    my.query_drop(format!("DROP TABLE `{}`.t", c.dst)).unwrap();
    c.sql("UPDATE t SET v = 2 WHERE id = 1;");
    assert_eq!(c.ingest(&["delta"]).status.code(), Some(1));
    c.sql("FLUSH BINARY LOGS");
    c.ok(&["full-extract"]);
    purge_to_newest(&c);
    c.sql("INSERT INTO u VALUES (1); UPDATE t SET v = 3 WHERE id = 1;");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
    c.assert_same("u", "id");
}

#[test]
fn purged_binlogs_are_named_and_full_extract_recovers() {
    let _alone = crate::common::alone();
    let c = MyCase::new("purge");
    c.sql("CREATE TABLE big (id INT PRIMARY KEY, n INT); INSERT INTO big SELECT seq, seq FROM seq_1_to_100;");
    c.ok(&["full-extract"]);
    c.sql("UPDATE big SET n = 0 WHERE id = 1;");
    c.ok(&["delta"]);
    // A binlog purged past the saved position: named, with the fix, and
    // nothing skipped silently.
    c.sql("UPDATE big SET n = 5 WHERE id = 2;");
    c.sql("FLUSH BINARY LOGS");
    purge_to_newest(&c);
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is no longer on the source (purged") && stderr.contains("full-extract"),
        "{stderr}"
    );
    c.ok(&["full-extract"]);
    c.assert_same("big", "id");
    c.sql("UPDATE big SET n = 1 WHERE id = 1;");
    c.ok(&["delta"]);
    c.assert_same("big", "id");
}

/// Server settings deltas need are checked and named with the fix. (Here
/// too, because it changes the shared server's globals for a moment.)
#[test]
fn binlog_settings_are_checked() {
    let _alone = crate::common::alone();
    let c = MyCase::new("settings");
    c.sql("CREATE TABLE t (id INT PRIMARY KEY)");
    let mut g = Restore(crate::common::my_connect(&c.env));
    for (set, needle) in [
        (
            "SET GLOBAL binlog_format = 'STATEMENT'",
            "binlog_format is STATEMENT, deltas need ROW",
        ),
        ("SET GLOBAL binlog_format = 'ROW'", ""),
    ] {
        g.0.query_drop(set).unwrap();
        if needle.is_empty() {
            continue;
        }
        let out = c.ingest(&["check"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(needle) && stderr.contains("SET GLOBAL"),
            "{stderr}"
        );
    }
    // Partial row images are read (my_delta.rs): `check` says what they cost.
    g.0.query_drop("SET GLOBAL binlog_row_image = 'MINIMAL'")
        .unwrap();
    let out = c.ok(&["check"]);
    assert!(
        out.contains("binlog_row_image is MINIMAL: values an update did not change are filled"),
        "{out}"
    );
    drop(g);
    c.ok(&["check"]);
}

/// A change another session logged as a statement has no rows in the
/// binlog: the table fails, named, instead of silently missing it.
#[test]
fn statement_logged_changes_fail_the_table() {
    let _alone = crate::common::alone();
    let c = MyCase::new("stmt");
    c.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT); CREATE TABLE u (id INT PRIMARY KEY); INSERT INTO t VALUES (1, 1);");
    c.ok(&["full-extract"]);
    c.sql("SET SESSION binlog_format = 'STATEMENT'; UPDATE t SET v = 2 WHERE id = 1; SET SESSION binlog_format = 'ROW'; INSERT INTO u VALUES (1);");
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}.t", c.src)) && stderr.contains("logged as a statement"),
        "{stderr}"
    );
    c.assert_same("u", "id");
}

/// A destination that logs statements (binlog_format = STATEMENT) flags the
/// merge's INSERT ... SELECT ... ON DUPLICATE KEY UPDATE as unsafe for
/// statement replicas (warning 1592): that changes no value, and the merge
/// goes on. The first delta takes the direct path (LOAD DATA ... REPLACE);
/// the second holds a TRUNCATE, which goes through staging and the upsert.
#[test]
fn statement_binlog_at_the_destination_does_not_stop_merges() {
    let _alone = crate::common::alone();
    let c = Case::new("stmt_dest");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');");
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET v = 'c' WHERE id = 1; INSERT INTO t VALUES (3, 'd'); DELETE FROM t WHERE id = 2;");
    let mut g = Restore(crate::common::my_connect(&c.env));
    g.0.query_drop("SET GLOBAL binlog_format = 'STATEMENT'")
        .unwrap();
    c.ok(&["delta"]);
    c.sql("TRUNCATE t; INSERT INTO t VALUES (4, 'e'), (5, 'f');");
    c.ok(&["delta"]);
    drop(g);
    c.assert_same("public.t", "t", &["id"]);
}

/// Where the server logs column names (`binlog_row_metadata = FULL`), an
/// ALTER TABLE that keeps every type (`DROP COLUMN a INT, ADD COLUMN c INT`)
/// is told apart too: the old row events are not decoded with the new
/// columns. (Without the names such an ALTER cannot be seen in row events;
/// the README says so.)
#[test]
fn logged_column_names_tell_old_rows_apart() {
    let _alone = crate::common::alone();
    let c = MyCase::new("names");
    let mut g = Restore(crate::common::my_connect(&c.env));
    g.0.query_drop("SET GLOBAL binlog_row_metadata = 'FULL'")
        .unwrap();
    c.sql("CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT); INSERT INTO t VALUES (1, 1, 1), (2, 2, 2);");
    c.ok(&["full-extract"]);
    c.sql(
        "UPDATE t SET a = 10, b = 20 WHERE id = 1; ALTER TABLE t DROP COLUMN a, ADD COLUMN c INT;",
    );
    c.ok(&["full-extract", &format!("{}.t", c.src)]);
    c.sql("UPDATE t SET c = 5 WHERE id = 2;");
    c.ok(&["delta"]);
    drop(g);
    c.assert_same("t", "id");
}

/// A lock held at the destination longer than its lock wait timeout: the
/// merge is tried again on a fresh connection after a pause, without
/// counting as a failed load, and lands once the lock is gone.
#[test]
fn lock_waits_at_the_destination_are_tried_again() {
    let _alone = crate::common::alone();
    let c = Case::new("lock_wait");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'a' FROM generate_series(1, 10) g;");
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET v = 'b'; INSERT INTO t VALUES (11, 'new');");
    let g = Restore(crate::common::my_connect(&c.env));
    let mut g = g;
    g.0.query_drop("SET GLOBAL innodb_lock_wait_timeout = 1")
        .unwrap();
    // Another session holds every row of the target for 4 s.
    let mut holder = crate::common::my_connect(&c.env);
    holder.query_drop("START TRANSACTION").unwrap();
    holder
        .query_drop(format!("SELECT * FROM `{}`.t FOR UPDATE", c.db))
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(4));
        holder.query_drop("COMMIT").unwrap();
    });
    let out = c.ingest(&["delta"]);
    release.join().unwrap();
    drop(g);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("trying again") && stderr.contains("1205"),
        "{stderr}"
    );
    c.assert_same("public.t", "t", &["id"]);
    // No failed load was counted.
    let st = c.ok(&["status"]);
    assert!(!st.contains("failed"), "{st}");
}

/// RESET MASTER starts the binlog again at binlog.000001: the saved
/// `file:pos` then points into other transactions (or past the end). The
/// GTIDs saved with it tell: the delta refuses with the fix instead of
/// reading from a wrong place, and a full extract recovers.
#[test]
fn a_reset_binlog_is_noticed_by_its_gtids() {
    let _alone = crate::common::alone();
    let c = MyCase::new("reset");
    let mut my = crate::common::my_connect(&c.env);
    my.query_drop("RESET MASTER").unwrap();
    c.sql("CREATE TABLE t (id INT PRIMARY KEY, pad VARCHAR(200)); INSERT INTO t VALUES (1, 'a');");
    c.ok(&["full-extract"]);
    c.sql("INSERT INTO t SELECT seq, REPEAT('x', 100) FROM seq_2_to_50;");
    c.ok(&["delta"]);
    let saved = c.ok(&["status"]);
    assert!(
        saved.lines().next().unwrap().contains("gtid=0-1-"),
        "{saved}"
    );
    my.query_drop("RESET MASTER").unwrap();
    // The new binlog.000001 grows past the saved offset.
    c.sql("INSERT INTO t SELECT seq, REPEAT('y', 100) FROM seq_100_to_300;");
    c.sql("UPDATE t SET pad = 'z' WHERE id = 1;");
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("RESET MASTER") && stderr.contains("full-extract"),
        "{stderr}"
    );
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET pad = 'after' WHERE id = 2;");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
}

/// A destination that refuses LOAD DATA LOCAL is named, with the fix,
/// before anything changes.
#[test]
fn destination_without_local_infile_exits_2() {
    let _alone = crate::common::alone();
    let c = Case::new("err_infile");
    c.sql("CREATE TABLE t (id int PRIMARY KEY)");
    let mut guard = Restore(c.my());
    guard.0.query_drop("SET GLOBAL local_infile = 0").unwrap();
    let out = c.ingest(&["full-extract"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("local_infile") && stderr.contains("SET GLOBAL local_infile = 1"),
        "{stderr}"
    );
    assert!(!c.slot_exists());
    assert!(!c.dest_db_exists());
    drop(guard);
    c.ok(&["full-extract"]);
    assert_eq!(c.dest_count("t"), 0);
}
