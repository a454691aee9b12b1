//! PostgreSQL source: the ways to lose, misplace or refuse data that a
//! line-by-line read of the engine found (issue 9), each shown to hold.

use crate::common::Case;

fn edit_config(c: &Case, from: &str, to: &str) {
    let path = c.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in the config");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

/// Deltas delete unfinished batch folders from the spool: only folders
/// named like batches, and never a spool that holds the state, the logs or
/// the configuration (`spool_dir = "."` once unlinked state.db).
#[test]
fn the_spool_folder_is_its_own() {
    let c = Case::new("spool_own");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');");
    for (spool, why) in [
        (".", "holds the state_dir"),
        ("state", "is the state_dir"),
        ("state/spool", "is inside the state_dir"),
    ] {
        edit_config(
            &c,
            "spool_dir = \"spool\"",
            &format!("spool_dir = \"{spool}\""),
        );
        c.expect(&["status"], 2, &["instance.spool_dir", why]);
        edit_config(
            &c,
            &format!("spool_dir = \"{spool}\""),
            "spool_dir = \"spool\"",
        );
    }
    // A folder or file of someone else's in the spool survives runs.
    c.ok(&["full-extract"]);
    let keep = c.dir.join("spool").join("keep-me");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("notes.txt"), "mine").unwrap();
    c.sql("UPDATE t SET v = 'b';");
    c.ok(&["delta"]);
    assert!(
        keep.join("notes.txt").exists(),
        "delta removed a folder that is no batch"
    );
    c.assert_same("public.t", "t", &["id"]);
}

/// A short string key (uuid → CHAR(36)) is indexed whole in the staging
/// table: a 64-character prefix of it was refused by MariaDB (error 1089),
/// so every delta of such a table failed.
#[test]
fn short_string_keys_stage() {
    let c = Case::new("short_keys");
    c.sql(
        "CREATE TABLE u (id uuid PRIMARY KEY, v text);
         CREATE TABLE c (code char(3), n int, v text, PRIMARY KEY (code, n));
         INSERT INTO u SELECT md5(g::text)::uuid, 'v' FROM generate_series(1, 20) g;
         INSERT INTO c SELECT 'a' || (g % 10), g, 'v' FROM generate_series(1, 20) g;",
    );
    c.ok(&["full-extract"]);
    // Repeated keys take the staging merge on one of the paths.
    c.sql(
        "UPDATE u SET v = 'w'; UPDATE u SET v = 'x' WHERE v = 'w' AND id::text < '8'; DELETE FROM u WHERE id::text > 'c';
         UPDATE c SET v = 'w' WHERE n < 10; UPDATE c SET n = n + 100 WHERE n > 15;",
    );
    c.ok(&["delta"]);
    c.assert_same("public.u", "u", &["id"]);
    c.assert_same("public.c", "c", &["code", "n"]);
}

const BIG: &str =
    "(SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 400) g)";

/// Source columns named like the helper tables' bookkeeping columns
/// (`_op`, `_seq`, `_ts`, `_unch`, `_rn`) once made every delta of their
/// table fail with a duplicate column; they replicate on every merge path.
#[test]
fn bookkeeping_names_are_free_for_source_columns() {
    let c = Case::new("bk_names");
    c.sql(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, _op text, _seq int, _ts timestamptz, _unch text, _rn int, _ingest_op text, doc text);
         INSERT INTO t SELECT g, 'op' || g, g, now(), 'u', g, 'x', CASE WHEN g <= 3 THEN {BIG} ELSE 'small' END
         FROM generate_series(1, 20) g;"
    ));
    c.ok(&["full-extract"]);
    // Unique keys (direct path), then repeated keys, then unchanged TOAST.
    c.sql("UPDATE t SET _op = 'changed', _ts = '2020-01-01' WHERE id <= 5; DELETE FROM t WHERE id = 20;");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    c.sql("UPDATE t SET _seq = -1 WHERE id = 6; UPDATE t SET _seq = -2 WHERE id = 6; INSERT INTO t (id) VALUES (30); DELETE FROM t WHERE id = 30;");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    c.sql("UPDATE t SET _unch = 'kept toast' WHERE id = 1; UPDATE t SET _rn = 7 WHERE id = 1; TRUNCATE t; INSERT INTO t (id, _op) VALUES (1, 'after');");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
}

/// A configured key column that allows NULL is refused, named.
#[test]
fn nullable_key_columns_are_refused() {
    let c = Case::new("null_key");
    c.write_config("[[table]]\nname = \"public.t\"\nkey = [\"k\"]\n", "");
    c.sql("CREATE TABLE t (k int, v text); ALTER TABLE t REPLICA IDENTITY FULL; INSERT INTO t VALUES (1, 'a'), (NULL, 'b');");
    c.expect(&["full-extract"], 2, &["key column \"k\" allows NULL"]);
    assert!(!c.slot_exists(), "nothing is created for a refused table");
}

/// A table whose load fails while state.db cannot record that failure: the
/// batch stays unreleased (it was released, and the table's changes were
/// gone), and the next delta merges them.
#[test]
fn a_failure_that_cannot_be_recorded_keeps_the_batch() {
    use mysql::prelude::Queryable;
    let c = Case::new("unrecorded");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');");
    c.ok(&["full-extract"]);
    // The destination table is away: the load fails.
    let db = c.db.clone();
    c.my()
        .query_drop(format!("RENAME TABLE `{db}`.t TO `{db}`.t_away"))
        .unwrap();
    c.sql("INSERT INTO t VALUES (2, 'b'); UPDATE t SET v = 'c' WHERE id = 1;");
    let out = c
        .command(&["delta"])
        .env("INGEST_TEST_FAIL", "state-fail-batch-table")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    c.my()
        .query_drop(format!("RENAME TABLE `{db}`.t_away TO `{db}`.t"))
        .unwrap();
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    assert!(
        stderr.contains("recording the outcome in state.db"),
        "{stderr}"
    );
}

/// A second instance on the same source database: its own folder,
/// destination database and instance name; `slot`/`publication` left to
/// their defaults unless given.
fn second_instance(c: &Case, name: &str, slot: Option<&str>) -> crate::common::Bin {
    let dir = c.dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(c.config_path()).unwrap();
    let mut out = vec![];
    for line in text.lines() {
        if line.starts_with("slot =") || line.starts_with("publication =") {
            if let (Some(s), true) = (slot, line.starts_with("slot =")) {
                out.push(format!("slot = \"{s}\""));
                out.push(format!("publication = \"{s}\""));
            }
            continue;
        }
        if line.starts_with("name =")
            && out.iter().any(|l: &String| l == "[instance]")
            && !out.iter().any(|l| l.starts_with("name ="))
        {
            out.push(format!("name = \"{name}\""));
            continue;
        }
        if line.starts_with("schema_for_all_tables") {
            out.push(format!("schema_for_all_tables = \"{}_{name}\"", c.db));
            continue;
        }
        out.push(line.to_string());
    }
    let path = dir.join("ingest.toml");
    std::fs::write(&path, out.join("\n")).unwrap();
    crate::common::Bin { config: path }
}

fn drop_dest(c: &Case, db: &str) {
    use mysql::prelude::Queryable;
    c.my()
        .query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .unwrap();
}

/// Two instances on one database, with the default slot names: each has
/// its own slot (named after the instance), so neither consumes the
/// other's changes. Two instances configured with the same slot: the one
/// whose changes the other consumed refuses to go on (exit 2).
#[test]
fn two_instances_on_one_database() {
    let c = Case::new("two_inst");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 10) g;");
    let a = second_instance(&c, "pair_a", None);
    let b = second_instance(&c, "pair_b", None);
    for (bin, name) in [(&a, "pair_a"), (&b, "pair_b")] {
        drop_dest(&c, &format!("{}_{name}", c.db));
        bin.ok(&["full-extract"]);
    }
    assert!(a.ok(&["check"]).contains("slot ingest_pair_a exists"));
    c.sql("UPDATE t SET v = 'w' WHERE id <= 5; DELETE FROM t WHERE id = 10; INSERT INTO t VALUES (11, 'new');");
    a.ok(&["delta"]);
    b.ok(&["delta"]);
    let src = c.source_rows("public.t", &["id"]);
    for name in ["pair_a", "pair_b"] {
        let dst = c.dest_rows_in(&format!("{}_{name}", c.db), "public.t", "t", &["id"]);
        crate::common::assert_maps_equal(name, &src, &dst);
    }

    // Same slot on purpose: the second delta finds the slot past what it
    // released and refuses, naming the slot and the fix.
    let shared = format!("shared_{}", c.db);
    let x = second_instance(&c, "same_x", Some(&shared));
    let y = second_instance(&c, "same_y", Some(&shared));
    drop_dest(&c, &format!("{}_same_x", c.db));
    drop_dest(&c, &format!("{}_same_y", c.db));
    x.ok(&["full-extract"]);
    y.ok(&["full-extract"]);
    c.sql("UPDATE t SET v = 'x' WHERE id = 1;");
    x.ok(&["delta"]);
    let out = y.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("slot {shared} is at")) && stderr.contains("full-extract"),
        "{stderr}"
    );
}

/// The slot dropped and created again while changes happened: the delta
/// refuses (the changes in between are gone) until a full extract. And a
/// full extract of one table that has to create the slot marks the other
/// tables as needing theirs: they missed every change since.
#[test]
fn a_slot_dropped_and_created_again_is_noticed() {
    let c = Case::new("slot_again");
    c.sql(
        "CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text);
         INSERT INTO a VALUES (1, 'a'); INSERT INTO b VALUES (1, 'b');",
    );
    c.ok(&["full-extract"]);
    let mut admin = c.pg();
    let slot = c.db.clone();
    c.sql("UPDATE a SET v = 'lost?' WHERE id = 1;");
    admin
        .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
        .unwrap();
    admin
        .execute(
            "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
            &[&slot],
        )
        .unwrap();
    c.sql("UPDATE b SET v = 'seen' WHERE id = 1;");
    c.expect(
        &["delta"],
        2,
        &[&format!("slot {slot} is at"), "full-extract"],
    );
    c.ok(&["full-extract"]);
    c.ok(&["delta"]);
    c.assert_same("public.a", "a", &["id"]);
    c.assert_same("public.b", "b", &["id"]);

    // Slot gone; the full extract of a alone creates it again.
    admin
        .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
        .unwrap();
    c.sql("UPDATE b SET v = 'missed' WHERE id = 1;");
    // The run that created the slot names the table it left behind.
    c.expect(
        &["full-extract", "public.a"],
        1,
        &["public.b (the change log was started anew"],
    );
    c.sql("UPDATE a SET v = 'after' WHERE id = 1;");
    c.expect(
        &["delta"],
        1,
        &["public.b is failed", "full-extract public.b"],
    );
    c.assert_same("public.a", "a", &["id"]);
    c.ok(&["full-extract", "public.b"]);
    c.ok(&["delta"]);
    c.assert_same("public.b", "b", &["id"]);
}

/// PostgreSQL 15+ logs the old key of an update when a key value is stored
/// out of line, and marks that key column "unchanged" in the new row: the
/// update was taken for a key change, and the table failed.
#[test]
fn an_unchanged_out_of_line_key_is_no_key_change() {
    let c = Case::new("toast_key");
    c.sql(
        "CREATE TABLE tk (k bytea PRIMARY KEY, v text);
         ALTER TABLE tk ALTER COLUMN k SET STORAGE EXTERNAL;
         INSERT INTO tk SELECT (SELECT decode(string_agg(md5(random()::text || g || i), ''), 'hex')
                                FROM generate_series(1, 150) i), 'v' || g
         FROM generate_series(1, 3) g;",
    );
    c.ok(&["full-extract"]);
    c.sql("UPDATE tk SET v = 'changed';");
    c.ok(&["delta"]);
    c.assert_same("public.tk", "tk", &["k"]);
}

/// Key moves within one statement on a table whose key is checked at the
/// end of the statement: `id = id + 1` over 1,000 rows left one row at the
/// destination, and a swap lost one of its two rows.
#[test]
fn keys_moved_within_one_statement() {
    let c = Case::new("key_shift");
    c.sql(&format!(
        "CREATE TABLE t (id int, v text, doc text, PRIMARY KEY (id) DEFERRABLE INITIALLY IMMEDIATE);
         ALTER TABLE t REPLICA IDENTITY FULL;
         INSERT INTO t SELECT g, 'v' || g, CASE WHEN g = 500 THEN {BIG} END FROM generate_series(1, 1000) g;"
    ));
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET id = id + 1;");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    assert_eq!(c.dest_count("t"), 1000);
    c.sql(
        "UPDATE t SET id = 3 - id WHERE id IN (1, 2);
         UPDATE t SET v = 'before swap' WHERE id = 10;
         UPDATE t SET id = 21 - id WHERE id IN (10, 11);
         UPDATE t SET v = 'toast kept' WHERE id = 501;
         UPDATE t SET id = 1003 - id WHERE id IN (501, 502);",
    );
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    // Shifting back down, and a delete after a move in the same batch.
    c.sql("UPDATE t SET id = id - 1; DELETE FROM t WHERE id = 7; INSERT INTO t VALUES (7, 'again', NULL);");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
}

/// REPLICA IDENTITY USING INDEX on a unique index, without a primary key:
/// the index's columns are the key. The identity index rebuilt converges;
/// switched to another index, the key changed: the table fails with the
/// fix, and its full extract brings it back. NOTHING is refused before the
/// table is added to the publication.
#[test]
fn replica_identity_using_index_and_nothing() {
    let c = Case::new("replident");
    c.sql(
        "CREATE TABLE ui (a int NOT NULL, b int NOT NULL, v text);
         CREATE UNIQUE INDEX ui_a ON ui (a);
         CREATE UNIQUE INDEX ui_b ON ui (b);
         ALTER TABLE ui REPLICA IDENTITY USING INDEX ui_a;
         INSERT INTO ui SELECT g, 100 + g, 'v' FROM generate_series(1, 10) g;",
    );
    c.ok(&["full-extract"]);
    c.assert_same("public.ui", "ui", &["a"]);
    c.sql("UPDATE ui SET a = -a WHERE a = 1; UPDATE ui SET v = 'w' WHERE a = 2; DELETE FROM ui WHERE a = 3;");
    c.ok(&["delta"]);
    c.assert_same("public.ui", "ui", &["a"]);
    c.sql("REINDEX INDEX ui_a; UPDATE ui SET v = 'after reindex' WHERE a = 4;");
    c.ok(&["delta"]);
    c.assert_same("public.ui", "ui", &["a"]);
    c.sql("ALTER TABLE ui REPLICA IDENTITY USING INDEX ui_b; UPDATE ui SET a = 50 WHERE a = 5; DELETE FROM ui WHERE a = 6;");
    c.expect(&["delta"], 1, &["public.ui", "full-extract public.ui"]);
    c.ok(&["full-extract", "public.ui"]);
    c.sql("UPDATE ui SET b = 500 WHERE a = 7;");
    c.ok(&["delta"]);
    c.assert_same("public.ui", "ui", &["b"]);

    c.sql(
        "CREATE TABLE nothing_t (id int PRIMARY KEY, v text); ALTER TABLE nothing_t REPLICA IDENTITY NOTHING;
         INSERT INTO nothing_t VALUES (1, 'a');",
    );
    c.expect(
        &["full-extract", "public.nothing_t"],
        2,
        &["REPLICA IDENTITY NOTHING"],
    );
    let published = c
        .pg()
        .query(
            "SELECT 1 FROM pg_publication_tables WHERE tablename = 'nothing_t'",
            &[],
        )
        .unwrap();
    assert!(
        published.is_empty(),
        "the table was added to the publication"
    );
    c.sql("UPDATE nothing_t SET v = 'the application still updates it';");
}

/// A TRUNCATE, DETACH or ATTACH of a single partition is not published
/// under publish_via_partition_root: the table fails with the fix instead
/// of keeping the destination wrong. A TRUNCATE of the whole table is
/// published and needs nothing.
#[test]
fn partition_changes_that_are_not_published_fail_the_table() {
    let c = Case::new("partitions");
    c.sql(
        "CREATE TABLE parted (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
         CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
         CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
         CREATE TABLE other (id int PRIMARY KEY, v text);
         INSERT INTO parted SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, 'p' FROM generate_series(1, 20) g;
         INSERT INTO other VALUES (1, 'o');",
    );
    c.ok(&["full-extract"]);
    let same = |c: &Case| {
        c.assert_same("public.parted", "parted", &["id", "region"]);
        c.assert_same("public.other", "other", &["id"]);
    };
    // The whole table truncated: published, nothing to do.
    c.sql("TRUNCATE parted; INSERT INTO parted VALUES (1, 'eu', 'again'), (2, 'us', 'again'), (3, 'us', 'x');");
    c.ok(&["delta"]);
    same(&c);
    // One partition truncated.
    c.sql("TRUNCATE parted_us; UPDATE other SET v = 'o2';");
    c.expect(
        &["delta"],
        1,
        &["parted_us truncated", "full-extract public.parted"],
    );
    c.assert_same("public.other", "other", &["id"]);
    c.ok(&["full-extract", "public.parted"]);
    same(&c);
    // One partition detached, another attached with rows.
    c.sql(
        "INSERT INTO parted VALUES (4, 'us', 'u');
         ALTER TABLE parted DETACH PARTITION parted_us;
         CREATE TABLE parted_asia (LIKE parted); INSERT INTO parted_asia VALUES (9, 'asia', 'a');
         ALTER TABLE parted ATTACH PARTITION parted_asia FOR VALUES IN ('asia');",
    );
    c.expect(
        &["delta"],
        1,
        &["parted_us detached", "parted_asia attached"],
    );
    c.ok(&["full-extract", "public.parted"]);
    c.sql("UPDATE parted SET v = 'after' WHERE id = 9;");
    c.ok(&["delta"]);
    same(&c);
    // A TRUNCATE of the whole table in a later batch of the run explains
    // the rewritten partitions as well.
    edit_config(&c, "slot = ", "max_batch_changes = 1000\nslot = ");
    c.sql("INSERT INTO other SELECT g, 'x' FROM generate_series(2, 1500) g;");
    c.sql("TRUNCATE parted; INSERT INTO parted VALUES (5, 'eu', 'after truncate');");
    let out = c.command(&["-v", "delta"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("reading the next batch"), "{stderr}");
    same(&c);
}

/// The destination connection killed in the middle of a load: the load is
/// tried again on a fresh connection, not counted as a failed load.
#[test]
fn a_dropped_destination_connection_is_replaced() {
    use mysql::prelude::Queryable;
    let c = Case::new("conn_killed");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'a' FROM generate_series(1, 10) g;");
    // This instance's destination connections are the ones on its database.
    c.my()
        .query_drop(format!("CREATE DATABASE IF NOT EXISTS `{}`", c.db))
        .unwrap();
    edit_config(
        &c,
        "database = \"mysql\"",
        &format!("database = \"{}\"", c.db),
    );
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET v = 'b' WHERE id < 5; DELETE FROM t WHERE id = 9;");
    let db = c.db.clone();
    let (ok, stderr) = crate::common::paused(&c, &["delta"], "staged", || {
        let mut my = c.my();
        let ids: Vec<u64> = my
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
                (&db,),
            )
            .unwrap();
        assert!(!ids.is_empty(), "no destination connection to kill");
        for id in ids {
            let _ = my.query_drop(format!("KILL {id}"));
        }
    });
    assert!(ok, "{stderr}");
    assert!(stderr.contains("trying again"), "{stderr}");
    c.assert_same("public.t", "t", &["id"]);
}

/// A delta reads at most max_batch_changes changes a batch: a backlog is
/// merged and released batch by batch in one run, each batch committed.
/// Key changes whose new rows lack unchanged TOAST values (DEFAULT
/// identity) are completed from the source in groups while the slot is
/// read, not all held until its end.
#[test]
fn a_backlog_is_read_in_bounded_batches() {
    let c = Case::new("batches");
    c.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v int, doc text);
         ALTER TABLE t ALTER COLUMN doc SET STORAGE EXTERNAL;
         INSERT INTO t SELECT g, 0, repeat(md5(g::text), 100) FROM generate_series(1, 2500) g;",
    );
    edit_config(&c, "slot = ", "max_batch_changes = 1000\nslot = ");
    c.ok(&["full-extract"]);
    // 2,500 key changes with unchanged TOAST (one transaction), then many
    // small transactions.
    c.sql("UPDATE t SET id = id + 10000;");
    for i in 0..30 {
        c.sql(&format!("UPDATE t SET v = {i} WHERE id % 30 = {i};"));
    }
    let out = c.command(&["-v", "delta"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("reading the next batch"), "{stderr}");
    c.assert_same("public.t", "t", &["id"]);
    let batches: i64 = rusqlite::Connection::open(c.dir.join("state").join("state.db"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM batches WHERE status = 'released' AND run_id = (SELECT max(id) FROM runs)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(batches >= 3, "{batches} batch(es)");
}

/// Key changes completed from the source find their rows by the key's
/// text as pgoutput writes it: char(n) keeps its padding, boolean is `t`.
#[test]
fn completed_rows_are_found_for_padded_and_boolean_keys() {
    let c = Case::new("lookup_keys");
    c.sql(
        "CREATE TABLE ck (code char(8), flag boolean, n int, doc text, PRIMARY KEY (code, flag, n));
         ALTER TABLE ck ALTER COLUMN doc SET STORAGE EXTERNAL;
         INSERT INTO ck SELECT 'k' || g, g % 2 = 0, g, repeat(md5(g::text), 100) FROM generate_series(1, 20) g;",
    );
    c.ok(&["full-extract"]);
    c.sql("UPDATE ck SET code = 'new' || n WHERE n <= 10; UPDATE ck SET n = n + 100 WHERE n > 15;");
    c.ok(&["delta"]);
    c.assert_same("public.ck", "ck", &["code", "flag", "n"]);
}

/// A swap whose end was not seen (the connection lost after the renames)
/// is tried again without moving the new table away.
#[test]
fn a_swap_tried_again_keeps_the_new_table() {
    let c = Case::new("swap_again");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');");
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET v = 'b';");
    let marker = c.dir.join("swap-unseen");
    let out = c
        .command(&["full-extract"])
        .env(
            "INGEST_TEST_FAIL_ONCE",
            format!("swap-unseen:{}", marker.display()),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        marker.exists() && stderr.contains("trying again"),
        "{stderr}"
    );
    c.assert_same("public.t", "t", &["id"]);
}

/// An instance set up while `ingest` was every instance's default slot,
/// its configuration without `slot`: the delta names the old slot and the
/// setting, instead of asking for a new full extract.
#[test]
fn the_old_default_slot_is_named() {
    let c = Case::new("old_default");
    c.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    let slot_line = format!("slot = \"{}\"\npublication = \"{}\"\n", c.db, c.db);
    edit_config(
        &c,
        &slot_line,
        "slot = \"ingest\"\npublication = \"ingest\"\n",
    );
    c.ok(&["full-extract"]);
    edit_config(&c, "slot = \"ingest\"\npublication = \"ingest\"\n", "");
    c.expect(
        &["delta"],
        2,
        &["slot ingest of database", "slot = \"ingest\""],
    );
}

/// A key change lacking an unchanged TOAST value is read back from the
/// source at the end of its batch; when the row is gone by then (deleted
/// in a later batch), an update of it in the same batch with the TOAST
/// value unchanged had no earlier line to fill from and landed with NULL
/// (here refused by NOT NULL: the table failed). It is read back too now.
#[test]
fn a_toast_row_gone_by_its_lookup_leaves_no_partial_row() {
    let c = Case::new("toastgone");
    c.sql(
        "CREATE TABLE big (id int PRIMARY KEY, v int, doc text NOT NULL);
         ALTER TABLE big ALTER COLUMN doc SET STORAGE EXTERNAL;
         INSERT INTO big VALUES (1, 0, repeat(md5('x'), 100));
         CREATE TABLE fill (id int PRIMARY KEY);",
    );
    edit_config(&c, "slot = ", "max_batch_changes = 1000\nslot = ");
    c.ok(&["full-extract"]);
    // The first batch ends after the 1,000-row insert; the delete is in
    // the next, but done when the first batch reads row 2 back.
    c.sql("UPDATE big SET id = 2 WHERE id = 1;");
    c.sql("UPDATE big SET v = 5 WHERE id = 2;");
    c.sql("INSERT INTO fill SELECT g FROM generate_series(1, 1000) g;");
    c.sql("DELETE FROM big WHERE id = 2; INSERT INTO big VALUES (3, 1, 'small');");
    // Between the two batches: no row 2 with its document missing.
    let mut between = vec![];
    let (ok, stderr) = crate::common::paused(&c, &["delta", "-v"], "merged", || {
        use mysql::prelude::Queryable;
        let mut my = c.my();
        between = my
            .query(format!(
                "SELECT id, LENGTH(doc) FROM `{}`.big ORDER BY id",
                c.db
            ))
            .unwrap();
    });
    assert!(ok, "{stderr}");
    let between: Vec<(i32, Option<i32>)> = between;
    assert!(
        !between.iter().any(|(_, len)| len.is_none()),
        "a row without its document: {between:?}\n{stderr}"
    );
    c.assert_same("public.big", "big", &["id"]);
    c.assert_same("public.fill", "fill", &["id"]);
}
