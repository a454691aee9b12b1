//! `[[table]]` options: `mask`, `where`, `skip_initial`, `redo_initial`,
//! on both sources: what `check` says, what the full extract and the deltas
//! land, row by row.

use mysql::prelude::Queryable;

use crate::common::{my_connect, Case, MyCase};

type Row = (i32, Option<String>, Option<String>, Option<String>);

fn dest_rows(my: &mut mysql::Conn, db: &str, table: &str) -> Vec<Row> {
    my.query(format!(
        "SELECT id, name, ssn, region FROM `{db}`.`{table}` ORDER BY id"
    ))
    .unwrap()
}

fn row(id: i32, name: &str, region: &str) -> Row {
    (id, Some(name.into()), None, Some(region.into()))
}

fn ids(my: &mut mysql::Conn, db: &str, table: &str) -> Vec<(i32, String)> {
    my.query(format!("SELECT id, v FROM `{db}`.`{table}` ORDER BY id"))
        .unwrap()
}

/// The changes both sources make after the full extract: an insert outside
/// the filter, an update of a masked value, a delete; in `logs` (never
/// loaded) an insert, an update and a delete.
const CHANGES: &str = "INSERT INTO people VALUES (5, 'eve', '555', 'US');
     UPDATE people SET name = 'ann2', ssn = '999' WHERE id = 1;
     UPDATE people SET name = 'dan2' WHERE id = 4;
     DELETE FROM people WHERE id = 3;
     INSERT INTO logs VALUES (4, 'new 4'); UPDATE logs SET v = 'changed 1' WHERE id = 1;
     DELETE FROM logs WHERE id = 2;";

/// Deltas are not filtered; masked values never land; a table without its
/// initial load has the changes from its selection on.
fn assert_after_delta(my: &mut mysql::Conn, db: &str) {
    assert_eq!(
        dest_rows(my, db, "people"),
        vec![
            row(1, "ann2", "EU"),
            row(4, "dan2", "US"),
            row(5, "eve", "US")
        ]
    );
    assert_eq!(
        ids(my, db, "logs"),
        vec![(1, "changed 1".into()), (4, "new 4".into())]
    );
}

const OPTIONS: &str = "[[table]]\nname = \"{S}.*\"\n\n\
    [[table]]\nname = \"{S}.people\"\nmask = [\"ssn\"]\nwhere = \"region = 'EU'\"\n\n\
    [[table]]\nname = \"{S}.logs\"\nskip_initial = true\n";

#[test]
fn postgres_mask_where_skip_initial_and_redo_initial() {
    let c = Case::new("table_options");
    let tables = OPTIONS.replace("{S}", "public");
    c.write_config(&tables, "");
    c.sql(
        "CREATE TABLE people (id int PRIMARY KEY, name text, ssn text, region text);
         INSERT INTO people VALUES (1, 'ann', '111', 'EU'), (2, 'bob', '222', 'US'),
           (3, 'cid', '333', 'EU'), (4, 'dan', '444', 'US');
         CREATE TABLE logs (id int PRIMARY KEY, v text);
         INSERT INTO logs VALUES (1, 'old 1'), (2, 'old 2'), (3, 'old 3');
         CREATE TABLE plain (id int PRIMARY KEY, v text);
         INSERT INTO plain VALUES (1, 'p1'), (2, 'p2');",
    );
    let check = c.ok(&["check"]);
    assert!(
        check.contains("initial extract where region = 'EU'; masked ssn")
            && check.contains("public.logs -> ")
            && check.contains("no initial extract"),
        "{check}"
    );
    c.ok(&["full-extract"]);
    let mut my = c.my();
    assert_eq!(
        dest_rows(&mut my, &c.db, "people"),
        vec![row(1, "ann", "EU"), row(3, "cid", "EU")]
    );
    let ssn: (String, String) = my
        .exec_first(
            "SELECT COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'people' AND COLUMN_NAME = 'ssn'",
            (&c.db,),
        )
        .unwrap()
        .unwrap();
    assert_eq!(ssn, ("varchar(1)".into(), "YES".into()));
    assert!(ids(&mut my, &c.db, "logs").is_empty());
    c.assert_same("public.plain", "plain", &["id"]);

    c.sql(CHANGES);
    c.ok(&["delta"]);
    assert_after_delta(&mut my, &c.db);

    // redo_initial: the next sync-new-tables loads `plain` again, once.
    my.query_drop(format!("UPDATE `{}`.plain SET v = 'damaged'", c.db))
        .unwrap();
    let redo = format!("{tables}\n[[table]]\nname = \"public.plain\"\nredo_initial = true\n");
    c.write_config(&redo, "");
    let out = c.ok(&["sync-new-tables"]);
    assert!(out.contains("sync-new-tables (run"), "{out}");
    c.assert_same("public.plain", "plain", &["id"]);
    my.query_drop(format!("UPDATE `{}`.plain SET v = 'damaged again'", c.db))
        .unwrap();
    assert!(c
        .ok(&["sync-new-tables"])
        .contains("no newly selected table"));
    // Taken off and set again: asked again.
    c.write_config(&tables, "");
    c.ok(&["sync-new-tables"]);
    c.write_config(&redo, "");
    c.ok(&["sync-new-tables"]);
    c.assert_same("public.plain", "plain", &["id"]);

    // A mask set on a table already loaded: its old values would stay at
    // the destination; the table fails with the fix.
    c.write_config(
        &format!("{tables}\n[[table]]\nname = \"public.plain\"\nmask = [\"v\"]\n"),
        "",
    );
    c.expect(
        &["delta"],
        1,
        &[
            "the mask or type_change of column v changed",
            "full-extract public.plain",
        ],
    );
    c.ok(&["full-extract", "public.plain"]);
    c.ok(&["delta"]);

    // Mistakes are named before anything runs.
    c.write_config(
        "[[table]]\nname = \"public.people\"\nwhere = \"no_such_column = 1\"\n",
        "",
    );
    c.expect(
        &["check"],
        2,
        &[
            "table public.people: where = \"no_such_column = 1\"",
            "no_such_column",
        ],
    );
    c.write_config("[[table]]\nname = \"public.people\"\nmask = [\"id\"]\n", "");
    c.expect(&["check"], 2, &["mask names key column id"]);
    c.write_config(
        "[[table]]\nname = \"public.people\"\nmask = [\"nope\"]\n",
        "",
    );
    c.expect(&["check"], 2, &["mask names column nope"]);
}

#[test]
fn mysql_mask_where_and_skip_initial() {
    let c = MyCase::new("table_options");
    c.write_config(&OPTIONS.replace("{S}", &c.src));
    c.sql(
        "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(20), ssn VARCHAR(20), region VARCHAR(4));
         INSERT INTO people VALUES (1, 'ann', '111', 'EU'), (2, 'bob', '222', 'US'),
           (3, 'cid', '333', 'EU'), (4, 'dan', '444', 'US');
         CREATE TABLE logs (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO logs VALUES (1, 'old 1'), (2, 'old 2'), (3, 'old 3');",
    );
    let check = c.ok(&["check"]);
    assert!(
        check.contains("masked ssn") && check.contains("no initial extract"),
        "{check}"
    );
    c.ok(&["full-extract"]);
    let mut my = my_connect(&c.env);
    assert_eq!(
        dest_rows(&mut my, &c.dst, "people"),
        vec![row(1, "ann", "EU"), row(3, "cid", "EU")]
    );
    assert!(ids(&mut my, &c.dst, "logs").is_empty());
    c.sql(CHANGES);
    c.ok(&["delta"]);
    assert_after_delta(&mut my, &c.dst);
    c.write_config(&format!(
        "[[table]]\nname = \"{}.people\"\nwhere = \"region = \"\n",
        c.src
    ));
    c.expect(
        &["check"],
        2,
        &[&format!("table {}.people: where = \"region = \"", c.src)],
    );
}

/// Generated columns land with their values: PostgreSQL (stored; its
/// logical replication leaves them out, so deltas read them from the source
/// by key) and MariaDB (stored and virtual).
#[test]
fn generated_columns_are_replicated_on_both_sources() {
    let c = Case::new("generated");
    c.write_config("[[table]]\nname = \"public.*\"\n", "");
    c.sql(
        "CREATE TABLE g (id int PRIMARY KEY, price numeric(10,2), qty int,
           total numeric GENERATED ALWAYS AS (price * qty) STORED, note text,
           label text GENERATED ALWAYS AS (upper(note)) STORED);
         INSERT INTO g (id, price, qty, note) SELECT x, x * 1.5, x, 'n' || x FROM generate_series(1, 10) x;",
    );
    c.ok(&["full-extract"]);
    c.assert_same("public.g", "g", &["id"]);
    c.sql(
        "INSERT INTO g (id, price, qty, note) VALUES (11, 2.25, 4, 'new');
         UPDATE g SET qty = qty + 1 WHERE id <= 3;
         UPDATE g SET id = 100, note = 'moved' WHERE id = 5;
         DELETE FROM g WHERE id = 7;
         INSERT INTO g (id, price, qty, note) VALUES (12, 1, 1, 'gone soon');
         DELETE FROM g WHERE id = 12;",
    );
    c.ok(&["delta"]);
    c.assert_same("public.g", "g", &["id"]);
    // A generated column dropped (nothing in the change log says so): the
    // table fails with the fix instead of reading it back in vain.
    c.sql("ALTER TABLE g DROP COLUMN label; UPDATE g SET note = 'after' WHERE id = 1;");
    c.expect(
        &["delta"],
        1,
        &["its generated columns changed", "full-extract public.g"],
    );
    c.ok(&["full-extract", "public.g"]);
    c.ok(&["delta"]);
    c.assert_same("public.g", "g", &["id"]);
    // The key of a table cannot be a generated column: named.
    c.sql("CREATE TABLE gk (a int, k int GENERATED ALWAYS AS (a * 2) STORED PRIMARY KEY);");
    c.expect(
        &["check"],
        2,
        &["table public.gk: key column k is generated"],
    );

    let m = MyCase::new("generated");
    m.write_config(&format!("[[table]]\nname = \"{}.*\"\n", m.src));
    m.sql(
        "CREATE TABLE g (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT,
           total DECIMAL(12,2) AS (price * qty) STORED, note VARCHAR(20),
           label VARCHAR(20) AS (UPPER(note)) VIRTUAL);
         INSERT INTO g (id, price, qty, note) VALUES (1, 1.5, 1, 'a'), (2, 3, 2, 'b'), (3, 4.5, 3, 'c');",
    );
    m.ok(&["full-extract"]);
    m.assert_same("g", "id");
    m.sql(
        "INSERT INTO g (id, price, qty, note) VALUES (4, 2.25, 4, 'new');
         UPDATE g SET qty = qty + 1, note = 'changed' WHERE id = 1;
         UPDATE g SET id = 100 WHERE id = 2;
         DELETE FROM g WHERE id = 3;",
    );
    m.ok(&["delta"]);
    m.assert_same("g", "id");
}

type Converted = (
    i32,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<f64>,
);

fn converted(my: &mut mysql::Conn, db: &str, table: &str) -> Vec<Converted> {
    my.query(format!(
        "SELECT id, code, CAST(day AS CHAR), CAST(at AS CHAR), amount FROM `{db}`.`{table}` ORDER BY id"
    ))
    .unwrap()
}

fn types(my: &mut mysql::Conn, db: &str, table: &str) -> Vec<String> {
    my.exec(
        "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
         ORDER BY ORDINAL_POSITION",
        (db, table),
    )
    .unwrap()
}

const TYPE_CHANGE: &str = "type_change = { code = \"@I\", day = \"@D(yyyyMMdd)\", \
    at = \"@T(yyyy-MM-dd HH:mm:ss)\", amount = \"@F\" }";

const CONVERT_ROWS: &str =
    "INSERT INTO tc VALUES (1, '42', '20240229', '2024-01-02 03:04:05', '1.5'),
       (2, 'x', '20230230', 'bad', 'abc');
     INSERT INTO tf VALUES (1, '1', '20240101', '2024-01-01 00:00:00', '1');";

const CONVERT_CHANGES: &str =
    "INSERT INTO tc VALUES (3, '7', '20240101', '2024-05-06 07:08:09', '2.25');
     UPDATE tc SET code = '43' WHERE id = 1;
     INSERT INTO tc VALUES (4, 'bad', 'bad', 'bad', 'bad'); DELETE FROM tc WHERE id = 4;
     INSERT INTO tf VALUES (2, 'not a number', '20240101', '2024-01-01 00:00:00', '1');";

/// What both sources land: converted values, NULL with a warning for those
/// that do not convert (`tc`), and a failed table for `tf` (`on_bad_value
/// = "fail"`), named with the column, value and key.
fn check_converted(c: &crate::common::Bin, my: &mut mysql::Conn, db: &str, tf: &str) {
    assert_eq!(
        types(my, db, "tc"),
        ["int(11)", "int(11)", "date", "datetime", "double"]
    );
    let row1 = (
        1,
        Some(42),
        Some("2024-02-29".into()),
        Some("2024-01-02 03:04:05".into()),
        Some(1.5),
    );
    assert_eq!(
        converted(my, db, "tc"),
        vec![row1.clone(), (2, None, None, None, None)]
    );
    let status = c.ok(&["status"]);
    assert!(
        status.contains("value its type_change does not convert"),
        "{status}"
    );
    c.expect(
        &["delta"],
        1,
        &[&format!(
            "{tf}.code: value 'not a number' (key 2) does not convert by type_change @I"
        )],
    );
    assert_eq!(
        converted(my, db, "tc"),
        vec![
            (1, Some(43), row1.2, row1.3, row1.4),
            (2, None, None, None, None),
            (
                3,
                Some(7),
                Some("2024-01-01".into()),
                Some("2024-05-06 07:08:09".into()),
                Some(2.25)
            ),
        ]
    );
}

#[test]
fn type_change_converts_in_initial_and_delta_loads_on_both_sources() {
    let c = Case::new("type_change");
    c.write_config(
        &format!(
            "[[table]]\nname = \"public.*\"\n\n[[table]]\nname = \"public.tc\"\n{TYPE_CHANGE}\n\n\
             [[table]]\nname = \"public.tf\"\n{TYPE_CHANGE}\non_bad_value = \"fail\"\n"
        ),
        "",
    );
    c.sql(
        "CREATE TABLE tc (id int PRIMARY KEY, code text, day text, at text, amount text);
         CREATE TABLE tf (id int PRIMARY KEY, code text, day text, at text, amount text);",
    );
    c.sql(CONVERT_ROWS);
    c.ok(&["full-extract"]);
    c.sql(CONVERT_CHANGES);
    check_converted(&c, &mut c.my(), &c.db, "public.tf");

    let m = MyCase::new("type_change");
    m.write_config(&format!(
        "[[table]]\nname = \"{0}.*\"\n\n[[table]]\nname = \"{0}.tc\"\n{TYPE_CHANGE}\n\n\
         [[table]]\nname = \"{0}.tf\"\n{TYPE_CHANGE}\non_bad_value = \"fail\"\n",
        m.src
    ));
    m.sql(
        "CREATE TABLE tc (id INT PRIMARY KEY, code VARCHAR(20), day VARCHAR(20), at VARCHAR(30), amount VARCHAR(20));
         CREATE TABLE tf (id INT PRIMARY KEY, code VARCHAR(20), day VARCHAR(20), at VARCHAR(30), amount VARCHAR(20));",
    );
    m.sql(CONVERT_ROWS);
    m.ok(&["full-extract"]);
    m.sql(CONVERT_CHANGES);
    check_converted(
        &m,
        &mut my_connect(&m.env),
        &m.dst,
        &format!("{}.tf", m.src),
    );
    m.write_config(&format!(
        "[[table]]\nname = \"{}.tc\"\ntype_change = {{ code = \"@Q\" }}\n",
        m.src
    ));
    m.expect(
        &["check"],
        2,
        &["table[1].type_change.code", "@Q is not one of"],
    );
    m.write_config(&format!(
        "[[table]]\nname = \"{}.tc\"\ntype_change = {{ id = \"@L\" }}\n",
        m.src
    ));
    m.expect(&["check"], 2, &["type_change of key column id"]);
}

/// `truncate_instead_of_drop`: a full extract again empties the target and
/// loads it in place, so an index a user added stays; the default swaps a
/// new table in (the index goes with the old one).
#[test]
fn truncate_instead_of_drop_keeps_the_users_index() {
    let c = Case::new("in_place");
    c.write_config(
        "[[table]]\nname = \"public.*\"\n",
        "truncate_instead_of_drop = true",
    );
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g;");
    c.ok(&["full-extract"]);
    let mut my = c.my();
    my.query_drop(format!("CREATE INDEX users_idx ON `{}`.t (v(8))", c.db))
        .unwrap();
    let has_index = |my: &mut mysql::Conn| -> bool {
        let n: Option<i64> = my
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? \
                 AND TABLE_NAME = 't' AND INDEX_NAME = 'users_idx'",
                (&c.db,),
            )
            .unwrap();
        n.unwrap_or(0) > 0
    };
    c.sql("DELETE FROM t WHERE id > 40; INSERT INTO t VALUES (100, 'new'); UPDATE t SET v = 'x' WHERE id = 1;");
    c.ok(&["full-extract", "public.t"]);
    c.assert_same("public.t", "t", &["id"]);
    assert!(
        has_index(&mut my),
        "truncate_instead_of_drop kept the table"
    );
    c.sql("INSERT INTO t VALUES (101, 'later');");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    // The default: a new table swapped in.
    c.write_config("[[table]]\nname = \"public.*\"\n", "");
    c.ok(&["full-extract", "public.t"]);
    c.assert_same("public.t", "t", &["id"]);
    assert!(!has_index(&mut my));
}

/// `staging_schema`: the delta's helper tables live in a database of their
/// own, named after the target's database and table; merges still land.
#[test]
fn staging_schema_holds_the_helper_tables() {
    let c = Case::new("staging");
    let stg = format!("{}_stg", c.db);
    c.my()
        .query_drop(format!("DROP DATABASE IF EXISTS `{stg}`"))
        .unwrap();
    c.write_config(
        "[[table]]\nname = \"public.*\"\n",
        &format!("staging_schema = \"{stg}\""),
    );
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 20) g;");
    c.ok(&["full-extract"]);
    // A key changed twice in one batch: the staged merge, not the direct load.
    c.sql("UPDATE t SET v = 'a' WHERE id = 1; UPDATE t SET v = 'b' WHERE id = 1; DELETE FROM t WHERE id = 2; INSERT INTO t VALUES (21, 'n');");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    let tables = |db: &str| -> Vec<String> {
        c.my()
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1",
                (db,),
            )
            .unwrap()
    };
    assert_eq!(tables(&c.db), vec!["t".to_string()]);
    let stage = format!("{}__t__ingest_delta", c.db);
    assert_eq!(tables(&stg), vec![stage.clone()]);
    let staged = || -> i64 {
        c.my()
            .query_first(format!("SELECT COUNT(*) FROM `{stg}`.`{stage}`"))
            .unwrap()
            .unwrap()
    };
    // Emptied once merged, unless `retain_staging`.
    assert_eq!(staged(), 0);
    c.write_config(
        "[[table]]\nname = \"public.*\"\n",
        &format!("staging_schema = \"{stg}\"\nretain_staging = true"),
    );
    // Two deletes: their D lines are staged.
    c.sql("DELETE FROM t WHERE id IN (5, 6);");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    assert_eq!(staged(), 2);
}

/// `ignore_database_name` and `add_database_prefix`: the destination
/// database of `public.t` is `<prefix>public`.
#[test]
fn destination_database_names_follow_the_prefix_rules() {
    let c = Case::new("names");
    c.write_config("[[table]]\nname = \"public.*\"\n", "");
    let path = c.config_path();
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("schema_for_all_tables = \"{}\"", c.db),
        &format!(
            "add_database_prefix = \"{}_\"\nignore_database_name = true",
            c.db
        ),
    );
    std::fs::write(&path, text).unwrap();
    let dest_db = format!("{}_public", c.db);
    c.my()
        .query_drop(format!("DROP DATABASE IF EXISTS `{dest_db}`"))
        .unwrap();
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');");
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET v = 'c' WHERE id = 2;");
    c.ok(&["delta"]);
    let src = c.source_rows("public.t", &["id"]);
    let dst = c.dest_rows_in(&dest_db, "public.t", "t", &["id"]);
    crate::common::assert_maps_equal("public.t", &src, &dst);
}

/// PostgreSQL 18: the publication is made with
/// `publish_generated_columns = stored`, so changes carry generated values
/// as they were; a history table with a generated column keeps each
/// version's own value (before 18 such a table is refused: read back after
/// the slot, every version would get the value of the moment of reading).
#[test]
fn postgres_18_publishes_generated_columns() {
    let c = Case::new_pg18("generated18");
    c.write_config(
        "[[table]]\nname = \"public.g\"\n\n[[table]]\nname = \"public.h\"\nhistory = true\n",
        "",
    );
    c.sql(
        "CREATE TABLE g (id int PRIMARY KEY, price numeric(10,2), qty int,
           total numeric GENERATED ALWAYS AS (price * qty) STORED, note text);
         CREATE TABLE h (id int PRIMARY KEY, qty int, twice int GENERATED ALWAYS AS (qty * 2) STORED);
         INSERT INTO g (id, price, qty, note) SELECT x, x * 1.5, x, 'n' || x FROM generate_series(1, 10) x;
         INSERT INTO h (id, qty) VALUES (1, 1);",
    );
    c.ok(&["full-extract"]);
    let gencols: String = c
        .pg()
        .query_one(
            "SELECT pubgencols::text FROM pg_publication WHERE pubname = $1",
            &[&c.db],
        )
        .unwrap()
        .get(0);
    assert_eq!(gencols, "s");
    c.assert_same("public.g", "g", &["id"]);
    c.sql(
        "INSERT INTO g (id, price, qty, note) VALUES (11, 2.25, 4, 'new');
         UPDATE g SET qty = qty + 1 WHERE id <= 3;
         UPDATE g SET id = 100, note = 'moved' WHERE id = 5;
         DELETE FROM g WHERE id = 7;",
    );
    // Three versions of h in one batch, then the row changes again before
    // the delta reads anything: each version keeps its own `twice`.
    c.sql("UPDATE h SET qty = 2 WHERE id = 1");
    c.sql("UPDATE h SET qty = 3 WHERE id = 1");
    c.ok(&["delta"]);
    c.assert_same("public.g", "g", &["id"]);
    let mut my = c.my();
    let versions: Vec<(i32, i32, String)> = my
        .query(format!(
            "SELECT qty, twice, ingest_op FROM `{}`.h ORDER BY ingest_start",
            c.db
        ))
        .unwrap();
    assert_eq!(
        versions,
        vec![(1, 2, "I".into()), (2, 4, "U".into()), (3, 6, "U".into())]
    );

    // The same history table on PostgreSQL before 18 is refused.
    let old = Case::new("generated_hist");
    old.write_config("[[table]]\nname = \"public.h\"\nhistory = true\n", "");
    old.sql("CREATE TABLE h (id int PRIMARY KEY, qty int, twice int GENERATED ALWAYS AS (qty * 2) STORED);");
    old.expect(
        &["check"],
        2,
        &["public.h keeps history and has the generated column twice"],
    );
}
