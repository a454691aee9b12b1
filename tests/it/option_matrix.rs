//! Every table option on both sources, through the same changes: inserts,
//! updates, key changes, deletes, then a TRUNCATE of each table and new
//! rows, with the destination options `staging_schema`,
//! `retain_staging` and `truncate_instead_of_drop` set. The destination is
//! compared with the expected rows after each delta, and after a full
//! extract again at the end.

use mysql::prelude::Queryable;

use crate::common::{my_connect, Bin, Case, MyCase};

type Rows = Vec<Vec<Option<String>>>;

fn rows(my: &mut mysql::Conn, db: &str, table: &str) -> Rows {
    let got: Vec<mysql::Row> = my
        .query(format!("SELECT * FROM `{db}`.`{table}` ORDER BY 1"))
        .unwrap();
    got.into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql::Value::NULL => None,
                    mysql::Value::Bytes(b) => Some(String::from_utf8(b).unwrap()),
                    other => Some(other.as_sql(true)),
                })
                .collect()
        })
        .collect()
}

fn r(vals: &[Option<&str>]) -> Vec<Option<String>> {
    vals.iter().map(|v| v.map(String::from)).collect()
}

const CREATE: &str = "CREATE TABLE m (id INT PRIMARY KEY, v VARCHAR(20), ssn VARCHAR(20));
    CREATE TABLE w (id INT PRIMARY KEY, v VARCHAR(20), region VARCHAR(4));
    CREATE TABLE s (id INT PRIMARY KEY, v VARCHAR(20));
    CREATE TABLE tc (id INT PRIMARY KEY, code VARCHAR(10));
    INSERT INTO m VALUES (1, 'a', '111'), (2, 'b', '222');
    INSERT INTO w VALUES (1, 'a', 'EU'), (2, 'b', 'US'), (3, 'c', 'EU');
    INSERT INTO s VALUES (1, 'a'), (2, 'b');
    INSERT INTO tc VALUES (1, '7'), (2, '8');";

const CHANGES: &str = "INSERT INTO m VALUES (3, 'c', '333'); UPDATE m SET v = 'a2', ssn = '999' WHERE id = 1;
    UPDATE m SET id = 20 WHERE id = 2;
    INSERT INTO w VALUES (4, 'd', 'US'); UPDATE w SET v = 'a2' WHERE id = 1; UPDATE w SET id = 30 WHERE id = 3;
    DELETE FROM w WHERE id = 2;
    INSERT INTO s VALUES (3, 'c'); UPDATE s SET id = 10 WHERE id = 1; DELETE FROM s WHERE id = 2;
    INSERT INTO tc VALUES (3, '9'); UPDATE tc SET id = 20, code = '10' WHERE id = 2; DELETE FROM tc WHERE id = 1;";

const AGAIN: &str = "TRUNCATE TABLE m; TRUNCATE TABLE w; TRUNCATE TABLE s; TRUNCATE TABLE tc;
    INSERT INTO m VALUES (5, 'e', '555'); INSERT INTO w VALUES (5, 'e', 'US');
    INSERT INTO s VALUES (5, 'e'); INSERT INTO tc VALUES (5, '12');";

fn tables(s: &str) -> String {
    format!(
        "[[table]]\nname = \"{s}.m\"\nmask = [\"ssn\"]\n\n\
         [[table]]\nname = \"{s}.w\"\nwhere = \"region = 'EU'\"\n\n\
         [[table]]\nname = \"{s}.s\"\nskip_initial = true\n\n\
         [[table]]\nname = \"{s}.tc\"\ntype_change = {{ code = \"@I\" }}\n"
    )
}

fn scenario(bin: &Bin, sql: &dyn Fn(&str), db: &str, stg: &str) {
    let mut my = my_connect(&crate::common::env());
    sql(CREATE);
    bin.ok(&["full-extract"]);
    assert_eq!(
        rows(&mut my, db, "w"),
        vec![
            r(&[Some("1"), Some("a"), Some("EU")]),
            r(&[Some("3"), Some("c"), Some("EU")])
        ]
    );
    assert!(rows(&mut my, db, "s").is_empty());
    sql(CHANGES);
    bin.ok(&["delta"]);
    let after = [
        (
            "m",
            vec![
                r(&[Some("1"), Some("a2"), None]),
                r(&[Some("3"), Some("c"), None]),
                r(&[Some("20"), Some("b"), None]),
            ],
        ),
        (
            "w",
            vec![
                r(&[Some("1"), Some("a2"), Some("EU")]),
                r(&[Some("4"), Some("d"), Some("US")]),
                r(&[Some("30"), Some("c"), Some("EU")]),
            ],
        ),
        (
            "s",
            vec![r(&[Some("3"), Some("c")]), r(&[Some("10"), Some("a")])],
        ),
        (
            "tc",
            vec![r(&[Some("3"), Some("9")]), r(&[Some("20"), Some("10")])],
        ),
    ];
    for (t, want) in &after {
        assert_eq!(&rows(&mut my, db, t), want, "{t} after the changes");
    }
    // retain_staging: the helper tables of staging_schema keep the lines.
    let kept: i64 = my
        .query_first(format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{stg}'"
        ))
        .unwrap()
        .unwrap();
    assert!(kept >= 1, "no helper table in {stg}");

    sql(AGAIN);
    bin.ok(&["delta"]);
    let last = [
        ("m", vec![r(&[Some("5"), Some("e"), None])]),
        ("w", vec![r(&[Some("5"), Some("e"), Some("US")])]),
        ("s", vec![r(&[Some("5"), Some("e")])]),
        ("tc", vec![r(&[Some("5"), Some("12")])]),
    ];
    for (t, want) in &last {
        assert_eq!(&rows(&mut my, db, t), want, "{t} after the TRUNCATE");
    }
    // A full extract again (truncate_instead_of_drop: in place): the same
    // rows, but for `w`, whose `where` leaves the US row out now, and `s`,
    // kept as it is (skip_initial).
    bin.ok(&["full-extract"]);
    for (t, want) in &last {
        let want = if *t == "w" { vec![] } else { want.clone() };
        assert_eq!(rows(&mut my, db, t), want, "{t} after a full extract");
    }
}

const DEST: &str = "retain_staging = true\ntruncate_instead_of_drop = true\nstaging_schema = ";

#[test]
fn postgres_every_table_option_through_key_changes_and_truncate() {
    let c = Case::new("option_matrix");
    let stg = format!("{}_stg", c.db);
    c.my()
        .query_drop(format!("DROP DATABASE IF EXISTS `{stg}`"))
        .unwrap();
    c.write_config(&tables("public"), &format!("{DEST}\"{stg}\""));
    let sql = |s: &str| c.sql(s);
    scenario(&c, &sql, &c.db, &stg);
}

#[test]
fn mysql_every_table_option_through_key_changes_and_truncate() {
    let c = MyCase::new("option_matrix");
    let stg = format!("{}_stg", c.dst);
    my_connect(&c.env)
        .query_drop(format!("DROP DATABASE IF EXISTS `{stg}`"))
        .unwrap();
    c.write_config(&tables(&c.src));
    let path = c.dir.join("ingest.toml");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "load_threads = 2",
        &format!("load_threads = 2\n{DEST}\"{stg}\""),
        1,
    );
    std::fs::write(&path, text).unwrap();
    let sql = |s: &str| c.sql(s);
    scenario(&c, &sql, &c.dst, &stg);
}
