//! `keyless = true`: tables without a key, duplicate rows included, on
//! both sources: deletes and updates of one copy among equal rows, an
//! update that changes nothing, NULLs, long values equal up to their last
//! character, a TRUNCATE; a batch merged again after a kill between the
//! destination's commit and state.db is not counted twice; rollback and a
//! PostgreSQL table without REPLICA IDENTITY FULL are refused with the fix.

use mysql::prelude::Queryable;

use crate::common::{my_connect, Case, MyCase};

type Row = (Option<i32>, Option<String>);

fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort();
    rows
}

fn dest(my: &mut mysql::Conn, db: &str) -> Vec<Row> {
    sorted(my.query(format!("SELECT a, b FROM `{db}`.log")).unwrap())
}

/// The rows every step leaves at the source (as a sorted multiset).
fn long(last: char) -> String {
    format!("{}{last}", "L".repeat(1999))
}

#[test]
fn postgres_keyless_tables_count_duplicate_rows() {
    let c = Case::new("keyless");
    c.write_config("[[table]]\nname = \"public.log\"\nkeyless = true\n", "");
    c.sql("CREATE TABLE log (a int, b text)");
    // Deletes and updates must carry whole rows.
    c.expect(
        &["check"],
        2,
        &["public.log is keyless", "REPLICA IDENTITY FULL"],
    );
    c.sql(&format!(
        "ALTER TABLE log REPLICA IDENTITY FULL;
         INSERT INTO log VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, 'y'), (3, NULL), (3, NULL), (NULL, NULL),
           (4, '{}'), (4, '{}');",
        long('a'),
        long('b')
    ));
    assert!(c
        .ok(&["check"])
        .contains("key none: rows counted (keyless)"));
    c.ok(&["full-extract"]);
    let mut my = c.my();
    let source = || {
        let mut pg = c.pg();
        sorted(
            pg.query("SELECT a, b FROM log", &[])
                .unwrap()
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
        )
    };
    assert_eq!(dest(&mut my, &c.db), source());
    let one = |cond: &str, then: &str| {
        c.sql(&format!(
            "WITH o AS (SELECT ctid FROM log WHERE {cond} LIMIT 1) {then} WHERE ctid IN (SELECT ctid FROM o)"
        ))
    };
    one("a = 1", "DELETE FROM log");
    one("a = 2", "UPDATE log SET b = 'z'");
    one("a = 3", "UPDATE log SET b = 'w'");
    one(&format!("b = '{}'", long('b')), "DELETE FROM log");
    c.sql("INSERT INTO log VALUES (1, 'x'), (1, 'x'); UPDATE log SET a = a WHERE a = 1;");
    c.kill_at(&["delta"], "committed");
    c.ok(&["delta"]);
    let after = source();
    assert_eq!(after.iter().filter(|r| r.0 == Some(1)).count(), 4);
    assert_eq!(dest(&mut my, &c.db), after);

    c.sql("INSERT INTO log VALUES (9, 'gone'); TRUNCATE log; INSERT INTO log VALUES (5, 'q'), (5, 'q');");
    c.sql("DELETE FROM log WHERE ctid IN (SELECT ctid FROM log LIMIT 1)");
    c.kill_at(&["delta"], "mid-merge");
    c.ok(&["delta"]);
    assert_eq!(dest(&mut my, &c.db), vec![(Some(5), Some("q".into()))]);
    c.expect(&["rollback", "--to", "1"], 2, &["keyless", "full-extract"]);
    // A generated column could not be read back without a key: refused.
    c.sql(
        "CREATE TABLE gen (a int, g int GENERATED ALWAYS AS (a * 2) STORED);
         ALTER TABLE gen REPLICA IDENTITY FULL;",
    );
    c.write_config("[[table]]\nname = \"public.gen\"\nkeyless = true\n", "");
    c.expect(
        &["check"],
        2,
        &["public.gen is keyless and has the generated column g"],
    );
}

#[test]
fn mysql_keyless_tables_count_duplicate_rows() {
    let c = MyCase::new("keyless");
    c.write_config(&format!(
        "[[table]]\nname = \"{}.log\"\nkeyless = true\n",
        c.src
    ));
    c.sql(&format!(
        "CREATE TABLE log (a INT, b TEXT);
         INSERT INTO log VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, 'y'), (3, NULL), (3, NULL), (NULL, NULL),
           (4, '{}'), (4, '{}');",
        long('a'),
        long('b')
    ));
    c.ok(&["full-extract"]);
    let mut my = my_connect(&c.env);
    let src = c.src.clone();
    let env = c.env.clone();
    let source = move || {
        let mut my = my_connect(&env);
        sorted(my.query(format!("SELECT a, b FROM `{src}`.log")).unwrap())
    };
    assert_eq!(dest(&mut my, &c.dst), source());
    c.sql(&format!(
        "DELETE FROM log WHERE a = 1 LIMIT 1;
         UPDATE log SET b = 'z' WHERE a = 2 LIMIT 1;
         UPDATE log SET b = 'w' WHERE a = 3 LIMIT 1;
         DELETE FROM log WHERE b = '{}' LIMIT 1;
         INSERT INTO log VALUES (1, 'x'), (1, 'x');
         UPDATE log SET a = a WHERE a = 1;",
        long('b')
    ));
    c.kill_at(&["delta"], "committed");
    c.ok(&["delta"]);
    let after = source();
    assert_eq!(after.iter().filter(|r| r.0 == Some(1)).count(), 4);
    assert_eq!(dest(&mut my, &c.dst), after);

    c.sql(
        "INSERT INTO log VALUES (9, 'gone'); TRUNCATE log; INSERT INTO log VALUES (5, 'q'), (5, 'q');
         DELETE FROM log LIMIT 1;",
    );
    c.kill_at(&["delta"], "mid-merge");
    c.ok(&["delta"]);
    assert_eq!(dest(&mut my, &c.dst), vec![(Some(5), Some("q".into()))]);
    c.expect(&["rollback", "--to", "1"], 2, &["keyless", "full-extract"]);
}
