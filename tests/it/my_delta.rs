//! MySQL/MariaDB source: changes from the binlog land exactly; TRUNCATE,
//! DDL, purged binlogs and crashes behave as the README says.

use crate::common::MyCase;

fn setup(c: &MyCase, transport: &str) {
    configure(
        c,
        &format!(
            "[[table]]\nname = \"{db}.*\"\n\n[[table]]\nname = \"{db}.nokey\"\nkey = [\"a\"]\n",
            db = c.src
        ),
        transport,
    );
    c.sql(
        "CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(50), doc TEXT);
         CREATE TABLE order_lines (order_id INT, line_no INT, qty DECIMAL(10,2), PRIMARY KEY (order_id, line_no));
         CREATE TABLE nokey (a INT NOT NULL, b VARCHAR(20));
         CREATE TABLE trunc_t (id INT PRIMARY KEY, v VARCHAR(20));
         CREATE TABLE skipped_t (id INT PRIMARY KEY);",
    );
    c.sql(
        "INSERT INTO parent SELECT seq, CONCAT('p', seq), REPEAT('d', seq) FROM seq_1_to_50;
         INSERT INTO order_lines SELECT o.seq, l.seq, o.seq * l.seq * 1.25 FROM seq_1_to_10 o, seq_1_to_5 l;
         INSERT INTO nokey SELECT seq, CONCAT('b', seq) FROM seq_1_to_10;
         INSERT INTO trunc_t SELECT seq, 't' FROM seq_1_to_10;",
    );
}

/// Writes the configuration: `tables` (`[[table]]` entries) and a
/// `binlog_transport` line for the source (or nothing).
fn configure(c: &MyCase, tables: &str, transport: &str) {
    c.write_config(tables);
    c.source_options(transport);
}

fn assert_all_same(c: &MyCase) {
    c.assert_same("parent", "id");
    c.assert_same("nokey", "a");
    c.assert_same("trunc_t", "id");
    c.assert_same("order_lines", "order_id,line_no");
}

#[test]
fn binlog_changes_land_exactly() {
    changes_land_exactly("delta", "");
}

#[test]
fn binlog_changes_land_exactly_through_mysqlbinlog_files() {
    changes_land_exactly("delta_files", "binlog_transport = \"mysqlbinlog\"");
}

fn changes_land_exactly(name: &str, transport: &str) {
    let c = MyCase::new(name);
    setup(&c, transport);
    c.ok(&["full-extract"]);
    assert_all_same(&c);
    c.sql(
        "INSERT INTO parent SELECT seq, CONCAT('new', seq), 'x' FROM seq_51_to_60;
         UPDATE parent SET name = 'renamed' WHERE id BETWEEN 10 AND 14;
         DELETE FROM parent WHERE id BETWEEN 15 AND 17;
         UPDATE parent SET id = 1000 WHERE id = 20;
         UPDATE parent SET id = 1001 WHERE id = 21;
         UPDATE parent SET id = 21 WHERE id = 1001;
         UPDATE order_lines SET qty = qty + 0.01 WHERE order_id = 1;
         UPDATE order_lines SET order_id = 100 WHERE order_id = 2;
         DELETE FROM order_lines WHERE order_id = 3;
         UPDATE nokey SET b = 'changed' WHERE a = 1;
         UPDATE nokey SET a = 100 WHERE a = 2;
         DELETE FROM nokey WHERE a = 3;
         INSERT INTO trunc_t VALUES (11, 'before');
         TRUNCATE TABLE trunc_t;
         INSERT INTO trunc_t VALUES (1, 'after'), (2, 'after');
         UPDATE trunc_t SET v = 'after, updated' WHERE id = 2;
         INSERT INTO skipped_t VALUES (1);",
    );
    // One delta reads across a binlog rotation.
    c.sql("FLUSH BINARY LOGS");
    c.sql("UPDATE parent SET name = 'after rotation' WHERE id = 30; DELETE FROM parent WHERE id = 31;");
    c.sql("BEGIN; INSERT INTO parent VALUES (9999, 'rolled back', NULL); DELETE FROM nokey; ROLLBACK;");
    c.sql("BEGIN; INSERT INTO parent VALUES (80, 'multi', NULL); INSERT INTO order_lines VALUES (80, 1, 1); UPDATE nokey SET b = 'multi' WHERE a = 4; COMMIT;");
    let out = c.ok(&["delta"]);
    assert!(out.contains("5 table(s)"), "{out}");
    // The full extract recorded file:pos and, MariaDB having GTIDs on, the set.
    let status = c.ok(&["status"]);
    let full = status.lines().find(|l| l.contains("full-extract")).unwrap();
    assert!(
        full.contains("binlog.") && full.contains(" gtid=0-1-"),
        "{full}"
    );
    assert_all_same(&c);
    // Nothing new: nothing changes.
    let out = c.ok(&["delta"]);
    assert!(out.contains("0 change(s)"), "{out}");
    assert_all_same(&c);

    // DDL on a selected table fails that table, named, with the fix; the
    // others go on.
    c.sql("UPDATE parent SET name = 'before ddl' WHERE id = 1; ALTER TABLE parent ADD COLUMN extra INT; UPDATE parent SET extra = 1 WHERE id = 2; UPDATE nokey SET b = 'after ddl' WHERE a = 5;");
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let parent = format!("{}.parent", c.src);
    assert!(
        stderr.contains(&format!("{parent}: structure changed"))
            && stderr.contains(&format!("full-extract {parent}")),
        "{stderr}"
    );
    c.assert_same("nokey", "a");
    c.ok(&["full-extract", &parent]);
    c.sql("UPDATE parent SET extra = 2 WHERE id = 3;");
    c.ok(&["delta"]);
    assert_all_same(&c);
}

#[test]
fn missing_grants_are_named_with_the_fix() {
    use mysql::prelude::Queryable;
    let c = MyCase::new("grants");
    c.sql("CREATE TABLE t (id INT PRIMARY KEY)");
    let mut my = crate::common::my_connect(&c.env);
    my.query_drop("DROP USER IF EXISTS 'norepl'@'%'").unwrap();
    my.query_drop("CREATE USER 'norepl'@'%' IDENTIFIED BY 'norepl'")
        .unwrap();
    my.query_drop(format!("GRANT SELECT ON `{}`.* TO 'norepl'@'%'", c.src))
        .unwrap();
    let cfg = std::fs::read_to_string(c.dir.join("ingest.toml")).unwrap();
    // Only the [source] section's user changes.
    let (head, tail) = cfg.split_once("[destination]").unwrap();
    let head = head
        .replace(
            &format!("user = \"{}\"", c.env.my_user),
            "user = \"norepl\"",
        )
        .replace(
            &format!("password = \"{}\"", c.env.my_password),
            "password = \"norepl\"",
        );
    std::fs::write(
        c.dir.join("ingest.toml"),
        format!("{head}[destination]{tail}"),
    )
    .unwrap();
    let out = c.ingest(&["check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("lacks REPLICATION SLAVE, REPLICATION CLIENT")
            && stderr.contains("GRANT REPLICATION SLAVE"),
        "{stderr}"
    );
    let out = c.ingest(&["full-extract"]);
    assert_eq!(out.status.code(), Some(2));
    // mysqlbinlog transport with a tool that is not there: named.
    std::fs::write(
        c.dir.join("ingest.toml"),
        cfg.replace(
            "type = \"mysql\"",
            "type = \"mysql\"\nbinlog_transport = \"mysqlbinlog\"\nbinlog_tool = \"/nonexistent/mysqlbinlog\"",
        ),
    )
    .unwrap();
    c.ok(&["full-extract"]);
    c.sql("INSERT INTO t VALUES (1)");
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("/nonexistent/mysqlbinlog"), "{stderr}");
}

/// Repeated keys take the direct merge (each key's last change). Keys
/// whose bytes change but not their value under the source's collation
/// (`'a'` -> `'a '`, `'b'` -> `'B'` in utf8mb4_general_ci) are a delete and
/// an insert; the destination's binary no-pad collation keeps them apart.
#[test]
fn repeated_keys_and_key_text_changes() {
    let c = MyCase::new("repeat");
    c.write_config(&format!("[[table]]\nname = \"{}.*\"\n", c.src));
    c.sql(
        "CREATE TABLE r (id INT PRIMARY KEY, v VARCHAR(40));
         CREATE TABLE s (k VARCHAR(10) PRIMARY KEY, v VARCHAR(40)) DEFAULT CHARSET = utf8mb4 COLLATE utf8mb4_general_ci;
         INSERT INTO r SELECT seq, CONCAT('v', seq) FROM seq_1_to_20;
         INSERT INTO s VALUES ('a', 'one'), ('b', 'two'), ('c', 'three');",
    );
    c.ok(&["full-extract"]);
    c.sql(
        "UPDATE r SET v = 'once' WHERE id = 1;
         UPDATE r SET v = 'twice' WHERE id = 1;
         UPDATE r SET v = 'x' WHERE id = 2;
         DELETE FROM r WHERE id = 2;
         DELETE FROM r WHERE id = 3;
         INSERT INTO r VALUES (3, 'deleted then inserted');
         INSERT INTO r VALUES (30, 'inserted then deleted');
         DELETE FROM r WHERE id = 30;
         UPDATE r SET id = 100 WHERE id = 4;
         UPDATE r SET id = 4 WHERE id = 100;
         UPDATE s SET k = 'a ' WHERE k = 'a';
         UPDATE s SET k = 'B', v = 'two, upper' WHERE k = 'b';
         UPDATE s SET v = 'again' WHERE k = 'b';
         UPDATE s SET k = 'C' WHERE k = 'c';
         DELETE FROM s WHERE k = 'c';",
    );
    c.ok(&["delta"]);
    c.assert_same("r", "id");
    c.assert_same("s", "k");
}

/// Writers with `binlog_row_image = MINIMAL` or `NOBLOB` (per session, as
/// an application may set it): updates lack the values they did not
/// change (filled from the line before in the batch, else the destination
/// row), inserts lack the columns they did not name (defaults, read back
/// from the source by key), key changes lack both (read back; a row moved
/// and deleted in the batch is not). Every case lands exactly, through the
/// replication protocol and through `mariadb-binlog` files.
#[test]
fn minimal_and_noblob_row_images_land_exactly() {
    for (name, transport) in [("minimal", "stream"), ("minimalf", "mysqlbinlog")] {
        let c = MyCase::new(name);
        c.sql(
            "CREATE TABLE t (id INT PRIMARY KEY, v INT, w TEXT, d INT NOT NULL DEFAULT 7, \
             at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), b BLOB, c CHAR(2) DEFAULT 'zz'); \
             INSERT INTO t VALUES (1, 1, 'one', 1, '2020-01-01', 'x', 'a'), (2, 2, 'two', 2, '2020-01-02', 'y', 'b'), \
             (3, 3, 'three', 3, '2020-01-03', 'z', 'c'), (11, 1, 'one', 1, '2020-01-01', 'x', 'a'), \
             (12, 2, 'two', 2, '2020-01-02', 'y', 'b'), (13, 3, 'three', 3, '2020-01-03', 'z', 'c');",
        );
        configure(
            &c,
            &format!("[[table]]\nname = \"{}.*\"\n", c.src),
            &format!("binlog_transport = \"{transport}\""),
        );
        c.ok(&["full-extract"]);
        for (image, n) in [("MINIMAL", 0), ("NOBLOB", 10)] {
            c.sql(&format!(
                "SET SESSION binlog_row_image = '{image}'; \
                 UPDATE t SET v = v + 100 WHERE id = {one}; \
                 INSERT INTO t (id, v) VALUES ({four}, 4); \
                 UPDATE t SET w = 'four' WHERE id = {four}; \
                 UPDATE t SET id = {moved} WHERE id = {two}; \
                 UPDATE t SET id = {gone} WHERE id = {three}; DELETE FROM t WHERE id = {gone}; \
                 INSERT INTO t (id, w) VALUES ({five}, 'five'); DELETE FROM t WHERE id = {five}; \
                 UPDATE t SET b = 'new blob' WHERE id = {one}; \
                 SET SESSION binlog_row_image = 'FULL';",
                one = n + 1,
                two = n + 2,
                three = n + 3,
                four = n + 4,
                five = n + 5,
                moved = n + 20,
                gone = n + 30,
            ));
            c.ok(&["delta"]);
            c.assert_same("t", "id");
        }
        // Nothing left to do.
        c.ok(&["delta"]);
        c.assert_same("t", "id");
    }
}

/// XA transactions: rows are written to the binlog at XA PREPARE, before
/// the outcome. Committed ones land (two-phase, and ONE PHASE), rolled
/// back ones do not, and one still prepared when a delta runs is held
/// back (the delta after its XA COMMIT applies it) while later
/// transactions land. Runs alone: a transaction left prepared is seen
/// server-wide, and any other case's full extract refuses to start then.
#[test]
fn xa_transactions_land_only_when_committed() {
    let _alone = crate::common::alone();
    let c = MyCase::new("xa");
    c.sql("CREATE TABLE x (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO x VALUES (1, 'one');");
    configure(&c, &format!("[[table]]\nname = \"{}.*\"\n", c.src), "");
    c.ok(&["full-extract"]);
    c.sql(
        "XA START 'a1'; INSERT INTO x VALUES (2, 'two'); UPDATE x SET v = 'uno' WHERE id = 1; XA END 'a1'; \
         XA PREPARE 'a1'; XA COMMIT 'a1'; \
         XA START 'a2'; INSERT INTO x VALUES (3, 'three'); DELETE FROM x WHERE id = 2; XA END 'a2'; \
         XA PREPARE 'a2'; XA ROLLBACK 'a2'; \
         XA START 'a3'; INSERT INTO x VALUES (4, 'four'); XA END 'a3'; XA COMMIT 'a3' ONE PHASE;",
    );
    c.ok(&["delta"]);
    c.assert_same("x", "id");
    // Prepared, and its session gone: the outcome comes later.
    c.sql("XA START 'a4'; INSERT INTO x VALUES (5, 'five'); UPDATE x SET v = 'held' WHERE id = 4; XA END 'a4'; XA PREPARE 'a4';");
    c.sql("INSERT INTO x VALUES (6, 'six'); UPDATE x SET v = 'later' WHERE id = 1;");
    c.ok(&["delta"]);
    // The source's committed rows: 6 and the update, not a4's.
    c.assert_same("x", "id");
    c.sql("XA COMMIT 'a4'; UPDATE x SET v = 'after' WHERE id = 6;");
    c.ok(&["delta"]);
    c.assert_same("x", "id");
    c.ok(&["delta"]);
    c.assert_same("x", "id");
    // A full extract while one is prepared would miss its rows if it
    // committed later: refused with the fix, and fine once it is done.
    c.sql("XA START 'a5'; UPDATE x SET v = 'pending' WHERE id = 1; XA END 'a5'; XA PREPARE 'a5';");
    let out = c.ingest(&["full-extract"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("prepared XA transaction(s) pending") && stderr.contains("a5"),
        "{stderr}"
    );
    c.sql("XA COMMIT 'a5';");
    c.ok(&["full-extract"]);
    c.assert_same("x", "id");
}

/// A MINIMAL insert is read back from the source at the end of its batch;
/// when the row is gone by then (deleted in a later batch), a MINIMAL
/// update of it in the same batch has no earlier line to fill its other
/// values from: it is read back too (and left out), instead of landing
/// with NULLs (here refused by a NOT NULL column).
#[test]
fn a_minimal_row_gone_by_its_lookup_leaves_no_partial_row() {
    let c = MyCase::new("minigone");
    c.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT, d INT NOT NULL DEFAULT 7, w TEXT);");
    configure(
        &c,
        &format!("[[table]]\nname = \"{}.*\"\n", c.src),
        "max_batch_changes = 1000",
    );
    c.ok(&["full-extract"]);
    // The first batch ends after the 1,000-row insert; the delete is in
    // the next, but already done when the first batch reads row 1 back.
    c.sql(
        "SET SESSION binlog_row_image = 'MINIMAL'; \
         INSERT INTO t (id, v) VALUES (1, 1); UPDATE t SET v = 2 WHERE id = 1; \
         INSERT INTO t SELECT seq + 100, seq, 7, 'x' FROM seq_1_to_1000; \
         DELETE FROM t WHERE id = 1; INSERT INTO t (id, v, w) VALUES (2, 2, 'two');",
    );
    // Between the two batches: no row 1 without its default.
    let mut between: Vec<(i32, Option<i32>)> = vec![];
    let (ok, stderr) = crate::common::paused(&c, &["delta"], "merged", || {
        use mysql::prelude::Queryable;
        between = crate::common::my_connect(&c.env)
            .query(format!("SELECT id, d FROM `{}`.t WHERE id < 100", c.dst))
            .unwrap();
    });
    assert!(ok, "{stderr}");
    assert!(
        !between.iter().any(|(_, d)| d.is_none()),
        "a partial row: {between:?}"
    );
    c.ok(&["delta"]);
    c.assert_same("t", "id");
}

/// Rows read back by key (MINIMAL inserts) are found by keys of every
/// kind: a DOUBLE key (its spool text `1.5e0` is not MySQL's `1.5`) and
/// an ENUM key listing `''` (its spool text is the index).
#[test]
fn minimal_rows_are_read_back_by_keys_of_any_type() {
    let c = MyCase::new("minikeys");
    c.sql(
        "CREATE TABLE f (k DOUBLE NOT NULL PRIMARY KEY, v INT, d INT NOT NULL DEFAULT 7); \
         CREATE TABLE e (k ENUM('', 'x', 'y') NOT NULL PRIMARY KEY, v INT, d INT NOT NULL DEFAULT 7);",
    );
    c.ok(&["full-extract"]);
    c.sql(
        "SET SESSION binlog_row_image = 'MINIMAL'; \
         INSERT INTO f (k, v) VALUES (1.5, 1), (-0.1, 2), (1e300, 3); \
         INSERT INTO e (k, v) VALUES ('', 1), ('y', 2);",
    );
    c.ok(&["delta"]);
    c.assert_same("f", "k");
    c.assert_same("e", "k");
}
