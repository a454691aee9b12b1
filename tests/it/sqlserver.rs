//! SQL Server source against the TDS fixture server over real ODBC
//! (unixODBC built into ingest + FreeTDS): what ingest sends (from the
//! server's statement log) and what lands in the MariaDB destination.
//! No SQL Server runs here; the answers are the fixtures' (see
//! tests/sqlserver/README.md).

use serde_json::{json, Value};

use crate::common::{
    catalog_rules, catch_all, columns, rule, scalar, snapshot_rule, table_rules, Col, MsCase, Table,
};

fn orders(rows: Vec<Vec<Value>>) -> Table {
    Table {
        schema: "dbo",
        name: "orders",
        cols: vec![
            Col("id", "int"),
            Col("name", "nvarchar(100)"),
            Col("amount", "decimal(18,2)"),
            Col("updated_at", "datetime2(7)"),
        ],
        key: vec!["id"],
        rows,
    }
}

fn row(id: i64, name: &str, amount: &str) -> Vec<Value> {
    json!([
        id,
        name,
        amount,
        format!("2024-05-0{} 10:00:00.1234567", id % 9 + 1)
    ])
    .as_array()
    .unwrap()
    .clone()
}

/// Rules of a Change Tracking source: `orders` at version `current`, the
/// oldest kept `min_valid`, and its changes since `since` (rows: the
/// operation, the key, the row as it is now or NULLs).
fn ct_rules(t: &Table, current: i64, min_valid: i64, since: i64, changes: Value) -> Vec<Value> {
    let mut r = vec![
        scalar("^SELECT CHANGE_TRACKING_CURRENT_VERSION\\(\\)$", None, "bigint", json!(current)),
        scalar(
            "^SELECT CHANGE_TRACKING_MIN_VALID_VERSION\\(OBJECT_ID\\(@P1\\)\\)$",
            Some(json!([t.qname()])),
            "bigint",
            json!(min_valid),
        ),
        rule(
            "FROM CHANGETABLE\\(CHANGES \\[dbo\\]\\.\\[orders\\], @P1\\) AS CT LEFT OUTER JOIN \\[dbo\\]\\.\\[orders\\] AS T ON T\\.\\[id\\] = CT\\.\\[id\\] ORDER BY CT\\.SYS_CHANGE_VERSION$",
            Some(json!([since])),
            {
                let mut c = vec![json!({"name": "SYS_CHANGE_OPERATION", "type": "nchar(1)"}), json!({"name": "id", "type": "int"})];
                c.extend(columns(t));
                Value::Array(c)
            },
            changes,
        ),
        snapshot_rule(t),
    ];
    r.extend(table_rules(t));
    r.extend(catalog_rules(&[t]));
    r.push(catch_all());
    r
}

/// The statements of a log, `KIND\ttext`, whose text contains `needle`.
fn sent<'a>(log: &'a [String], needle: &str) -> Vec<&'a String> {
    log.iter().filter(|l| l.contains(needle)).collect()
}

fn position(l: &[String], needle: &str) -> usize {
    l.iter()
        .position(|x| x.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not sent:\n{}", l.join("\n")))
}

#[test]
fn change_tracking_full_extract_and_deltas_land_in_mariadb() {
    let t = orders(vec![
        row(1, "a", "1.00"),
        row(2, "b", ".50"),
        row(3, "c", "3.25"),
    ]);
    let c = MsCase::new("ct", &ct_rules(&t, 1000, 900, 1000, json!([])));
    c.write_config("", "[[table]]\nname = \"dbo.orders\"\n");
    let out = c.bin.ok(&["check"]);
    assert!(out.contains("changes kept up to ct=1000"), "{out}");
    assert!(out.contains("extract type change_tracking"), "{out}");
    c.fx.take_log();

    c.bin.ok(&["full-extract"]);
    let cols = "id, name, CAST(amount AS CHAR), CAST(updated_at AS CHAR)";
    assert_eq!(
        c.dest_rows("orders", cols),
        vec![
            vec![
                Some("1".into()),
                Some("a".into()),
                Some("1.00".into()),
                Some("2024-05-02 10:00:00.123456".into())
            ],
            vec![
                Some("2".into()),
                Some("b".into()),
                Some("0.50".into()),
                Some("2024-05-03 10:00:00.123456".into())
            ],
            vec![
                Some("3".into()),
                Some("c".into()),
                Some("3.25".into()),
                Some("2024-05-04 10:00:00.123456".into())
            ],
        ]
    );
    let log = c.fx.take_log();
    // The version is read before the snapshot.
    assert!(
        position(&log, "CHANGE_TRACKING_CURRENT_VERSION") < position(&log, "FROM [dbo].[orders]"),
        "{log:#?}"
    );
    // The 7th digit of datetime2(7) is dropped, and said.
    let status = c.bin.ok(&["status"]);
    assert!(
        status.contains("100 ns") || status.contains("7th fractional digit"),
        "{status}"
    );

    // Version 1005: an insert, an update, a delete, and an update of a row
    // deleted since (no row in the join: a delete).
    c.fx.set(&ct_rules(
        &t,
        1005,
        900,
        1000,
        json!([
            ["I", 4, 4, "d", "4.00", "2024-05-05 10:00:00.0000000"],
            ["U", 2, 2, "b2", "2.75", "2024-05-03 11:00:00.0000000"],
            ["D", 3, null, null, null, null],
            ["U", 1, null, null, null, null]
        ]),
    ));
    c.bin.ok(&["delta"]);
    assert_eq!(
        c.dest_rows("orders", "id, name, CAST(amount AS CHAR)"),
        vec![
            vec![Some("2".into()), Some("b2".into()), Some("2.75".into())],
            vec![Some("4".into()), Some("d".into()), Some("4.00".into())],
        ]
    );
    let log = c.fx.take_log();
    // SNAPSHOT is set while no transaction is open, then the transaction
    // begins (TM 5), reads the version and the changes, and commits (TM 7).
    let set = position(&log, "SET TRANSACTION ISOLATION LEVEL SNAPSHOT");
    let begin = position(&log, "request=5");
    let changes = position(&log, "CHANGETABLE(CHANGES [dbo].[orders]");
    let commit = position(&log, "request=7");
    assert!(
        set < begin && begin < changes && changes < commit,
        "{log:#?}"
    );
    assert!(
        log[begin..changes]
            .iter()
            .any(|l| l.contains("CHANGE_TRACKING_CURRENT_VERSION")),
        "the version is read in the transaction: {log:#?}"
    );
    assert!(log[changes].contains("params=[1000]"), "{}", log[changes]);
    assert!(!sent(&log, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED").is_empty());

    // The next delta reads from where this one ended.
    c.fx.set(&ct_rules(
        &t,
        1010,
        900,
        1005,
        json!([["I", 5, 5, "e", "5.00", null]]),
    ));
    c.bin.ok(&["delta"]);
    let log = c.fx.take_log();
    let ct = sent(&log, "CHANGETABLE(CHANGES");
    assert!(ct.len() == 1 && ct[0].contains("params=[1005]"), "{ct:?}");
    assert_eq!(c.dest_rows("orders", "id").len(), 3);

    // Nothing new: no CHANGETABLE at all.
    c.fx.set(&ct_rules(&t, 1010, 900, 1010, json!([])));
    c.bin.ok(&["delta"]);
    assert!(sent(&c.fx.take_log(), "CHANGETABLE").is_empty());

    // The changes since 1010 are gone (cleanup, truncate): the table
    // fails with the fix, the destination stays as it was.
    c.fx.set(&ct_rules(
        &t,
        1030,
        1020,
        1010,
        json!([["I", 6, 6, "f", "6.00", null]]),
    ));
    let out = c
        .bin
        .expect(&["delta"], 1, &["no longer kept", "full-extract"]);
    assert!(out.contains("dbo.orders") || !out.is_empty());
    assert_eq!(c.dest_rows("orders", "id").len(), 3);
    assert!(sent(&c.fx.take_log(), "CHANGETABLE").is_empty());

    // Its full extract brings it back.
    c.fx.set(&ct_rules(&t, 1030, 1020, 1030, json!([])));
    c.bin.ok(&["full-extract", "dbo.orders"]);
    assert_eq!(c.dest_rows("orders", "id").len(), 3);
    c.bin.ok(&["delta"]);
}

const L1: &str = "0x0000002A000000100001";
const L2: &str = "0x0000002B000001E00004";
const L3: &str = "0x0000002C000000200002";
const L4: &str = "0x0000002D000000100001";

/// The LSN after `l` (as sys.fn_cdc_increment_lsn answers: the last byte
/// up by one, enough for these).
fn next(l: &str) -> String {
    let last = u8::from_str_radix(&l[20..], 16).unwrap() + 1;
    format!("{}{last:02X}", &l[..20])
}

/// Rules of a CDC source: `orders` captured by instance dbo_orders (its
/// oldest LSN `min`), the newest LSN `max`, and the changes between the
/// LSN after `saved` and `max` (rows: start LSN, operation, commit time,
/// the row).
fn cdc_rules(t: &Table, max: &str, min: &str, saved: &str, changes: Value) -> Vec<Value> {
    let lower = |l: &str| l.to_ascii_lowercase();
    let mut r = vec![
        scalar("^SELECT sys\\.fn_cdc_get_max_lsn\\(\\)$", None, "binary(10)", json!(max)),
        scalar(
            "^SELECT sys\\.fn_cdc_get_min_lsn\\(@P1\\)$",
            Some(json!(["dbo_orders"])),
            "binary(10)",
            json!(min),
        ),
        scalar(
            "^SELECT sys\\.fn_cdc_increment_lsn\\(@P1\\)$",
            Some(json!([lower(saved)])),
            "binary(10)",
            json!(next(saved)),
        ),
        rule(
            "FROM cdc\\.change_tables AS ct JOIN cdc\\.captured_columns",
            Some(json!([t.qname()])),
            json!([{"name": "i", "type": "nvarchar(128)"}, {"name": "c", "type": "nvarchar(128)"}]),
            json!(t.cols.iter().map(|Col(n, _)| json!(["dbo_orders", n])).collect::<Vec<_>>()),
        ),
        rule(
            "FROM cdc\\.\\[fn_cdc_get_all_changes_dbo_orders\\]\\(@P1, @P2, N'all'\\) ORDER BY __\\$start_lsn, __\\$seqval, __\\$operation$",
            Some(json!([lower(&next(saved)), lower(max)])),
            {
                let mut c = vec![
                    json!({"name": "__$start_lsn", "type": "binary(10)"}),
                    json!({"name": "__$operation", "type": "int"}),
                    json!({"name": "t", "type": "datetime"}),
                ];
                c.extend(columns(t));
                Value::Array(c)
            },
            changes,
        ),
        scalar("is_cdc_enabled", None, "bigint", json!(1)),
        snapshot_rule(t),
    ];
    r.extend(table_rules(t));
    r.extend(catalog_rules(&[t]));
    r.push(catch_all());
    r
}

#[test]
fn cdc_deltas_follow_the_lsn_windows() {
    let t = orders(vec![
        row(1, "a", "1.00"),
        row(2, "b", "2.00"),
        row(3, "c", "3.00"),
    ]);
    let c = MsCase::new("cdc", &cdc_rules(&t, L1, L1, L1, json!([])));
    c.write_config(
        "extract_type = \"cdc\"",
        "[[table]]\nname = \"dbo.orders\"\n",
    );
    let out = c.bin.ok(&["check"]);
    assert!(out.contains(&format!("lsn={L1}")), "{out}");
    assert!(out.contains("extract type cdc"), "{out}");
    c.bin.ok(&["full-extract"]);
    assert_eq!(c.dest_rows("orders", "id").len(), 3);
    c.fx.take_log();

    // Three transactions: an insert; an update (its before-image, 3, is
    // not applied); a delete.
    let (a, b, d) = (
        "0x0000002B000001780004",
        "0x0000002B000001A00004",
        "0x0000002B000001E00004",
    );
    c.fx.set(&cdc_rules(
        &t,
        L2,
        "0x00000020000000000001",
        L1,
        json!([
            [a, 2, "2024-06-01 10:00:00.000", 4, "d", "4.00", null],
            [b, 3, "2024-06-01 10:00:01.000", 2, "b", "2.00", null],
            [b, 4, "2024-06-01 10:00:01.000", 2, "b2", "2.50", null],
            [d, 1, "2024-06-01 10:00:02.000", 3, "c", "3.00", null]
        ]),
    ));
    c.bin.ok(&["delta"]);
    assert_eq!(
        c.dest_rows("orders", "id, name, CAST(amount AS CHAR)"),
        vec![
            vec![Some("1".into()), Some("a".into()), Some("1.00".into())],
            vec![Some("2".into()), Some("b2".into()), Some("2.50".into())],
            vec![Some("4".into()), Some("d".into()), Some("4.00".into())],
        ]
    );
    let log = c.fx.take_log();
    let window = position(&log, "FROM cdc.[fn_cdc_get_all_changes_dbo_orders]");
    assert!(
        log[window].contains(&format!(
            "params=[\"{}\", \"{}\"]",
            next(L1).to_ascii_lowercase(),
            L2.to_ascii_lowercase()
        )),
        "{}",
        log[window]
    );
    assert!(position(&log, "fn_cdc_get_min_lsn") < window);
    let status = c.bin.ok(&["status"]);
    assert!(status.contains(&format!("lsn={L2}")), "{status}");

    // The next window starts after the last one's end.
    c.fx.set(&cdc_rules(
        &t,
        L3,
        "0x00000020000000000001",
        L2,
        json!([[L3, 2, "2024-06-02 00:00:00.000", 5, "e", "5.00", null]]),
    ));
    c.bin.ok(&["delta"]);
    let log = c.fx.take_log();
    assert!(
        log[position(&log, "FROM cdc.[fn_cdc_get_all_changes")]
            .contains(&next(L2).to_ascii_lowercase()),
        "{log:#?}"
    );
    assert_eq!(c.dest_rows("orders", "id").len(), 4);

    // The cleanup job removed changes not read yet: the table fails with
    // the fix, nothing is read.
    c.fx.set(&cdc_rules(&t, L4, L4, L3, json!([])));
    c.bin
        .expect(&["delta"], 1, &["no longer kept", "full-extract"]);
    assert!(sent(&c.fx.take_log(), "FROM cdc.[fn_cdc_get_all_changes").is_empty());
    assert_eq!(c.dest_rows("orders", "id").len(), 4);
}

#[test]
fn a_capture_instance_without_a_new_column_fails_the_table_with_the_fix() {
    let t = orders(vec![row(1, "a", "1.00")]);
    let mut rules = cdc_rules(&t, L1, L1, L1, json!([]));
    let c = MsCase::new("cdc_ddl", &rules);
    c.write_config(
        "extract_type = \"cdc\"",
        "[[table]]\nname = \"dbo.orders\"\n",
    );
    c.bin.ok(&["full-extract"]);
    // The instance captures id and name only.
    rules = cdc_rules(&t, L2, L1, L1, json!([]));
    for r in rules.iter_mut() {
        if r["match"].as_str().unwrap().contains("captured_columns") {
            r["result_sets"][0]["rows"] = json!([["dbo_orders", "id"], ["dbo_orders", "name"]]);
        }
    }
    c.fx.set(&rules);
    c.bin.expect(
        &["delta"],
        1,
        &["lacks column(s) amount, updated_at", "sp_cdc_enable_table"],
    );
}

fn alltypes() -> Table {
    let cols = vec![
        Col("id", "int"),
        Col("c_tinyint", "tinyint"),
        Col("c_smallint", "smallint"),
        Col("c_bigint", "bigint"),
        Col("c_bit", "bit"),
        Col("c_real", "real"),
        Col("c_float", "float"),
        Col("c_decimal", "decimal(38,10)"),
        Col("c_numeric", "numeric(5,3)"),
        Col("c_money", "money"),
        Col("c_smallmoney", "smallmoney"),
        Col("c_datetime", "datetime"),
        Col("c_smalldatetime", "smalldatetime"),
        Col("c_date", "date"),
        Col("c_time", "time(7)"),
        Col("c_time0", "time(0)"),
        Col("c_datetime2", "datetime2(7)"),
        Col("c_datetime2_3", "datetime2(3)"),
        Col("c_dto", "datetimeoffset(7)"),
        Col("c_guid", "uniqueidentifier"),
        Col("c_binary", "binary(10)"),
        Col("c_varbinary", "varbinary(50)"),
        Col("c_varbinary_max", "varbinary(max)"),
        Col("c_char", "char(5)"),
        Col("c_varchar", "varchar(50)"),
        Col("c_varchar_max", "varchar(max)"),
        Col("c_nchar", "nchar(5)"),
        Col("c_nvarchar", "nvarchar(50)"),
        Col("c_nvarchar_max", "nvarchar(max)"),
        Col("c_xml", "xml"),
        Col("c_rowversion", "rowversion"),
        Col("c_hierarchyid", "hierarchyid"),
        Col("c_geometry", "geometry"),
        Col("c_geography", "geography"),
    ];
    let long_bin = format!("0x{}", "AB".repeat(20_000));
    let long_text = "x".repeat(30_000);
    let long_wide = "你好😀".repeat(5_000);
    Table {
        schema: "dbo",
        name: "alltypes",
        cols,
        key: vec!["id"],
        rows: vec![
            json!([
                1,
                255,
                -32768,
                -9223372036854775808i64,
                true,
                3.4028235e38,
                1.7976931348623157e308,
                "-1234567890123456789012345678.0123456789",
                "0.001",
                "922337203685477.5807",
                "-214748.3648",
                "2024-02-29 23:59:59.997",
                "2079-06-06 23:59:00",
                "0001-01-01",
                "23:59:59.9999999",
                "01:02:03",
                "9999-12-31 23:59:59.9999999",
                "2024-01-02 03:04:05.678",
                "2024-06-30 12:00:00.1234567 +02:00",
                "6F9619FF-8B86-D011-B42D-00C04FC964FF",
                "0x0000002B000001780003",
                "0xDEADBEEF",
                long_bin,
                "ab",
                "café tab\there",
                long_text,
                "ab",
                "ünicøde € 😀",
                long_wide,
                "<a x=\"1\">t</a>",
                "0x00000000000007D1",
                "/1/2/",
                "POINT (1 2)",
                "LINESTRING (-122.36 47.656, -122.343 47.656)"
            ]),
            json!([
                2,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                "0x00000000000007D2",
                null,
                null,
                null
            ]),
            json!([
                3,
                0,
                0,
                0,
                false,
                0,
                -2.5e-300,
                "0",
                "-0.5",
                "0",
                "0",
                "1753-01-01 00:00:00",
                "1900-01-01 00:00:00",
                "2024-01-01",
                "00:00:00",
                "00:00:00",
                "0001-01-01 00:00:00",
                "2024-01-01 00:00:00",
                "2024-01-01 00:00:00 -08:00",
                "00000000-0000-0000-0000-000000000000",
                "0x00000000000000000000",
                "0x",
                "0x",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "0x00000000000007D3",
                "/",
                "POINT EMPTY",
                "GEOMETRYCOLLECTION EMPTY"
            ]),
        ]
        .into_iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect(),
    }
}

/// Every SQL Server type through ODBC into MariaDB, each value compared
/// as the destination holds it.
#[test]
fn every_type_lands_as_the_readme_maps_it() {
    let t = alltypes();
    let mut rules = vec![
        scalar(
            "^SELECT CHANGE_TRACKING_CURRENT_VERSION\\(\\)$",
            None,
            "bigint",
            json!(7),
        ),
        snapshot_rule(&t),
    ];
    rules.extend(table_rules(&t));
    rules.extend(catalog_rules(&[&t]));
    rules.push(catch_all());
    let c = MsCase::new("types", &rules);
    c.write_config("", "[[table]]\nname = \"dbo.alltypes\"\n");
    c.bin.ok(&["full-extract"]);
    let log = c.fx.take_log();
    let select = &log[position(&log, "FROM [dbo].[alltypes]")];
    assert!(
        select.contains("[c_hierarchyid].ToString()")
            && select.contains("[c_geography].STAsText()"),
        "{select}"
    );
    let mut my = crate::common::my_connect(&c.env);
    use mysql::prelude::Queryable;
    let types: Vec<(String, String)> = my
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
             AND TABLE_NAME = 'alltypes' ORDER BY ORDINAL_POSITION",
            (&c.dst,),
        )
        .unwrap();
    let want_types = [
        ("id", "int(11)"),
        ("c_tinyint", "tinyint(3) unsigned"),
        ("c_smallint", "smallint(6)"),
        ("c_bigint", "bigint(20)"),
        ("c_bit", "tinyint(1)"),
        ("c_real", "float"),
        ("c_float", "double"),
        ("c_decimal", "decimal(38,10)"),
        ("c_numeric", "decimal(5,3)"),
        ("c_money", "decimal(19,4)"),
        ("c_smallmoney", "decimal(10,4)"),
        ("c_datetime", "datetime(3)"),
        ("c_smalldatetime", "datetime"),
        ("c_date", "date"),
        ("c_time", "time(6)"),
        ("c_time0", "time"),
        ("c_datetime2", "datetime(6)"),
        ("c_datetime2_3", "datetime(3)"),
        ("c_dto", "datetime(6)"),
        ("c_guid", "char(36)"),
        ("c_binary", "binary(10)"),
        ("c_varbinary", "varbinary(50)"),
        ("c_varbinary_max", "longblob"),
        ("c_char", "char(5)"),
        ("c_varchar", "varchar(50)"),
        ("c_varchar_max", "longtext"),
        ("c_nchar", "char(5)"),
        ("c_nvarchar", "varchar(50)"),
        ("c_nvarchar_max", "longtext"),
        ("c_xml", "longtext"),
        ("c_rowversion", "binary(8)"),
        ("c_hierarchyid", "varchar(4000)"),
        ("c_geometry", "longtext"),
        ("c_geography", "longtext"),
    ];
    assert_eq!(
        types,
        want_types
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    // Text of each value (binary as hex, floats compared as numbers).
    let exprs: Vec<String> = t
        .cols
        .iter()
        .map(|Col(n, decl)| match *decl {
            "real" => format!("CASE WHEN {n} IS NULL THEN NULL ELSE CAST({n} AS DOUBLE) END"),
            d if d.contains("binary") || d == "rowversion" => format!("HEX({n})"),
            _ => format!("CAST({n} AS CHAR)"),
        })
        .collect();
    let rows = c.dest_rows("alltypes", &exprs.join(", "));
    let s = |v: &str| Some(v.to_string());
    let r1 = &rows[0];
    let want1 = vec![
        s("1"),
        s("255"),
        s("-32768"),
        s("-9223372036854775808"),
        s("1"),
        s("3.4028234663852886e38"),
        s("1.7976931348623157e308"),
        s("-1234567890123456789012345678.0123456789"),
        s("0.001"),
        s("922337203685477.5807"),
        s("-214748.3648"),
        s("2024-02-29 23:59:59.997"),
        s("2079-06-06 23:59:00"),
        s("0001-01-01"),
        s("23:59:59.999999"),
        s("01:02:03"),
        s("9999-12-31 23:59:59.999999"),
        s("2024-01-02 03:04:05.678"),
        s("2024-06-30 10:00:00.123456"),
        s("6F9619FF-8B86-D011-B42D-00C04FC964FF"),
        s("0000002B000001780003"),
        s("DEADBEEF"),
        Some("AB".repeat(20_000)),
        s("ab"),
        s("café tab\there"),
        Some("x".repeat(30_000)),
        s("ab"),
        s("ünicøde € 😀"),
        Some("你好😀".repeat(5_000)),
        s("<a x=\"1\">t</a>"),
        s("00000000000007D1"),
        s("/1/2/"),
        s("POINT (1 2)"),
        s("LINESTRING (-122.36 47.656, -122.343 47.656)"),
    ];
    for (i, (got, want)) in r1.iter().zip(&want1).enumerate() {
        assert_eq!(got, want, "row 1, column {}", t.cols[i].0);
    }
    assert_eq!(r1.len(), want1.len());
    // Row 2: NULLs but the key and the rowversion.
    for (i, v) in rows[1].iter().enumerate() {
        match t.cols[i].0 {
            "id" => assert_eq!(v.as_deref(), Some("2")),
            "c_rowversion" => assert_eq!(v.as_deref(), Some("00000000000007D2")),
            n => assert_eq!(v, &None, "row 2, column {n}"),
        }
    }
    // Row 3: zeros and empties stay zeros and empties (not NULL).
    let r3 = &rows[2];
    let col = |n: &str| r3[t.cols.iter().position(|c| c.0 == n).unwrap()].clone();
    assert_eq!(col("c_float"), s("-2.5e-300"));
    assert_eq!(col("c_numeric"), s("-0.500"));
    assert_eq!(col("c_dto"), s("2024-01-01 08:00:00.000000"));
    assert_eq!(col("c_datetime2"), s("0001-01-01 00:00:00.000000"));
    assert_eq!(col("c_varbinary"), s(""));
    assert_eq!(col("c_varbinary_max"), s(""));
    assert_eq!(col("c_varchar"), s(""));
    assert_eq!(col("c_nvarchar_max"), s(""));
    assert_eq!(col("c_geometry"), s("POINT EMPTY"));
    // The 7th digits dropped are counted per column.
    let status = c.bin.ok(&["status"]);
    for n in ["c_time", "c_datetime2", "c_dto"] {
        assert!(
            status.contains(&format!("dbo.alltypes.{n}")),
            "{n} not in:\n{status}"
        );
    }
}

#[test]
fn sql_variant_is_refused_by_name_and_can_be_masked() {
    let t = Table {
        schema: "dbo",
        name: "variant",
        cols: vec![
            Col("id", "int"),
            Col("v", "sql_variant"),
            Col("n", "nvarchar(10)"),
        ],
        key: vec!["id"],
        rows: vec![],
    };
    let mut rules = vec![
        scalar(
            "^SELECT CHANGE_TRACKING_CURRENT_VERSION\\(\\)$",
            None,
            "bigint",
            json!(7),
        ),
        rule(
            "^SELECT \\[id\\], NULL, \\[n\\] FROM \\[dbo\\]\\.\\[variant\\]$",
            None,
            json!([{"name": "id", "type": "int"}, {"name": "v", "type": "nvarchar(1)"}, {"name": "n", "type": "nvarchar(10)"}]),
            json!([[1, null, "x"]]),
        ),
    ];
    rules.extend(table_rules(&t));
    rules.extend(catalog_rules(&[&t]));
    rules.push(catch_all());
    let c = MsCase::new("variant", &rules);
    c.write_config("", "[[table]]\nname = \"dbo.variant\"\n");
    c.bin.expect(
        &["full-extract"],
        2,
        &["table dbo.variant", "column v is sql_variant", "mask"],
    );
    c.write_config("", "[[table]]\nname = \"dbo.variant\"\nmask = [\"v\"]\n");
    c.bin.ok(&["full-extract"]);
    assert_eq!(
        c.dest_rows("variant", "id, v, n"),
        vec![vec![Some("1".into()), None, Some("x".into())]]
    );
}

#[test]
fn check_names_each_missing_prerequisite_with_its_fix() {
    let t = orders(vec![]);
    let mut rules = vec![
        scalar("snapshot_isolation_state", None, "bigint", json!(0)),
        scalar(
            "FROM sys\\.change_tracking_databases",
            None,
            "bigint",
            json!(0),
        ),
        scalar(
            "FROM sys\\.change_tracking_tables WHERE object_id",
            None,
            "bigint",
            json!(0),
        ),
        scalar("VIEW CHANGE TRACKING", None, "bigint", json!(0)),
        scalar(
            "DATABASEPROPERTYEX",
            None,
            "nvarchar(20)",
            json!("READ_ONLY"),
        ),
        scalar("is_cdc_enabled", None, "bigint", json!(0)),
    ];
    rules.extend(ct_rules(&t, 1000, 900, 1000, json!([])));
    let c = MsCase::new("check", &rules);
    c.write_config("", "[[table]]\nname = \"dbo.orders\"\n");
    c.bin.expect(
        &["check"],
        2,
        &[
            "ALTER DATABASE [testdb] SET ALLOW_SNAPSHOT_ISOLATION ON",
            "ALTER DATABASE [testdb] SET CHANGE_TRACKING = ON",
            "ALTER TABLE [dbo].[orders] ENABLE CHANGE_TRACKING",
            "GRANT VIEW CHANGE TRACKING ON [dbo].[orders] TO [sa]",
            "read-only",
        ],
    );
    // CDC: the database's switch first.
    c.write_config(
        "extract_type = \"cdc\"",
        "[[table]]\nname = \"dbo.orders\"\n",
    );
    c.bin.expect(&["check"], 2, &["EXEC sys.sp_cdc_enable_db"]);
    // No capture instance for the table.
    let mut rules = vec![
        scalar("is_cdc_enabled", None, "bigint", json!(1)),
        rule(
            "FROM cdc\\.change_tables AS ct JOIN cdc\\.captured_columns",
            None,
            json!([{"name": "i", "type": "nvarchar(128)"}, {"name": "c", "type": "nvarchar(128)"}]),
            json!([]),
        ),
        scalar(
            "^SELECT sys\\.fn_cdc_get_max_lsn\\(\\)$",
            None,
            "binary(10)",
            json!(L1),
        ),
    ];
    rules.extend(ct_rules(&t, 1000, 900, 1000, json!([])));
    c.fx.set(&rules);
    c.bin.expect(
        &["check"],
        2,
        &["EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = N'orders'"],
    );
}

/// A table read whole on every run (`extract_type = "full"`), its initial
/// extract split into key ranges read on two connections.
#[test]
fn full_tables_are_read_whole_in_key_ranges_and_replaced_each_run() {
    let rows = |from: i64, to: i64, tag: &str| -> Vec<Vec<Value>> {
        (from..=to)
            .map(|i| row(i, &format!("{tag}{i}"), "1.00"))
            .collect()
    };
    let big = Table {
        name: "big",
        ..orders(rows(1, 100, "a"))
    };
    let range = |re: &str, p: i64, rows: Vec<Vec<Value>>| {
        rule(
            &format!("^SELECT .* FROM \\[dbo\\]\\.\\[big\\] WHERE \\[id\\] {re}$"),
            Some(json!([p])),
            Value::Array(columns(&big)),
            json!(rows),
        )
    };
    let rules_with = |content: Vec<Vec<Value>>| {
        let t = Table {
            name: "big",
            ..orders(content)
        };
        let mut r = vec![
            scalar(
                "SUM\\(a\\.used_pages\\)",
                None,
                "bigint",
                json!(1_000_000_000i64),
            ),
            scalar(
                "^SELECT CAST\\(MIN\\(\\[id\\]\\) AS bigint\\) FROM \\[dbo\\]\\.\\[big\\]$",
                None,
                "bigint",
                json!(1),
            ),
            scalar(
                "^SELECT CAST\\(MAX\\(\\[id\\]\\) AS bigint\\) FROM \\[dbo\\]\\.\\[big\\]$",
                None,
                "bigint",
                json!(100),
            ),
            range("< @P1", 51, rows(1, 50, "a")),
            range(">= @P1", 51, rows(51, 100, "a")),
            snapshot_rule(&t),
        ];
        r.extend(table_rules(&t));
        r.extend(catalog_rules(&[&t]));
        r.push(catch_all());
        r
    };
    let c = MsCase::new("full", &rules_with(rows(1, 100, "a")));
    c.write_config(
        "extract_type = \"full\"\nextract_threads = 2\nextract_split_mb = 1",
        "[[table]]\nname = \"dbo.big\"\n",
    );
    c.bin.ok(&["full-extract"]);
    let log = c.fx.take_log();
    assert_eq!(sent(&log, "WHERE [id] <").len(), 1, "{log:#?}");
    assert_eq!(sent(&log, "WHERE [id] >=").len(), 1, "{log:#?}");
    assert!(
        sent(&log, "CHANGE_TRACKING").is_empty(),
        "no Change Tracking asked: {log:#?}"
    );
    let got = c.dest_rows("big", "id, name");
    assert_eq!(got.len(), 100);
    assert_eq!(got[99], vec![Some("100".into()), Some("a100".into())]);

    // The next run reads it whole again: rows gone, changed and new.
    let mut now = rows(1, 40, "b");
    now.extend(rows(120, 130, "c"));
    c.fx.set(&rules_with(now));
    c.bin.ok(&["delta"]);
    let got = c.dest_rows("big", "id, name");
    assert_eq!(got.len(), 51);
    assert_eq!(got[0], vec![Some("1".into()), Some("b1".into())]);
    assert_eq!(got[50], vec![Some("130".into()), Some("c130".into())]);
}

/// A table whose changes cannot be read fails the whole Change Tracking
/// read: the transaction is rolled back, no table's changes land, and the
/// next delta reads every table from the same version again.
#[test]
fn a_failed_change_tracking_read_rolls_back_and_is_read_again() {
    let t = orders(vec![row(1, "a", "1.00")]);
    let items = Table {
        name: "items",
        ..orders(vec![row(1, "i", "9.00")])
    };
    let rules = |items_error: bool, current: i64| {
        let mut r = vec![];
        if items_error {
            r.push(crate::common::error(
                "CHANGETABLE\\(CHANGES \\[dbo\\]\\.\\[items\\]",
                None,
                208,
                "Invalid object name 'dbo.items'.",
            ));
        } else {
            r.push(rule(
                "CHANGETABLE\\(CHANGES \\[dbo\\]\\.\\[items\\], @P1\\)",
                Some(json!([1000])),
                {
                    let mut c = vec![
                        json!({"name": "op", "type": "nchar(1)"}),
                        json!({"name": "id", "type": "int"}),
                    ];
                    c.extend(columns(&items));
                    Value::Array(c)
                },
                json!([["U", 1, 1, "i2", "9.50", null]]),
            ));
        }
        r.push(scalar(
            "^SELECT CHANGE_TRACKING_MIN_VALID_VERSION\\(OBJECT_ID\\(@P1\\)\\)$",
            Some(json!([items.qname()])),
            "bigint",
            json!(900),
        ));
        r.push(snapshot_rule(&items));
        r.extend(table_rules(&items));
        let mut o = ct_rules(
            &t,
            current,
            900,
            1000,
            json!([["I", 2, 2, "b", "2.00", null]]),
        );
        // One sys.tables answer listing both.
        for x in o.iter_mut() {
            if x["match"].as_str().unwrap().contains("sys\\.tables") {
                x["result_sets"][0]["rows"] = json!([["dbo", "items"], ["dbo", "orders"]]);
            }
        }
        r.extend(o);
        r
    };
    let c = MsCase::new("ct_rollback", &rules(false, 1000));
    c.write_config("", "[[table]]\nname = \"dbo.*\"\n");
    c.bin.ok(&["full-extract"]);
    c.fx.take_log();
    c.fx.set(&rules(true, 1005));
    let out = c.bin.ingest(&["delta"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Invalid object name"), "{err}");
    let log = c.fx.take_log();
    let begin = position(&log, "request=5");
    assert!(sent(&log, "request=7").is_empty(), "no commit: {log:#?}");
    assert!(
        log[begin..].iter().any(|l| l.contains("request=8")),
        "a rollback: {log:#?}"
    );
    assert_eq!(
        c.dest_rows("orders", "id").len(),
        1,
        "nothing of the failed read landed"
    );

    c.fx.set(&rules(false, 1005));
    c.bin.ok(&["delta"]);
    let log = c.fx.take_log();
    for l in sent(&log, "FROM CHANGETABLE") {
        assert!(l.contains("params=[1000]"), "read again from 1000: {l}");
    }
    assert_eq!(sent(&log, "FROM CHANGETABLE").len(), 2);
    assert_eq!(
        c.dest_rows("orders", "id, name"),
        vec![
            vec![Some("1".into()), Some("a".into())],
            vec![Some("2".into()), Some("b".into())]
        ]
    );
    assert_eq!(c.dest_rows("items", "name"), vec![vec![Some("i2".into())]]);
}

/// Full extracts through a bcp program (here FreeTDS's freebcp against the
/// fixture server): NULL and empty values apart, terminators of other kinds
/// inside values kept, floats as their bytes; a value holding ingest's own
/// terminator fails the extract, naming the row.
#[test]
fn bcp_full_extracts_keep_null_empty_and_terminators_apart() {
    let decl = Table {
        schema: "dbo",
        name: "bcp_t",
        cols: vec![
            Col("id", "int"),
            Col("s", "varchar(20)"),
            Col("n", "nvarchar(20)"),
            Col("b", "varbinary(8)"),
            Col("d", "decimal(10,2)"),
            Col("f", "float"),
            Col("r", "real"),
            Col("dt", "datetime"),
        ],
        key: vec!["id"],
        rows: vec![],
    };
    // What the bcp statement reads: floats as their IEEE bytes.
    let bcp_rule = |rows: Value| {
        let mut cols = columns(&decl);
        cols[5] = json!({"name": "f", "type": "binary(8)"});
        cols[6] = json!({"name": "r", "type": "binary(4)"});
        rule(
            "SELECT \\[id\\], \\[s\\], \\[n\\], \\[b\\], \\[d\\], CAST\\(\\[f\\] AS binary\\(8\\)\\), CAST\\(\\[r\\] AS binary\\(4\\)\\), \\[dt\\] FROM \\[dbo\\]\\.\\[bcp_t\\]",
            None,
            Value::Array(cols),
            rows,
        )
    };
    let rules = |rows: Value| {
        let mut r = vec![
            scalar(
                "^SELECT CHANGE_TRACKING_CURRENT_VERSION\\(\\)$",
                None,
                "bigint",
                json!(7),
            ),
            bcp_rule(rows),
        ];
        r.extend(table_rules(&decl));
        r.extend(catalog_rules(&[&decl]));
        r.push(catch_all());
        r
    };
    let c = MsCase::new(
        "bcp",
        &rules(json!([
            [
                1,
                "a|b\tc\nd",
                "zł€ 😀",
                "0x0102",
                "12.50",
                "0x3FF8000000000000",
                "0x3DCCCCCD",
                "2024-02-29 23:59:59.997"
            ],
            [2, null, null, null, null, null, null, null],
            [
                3,
                "",
                "",
                "0x",
                "0.00",
                "0x0000000000000000",
                "0x00000000",
                "1753-01-01 00:00:00"
            ]
        ])),
    );
    c.write_config(
        "bcp_path = \"freebcp\"",
        "[[table]]\nname = \"dbo.bcp_t\"\n",
    );
    c.bin.ok(&["full-extract"]);
    let log = c.fx.take_log();
    assert!(!sent(&log, "CAST([f] AS binary(8))").is_empty(), "{log:#?}");
    let rows = c.dest_rows(
        "bcp_t",
        "id, s, n, HEX(b), CAST(d AS CHAR), f, CAST(r AS DOUBLE), CAST(dt AS CHAR)",
    );
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows[0],
        vec![
            s("1"),
            s("a|b\tc\nd"),
            s("zł€ 😀"),
            s("0102"),
            s("12.50"),
            s("1.5"),
            s("0.10000000149011612"),
            s("2024-02-29 23:59:59.997")
        ]
    );
    assert_eq!(rows[1][0], s("2"));
    assert!(
        rows[1][1..].iter().all(Option::is_none),
        "NULLs: {:?}",
        rows[1]
    );
    assert_eq!(
        rows[2],
        vec![
            s("3"),
            s(""),
            s(""),
            s(""),
            s("0.00"),
            s("0"),
            s("0"),
            s("1753-01-01 00:00:00.000")
        ]
    );

    // A value holding ingest's field terminator: the extract fails, the
    // destination keeps what it had.
    c.fx.set(&rules(json!([
        [1, "x", "y", null, null, null, null, null],
        [
            2,
            "bad\u{1e}\u{1f}\u{1e}value",
            "y",
            null,
            null,
            null,
            null,
            null
        ]
    ])));
    let out = c.bin.ingest(&["full-extract"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("row 2 has 9 fields, not 8") && err.contains("bcp = \"off\""),
        "{err}"
    );
    assert_eq!(c.dest_rows("bcp_t", "id").len(), 3);
    assert!(
        !err.contains("fixture-pw"),
        "the password is never shown: {err}"
    );
}

/// Tables without Change Tracking or CDC, read by a timestamp column: the
/// rows newer than the newest value read, from the value read before the
/// snapshot on; deletes are not seen (documented).
#[test]
fn timestamps_read_the_rows_newer_than_the_newest_value_read() {
    let t = Table {
        schema: "dbo",
        name: "stamped",
        cols: vec![
            Col("id", "int"),
            Col("name", "nvarchar(20)"),
            Col("updated_at", "datetime2(7)"),
        ],
        key: vec!["id"],
        rows: vec![
            json!([1, "a", "2024-05-01 10:00:00.0000000"])
                .as_array()
                .unwrap()
                .clone(),
            json!([2, "b", "2024-05-03 10:00:00.1234567"])
                .as_array()
                .unwrap()
                .clone(),
        ],
    };
    let rules = |newest: &str, after: &str, rows: Value| {
        let mut cols = columns(&t);
        cols.push(json!({"name": "w", "type": "varchar(40)"}));
        let mut r = vec![
            scalar(
                "^SELECT CONVERT\\(varchar\\(40\\), MAX\\(\\[updated_at\\]\\), 121\\) FROM \\[dbo\\]\\.\\[stamped\\]$",
                None,
                "varchar(40)",
                json!(newest),
            ),
            rule(
                &format!(
                    "^SELECT \\[id\\], \\[name\\], \\[updated_at\\], CONVERT\\(varchar\\(40\\), \\[updated_at\\], 121\\) FROM \\[dbo\\]\\.\\[stamped\\] WHERE \\[updated_at\\] > CONVERT\\(datetime2\\(7\\), '{}', 121\\)$",
                    after.replace('.', "\\.")
                ),
                None,
                Value::Array(cols),
                rows,
            ),
            snapshot_rule(&t),
        ];
        r.extend(table_rules(&t));
        r.extend(catalog_rules(&[&t]));
        r.push(catch_all());
        r
    };
    let c = MsCase::new(
        "stamps",
        &rules("2024-05-03 10:00:00.1234567", "-", json!([])),
    );
    c.write_config(
        "extract_type = \"timestamps\"",
        "[[table]]\nname = \"dbo.stamped\"\n",
    );
    c.bin.expect(
        &["full-extract"],
        2,
        &["table dbo.stamped", "timestamp_column = \"...\""],
    );
    c.write_config(
        "extract_type = \"timestamps\"",
        "[[table]]\nname = \"dbo.stamped\"\ntimestamp_column = \"updated_at\"\n",
    );
    c.bin.ok(&["full-extract"]);
    assert_eq!(c.dest_rows("stamped", "id").len(), 2);
    c.fx.take_log();

    // Row 2 updated, row 3 new; row 1 deleted at the source (not seen).
    c.fx.set(&rules(
        "2024-05-04 00:00:00.0000000",
        "2024-05-03 10:00:00.1234567",
        json!([
            [
                2,
                "b2",
                "2024-05-03 11:00:00.0000000",
                "2024-05-03 11:00:00.0000000"
            ],
            [
                3,
                "c",
                "2024-05-04 00:00:00.0000000",
                "2024-05-04 00:00:00.0000000"
            ]
        ]),
    ));
    c.bin.ok(&["delta"]);
    assert_eq!(
        c.dest_rows("stamped", "id, name"),
        vec![
            vec![Some("1".into()), Some("a".into())],
            vec![Some("2".into()), Some("b2".into())],
            vec![Some("3".into()), Some("c".into())],
        ]
    );
    let status = c.bin.ok(&["status"]);
    assert!(
        status.contains("ts[dbo.stamped]=2024-05-04%2000:00:00.0000000"),
        "{status}"
    );

    // The next delta starts after the newest value read.
    c.fx.set(&rules(
        "2024-05-04 00:00:00.0000000",
        "2024-05-04 00:00:00.0000000",
        json!([]),
    ));
    c.bin.ok(&["delta"]);
    let log = c.fx.take_log();
    assert_eq!(
        sent(
            &log,
            "WHERE [updated_at] > CONVERT(datetime2(7), '2024-05-04 00:00:00.0000000', 121)"
        )
        .len(),
        1,
        "{log:#?}"
    );
}

#[test]
fn a_driver_that_is_not_installed_is_named_with_the_fix() {
    let t = orders(vec![]);
    let c = MsCase::new("nodriver", &ct_rules(&t, 1000, 900, 1000, json!([])));
    c.write_config("", "[[table]]\nname = \"dbo.orders\"\n");
    let text = std::fs::read_to_string(&c.bin.config).unwrap();
    std::fs::write(
        &c.bin.config,
        text.replace(
            "odbc_driver = \"FreeTDS\"",
            "odbc_driver = \"No Such Driver 9\"",
        ),
    )
    .unwrap();
    let err = c.bin.expect(
        &["check"],
        2,
        &[
            "No Such Driver 9",
            "not installed or not registered",
            "source.odbc_driver",
        ],
    );
    assert!(!err.contains("fixture-pw"), "{err}");
}

/// A column added at the source: the table's changes are not read in the
/// old shape (the new column would be lost); they wait for sync-struct,
/// which adds the column at the destination (the rows there get NULL: it
/// was added nullable without a default) and applies them up to where the
/// other tables' deltas went on.
#[test]
fn a_structure_change_waits_for_sync_struct_which_applies_it() {
    let t = orders(vec![row(1, "a", "1.00")]);
    let items = Table {
        name: "items",
        ..orders(vec![row(1, "i", "9.00")])
    };
    // `orders` (in the shape `o`) at version `current` with changes since
    // `since`, and `items` from `since` (one change since 1000).
    let rules = |o: &Table, current: i64, since: i64, changes: Value| {
        let mut r = vec![
            rule(
                "CHANGETABLE\\(CHANGES \\[dbo\\]\\.\\[items\\], @P1\\)",
                Some(json!([since])),
                {
                    let mut c = vec![
                        json!({"name": "op", "type": "nchar(1)"}),
                        json!({"name": "id", "type": "int"}),
                    ];
                    c.extend(columns(&items));
                    Value::Array(c)
                },
                if since == 1000 {
                    json!([["U", 1, 1, "i2", "9.50", null]])
                } else {
                    json!([])
                },
            ),
            scalar(
                "^SELECT CHANGE_TRACKING_MIN_VALID_VERSION\\(OBJECT_ID\\(@P1\\)\\)$",
                Some(json!([items.qname()])),
                "bigint",
                json!(900),
            ),
            snapshot_rule(&items),
        ];
        r.extend(table_rules(&items));
        let mut o = ct_rules(o, current, 900, since, changes);
        for x in o.iter_mut() {
            if x["match"].as_str().unwrap().contains("sys\\.tables") {
                x["result_sets"][0]["rows"] = json!([["dbo", "items"], ["dbo", "orders"]]);
            }
        }
        r.extend(o);
        r
    };
    let c = MsCase::new("ct_ddl", &rules(&t, 1000, 1000, json!([])));
    c.write_config("", "[[table]]\nname = \"dbo.*\"\n");
    c.bin.ok(&["full-extract"]);
    let mut t2 = orders(vec![]);
    t2.cols.push(Col("note", "nvarchar(10)"));
    let change = json!([["I", 2, 2, "b", "2.00", null, "n2"]]);
    c.fx.set(&rules(&t2, 1005, 1000, change.clone()));
    c.bin.expect(
        &["delta"],
        1,
        &[
            "columns were",
            "note nvarchar(20,0,0)",
            "ingest sync-struct dbo.orders",
        ],
    );
    let log = c.fx.take_log();
    assert_eq!(
        sent(&log, "FROM CHANGETABLE").len(),
        1,
        "items only: {log:#?}"
    );
    assert_eq!(c.dest_rows("orders", "id").len(), 1);
    assert_eq!(c.dest_rows("items", "name"), vec![vec![Some("i2".into())]]);

    // sync-struct: the column's fill asked of the catalog, then the
    // changes from version 1000 up to the deltas' 1005.
    let mut r = vec![
        rule(
            "FROM sys\\.columns AS c LEFT JOIN sys\\.default_constraints",
            Some(json!(["[dbo].[orders]", "note"])),
            json!([{"name": "n", "type": "int"}, {"name": "d", "type": "nvarchar(100)"}]),
            json!([[1, null]]),
        ),
        rule(
            "CHANGETABLE\\(CHANGES \\[dbo\\]\\.\\[orders\\], @P1\\) .* WHERE CT\\.SYS_CHANGE_VERSION <= 1005 ORDER BY",
            Some(json!([1000])),
            {
                let mut c = vec![json!({"name": "op", "type": "nchar(1)"}), json!({"name": "id", "type": "int"})];
                c.extend(columns(&t2));
                Value::Array(c)
            },
            change,
        ),
    ];
    r.extend(rules(&t2, 1005, 1005, json!([])));
    c.fx.set(&r);
    c.bin.ok(&["sync-struct", "dbo.orders"]);
    assert_eq!(
        c.dest_rows("orders", "id, name, note"),
        vec![
            vec![Some("1".into()), Some("a".into()), None],
            vec![Some("2".into()), Some("b".into()), Some("n2".into())]
        ]
    );
    let log = c.fx.take_log();
    assert_eq!(
        sent(&log, "SYS_CHANGE_VERSION <= 1005").len(),
        1,
        "{log:#?}"
    );
    // Deltas go on from 1005 with the new column.
    c.fx.set(&rules(
        &t2,
        1010,
        1005,
        json!([["U", 1, 1, "a", "1.00", null, "n1"]]),
    ));
    c.bin.ok(&["delta"]);
    assert_eq!(
        c.dest_rows("orders", "id, note")[0],
        vec![Some("1".into()), Some("n1".into())]
    );
}

/// A history table over CDC: each version starts at its transaction's
/// commit time (`sys.fn_cdc_map_lsn_to_time`; later than the full
/// extract's versions, which start when it ran).
#[test]
fn cdc_commit_times_start_history_versions() {
    let t = orders(vec![row(1, "a", "1.00"), row(2, "b", "2.00")]);
    let c = MsCase::new("cdc_hist", &cdc_rules(&t, L1, L1, L1, json!([])));
    // CDC named by the table's entry: the source's default (Change
    // Tracking) is never asked for.
    c.write_config(
        "",
        "[[table]]\nname = \"dbo.orders\"\nhistory = true\nextract_type = \"cdc\"\n",
    );
    c.bin.ok(&["full-extract"]);
    c.fx.set(&cdc_rules(
        &t,
        L2,
        L1,
        L1,
        json!([
            [
                "0x0000002B000001A00004",
                4,
                "2099-06-01 10:00:01.000",
                2,
                "b2",
                "2.50",
                null
            ],
            [L2, 1, "2099-06-01 10:00:02.500", 1, "a", "1.00", null]
        ]),
    ));
    c.bin.ok(&["delta"]);
    let log = c.fx.take_log();
    assert!(sent(&log, "CHANGE_TRACKING").is_empty(), "{log:#?}");
    assert_eq!(
        sent(&log, "FROM cdc.[fn_cdc_get_all_changes_dbo_orders]").len(),
        1
    );
    let rows = c.dest_rows(
        "orders",
        "id, name, ingest_op, CAST(ingest_start AS CHAR), CAST(ingest_end AS CHAR)",
    );
    let versions = |id: &str| -> Vec<Vec<Option<String>>> {
        rows.iter()
            .filter(|r| r[0].as_deref() == Some(id))
            .cloned()
            .collect()
    };
    let two = versions("2");
    assert_eq!(two.len(), 2, "{rows:?}");
    assert!(
        two.iter().any(|r| r[1].as_deref() == Some("b2")
            && r[2].as_deref() == Some("U")
            && r[3]
                .as_deref()
                .is_some_and(|s| s.starts_with("2099-06-01 10:00:01"))),
        "{two:?}"
    );
    assert!(
        two.iter().any(|r| r[1].as_deref() == Some("b")
            && r[4]
                .as_deref()
                .is_some_and(|s| s.starts_with("2099-06-01 10:00:01"))),
        "the old version ends when the new one starts: {two:?}"
    );
    let one = versions("1");
    assert!(
        one.iter().all(|r| r[4]
            .as_deref()
            .is_some_and(|s| s.starts_with("2099-06-01 10:00:02.5"))),
        "the delete ends the version at its commit time: {one:?}"
    );
}

/// Rows across many fetch blocks (at most 5,000 rows a block), in both
/// fetch paths (blocks of column buffers; a row at a time where a column
/// is unbounded), land whole.
#[test]
fn many_rows_cross_fetch_blocks_in_both_paths() {
    let n = 12_345i64;
    let rows = |long: bool| -> Vec<Vec<Value>> {
        (1..=n)
            .map(|i| {
                let text = if i % 97 == 0 {
                    Value::Null
                } else {
                    json!(format!("r{i} ünï"))
                };
                let mut r = vec![json!(i), text, json!(format!("{}.{:02}", i, i % 100))];
                if long {
                    r.push(json!(format!("0x{:08X}", i)));
                }
                r
            })
            .collect()
    };
    let table = |name: &'static str, long: bool| {
        let mut cols = vec![
            Col("id", "int"),
            Col("t", "nvarchar(40)"),
            Col("d", "decimal(12,2)"),
        ];
        if long {
            cols.push(Col("b", "varbinary(max)"));
        }
        Table {
            schema: "dbo",
            name,
            cols,
            key: vec!["id"],
            rows: rows(long),
        }
    };
    let (a, b) = (table("blocks", false), table("lobs", true));
    let mut rules = vec![
        scalar(
            "^SELECT CHANGE_TRACKING_CURRENT_VERSION\\(\\)$",
            None,
            "bigint",
            json!(7),
        ),
        snapshot_rule(&a),
        snapshot_rule(&b),
    ];
    rules.extend(table_rules(&a));
    rules.extend(table_rules(&b));
    rules.extend(catalog_rules(&[&a, &b]));
    rules.push(catch_all());
    let c = MsCase::new("blocks", &rules);
    c.write_config("", "[[table]]\nname = \"dbo.*\"\n");
    c.bin.ok(&["full-extract"]);
    for t in ["blocks", "lobs"] {
        let agg = c.dest_rows(
            t,
            "COUNT(*), SUM(id), CAST(SUM(d) * 100 AS SIGNED), SUM(t IS NULL), MAX(CASE WHEN id = 12345 THEN t END)",
        );
        assert_eq!(
            agg[0],
            vec![
                Some(n.to_string()),
                Some((n * (n + 1) / 2).to_string()),
                Some((1..=n).map(|i| i * 100 + i % 100).sum::<i64>().to_string()),
                Some((n / 97).to_string()),
                Some("r12345 ünï".into()),
            ],
            "{t}"
        );
    }
    assert_eq!(
        c.dest_rows("lobs", "HEX(b)")[..2],
        [vec![Some("00000001".into())], vec![Some("00000002".into())]]
    );
}

/// The SQL Server goes away (every connection cut, new ones refused for
/// 3 s, through a proxy) during a full extract's snapshot and during a
/// Change Tracking delta: the run rides it out or fails cleanly, and the
/// next converges.
#[test]
fn outages_of_the_sql_server_are_survived() {
    let rows = |tag: &str| -> Vec<Vec<Value>> {
        (1..=3000)
            .map(|i| row(i, &format!("{tag}{i}"), "1.00"))
            .collect()
    };
    let t = orders(rows("a"));
    let c = MsCase::new("outage", &ct_rules(&t, 1000, 900, 1000, json!([])));
    let proxy = crate::common::Outage::to(c.fx.port);
    c.write_config("", "[[table]]\nname = \"dbo.orders\"\n");
    let text = std::fs::read_to_string(&c.bin.config).unwrap();
    let text = text.replacen(
        &format!("port = {}", c.fx.port),
        &format!("port = {}", proxy.port),
        1,
    );
    std::fs::write(&c.bin.config, text).unwrap();
    let count = |want: usize| {
        let got = c.dest_rows("orders", "id");
        assert_eq!(got.len(), want);
    };
    crate::outages::survive(
        &c.bin,
        proxy.outage(),
        &["full-extract"],
        "snapshot-row",
        &|| count(3000),
    );
    c.fx.set(&ct_rules(
        &t,
        1005,
        900,
        1000,
        json!([
            ["I", 4001, 4001, "n", "1.00", null],
            ["D", 5, null, null, null, null]
        ]),
    ));
    crate::outages::survive(&c.bin, proxy.outage(), &["delta"], "delta-row", &|| {
        count(3000)
    });
    assert_eq!(
        c.dest_rows("orders", "id").last().unwrap()[0].as_deref(),
        Some("4001")
    );
}
