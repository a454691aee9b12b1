//! A destination that refuses LOAD DATA LOCAL is named, with the fix, before
//! anything changes. Alone in its test binary: it switches the shared test
//! server's global `local_infile` off for a moment.

mod common;
use common::Case;
use mysql::prelude::Queryable;

struct Restore(mysql::Conn);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = self.0.query_drop("SET GLOBAL local_infile = 1");
    }
}

#[test]
fn destination_without_local_infile_exits_2() {
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
