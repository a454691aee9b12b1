//! `ingest verify`: equal tables say so (exit 0) on both sources, with
//! values whose text differs between the servers (floats, decimals,
//! timestamps, padded CHAR, binary), values the destination cannot hold,
//! history and keyless tables, 5,000 random doubles and floats over their
//! whole range; each column changed at the destination, a
//! row missing and a row extra are found (exit 1), `--rows` names their
//! keys and `--where` limits both sides.

use mysql::prelude::Queryable;

use crate::common::{my_connect, Case, MyCase};

/// Runs `verify` expecting a difference; returns stdout.
fn differs(bin: &crate::common::Bin, args: &[&str]) -> String {
    let mut a = vec!["verify"];
    a.extend_from_slice(args);
    let out = bin.ingest(&a);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify {args:?} should find a difference:\n{stdout}\n{stderr}"
    );
    assert!(stderr.contains("differ"), "{stderr}");
    stdout
}

/// Each (column, new value) changed at the destination in row id = 2 makes
/// verify fail naming the key; a full extract of the table puts it back.
fn each_change_is_found(
    bin: &crate::common::Bin,
    env: &crate::common::Env,
    table: &str,
    dest: &str,
    changes: &[(&str, &str)],
) {
    let mut my = my_connect(env);
    for (col, val) in changes {
        my.query_drop(format!("UPDATE {dest} SET `{col}` = {val} WHERE id = 2"))
            .unwrap();
        let out = differs(bin, &["--rows", table]);
        assert!(
            out.contains("values differ: id=2"),
            "{table}.{col} = {val} not found:\n{out}"
        );
        bin.ok(&["full-extract", table]);
    }
    // Missing, extra and both listed; --where keeps to its rows.
    my.query_drop(format!("DELETE FROM {dest} WHERE id = 3"))
        .unwrap();
    my.query_drop(format!(
        "INSERT INTO {dest} (id) SELECT 1000 + id FROM {dest} WHERE id = 1"
    ))
    .unwrap();
    let out = differs(bin, &["--rows", table]);
    assert!(out.contains("missing at destination: id=3"), "{out}");
    assert!(out.contains("extra at destination: id=1001"), "{out}");
    assert!(out.contains("source 7 rows, destination 7 rows"), "{out}");
    let out = differs(bin, &[table]);
    assert!(out.contains("`--rows` lists the keys"), "{out}");
    let out = bin.ok(&["verify", "--where", "id <= 2", table]);
    assert!(out.contains(&format!("{table}: equal, 2 rows")), "{out}");
    bin.ok(&["full-extract", table]);
    bin.ok(&["verify", table]);
}

#[test]
fn postgres_verify_finds_every_difference_and_nothing_else() {
    let c = Case::new("verify");
    c.write_config(
        "[[table]]\nname = \"public.*\"\n\
         [[table]]\nname = \"public.h\"\nhistory = true\n\
         [[table]]\nname = \"public.k\"\nkeyless = true\n\
         [[table]]\nname = \"public.m\"\nmask = [\"secret\"]\n",
        "",
    );
    c.sql(
        "CREATE TABLE t (id int PRIMARY KEY, n numeric(12,4), u numeric, r real, d double precision,
            s text, c char(5), v varchar(20), b bytea, ok boolean, dt date, ts timestamp(3),
            tz timestamptz, tm time, j jsonb, a int[], g uuid, i interval, ip inet);
         INSERT INTO t VALUES
          (1, 1.5, 1e-20, 123456789, 1e300, 'a,b\"c', 'ab', 'x ', '\\x00ff', true, '0999-01-02',
           '2020-01-01 00:00:00.5', '2020-06-01 12:00:00+02', '24:00:00', '{\"a\": [1, 2.50]}',
           '{1,NULL,-3}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 02:00', '10.0.0.1/8'),
          (2, -0.0001, 12345678901234567890.123, 1.1, 0.1::float8 + 0.2::float8, 'é😀', 'x', '', '\\x', false,
           '2024-02-29', '2024-02-29 23:59:59.999', '1970-01-01 00:00:00+00', '00:00:01.000001', '[]',
           '{}', '00000000-0000-0000-0000-000000000000', '-3 mons', '::1'),
          (3, NULL, 'NaN', 'NaN', '-Infinity', NULL, NULL, NULL, NULL, NULL, 'infinity', '-infinity',
           NULL, NULL, NULL, NULL, NULL, NULL, NULL),
          (4, 0, 0, -0.0, 5e-324, '', '     ', '   ', '\\x20', true, '2000-01-01', '2000-01-01',
           '2000-01-01', '23:59:59.999999', 'null', '{{1,2},{3,4}}', NULL, '0', NULL),
          (5, 12345678.9, 1e-30, 1e35, 1e20, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL),
          (6, NULL, NULL, 1e-13, 1.0000000000000002e-13, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL),
          (7, NULL, NULL, 9.999999e34, 9.999999999999999e34, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL);
         CREATE TABLE h (id int PRIMARY KEY, v text);
         INSERT INTO h VALUES (1, 'a'), (2, 'b');
         CREATE TABLE k (a int, b text);
         ALTER TABLE k REPLICA IDENTITY FULL;
         INSERT INTO k VALUES (1, 'x'), (1, 'x'), (2, NULL);
         CREATE TABLE m (id int PRIMARY KEY, secret text, v int);
         INSERT INTO m VALUES (1, 'pw', 1);
         CREATE TABLE fl (id int PRIMARY KEY, d double precision, r real, n numeric);
         INSERT INTO fl SELECT g, (random() - 0.5) * 10 ^ (random() * 616 - 308),
           ((random() - 0.5) * 10 ^ (random() * 76 - 38))::real, round((random() * 1e6)::numeric, (g % 12))
           FROM generate_series(1, 5000) g;",
    );
    c.ok(&["full-extract"]);
    let out = c.ok(&["verify"]);
    for t in [
        "public.t: equal, 7 rows",
        "public.h: equal, 2 rows",
        "public.k: equal, 3 rows",
        "public.fl: equal, 5000 rows",
    ] {
        assert!(out.contains(t), "{out}");
    }
    assert!(out.contains("column secret not compared (masked)"), "{out}");
    assert!(out.contains("verify: 5 table(s) equal"), "{out}");

    // History: the current versions are compared; keyless: copies count.
    c.sql(
        "UPDATE h SET v = 'a2' WHERE id = 1; DELETE FROM h WHERE id = 2; INSERT INTO h VALUES (3, 'c');
         DELETE FROM k WHERE ctid IN (SELECT ctid FROM k WHERE a = 1 LIMIT 1);
         UPDATE t SET d = 1.5e-7, r = 3.4028235e38, n = 99999999.9999 WHERE id = 1;",
    );
    c.ok(&["delta"]);
    let out = c.ok(&["verify"]);
    assert!(out.contains("public.h: equal, 2 rows"), "{out}");
    assert!(out.contains("public.k: equal, 2 rows"), "{out}");
    let dest = |t: &str| format!("`{}`.`{t}`", c.db);
    let mut my = c.my();
    my.query_drop(format!("INSERT INTO {} (a, b) VALUES (1, 'x')", dest("k")))
        .unwrap();
    let out = differs(&c, &["--rows", "public.k"]);
    assert!(
        out.contains("a=1, b=x: source has 1 row(s), destination 2"),
        "{out}"
    );
    my.query_drop(format!(
        "UPDATE {} SET v = 'old' WHERE id = 1 AND ingest_end <> '9999-12-31'",
        dest("h")
    ))
    .unwrap();
    c.ok(&["verify", "public.h"]);
    my.query_drop(format!(
        "UPDATE {} SET v = 'new' WHERE id = 1 AND ingest_end = '9999-12-31'",
        dest("h")
    ))
    .unwrap();
    let out = differs(&c, &["--rows", "public.h"]);
    assert!(out.contains("values differ: id=1"), "{out}");
    c.ok(&["full-extract", "public.h"]);

    // Beside a run that holds the lock: verify runs, and a change the run
    // has not merged yet is a difference with that said.
    c.sql("UPDATE m SET v = 2 WHERE id = 1");
    let mut run = c.stall(&["delta"], "spooled");
    let out = c.ingest(&["verify", "public.m"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("a run of this instance is under way"),
        "{stderr}"
    );
    run.kill().unwrap();
    run.wait().unwrap();
    c.ok(&["delta"]);
    c.ok(&["verify", "public.m"]);

    each_change_is_found(
        &c,
        &c.env,
        "public.t",
        &dest("t"),
        &[
            ("n", "n + 0.0001"),
            ("u", "1"),
            ("r", "r * 2"),
            ("d", "d + 1e-12"),
            ("s", "'é😁'"),
            ("c", "'y'"),
            ("v", "' '"),
            ("b", "NULL"),
            ("ok", "1"),
            ("dt", "'2024-02-28'"),
            ("ts", "'2024-02-29 23:59:59.998'"),
            ("tz", "'1970-01-01 00:00:01'"),
            ("tm", "'00:00:01'"),
            ("j", "'{}'"),
            ("a", "'{1}'"),
            ("g", "'00000000-0000-0000-0000-000000000001'"),
            ("i", "'3 mons'"),
            ("ip", "'::2'"),
        ],
    );
}

#[test]
fn mysql_verify_finds_every_difference_and_nothing_else() {
    let c = MyCase::new("verify");
    c.write_config(&format!(
        "[[table]]\nname = \"{0}.*\"\n[[table]]\nname = \"{0}.k\"\nkeyless = true\n",
        c.src
    ));
    c.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, n DECIMAL(12,4), f FLOAT, d DOUBLE, s TEXT,
            l VARCHAR(20) CHARACTER SET latin1, c CHAR(5), b VARBINARY(10), bt BIT(5), e ENUM('a','b'),
            st SET('x','y'), y YEAR, dt DATE, ts DATETIME(6), tp TIMESTAMP(3) NULL, tm TIME(6),
            j JSON, u BIGINT UNSIGNED);
         INSERT INTO t VALUES
          (1, 1.5, 123456789, 1e300, 'a,b\"c', 'café', 'ab', 0x00ff, b'101', 'a', 'x,y', 2024,
           '0999-01-02', '2020-01-01 00:00:00.5', '2020-06-01 12:00:00.123', '-838:59:59',
           '{\"a\": [1, 2.50]}', 18446744073709551615),
          (2, -0.0001, 1.1, 0.1e0 + 0.2e0, 'é😀', 'ÿ', 'x', '', b'0', 'b', '', 1901, '2024-02-29',
           '2024-02-29 23:59:59.999999', '1970-01-01 00:00:01', '00:00:01.000001', '[]', 0),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL),
          (4, 0, -1.5e-7, 5e-324, '', '', '', 0x20, b'11111', 'a', 'y', 2155, '9999-12-31',
           '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', '838:59:59', 'null', 1),
          (5, 12345678.9, 1e-13, 1e20, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL),
          (6, NULL, 1e35, 1.0000000000000002e-13, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL),
          (7, NULL, 1.5e-7, 9.999999999999999e34, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL);
         CREATE TABLE k (a INT, b TEXT);
         INSERT INTO k VALUES (1, 'x'), (1, 'x'), (2, NULL);
         CREATE TABLE fl (id INT PRIMARY KEY, d DOUBLE, f FLOAT);
         INSERT INTO fl SELECT seq, (RAND() - 0.5) * POW(10, RAND() * 616 - 308),
           (RAND() - 0.5) * POW(10, RAND() * 76 - 38) FROM seq_1_to_5000;",
    );
    c.ok(&["full-extract"]);
    let out = c.ok(&["verify"]);
    let t = format!("{}.t", c.src);
    assert!(out.contains(&format!("{t}: equal, 7 rows")), "{out}");
    assert!(
        out.contains(&format!("{}.k: equal, 3 rows", c.src)),
        "{out}"
    );
    c.sql("UPDATE t SET d = 1.5e-7, f = 3.4028234e38, n = 99999999.9999, l = 'x' WHERE id = 1;");
    c.ok(&["delta"]);
    c.ok(&["verify"]);
    let dest = format!("`{}`.`t`", c.dst);
    each_change_is_found(
        &c,
        &c.env,
        &t,
        &dest,
        &[
            ("n", "n + 0.0001"),
            ("f", "f * 2"),
            ("d", "d + 1e-12"),
            ("s", "'é😁'"),
            ("l", "'y'"),
            ("c", "'y'"),
            ("b", "0x00"),
            ("bt", "b'1'"),
            ("e", "'a'"),
            ("st", "'x'"),
            ("y", "2000"),
            ("dt", "'2024-02-28'"),
            ("ts", "'2024-02-29 23:59:59.999998'"),
            ("tp", "'1970-01-01 00:00:02'"),
            ("tm", "'00:00:01'"),
            ("j", "'{}'"),
            ("u", "u + 1"),
        ],
    );
}
