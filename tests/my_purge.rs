//! A binlog purged past the saved position is named, with the fix, and
//! nothing is skipped silently. Alone in its test binary: it purges the
//! shared test server's binlogs.

mod common;
use common::MyCase;

#[test]
fn purged_binlogs_are_named_and_full_extract_recovers() {
    let c = MyCase::new("purge");
    c.sql("CREATE TABLE big (id INT PRIMARY KEY, n INT); INSERT INTO big SELECT seq, seq FROM seq_1_to_100;");
    c.ok(&["full-extract"]);
    c.sql("UPDATE big SET n = 0 WHERE id = 1;");
    c.ok(&["delta"]);
    // A binlog purged past the saved position: named, with the fix, and
    // nothing skipped silently.
    c.sql("UPDATE big SET n = 5 WHERE id = 2;");
    c.sql("FLUSH BINARY LOGS");
    let mut my = common::my_connect(&c.env);
    use mysql::prelude::Queryable;
    let (newest, _): (String, u64) = {
        let r: mysql::Row = my.query_first("SHOW MASTER STATUS").unwrap().unwrap();
        (r.get(0).unwrap(), r.get(1).unwrap())
    };
    // MariaDB keeps a file until its binlog checkpoint has passed: retry.
    let mut gone = false;
    for _ in 0..100 {
        my.query_drop(format!("PURGE BINARY LOGS TO '{newest}'"))
            .unwrap();
        let files: Vec<mysql::Row> = my.query("SHOW BINARY LOGS").unwrap();
        if files.len() == 1 {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(gone, "the server kept the old binlog files");
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
