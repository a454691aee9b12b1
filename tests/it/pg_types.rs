//! Exact values: every type of the README's mapping, through the initial
//! extract and through deltas, compared field by field on both sides.

use crate::common::Case;

const TABLE: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy 😀');
CREATE TABLE all_types (
    id integer PRIMARY KEY,
    i2 smallint, i4 integer, i8 bigint,
    n38 numeric(38,10), n numeric, r real, d double precision,
    b boolean, t text, vc varchar(20), ch char(5),
    by bytea, dt date, tm time, tmp time(3), ttz timetz,
    ts timestamp, tstz timestamptz, iv interval, u uuid,
    j json, jb jsonb, ai integer[], at text[], e mood,
    ip inet, m money
);
"#;

/// Rows with the awkward values, ids from `base`.
fn rows(base: i32) -> String {
    let b = base;
    format!(
        r#"
INSERT INTO all_types VALUES
 ({i0}, -32768, -2147483648, -9223372036854775808,
  '1234567890123456789012345678.1234567890', '12345678901234567890123456789012345.123456789012345678901234567890',
  3.4028235e38, 1.7976931348623157e308, true, '', '', '', '\x', '0001-01-01', '00:00:00', '00:00:00.001', '00:00:00+00',
  '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', '0 seconds', '00000000-0000-0000-0000-000000000000',
  '{{}}', '{{}}', '{{}}', '{{}}', 'sad', '0.0.0.0', '0'),
 ({i1}, 32767, 2147483647, 9223372036854775807,
  '-0.0000000001', '-0.000000000000000000000000000001', 1.17549435e-38, 2.2250738585072014e-308, false,
  'NULL', 'NULL', 'NULL', '\x00', '9999-12-31', '23:59:59.999999', '23:59:59.999', '23:59:59.999999-12:00',
  '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00', '-178000000 years', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '{{"b": 1,  "a": [1, 2.50]}}', '{{"b": 1,  "a": [1, 2.50]}}', '{{1,NULL,-3}}', '{{"a,b","c\"d",NULL,"NULL"}}', 'ok', '::1', '-92233720368547758.08'),
 ({i2}, 0, 0, 0, '0', '0', 1.1, 0.1, NULL,
  E'quote " comma , cr \r lf \n crlf \r\n back \\ tab \t nul-free \x01 end', E'\\N', 'a"b,c', NULL,
  '2024-02-29', '12:34:56.5', NULL, NULL, '2024-02-29 12:34:56.123456', NULL,
  '1 year 2 mons 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '"text"', '[1, "two", null, {{"x": []}}]', '{{{{1,2}},{{3,4}}}}', '{{"\\\\"}}', 'happy 😀', '192.168.0.1/24', '1234.56'),
 ({i3}, -1, -1, -1, '-1.5', '-123.456', -0.5, -1e-300, true,
  'emoji 😀 and ümlaut and 中文 and 𝄞', 'héllo wörld 😀', 'ab', NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ({i4}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
-- every byte value, and a text of every character class
UPDATE all_types SET by = (SELECT string_agg(set_byte('\x00'::bytea, 0, g), ''::bytea ORDER BY g) FROM generate_series(0, 255) g)
  WHERE id = {i2};
-- timestamptz written in several session time zones
SET TimeZone = 'America/New_York';
INSERT INTO all_types (id, tstz, ts) VALUES ({i5}, '2024-03-10 01:30:00', '2024-03-10 01:30:00'), ({i6}, '2024-11-03 01:30:00 EDT', NULL);
SET TimeZone = 'Asia/Kolkata';
INSERT INTO all_types (id, tstz) VALUES ({i7}, '2024-01-01 00:00:00.000001');
SET TimeZone = 'Pacific/Chatham';
INSERT INTO all_types (id, tstz) VALUES ({i8}, '2000-02-29 23:59:59.999999');
RESET TimeZone;
"#,
        i0 = b,
        i1 = b + 1,
        i2 = b + 2,
        i3 = b + 3,
        i4 = b + 4,
        i5 = b + 5,
        i6 = b + 6,
        i7 = b + 7,
        i8 = b + 8,
    )
}

#[test]
fn every_type_round_trips_through_full_extract_and_delta() {
    let c = Case::new("types");
    c.sql(TABLE);
    c.sql(&rows(1));
    c.ok(&["full-extract"]);
    assert_eq!(c.dest_count("all_types"), 9);
    c.assert_same("public.all_types", "all_types", &["id"]);

    // The same values through the delta path: inserts, then updates that
    // move every value onto other rows.
    c.sql(&rows(101));
    c.ok(&["delta"]);
    c.assert_same("public.all_types", "all_types", &["id"]);
    c.sql(
        "UPDATE all_types a SET (i2, i4, i8, n38, n, r, d, b, t, vc, ch, by, dt, tm, tmp, ttz, ts, tstz, iv, u, j, jb, ai, at, e, ip, m) = \
         (SELECT i2, i4, i8, n38, n, r, d, b, t, vc, ch, by, dt, tm, tmp, ttz, ts, tstz, iv, u, j, jb, ai, at, e, ip, m \
          FROM all_types s WHERE s.id = CASE WHEN a.id % 100 = 1 THEN a.id + 2 ELSE a.id - 1 END) \
         WHERE a.id > 100",
    );
    c.ok(&["delta"]);
    assert_eq!(c.dest_count("all_types"), 18);
    c.assert_same("public.all_types", "all_types", &["id"]);
}

type Opt = Option<String>;
type OddRow = (
    i32,
    Option<f64>,
    Option<f32>,
    Opt,
    Opt,
    Opt,
    Opt,
    Opt,
    String,
);

#[test]
fn values_the_destination_cannot_hold_become_null_with_a_warning() {
    let c = Case::new("odd_values");
    c.sql(
        "CREATE TABLE odd (id int PRIMARY KEY, d double precision, r real, n numeric, n2 numeric(10,2), \
         ts timestamp, tstz timestamptz, dt date, ok text)",
    );
    let insert = |base: i32| {
        format!(
            "INSERT INTO odd VALUES \
             ({}, 'NaN', 'Infinity', 'NaN', 'NaN', 'infinity', '-infinity', '-infinity', 'a'), \
             ({}, '-Infinity', 'NaN', '1{}', 1.5, '0044-03-15 00:00:00 BC', '10000-01-01 00:00:00+00', '0044-03-15 BC', 'b'), \
             ({}, 1.5, 2.5, '0.{}1', 2.5, '2024-01-01', '2024-01-01 00:00:00+00', '10000-01-01', 'c')",
            base,
            base + 1,
            "0".repeat(40),
            base + 2,
            "0".repeat(30)
        )
    };
    c.sql(&insert(1));
    c.ok(&["full-extract"]);
    c.sql(&insert(11));
    c.ok(&["delta"]);
    let mut my = c.my();
    use mysql::prelude::Queryable;
    let rows: Vec<OddRow> = my
        .query(format!(
            "SELECT id, d, r, CAST(n AS CHAR), CAST(n2 AS CHAR), CAST(ts AS CHAR), CAST(tstz AS CHAR), CAST(dt AS CHAR), ok FROM `{}`.odd ORDER BY id",
            c.db
        ))
        .unwrap();
    assert_eq!(rows.len(), 6);
    for base in [0usize, 3] {
        let r = &rows[base];
        assert_eq!(
            (r.1, r.2, &r.3, &r.4, &r.5, &r.6, &r.7),
            (None, None, &None, &None, &None, &None, &None),
            "{r:?}"
        );
        let r = &rows[base + 1];
        assert_eq!(
            (r.1, r.2, &r.3, &r.5, &r.6, &r.7),
            (None, None, &None, &None, &None, &None),
            "{r:?}"
        );
        assert_eq!(r.4.as_deref(), Some("1.50"));
        let r = &rows[base + 2];
        assert_eq!(
            (r.1, r.2, &r.3, &r.7),
            (Some(1.5), Some(2.5), &None, &None),
            "{r:?}"
        );
        assert_eq!(r.5.as_deref(), Some("2024-01-01 00:00:00.000000"));
        assert_eq!(r.8, ["a", "b", "c"][2]);
    }
    // The warnings name table and column, in the run's status and in the log.
    let status = c.ok(&["status"]);
    for col in ["d", "r", "n", "n2", "ts", "tstz", "dt"] {
        assert!(
            status.contains(&format!("warning: public.odd.{col}:")),
            "no warning for {col}:\n{status}"
        );
    }
    let log = std::fs::read_dir(c.dir.join("state/log"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(
        log.contains("public.odd.n: 1 value(s): NaN cannot be stored"),
        "{log}"
    );
    assert!(
        log.contains("public.odd.dt: 1 value(s): BC date cannot be stored"),
        "{log}"
    );
    // And the key of the first such row: from the snapshot, from the slot.
    for (col, why, key) in [
        ("n", "NaN cannot be stored: written as NULL", 1),
        ("n", "NaN cannot be stored: written as NULL", 11),
        ("dt", "BC date cannot be stored: written as NULL", 2),
        ("dt", "BC date cannot be stored: written as NULL", 12),
        (
            "n",
            "value out of the destination type's range: written as NULL",
            2,
        ),
    ] {
        let line = format!("public.odd.{col}: 1 value(s): {why} (the first at key id={key})");
        assert!(log.contains(&line), "no {line:?} in:\n{log}");
    }
    assert!(status.contains("(the first at key id=1"), "{status}");
}
