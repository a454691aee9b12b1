//! MySQL/MariaDB source: every type lands exactly, through the snapshot
//! (binary protocol) and through the binlog (row events), compared value by
//! value with the source on the same server.

use crate::common::MyCase;

const TABLE: &str = "CREATE TABLE all_types (
    id INT PRIMARY KEY,
    ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
    mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
    dec65 DECIMAL(65,30), f FLOAT, d DOUBLE, b1 BIT(1), b12 BIT(12), b64 BIT(64),
    c CHAR(5), vc VARCHAR(100), t TEXT, lt LONGTEXT, l1 VARCHAR(20) CHARACTER SET latin1,
    bn BINARY(4), vb VARBINARY(300), bl BLOB,
    dt DATE, tm TIME(6), dtm DATETIME(6), ts TIMESTAMP(6) NULL, y YEAR,
    e ENUM('a', 'b''quote', 'ümlaut é'), s SET('x', 'y', 'z'), j JSON,
    t2 TIME(2), t4 TIME(4)
) DEFAULT CHARSET = utf8mb4";

fn rows(base: i32) -> String {
    format!(
        "INSERT INTO all_types VALUES
         ({a}, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
          -9223372036854775808, 18446744073709551615,
          '12345678901234567890123456789012345.123456789012345678901234567890', 3.40282e38, 1.7976931348623157e308,
          b'1', b'101010101010', b'1111111111111111111111111111111111111111111111111111111111111111',
          'ab', 'emoji 😀 and 中文 𝄞', 'quote \" comma , cr \\r lf \\n back \\\\ tab \\t', '', 'café €',
          x'01', x'00ff', '', '1000-01-01', '-838:59:59.000000', '1000-01-01 00:00:00.000000',
          '1970-01-01 00:00:01.000000', 0, 'a', 'x,z', '{{\"a\": [1, 2.5, null], \"b\": {{\"c\": \"😀\"}}}}',
          '-00:00:00.01', '-12:34:56.7891'),
         ({b}, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0,
          '-0.000000000000000000000000000001', -1.17549e-38, -2.2250738585072014e-308,
          b'0', b'0', b'0', '', '', 'NULL', 'NULL', '',
          x'00000000', x'', x'00', '9999-12-31', '838:59:59.999999', '9999-12-31 23:59:59.999999',
          '2038-01-19 03:14:07.999999', 2155, 'b''quote', '', '[]', '838:59:59.99', '-838:59:59.9999'),
         ({c}, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, '1.5', 1.1, 0.1, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0000-00-00', '-00:00:00.000001', '0000-00-00 00:00:00',
          NULL, 1901, 'ümlaut é', 'x,y,z', 'null', '-00:00:00.5', '00:00:00.0001'),
         ({d}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '25:00:00', NULL, NULL, NULL, NULL, NULL, NULL,
          '-01:00:00.99', NULL);
         UPDATE all_types SET vb = (SELECT CONCAT({bytes})), bl = (SELECT CONCAT({bytes})) WHERE id = {c};
         SET time_zone = '+05:30';
         INSERT INTO all_types (id, ts, dtm) VALUES ({e}, '2024-03-10 01:30:00.123456', '2024-03-10 01:30:00.123456');
         SET time_zone = '-08:00';
         INSERT INTO all_types (id, ts) VALUES ({f}, '2000-02-29 23:59:59.999999');",
        a = base,
        b = base + 1,
        c = base + 2,
        d = base + 3,
        e = base + 4,
        f = base + 5,
        bytes = (0..=255).map(|i| format!("CHAR({i} USING binary)")).collect::<Vec<_>>().join(", "),
    )
}

#[test]
fn every_mysql_type_round_trips_through_snapshot_and_binlog() {
    let c = MyCase::new("types");
    c.sql(TABLE);
    c.sql(&rows(1));
    c.ok(&["full-extract"]);
    c.assert_same("all_types", "id");

    // The same values through the binlog: inserts, then updates that move
    // every value onto another row, and deletes.
    c.sql(&rows(101));
    c.ok(&["delta"]);
    c.assert_same("all_types", "id");
    c.sql(
        "UPDATE all_types a JOIN all_types s ON s.id = IF(a.id % 100 = 1, a.id + 2, a.id - 1)
         SET a.ti = s.ti, a.tiu = s.tiu, a.mi = s.mi, a.miu = s.miu, a.biu = s.biu, a.dec65 = s.dec65,
             a.f = s.f, a.b12 = s.b12, a.b64 = s.b64, a.c = s.c, a.t = s.t, a.l1 = s.l1, a.bn = s.bn,
             a.vb = s.vb, a.dt = s.dt, a.tm = s.tm, a.ts = s.ts, a.y = s.y, a.e = s.e, a.s = s.s, a.j = s.j
         WHERE a.id > 100 AND a.id < 105",
    );
    c.sql("DELETE FROM all_types WHERE id = 106");
    c.ok(&["delta"]);
    c.assert_same("all_types", "id");
}

/// Text in every character set MariaDB offers that ingest converts lands
/// equal through the snapshot (the server converts to UTF-8) and the
/// binlog (ingest decodes the column's bytes itself).
#[test]
fn every_character_set_converts_on_both_paths() {
    let c = MyCase::new("charsets");
    let sets: &[(&str, &str)] = &[
        ("ascii", "plain text"),
        ("utf8mb3", "ü€中"),
        ("latin1", "café € ‰ Ÿ"),
        ("latin2", "Zażółć gęślą"),
        ("latin5", "İstanbul ğş"),
        ("latin7", "ąčęėįšųūž"),
        ("cp1250", "Příliš žluťoučký"),
        ("cp1251", "Привет, мир"),
        ("cp1256", "مرحبا بالعالم"),
        ("cp1257", "Ąčęėįšųūž"),
        ("cp866", "Привет"),
        ("koi8r", "Привет"),
        ("koi8u", "Привіт ґ"),
        ("greek", "Ελλάδα"),
        ("hebrew", "שלום"),
        ("macroman", "café ƒ"),
        ("gbk", "中文简体繁體"),
        ("gb2312", "中文简体"),
        ("big5", "中文繁體"),
        ("sjis", "テスト日本語"),
        ("cp932", "テスト①～"),
        ("ujis", "テスト日本語"),
        ("eucjpms", "テスト日本語"),
        ("euckr", "한국어"),
        ("tis620", "ภาษาไทย"),
        ("ucs2", "ＡＢ中文"),
        ("utf16", "😀 utf16"),
        ("utf16le", "😀 utf16le"),
        ("utf32", "😀 utf32"),
    ];
    let cols: Vec<String> = sets
        .iter()
        .map(|(cs, _)| format!("c_{cs} VARCHAR(40) CHARACTER SET {cs}"))
        .collect();
    let insert = |id: u32, suffix: &str| {
        let vals: Vec<String> = sets.iter().map(|(_, v)| format!("'{v}{suffix}'")).collect();
        format!("INSERT INTO cs VALUES ({id}, 'ab', {});", vals.join(", "))
    };
    c.sql(&format!(
        "CREATE TABLE cs (id INT PRIMARY KEY, fixed CHAR(10) CHARACTER SET utf16, {});
         {}",
        cols.join(", "),
        insert(1, "")
    ));
    c.ok(&["full-extract"]);
    c.assert_same("cs", "id");
    c.sql(&format!(
        "{}
         UPDATE cs SET fixed = 'x', c_cp1251 = 'Пока', c_sjis = 'ソース' WHERE id = 1;",
        insert(2, " 2")
    ));
    let out = c.ok(&["delta"]);
    assert!(out.contains("1 table(s), 2 change(s)"), "{out}");
    c.assert_same("cs", "id");
}

/// ENUM's "error value" (index 0, the empty string a non-strict session
/// stores for an invalid member) and an ENUM listing `''` as a member
/// (index 1): both land with the index and label they have at the source,
/// through the snapshot and the binlog.
#[test]
fn enum_error_values_and_empty_members_keep_their_index() {
    let c = MyCase::new("enum0");
    c.sql(
        "CREATE TABLE e (id INT PRIMARY KEY, plain ENUM('a', 'b'), blank ENUM('', 'x', 'y')); \
         SET SESSION sql_mode = ''; \
         INSERT INTO e VALUES (1, 'nope', ''), (2, 'a', 'x'), (3, NULL, 'nope');",
    );
    c.ok(&["full-extract"]);
    let check = |c: &MyCase| {
        c.assert_same("e", "id");
        // Indexes, which the comparison of labels cannot tell apart.
        let idx = |db: &str| -> Vec<(i32, Option<i32>, Option<i32>)> {
            let mut my = crate::common::my_connect(&c.env);
            mysql::prelude::Queryable::query(
                &mut my,
                format!("SELECT id, plain + 0, blank + 0 FROM `{db}`.e ORDER BY id"),
            )
            .unwrap()
        };
        assert_eq!(idx(&c.src), idx(&c.dst));
    };
    check(&c);
    c.sql(
        "SET SESSION sql_mode = ''; \
         INSERT INTO e VALUES (4, 'bad', 'bad'), (5, 'b', ''); \
         UPDATE e SET plain = 'worse' WHERE id = 2;",
    );
    c.ok(&["delta"]);
    check(&c);
    // Values an update did not log (MINIMAL) are filled at the merge from
    // the destination row: by index, so that index 0 and the `''` member
    // stay apart.
    c.sql(
        "SET SESSION binlog_row_image = 'MINIMAL'; \
         UPDATE e SET plain = 'b' WHERE id IN (1, 3); UPDATE e SET blank = 'y' WHERE id = 4;",
    );
    c.ok(&["delta"]);
    check(&c);
    // A member added in the middle moves the indexes after it, and the
    // server writes no rows for that: the table stops at the ALTER, and
    // its full extract brings the new indexes.
    c.sql(
        "ALTER TABLE e MODIFY plain ENUM('a', 'mid', 'b');          INSERT INTO e VALUES (6, 'mid', 'y'), (7, 'b', 'x');",
    );
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("structure changed"), "{stderr}");
    c.ok(&["full-extract", &format!("{}.e", c.src)]);
    check(&c);
}
