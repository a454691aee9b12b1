//! Deltas: every kind of change pgoutput sends, merged so that the
//! destination equals the source; and running `delta` again changes nothing.

use crate::common::Case;

const BIG: &str =
    "(SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 400) g)";

fn setup(c: &Case) {
    c.write_config(
        "[[table]]\nname = \"public.*\"\n\n[[table]]\nname = \"public.nokey\"\nkey = [\"a\"]\n",
        "",
    );
    c.sql(&format!(
        "CREATE TABLE parent (id int PRIMARY KEY, name text, doc text);
         CREATE TABLE lines (order_id int, line_no int, qty numeric(10,2), note text, PRIMARY KEY (order_id, line_no));
         CREATE TABLE full_t (id int PRIMARY KEY, v text, big text);
         ALTER TABLE full_t REPLICA IDENTITY FULL;
         CREATE TABLE nokey (a int NOT NULL, b text);
         ALTER TABLE nokey REPLICA IDENTITY FULL;
         CREATE TABLE trunc_t (id int PRIMARY KEY, v text);
         INSERT INTO parent SELECT g, 'p' || g, CASE WHEN g <= 5 THEN {BIG} ELSE 'small' END FROM generate_series(1, 50) g;
         INSERT INTO lines SELECT o, l, o * l * 1.25, 'note' FROM generate_series(1, 10) o, generate_series(1, 5) l;
         INSERT INTO full_t SELECT g, 'v' || g, CASE WHEN g <= 3 THEN {BIG} END FROM generate_series(1, 20) g;
         INSERT INTO nokey SELECT g, 'b' || g FROM generate_series(1, 10) g;
         INSERT INTO trunc_t SELECT g, 't' FROM generate_series(1, 10) g;"
    ));
}

fn assert_all_same(c: &Case) {
    c.assert_same("public.parent", "parent", &["id"]);
    c.assert_same("public.lines", "lines", &["order_id", "line_no"]);
    c.assert_same("public.full_t", "full_t", &["id"]);
    c.assert_same("public.nokey", "nokey", &["a"]);
    c.assert_same("public.trunc_t", "trunc_t", &["id"]);
}

#[test]
fn every_kind_of_change_lands_exactly() {
    let c = Case::new("delta_kinds");
    setup(&c);
    c.ok(&["full-extract"]);
    assert_all_same(&c);

    c.sql(&format!(
        "-- plain inserts, updates, deletes
         INSERT INTO parent SELECT g, 'new' || g, 'd' FROM generate_series(51, 60) g;
         UPDATE parent SET name = 'renamed' WHERE id BETWEEN 10 AND 14;
         DELETE FROM parent WHERE id BETWEEN 15 AND 17;
         -- key change (DEFAULT identity: old key only), and back-and-forth in one batch
         UPDATE parent SET id = 1000 WHERE id = 20;
         UPDATE parent SET id = 1001 WHERE id = 21;
         UPDATE parent SET id = 21 WHERE id = 1001;
         -- unchanged TOAST: across batches (row 1), after an in-batch change (row 2), in-batch insert (row 70)
         UPDATE parent SET name = 'toast kept' WHERE id = 1;
         UPDATE parent SET doc = {BIG} WHERE id = 2;
         UPDATE parent SET name = 'toast changed then kept' WHERE id = 2;
         INSERT INTO parent VALUES (70, 'fresh', {BIG});
         UPDATE parent SET name = 'fresh, renamed' WHERE id = 70;
         -- key change with an unchanged TOAST value under DEFAULT identity (read back from the source)
         UPDATE parent SET id = 2000 WHERE id = 5;
         -- composite keys
         UPDATE lines SET qty = qty + 0.01 WHERE order_id = 1;
         UPDATE lines SET line_no = 9 WHERE order_id = 2 AND line_no = 1;
         DELETE FROM lines WHERE order_id = 3;
         -- REPLICA IDENTITY FULL: update, key change with TOAST, delete
         UPDATE full_t SET v = 'changed' WHERE id = 4;
         UPDATE full_t SET v = 'toast row' WHERE id = 1;
         UPDATE full_t SET id = 101 WHERE id = 2;
         DELETE FROM full_t WHERE id = 5;
         -- table without a primary key, keyed by configuration
         UPDATE nokey SET b = 'changed' WHERE a = 1;
         UPDATE nokey SET a = 100 WHERE a = 2;
         DELETE FROM nokey WHERE a = 3;
         -- TRUNCATE between changes of the same batch
         INSERT INTO trunc_t VALUES (11, 'before');
         TRUNCATE trunc_t;
         INSERT INTO trunc_t VALUES (1, 'after'), (2, 'after');
         UPDATE trunc_t SET v = 'after, updated' WHERE id = 2;"
    ));
    // A rolled-back transaction must not appear. (Each c.sql is one simple
    // query: an explicit BEGIN inside would take the statements before it
    // into its transaction.)
    c.sql(
        "BEGIN;
         INSERT INTO parent VALUES (9999, 'rolled back', NULL);
         UPDATE lines SET note = 'rolled back';
         DELETE FROM nokey;
         ROLLBACK;",
    );
    // One transaction over many tables.
    c.sql(
        "BEGIN;
         INSERT INTO parent VALUES (80, 'multi', NULL);
         INSERT INTO lines VALUES (80, 1, 1, 'multi');
         DELETE FROM full_t WHERE id = 6;
         UPDATE nokey SET b = 'multi' WHERE a = 4;
         COMMIT;",
    );
    let out = c.ok(&["delta"]);
    assert!(out.contains("5 table(s)"), "{out}");
    assert_all_same(&c);
    // The TOAST values really are the big ones, not NULL.
    use mysql::prelude::Queryable;
    let lens: Vec<(i32, Option<i64>)> = c
        .my()
        .query(format!(
            "SELECT id, LENGTH(doc) FROM `{}`.parent WHERE id IN (1, 2, 70, 2000) ORDER BY id",
            c.db
        ))
        .unwrap();
    assert_eq!(
        lens,
        vec![
            (1, Some(12800)),
            (2, Some(12800)),
            (70, Some(12800)),
            (2000, Some(12800))
        ]
    );
    assert_eq!(c.dest_count("trunc_t"), 2);

    // A second delta right away finds nothing and changes nothing.
    let out = c.ok(&["delta"]);
    assert!(out.contains("0 change(s)"), "{out}");
    assert_all_same(&c);

    // Later batches keep applying on top.
    c.sql("UPDATE parent SET name = 'again' WHERE id = 1; TRUNCATE trunc_t; DELETE FROM lines WHERE order_id = 80;");
    c.ok(&["delta"]);
    assert_all_same(&c);
    assert_eq!(c.dest_count("trunc_t"), 0);
    let status = c.ok(&["status"]);
    assert!(status.contains("public.trunc_t"), "{status}");
    assert!(status.contains("trunc 1"), "{status}");
}

#[test]
fn identifiers_with_case_spaces_and_reserved_words_replicate() {
    let c = Case::new("idents");
    c.write_config(
        "[[table]]\nname = \"public.*\"\n\n[[table]]\nname = \"Sales Dept.*\"\n",
        "",
    );
    c.sql(
        r#"CREATE SCHEMA "Sales Dept";
           CREATE TABLE "Order Lines" ("Order ID" int, "select" int, "MixedCase" text, "from" text, "quote""d" text,
                                       PRIMARY KEY ("Order ID", "select"));
           CREATE TABLE "Sales Dept"."Group" ("Key" text PRIMARY KEY, "Value`tick" int);
           INSERT INTO "Order Lines" SELECT g, g % 3, 'M' || g, 'f', 'q' FROM generate_series(1, 20) g;
           INSERT INTO "Sales Dept"."Group" VALUES ('a', 1), ('A', 2), ('a ', 3);"#,
    );
    c.ok(&["full-extract"]);
    c.assert_same("public.Order Lines", "Order Lines", &["Order ID", "select"]);
    c.assert_same("Sales Dept.Group", "Group", &["Key"]);
    c.sql(
        r#"UPDATE "Order Lines" SET "MixedCase" = 'changed' WHERE "Order ID" < 5;
           UPDATE "Order Lines" SET "select" = 7 WHERE "Order ID" = 6;
           DELETE FROM "Order Lines" WHERE "Order ID" = 7;
           INSERT INTO "Sales Dept"."Group" VALUES ('B', 4);
           UPDATE "Sales Dept"."Group" SET "Value`tick" = 10 WHERE "Key" = 'a';"#,
    );
    c.ok(&["delta"]);
    c.assert_same("public.Order Lines", "Order Lines", &["Order ID", "select"]);
    c.assert_same("Sales Dept.Group", "Group", &["Key"]);
}

#[test]
fn tables_added_later_and_dropped_from_the_publication() {
    let c = Case::new("later");
    c.sql("CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, 'a' FROM generate_series(1, 10) g;");
    c.ok(&["full-extract"]);
    // A new table: deltas leave it alone until its own full extract.
    c.sql("CREATE TABLE b (id int PRIMARY KEY, v text); INSERT INTO b SELECT g, 'b' FROM generate_series(1, 5) g;");
    c.sql("UPDATE a SET v = 'a2' WHERE id = 1;");
    let out = c.ingest(&["delta"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("public.b has had no full extract yet"));
    c.assert_same("public.a", "a", &["id"]);
    let out = c.ok(&["full-extract", "public.b"]);
    assert!(out.contains("1 table(s), 5 row(s)"), "{out}");
    c.sql("UPDATE a SET v = 'a3' WHERE id = 2; INSERT INTO b VALUES (6, 'new');");
    c.ok(&["delta"]);
    c.assert_same("public.a", "a", &["id"]);
    c.assert_same("public.b", "b", &["id"]);
    // A table taken out of the publication fails, named, with the fix.
    c.sql(&format!(
        "ALTER PUBLICATION {} DROP TABLE b; INSERT INTO b VALUES (7, 'unseen');",
        c.db
    ));
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("public.b: not in publication") && stderr.contains("full-extract public.b"),
        "{stderr}"
    );
    c.ok(&["full-extract", "public.b"]);
    c.assert_same("public.b", "b", &["id"]);
    // Naming a table that is not selected is an error.
    let out = c.ingest(&["full-extract", "public.zz"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn structure_changes_fail_only_that_table_until_its_full_extract() {
    let c = Case::new("ddl");
    c.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text, n numeric(10,2));
         CREATE TABLE other (id int PRIMARY KEY, v text);
         CREATE TABLE parted (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
         CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
         CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
         INSERT INTO t SELECT g, 'v', g FROM generate_series(1, 10) g;
         INSERT INTO other SELECT g, 'o' FROM generate_series(1, 10) g;
         INSERT INTO parted SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, 'p' FROM generate_series(1, 10) g;",
    );
    c.ok(&["full-extract"]);
    c.assert_same("public.parted", "parted", &["id", "region"]);
    // Partitioned tables: changes published under the root's name.
    c.sql("UPDATE parted SET v = 'changed' WHERE id < 5; DELETE FROM parted WHERE id = 9; INSERT INTO parted VALUES (11, 'eu', 'new');");
    c.ok(&["delta"]);
    c.assert_same("public.parted", "parted", &["id", "region"]);

    // A type change fails t, named, with the fix; other goes on.
    c.sql("UPDATE t SET v = 'before' WHERE id = 1; ALTER TABLE t ALTER COLUMN n TYPE numeric(12,4); UPDATE t SET n = 1.2345 WHERE id = 2; UPDATE other SET v = 'o2';");
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("public.t: structure changed") && stderr.contains("full-extract public.t"),
        "{stderr}"
    );
    c.assert_same("public.other", "other", &["id"]);
    let status = c.ok(&["status"]);
    assert!(
        status
            .lines()
            .any(|l| l.contains("public.t") && l.contains("failed")),
        "{status}"
    );
    // Later deltas leave t alone until its full extract, and each of them
    // exits 1 naming it with the fix (cron sees it every time, not once).
    c.sql(
        "UPDATE t SET v = 'ignored for now' WHERE id = 3; UPDATE other SET v = 'o3' WHERE id = 1;",
    );
    for _ in 0..2 {
        let out = c.ingest(&["delta"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("public.t is failed")
                && stderr.contains("1 table(s) failed: public.t (")
                && stderr.contains("full-extract public.t"),
            "{stderr}"
        );
        c.assert_same("public.other", "other", &["id"]);
    }
    c.ok(&["full-extract", "public.t"]);
    c.assert_same("public.t", "t", &["id"]);
    c.sql("UPDATE t SET v = 'after' WHERE id = 4;");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    c.assert_same("public.other", "other", &["id"]);

    // Old-shape changes still in the slot when the new full extract ran are
    // skipped, not a new failure: change, ALTER, full extract, then delta.
    c.sql("UPDATE t SET v = 'old shape' WHERE id = 5; ALTER TABLE t ADD COLUMN extra int DEFAULT 7; UPDATE t SET extra = 8 WHERE id = 6;");
    c.ok(&["full-extract", "public.t"]);
    c.sql("UPDATE t SET extra = 9 WHERE id = 7;");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
}

#[test]
fn a_table_that_keeps_failing_to_load_is_given_up_and_the_rest_moves_on() {
    use mysql::prelude::Queryable;
    let c = Case::new("give_up");
    c.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE other (id int PRIMARY KEY, v text);
         INSERT INTO t VALUES (1, 'ok'); INSERT INTO other VALUES (1, 'ok');",
    );
    c.ok(&["full-extract"]);
    // The destination refuses what the source now holds.
    c.my()
        .query_drop(format!(
            "ALTER TABLE `{}`.t ADD CONSTRAINT no_bad CHECK (v <> 'bad')",
            c.db
        ))
        .unwrap();
    c.sql("UPDATE t SET v = 'bad'; UPDATE other SET v = 'first';");
    for attempt in 1..=3 {
        let out = c.ingest(&["delta"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "attempt {attempt}: {stderr}");
        assert!(stderr.contains("public.t"), "{stderr}");
        if attempt == 3 {
            assert!(
                stderr.contains("gave up after 3 failed loads")
                    && stderr.contains("full-extract public.t"),
                "{stderr}"
            );
        }
    }
    // The batch was released without t: other's later changes flow again,
    // while every delta names t as failed until its full extract.
    c.sql("UPDATE other SET v = 'second';");
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("public.t is failed"), "{stderr}");
    c.assert_same("public.other", "other", &["id"]);
    // Once the destination accepts it, a full extract brings t back.
    c.my()
        .query_drop(format!("ALTER TABLE `{}`.t DROP CONSTRAINT no_bad", c.db))
        .unwrap();
    c.ok(&["full-extract", "public.t"]);
    c.sql("UPDATE t SET v = 'after';");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
}

/// Keys that repeat within a batch take the direct merge too (only each
/// key's last change is applied), and a key whose text changes but not its
/// value (numeric `1.0` -> `1.00`: a delete of the old text and an insert
/// of the new) ends inserted, not deleted.
#[test]
fn repeated_keys_and_key_text_changes() {
    let c = Case::new("delta_repeat");
    // The staging tables are looked into after the merges.
    c.write_config("[[table]]\nname = \"public.*\"\n", "retain_staging = true");
    c.sql(
        "CREATE TABLE r (id int PRIMARY KEY, v text);
         CREATE TABLE n (k numeric PRIMARY KEY, v text);
         CREATE TABLE tk (id int PRIMARY KEY, doc text);
         INSERT INTO r SELECT g, 'v' || g FROM generate_series(1, 20) g;
         INSERT INTO n VALUES (1.0, 'one'), (2, 'two'), (3.5, 'three');",
    );
    c.sql(&format!("INSERT INTO tk VALUES (1, {BIG}), (2, {BIG});"));
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
         UPDATE r SET v = 'back' WHERE id = 4;
         UPDATE n SET k = 1.00 WHERE k = 1;
         UPDATE n SET k = 2.000, v = 'two, longer' WHERE k = 2;
         UPDATE n SET v = 'changed again' WHERE k = 2;
         UPDATE n SET k = 3.50 WHERE k = 3.5;
         DELETE FROM n WHERE k = 3.5;
         -- a key change with an unchanged TOAST value: its new row is read
         -- back from the source after the slot, and written after the
         -- delete that followed it (the last change is by _seq)
         UPDATE tk SET id = 3000 WHERE id = 1;
         DELETE FROM tk WHERE id = 3000;
         UPDATE tk SET id = 4000 WHERE id = 2;
         UPDATE tk SET id = 5000 WHERE id = 4000;",
    );
    let out = c.ok(&["delta"]);
    assert!(out.contains("3 table(s)"), "{out}");
    c.assert_same("public.tk", "tk", &["id"]);
    assert_eq!(c.dest_count("tk"), 1);
    c.assert_same("public.r", "r", &["id"]);
    c.assert_same("public.n", "n", &["k"]);
    assert_eq!(c.dest_count("n"), 2);
    assert_eq!(c.dest_count("r"), 19);
    // The merges went straight into the targets: the staging tables hold
    // only the deletes.
    use mysql::prelude::Queryable;
    let staged: i64 = c
        .my()
        .query_first(format!("SELECT COUNT(*) FROM `{}`.`r__ingest_delta`", c.db))
        .unwrap()
        .unwrap();
    assert_eq!(staged, 3, "deletes of keys 2, 30 and 100");
}
