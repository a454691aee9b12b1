//! `extract_threads`: a big table's snapshot read in parallel ranges (block
//! ranges of one exported snapshot on PostgreSQL, integer key ranges on
//! MySQL) while the source keeps changing; after a delta both sides are
//! equal, row for row.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crate::common::{Case, MyCase};

/// Three ranges for any table of two blocks or more.
fn enable_ranges(config: &Path) {
    let text = std::fs::read_to_string(config).unwrap();
    let text = text.replacen(
        "\n[destination]",
        "extract_threads = 3\nextract_split_mb = 0\n\n[destination]",
        1,
    );
    std::fs::write(config, text).unwrap();
}

/// Stops the concurrent writer also when the test fails (a panic inside the
/// thread scope would otherwise wait for it forever).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs ingest -v and returns what it logged, asserting success.
fn run_logged(bin: &crate::common::Bin, args: &[&str]) -> String {
    let mut all = vec!["-v"];
    all.extend_from_slice(args);
    let out = bin.ingest(&all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ingest {args:?} failed:\n{text}");
    text
}

#[test]
fn pg_ranges_share_one_snapshot() {
    let c = Case::new("ranges");
    // Rows of ~250 bytes (several blocks each range) and a TOASTed column
    // that the concurrent updates leave unchanged.
    c.sql(
        "CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL, pad text, doc text);
         ALTER TABLE big ALTER doc SET STORAGE EXTERNAL;
         INSERT INTO big SELECT g, 0, repeat('p', 200),
           CASE WHEN g % 50 = 0 THEN repeat(md5(g::text), 100) END
         FROM generate_series(1, 20000) g;",
    );
    enable_ranges(&c.config_path());
    // Updates during the extract write new row versions into other blocks:
    // read from independent snapshots, a row could be read twice or not at
    // all, and its unchanged TOAST value could not be filled later.
    let stop = AtomicBool::new(false);
    let log = thread::scope(|s| {
        s.spawn(|| {
            let mut pg = c.pg();
            let mut i = 0i32;
            while !stop.load(Ordering::Relaxed) {
                pg.execute(
                    "UPDATE big SET v = v + 1 WHERE id % 101 = $1",
                    &[&(i % 101)],
                )
                .unwrap();
                i += 1;
            }
        });
        let _stop = StopOnDrop(&stop);
        run_logged(&c, &["full-extract"])
    });
    assert!(
        log.contains("public.big extracted 20000 row(s)") && log.contains("3 ranges in parallel"),
        "{log}"
    );
    c.sql("UPDATE big SET v = -1 WHERE id % 1000 = 7; DELETE FROM big WHERE id % 1000 = 8;");
    c.ok(&["delta"]);
    c.assert_same("public.big", "big", &["id"]);
}

#[test]
fn pg_small_tables_are_read_whole() {
    let c = Case::new("ranges_small");
    c.sql("CREATE TABLE small (id int PRIMARY KEY, v text); INSERT INTO small VALUES (1, 'a');");
    enable_ranges(&c.config_path());
    let log = run_logged(&c, &["full-extract"]);
    assert!(log.contains("public.small extracted 1 row(s)"), "{log}");
    assert!(!log.contains("ranges in parallel"), "{log}");
    c.assert_same("public.small", "small", &["id"]);
}

#[test]
fn mysql_key_ranges_with_changes_during_the_extract() {
    let c = MyCase::new("ranges");
    c.sql(
        "CREATE TABLE big (id BIGINT PRIMARY KEY, v INT NOT NULL, pad TEXT);
         INSERT INTO big SELECT seq, 0, REPEAT('p', 200) FROM seq_1_to_20000;",
    );
    enable_ranges(&c.dir.join("ingest.toml"));
    // Key changes move rows from one range to another while ranges are read.
    let stop = AtomicBool::new(false);
    let log = thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.sql(&format!(
                    "UPDATE big SET id = id + 100000, v = v + 1 WHERE id = {}",
                    1 + (i * 7919) % 20000
                ));
                i += 1;
            }
        });
        let _stop = StopOnDrop(&stop);
        run_logged(&c, &["full-extract"])
    });
    assert!(log.contains("3 ranges in parallel"), "{log}");
    c.sql("UPDATE big SET v = -1 WHERE id % 1000 = 7; DELETE FROM big WHERE id % 1000 = 8;");
    c.ok(&["delta"]);
    c.assert_same("big", "id");
}

#[test]
fn mysql_without_spare_connections_reads_the_table_whole() {
    use mysql::prelude::Queryable;
    let c = MyCase::new("ranges_limit");
    c.sql(
        "CREATE TABLE big (id BIGINT PRIMARY KEY, pad TEXT);
         INSERT INTO big SELECT seq, REPEAT('p', 100) FROM seq_1_to_3000;",
    );
    // A source account allowed one connection: the ranges cannot connect.
    let mut admin = crate::common::my_connect(&c.env);
    admin
        .query_drop("DROP USER IF EXISTS 'ingest_one'@'%'")
        .unwrap();
    admin
        .query_drop(
            "CREATE USER 'ingest_one'@'%' IDENTIFIED BY 'one-pw' WITH MAX_USER_CONNECTIONS 1",
        )
        .unwrap();
    admin
        .query_drop("GRANT ALL ON *.* TO 'ingest_one'@'%'")
        .unwrap();
    let config = c.dir.join("ingest.toml");
    enable_ranges(&config);
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replacen(
            &format!("user = \"{}\"", c.env.my_user),
            "user = \"ingest_one\"",
            1,
        )
        .replacen(
            &format!("password = \"{}\"", c.env.my_password),
            "password = \"one-pw\"",
            1,
        );
    std::fs::write(&config, text).unwrap();
    let log = run_logged(&c, &["full-extract"]);
    admin.query_drop("DROP USER 'ingest_one'@'%'").unwrap();
    assert!(log.contains("cannot read it in 3 ranges"), "{log}");
    assert!(log.contains("reading it whole"), "{log}");
    assert!(log.contains("extracted 3000 row(s)"), "{log}");
    c.assert_same("big", "id");
}
