//! `ingest sync-struct` and `[schedule] auto_sync_struct`: a table whose
//! structure changed at the source gets it at the destination in place,
//! then the changes that waited since; no full extract. Both sources.

use crate::common::{Case, MyCase};
use mysql::prelude::Queryable;

/// The destination's columns of a table: (name, COLUMN_TYPE, nullable).
fn dest_columns(my: &mut mysql::Conn, db: &str, table: &str) -> Vec<(String, String, String)> {
    my.exec(
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        (db, table),
    )
    .unwrap()
}

/// Both sources' first test changes `t` alike: `v` widened to 30
/// characters, `n` to BIGINT, `old` renamed `renamed`, `gone` dropped and
/// kept (`on_drop_column = "keep"`: nullable; old rows keep their values,
/// new rows get NULL).
fn assert_synced(my: &mut mysql::Conn, db: &str) {
    let cols = dest_columns(my, db, "t");
    let col = |n: &str| cols.iter().find(|x| x.0 == n).cloned();
    assert_eq!(
        col("v").map(|x| x.1),
        Some("varchar(30)".into()),
        "{cols:?}"
    );
    assert_eq!(col("n").map(|x| x.1), Some("bigint(20)".into()), "{cols:?}");
    assert!(col("renamed").is_some() && col("old").is_none(), "{cols:?}");
    assert_eq!(col("gone").map(|x| x.2), Some("YES".into()), "{cols:?}");
}

fn hold_slot_exists(c: &Case) -> bool {
    !c.pg()
        .query(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
            &[&format!("{}_hold", c.db)],
        )
        .unwrap()
        .is_empty()
}

#[test]
fn postgres_added_dropped_widened_and_renamed_columns_without_a_full_extract() {
    let c = Case::new("sync_struct");
    c.write_config("[[table]]\nname = \"public.*\"\n", "");
    c.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v varchar(10), n int, old text, gone int NOT NULL DEFAULT 0);
         CREATE TABLE other (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, 'v' || g, g, 'o' || g, g FROM generate_series(1, 20) g;
         INSERT INTO other SELECT g, 'o' FROM generate_series(1, 10) g;",
    );
    c.ok(&["full-extract"]);
    // One transaction: a change in the old structure, the structure
    // change, changes in the new one.
    c.sql(
        "UPDATE t SET v = 'before' WHERE id = 1;
         ALTER TABLE t ALTER COLUMN v TYPE varchar(30), ALTER COLUMN n TYPE bigint, DROP COLUMN gone;
         ALTER TABLE t ADD COLUMN extra int DEFAULT 7;
         ALTER TABLE t RENAME COLUMN old TO renamed;
         UPDATE t SET v = 'a value longer than ten', n = 5000000000, extra = 8 WHERE id = 2;
         INSERT INTO t VALUES (21, 'new', 21, 'r21', 21);
         UPDATE other SET v = 'o2' WHERE id = 2;",
    );
    let stderr = c.expect(
        &["delta"],
        1,
        &["public.t: structure changed", "ingest sync-struct public.t"],
    );
    assert!(stderr.contains("full-extract public.t"), "{stderr}");
    c.assert_same("public.other", "other", &["id"]);
    // t waits; the others go on, and the slot with them: a copy of the
    // slot keeps t's changes.
    assert!(hold_slot_exists(&c));
    c.sql(
        "UPDATE t SET renamed = 'changed while waiting' WHERE id = 3; DELETE FROM t WHERE id = 4;
         UPDATE other SET v = 'o3' WHERE id = 3;",
    );
    c.expect(&["delta"], 1, &["public.t is failed"]);
    c.assert_same("public.other", "other", &["id"]);
    let status = c.ok(&["status"]);
    assert!(
        status
            .lines()
            .any(|l| l.contains("public.t") && l.contains("failed")),
        "{status}"
    );

    let out = c.ok(&["sync-struct"]);
    assert!(out.contains("sync-struct (run"), "{out}");
    c.assert_same("public.t", "t", &["id"]);
    assert_synced(&mut c.my(), &c.db);
    let gone: Vec<(i32, Option<i32>)> = c
        .my()
        .query(format!(
            "SELECT id, gone FROM `{}`.t WHERE id IN (5, 21) ORDER BY id",
            c.db
        ))
        .unwrap();
    assert_eq!(gone, vec![(5, Some(5)), (21, None)]);
    assert!(
        !hold_slot_exists(&c),
        "the copy of the slot goes once no table waits"
    );
    // Deltas go on with t.
    c.sql("UPDATE t SET extra = 9, renamed = 'after' WHERE id = 6; INSERT INTO t VALUES (22, 'x', 1, 'y', 2);");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    c.assert_same("public.other", "other", &["id"]);

    // A narrower type cannot be applied in place: said, with the fix.
    c.sql("ALTER TABLE t ALTER COLUMN v TYPE varchar(25); UPDATE t SET v = 'short' WHERE id = 7;");
    c.expect(&["delta"], 1, &["ingest sync-struct public.t"]);
    c.expect(
        &["sync-struct", "public.t"],
        1,
        &["not a wider type", "full-extract public.t"],
    );
    c.ok(&["full-extract", "public.t"]);
    c.sql("UPDATE t SET v = 'after the reload' WHERE id = 8;");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    assert!(!hold_slot_exists(&c));
}

#[test]
fn postgres_auto_sync_struct_in_a_delta() {
    let c = Case::new("auto_struct");
    c.write_config(
        "[schedule]\nauto_sync_struct = true\non_drop_column = \"drop\"\n\n[[table]]\nname = \"public.*\"\n",
        "",
    );
    c.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text, d numeric(8,2), gone text);
         CREATE TABLE other (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, 'v', g, 'g' FROM generate_series(1, 10) g;
         INSERT INTO other SELECT g, 'o' FROM generate_series(1, 10) g;",
    );
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET v = 'old shape' WHERE id = 1; UPDATE other SET v = 'o1' WHERE id = 1;");
    // No rewrite of the table (a wider numeric of the same scale): what
    // PostgreSQL keeps of the added column's value in old rows stays.
    c.sql("ALTER TABLE t ADD COLUMN c text, DROP COLUMN gone, ALTER COLUMN d TYPE numeric(12,2);");
    c.sql("UPDATE t SET c = 'new', d = 1234567.25 WHERE id = 2; INSERT INTO t VALUES (11, 'n', 1.5, 'c');");
    c.sql("UPDATE other SET v = 'o2' WHERE id = 2;");
    let out = c.ok(&["delta"]);
    assert!(out.contains("delta (run"), "{out}");
    c.assert_same("public.t", "t", &["id"]);
    c.assert_same("public.other", "other", &["id"]);
    let cols = dest_columns(&mut c.my(), &c.db, "t");
    assert!(cols.iter().all(|x| x.0 != "gone"), "{cols:?}");
    assert!(
        cols.iter().any(|x| x.0 == "d" && x.1 == "decimal(12,2)"),
        "{cols:?}"
    );
    assert!(!hold_slot_exists(&c));
    c.sql("UPDATE t SET c = 'later' WHERE id = 3;");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
}

fn my_tables(c: &MyCase, schedule: &str) {
    c.write_config(&format!("{schedule}\n[[table]]\nname = \"{}.*\"\n", c.src));
}

#[test]
fn mysql_added_dropped_widened_and_renamed_columns_without_a_full_extract() {
    let c = MyCase::new("sync_struct");
    my_tables(&c, "");
    c.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10), n INT, old VARCHAR(20), gone INT NOT NULL DEFAULT 0);
         CREATE TABLE other (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO t VALUES (1, 'a', 1, 'o1', 1), (2, 'b', 2, 'o2', 2), (3, 'c', 3, 'o3', 3), (4, 'd', 4, 'o4', 4);
         INSERT INTO other VALUES (1, 'o'), (2, 'o');",
    );
    c.ok(&["full-extract"]);
    c.sql(
        "UPDATE t SET v = 'before' WHERE id = 1;
         ALTER TABLE t ADD COLUMN extra INT DEFAULT 7, MODIFY v VARCHAR(30), MODIFY n BIGINT, DROP COLUMN gone;
         ALTER TABLE t RENAME COLUMN old TO renamed;
         UPDATE t SET v = 'a value longer than ten', n = 5000000000, extra = 8 WHERE id = 2;
         INSERT INTO t VALUES (5, 'new', 5, 'r5', 5);
         UPDATE other SET v = 'o2' WHERE id = 2;",
    );
    let t = format!("{}.t", c.src);
    let stderr = c.expect(
        &["delta"],
        1,
        &[
            &format!("{t}: structure changed"),
            &format!("ingest sync-struct {t}"),
        ],
    );
    assert!(
        stderr.contains("ALTER TABLE t ADD COLUMN extra"),
        "{stderr}"
    );
    c.assert_same("other", "id");
    c.sql("UPDATE t SET renamed = 'changed while waiting' WHERE id = 3; DELETE FROM t WHERE id = 4; UPDATE other SET v = 'o3' WHERE id = 1;");
    c.expect(&["delta"], 1, &[&format!("{t} is failed")]);
    c.assert_same("other", "id");
    c.ok(&["sync-struct", &t]);
    c.assert_same("t", "id");
    assert_synced(&mut crate::common::my_connect(&c.env), &c.dst);
    c.sql("UPDATE t SET extra = 9, renamed = 'after' WHERE id = 1; INSERT INTO t VALUES (6, 'x', 1, 'y', 2);");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
    c.assert_same("other", "id");

    // A column added with an expression default: what the rows there got
    // cannot be known; said, with the fix.
    c.sql("ALTER TABLE t ADD COLUMN at DATETIME DEFAULT CURRENT_TIMESTAMP;");
    c.expect(&["delta"], 1, &[&format!("ingest sync-struct {t}")]);
    c.expect(
        &["sync-struct"],
        1,
        &["column at was added", &format!("full-extract {t}")],
    );
    c.ok(&["full-extract", &t]);
    c.ok(&["delta"]);
    c.assert_same("t", "id");
}

#[test]
fn mysql_auto_sync_struct_in_a_delta() {
    let c = MyCase::new("auto_struct");
    my_tables(
        &c,
        "[schedule]\nauto_sync_struct = true\non_drop_column = \"drop\"\n",
    );
    c.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10), d DECIMAL(8,2), gone VARCHAR(5));
         CREATE TABLE other (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO t VALUES (1, 'a', 1, 'g'), (2, 'b', 2, 'g'), (3, 'c', 3, 'g');
         INSERT INTO other VALUES (1, 'o'), (2, 'o');",
    );
    c.ok(&["full-extract"]);
    c.sql(
        "UPDATE t SET v = 'old shape' WHERE id = 1; UPDATE other SET v = 'o1' WHERE id = 1;
         ALTER TABLE t ADD COLUMN c VARCHAR(10) DEFAULT 'dflt', DROP COLUMN gone, MODIFY d DECIMAL(12,4);
         ALTER TABLE t CHANGE v vv VARCHAR(20);
         UPDATE t SET c = 'new', d = 1234.5678, vv = 'longer value' WHERE id = 2; INSERT INTO t VALUES (4, 'n', 1.5, 'c');
         UPDATE other SET v = 'o2' WHERE id = 2;",
    );
    c.ok(&["delta"]);
    c.assert_same("t", "id");
    c.assert_same("other", "id");
    let cols = dest_columns(&mut crate::common::my_connect(&c.env), &c.dst, "t");
    assert!(cols.iter().all(|x| x.0 != "gone" && x.0 != "v"), "{cols:?}");
    c.sql("UPDATE t SET c = 'later' WHERE id = 3;");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
}

/// Kills at each step: a delta killed after it recorded the batch that
/// stopped the table (sync-struct then waits for that batch to be merged),
/// and sync-struct killed after it changed the destination but before it
/// recorded anything, then again after the catch-up merged: each time the
/// next run finishes, and the table equals the source. A column dropped
/// and added again under its name is a new column (its attnum).
#[test]
fn postgres_sync_struct_survives_kills_and_tells_a_re_added_column_apart() {
    let c = Case::new("struct_kill");
    c.write_config(
        "[schedule]\non_drop_column = \"drop\"\n\n[[table]]\nname = \"public.*\"\n",
        "",
    );
    c.sql(
        "CREATE TABLE t (id int PRIMARY KEY, a text, b int);
         INSERT INTO t SELECT g, 'a' || g, g FROM generate_series(1, 30) g;",
    );
    c.ok(&["full-extract"]);
    c.sql(
        "UPDATE t SET a = 'old shape' WHERE id = 1;
         ALTER TABLE t DROP COLUMN a; ALTER TABLE t ADD COLUMN a text;
         UPDATE t SET a = 'new a', b = -2 WHERE id = 2; INSERT INTO t VALUES (31, 31, 'x');",
    );
    c.kill_at(&["delta"], "recorded");
    c.expect(
        &["sync-struct"],
        2,
        &["waits to be merged", "run `ingest delta` first"],
    );
    c.expect(&["delta"], 1, &["ingest sync-struct public.t"]);
    c.sql("UPDATE t SET b = -3 WHERE id = 3;");
    c.expect(
        &["delta"],
        1,
        &["its changes wait for `ingest sync-struct public.t`"],
    );
    c.kill_at(&["sync-struct"], "recorded");
    c.kill_at(&["sync-struct"], "merged");
    c.ok(&["sync-struct"]);
    // The old `a` values are gone with the old column: the rows there have
    // NULL in the new one, as at the source.
    c.assert_same("public.t", "t", &["id"]);
    c.sql("UPDATE t SET a = 'later' WHERE id = 4;");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
}
