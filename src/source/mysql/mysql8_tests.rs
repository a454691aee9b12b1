//! Real MySQL 8.0, 8.4 and 9.x binlog bytes (`tests/fixtures/mysql8/`,
//! provenance in its README) read by the delta's own reader
//! (`BinlogRead::file`, as for a downloaded file), with the catalog the
//! statements that wrote them create; each test asserts the spool lines
//! the changes became and the position (with GTIDs) a delta would save.

use std::collections::HashMap;

use super::binlog::BinlogRead;
use super::column::MyCol;
use super::gtid::GtidSet;
use crate::change::tests::Scratch;
use crate::change::Incomplete;
use crate::position::Position;
use crate::schema::{TableSchema, Unrepresentable};
use crate::source::Warnings;
use crate::table::TableId;

/// One table of a case: `db.table`, its catalog, its key columns.
pub(super) struct Catalog {
    pub id: TableId,
    pub cols: Vec<MyCol>,
    pub key: Vec<usize>,
}

/// `(name, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME)` rows.
pub(super) fn catalog(
    db: &str,
    table: &str,
    rows: &[(&str, &str, &str, Option<&str>)],
    key: &[usize],
) -> Catalog {
    Catalog {
        id: TableId::new(db, table),
        cols: rows
            .iter()
            .map(|(n, dt, ct, cs)| MyCol::new(n, dt, ct, *cs))
            .collect(),
        key: key.to_vec(),
    }
}

/// One spool line: operation and values (`None`: NULL).
#[derive(Debug, PartialEq)]
pub(super) struct Line {
    pub op: String,
    pub values: Vec<Option<String>>,
}

/// What a delta made of the bytes.
pub(super) struct Read {
    /// Per table (`db.table`): its lines in order.
    pub lines: HashMap<String, Vec<Line>>,
    /// Tables stopped, with why.
    pub stopped: Vec<(String, String)>,
    pub to_pos: Option<Position>,
    pub transactions: u64,
    pub warnings: Warnings,
    /// Rows to complete from the source: (table, seq, values, unchanged).
    pub deferred: Vec<Incomplete>,
}

/// Reads `files` (name, bytes) in order, the first from `skip_before`
/// on, starting with the GTID set `gtids` (MySQL form) if given.
pub(super) fn read(
    files: &[(&str, &[u8])],
    skip_before: u64,
    gtids: Option<&str>,
    tables: &[Catalog],
) -> Read {
    let schemas: HashMap<TableId, TableSchema> = tables
        .iter()
        .map(|c| {
            let columns = c.cols.iter().map(|m| m.column(true)).collect();
            let s = TableSchema {
                schema: c.id.schema.clone(),
                name: c.id.name.clone(),
                dest_db: "d".into(),
                dest_table: c.id.name.clone(),
                columns,
                key: c.key.clone(),
                min_year: 0,
                filter: None,
                bad_value_fail: false,
                history: None,
                keyless: false,
                hashed_key: vec![],
            };
            (c.id.clone(), s)
        })
        .collect();
    let cols: HashMap<TableId, Vec<MyCol>> = tables
        .iter()
        .map(|c| (c.id.clone(), c.cols.clone()))
        .collect();
    let (_dir, mut batch) = Scratch::new(&format!("mysql8-{}", files[0].0));
    let mut warnings = Warnings::default();
    let start = (
        files[0].0.to_string(),
        skip_before,
        gtids.map(|g| GtidSet::parse(g, false).expect("a GTID set")),
    );
    let mut rd = BinlogRead::new(&schemas, &cols, HashMap::new(), &mut batch, start, u64::MAX);
    for (n, (name, bytes)) in files.iter().enumerate() {
        let skip = if n == 0 { skip_before } else { 0 };
        rd.file(name, *bytes, skip, &mut warnings)
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
    let deferred = std::mem::take(&mut rd.dec.deferred);
    let out = rd.finish(&mut warnings).unwrap();
    let mut lines = HashMap::new();
    for t in &out.tables {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut crate::spool::open_table(batch.dir(), t).unwrap(),
            &mut text,
        )
        .unwrap();
        lines.insert(
            format!("{}.{}", t.source_schema, t.source_table),
            parse(&text),
        );
    }
    Read {
        lines,
        stopped: out
            .changed
            .iter()
            .map(|e| (e.table.to_string(), e.why.clone()))
            .collect(),
        to_pos: out.to_pos,
        transactions: out.transactions,
        warnings,
        deferred,
    }
}

/// Spool lines → operation and values (bare `NULL` is NULL; the sequence,
/// time and unchanged-columns fields are left out).
fn parse(text: &str) -> Vec<Line> {
    let mut out = vec![];
    let mut fields: Vec<Option<String>> = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    let end_field = |fields: &mut Vec<Option<String>>, cur: &mut String, was_quoted: bool| {
        let v = std::mem::take(cur);
        fields.push((was_quoted || v != "NULL").then_some(v));
    };
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') => {
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                end_field(&mut fields, &mut cur, was_quoted);
                was_quoted = false;
            }
            (false, '\n') => {
                end_field(&mut fields, &mut cur, was_quoted);
                was_quoted = false;
                let f = std::mem::take(&mut fields);
                out.push(Line {
                    op: f[0].clone().unwrap(),
                    values: f[4..].to_vec(),
                });
            }
            (false, c) => cur.push(c),
        }
    }
    out
}

/// A line of `op` with `values` (`"NULL"` for NULL).
pub(super) fn line(op: &str, values: &[&str]) -> Line {
    Line {
        op: op.into(),
        values: values
            .iter()
            .map(|v| (*v != "NULL").then(|| v.to_string()))
            .collect(),
    }
}

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            &include_bytes!(concat!("../../../tests/fixtures/mysql8/", $name))[..],
        )
    };
}

/// The 26 columns of zongji's `capture_types` with FULL metadata, as
/// `information_schema.COLUMNS` of MySQL 8.4 has them.
fn zongji_fullmeta() -> Catalog {
    let u = Some("utf8mb4");
    catalog(
        "zongji_fixture_capture",
        "capture_types",
        &[
            ("id", "int", "int", None),
            ("i_big", "bigint", "bigint", None),
            ("u_big", "bigint", "bigint unsigned", None),
            ("dec_col", "decimal", "decimal(30,10)", None),
            ("vc", "varchar", "varchar(20)", u),
            ("ch", "char", "char(5)", u),
            ("bin_col", "binary", "binary(4)", None),
            ("vb", "varbinary", "varbinary(8)", None),
            ("txt", "text", "text", u),
            ("blb", "blob", "blob", None),
            ("flt", "float", "float", None),
            ("dbl", "double", "double", None),
            ("dt", "datetime", "datetime(3)", None),
            ("ts", "timestamp", "timestamp", None),
            ("d", "date", "date", None),
            ("t", "time", "time(3)", None),
            ("y", "year", "year", None),
            ("e", "enum", "enum('a','b','c')", u),
            ("e2", "enum", "enum('a,b','c''d','plain')", u),
            ("s", "set", "set('x','y','z')", u),
            ("bt", "bit", "bit(10)", None),
            ("js", "json", "json", None),
            ("geo", "geometry", "geometry", None),
            ("txt_latin1", "text", "text", Some("latin1")),
            ("vc_latin1", "varchar", "varchar(20)", Some("latin1")),
            ("vc_ucs2", "varchar", "varchar(10)", Some("ucs2")),
        ],
        &[0],
    )
}

/// The row zongji's INSERT wrote, as spool text (FULL-metadata table).
const ZONGJI_ROW: [&str; 26] = [
    "1",
    "9223372036854775807",
    "18446744073709551615",
    "-12345678901234567.0123456789",
    "héllo wörld",
    "abc",
    "deadbeef",
    "0102",
    "text value",
    "cafe",
    "1.25e0",
    "-2.5e0",
    // Times as the spool writes them: six fractional digits.
    "2024-06-15 12:34:56.789000",
    "2024-06-15 12:34:56.000000",
    "2024-06-15",
    "-01:02:03.500000",
    "2024",
    "b",
    "c'd",
    "x,z",
    "0201",
    r#"{"a":1,"arr":["x",true,null],"big":9223372036854775807,"d":1.5}"#,
    // SRID 0, then the WKB of POINT(1 2).
    "000000000101000000000000000000f03f0000000000000040",
    "café ñ",
    "Ÿ€ señor",
    "héllo",
];

/// zongji's README: the statements after the CREATE TABLE (which ends at
/// 1744: the snapshot is taken there) and the values they wrote.
#[test]
fn mysql_8_4_full_metadata_rows_read_as_inserted() {
    let r = read(
        &[fixture!("binlog-mysql84-fullmeta.pseudo.binlog")],
        1744,
        Some("75029619-787e-11f1-88ef-6acb2cd49b0e:1-105"),
        &[zongji_fullmeta()],
    );
    assert_eq!(r.stopped, vec![]);
    assert!(r.warnings.0.is_empty(), "{:?}", r.warnings.0);
    let first = ZONGJI_ROW;
    // binlog_row_image = NOBLOB (the server's setting when zongji
    // captured): TEXT and BLOB columns a statement did not change or name
    // are not logged.
    let blobs = [8, 9, 23];
    let mut old = first;
    for i in blobs {
        old[i] = "NULL";
    }
    let mut moved = old;
    moved[0] = "2";
    moved[4] = "updated";
    let lines = &r.lines["zongji_fixture_capture.capture_types"];
    assert_eq!(
        lines,
        &vec![
            line("I", &first),
            // The key changed: the old key's delete, the new row deferred.
            line("D", &old),
            line("D", &moved),
        ]
    );
    // The moved row and `INSERT (id) VALUES (3)` lack their TEXT and BLOB
    // values: completed from the source at their places.
    let deferred: Vec<(u64, Vec<Option<String>>, Vec<usize>)> = r
        .deferred
        .iter()
        .map(|d| {
            (
                d.seq,
                d.row
                    .iter()
                    .map(|v| v.as_ref().map(|v| String::from_utf8(v.clone()).unwrap()))
                    .collect(),
                (0..d.unchanged.len()).filter(|&i| d.unchanged[i]).collect(),
            )
        })
        .collect();
    let mut only_id = ["NULL"; 26];
    only_id[0] = "3";
    assert_eq!(
        deferred,
        vec![
            (3, line("I", &moved).values, blobs.to_vec()),
            (5, line("I", &only_id).values, blobs.to_vec()),
        ]
    );
    assert_eq!(r.transactions, 4);
    assert_eq!(
        r.to_pos,
        Some(Position::Binlog {
            file: "binlog-mysql84-fullmeta.pseudo.binlog".into(),
            // The end of the last XID event (the ROTATE after it starts no transaction).
            pos: 4994,
            gtid: Some("75029619-787e-11f1-88ef-6acb2cd49b0e:1-109".into()),
        })
    );
}

/// Dates the destination cannot hold (its first year set to 9000 here, as
/// SingleStore's is 1000) are NULL, counted per column with the key of the
/// first row that had one.
#[test]
fn values_the_destination_cannot_hold_are_counted_with_the_first_key() {
    let mut cat = zongji_fullmeta();
    for c in cat.cols.iter_mut() {
        c.min_year = 9000;
    }
    let r = read(
        &[fixture!("binlog-mysql84-fullmeta.pseudo.binlog")],
        1744,
        Some("75029619-787e-11f1-88ef-6acb2cd49b0e:1-105"),
        &[cat],
    );
    let table = "zongji_fixture_capture.capture_types".to_string();
    let key = (table.clone(), "dt".to_string(), Unrepresentable::OutOfRange);
    assert!(
        r.warnings.0.get(&key).is_some_and(|&n| n >= 1),
        "{:?}",
        r.warnings.0
    );
    assert_eq!(r.warnings.1.get(&key).map(String::as_str), Some("id=1"));
    assert_eq!(r.lines[&table][0].values[12], None);
}

/// The lines of one table, as (op, values) with `"NULL"` for NULL.
fn ops(r: &Read, table: &str) -> Vec<(String, Vec<String>)> {
    r.lines
        .get(table)
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    let v = l
                        .values
                        .iter()
                        .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                        .collect();
                    (l.op.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn op(o: &str, v: &[&str]) -> (String, Vec<String>) {
    (o.into(), v.iter().map(|s| s.to_string()).collect())
}

/// Percona Server 8.4.10: `INSERT INTO t.a VALUES (1),(2),(3)` as GTID
/// `ca3c...:3` after PREVIOUS_GTIDS `:1-2` (the CREATE DATABASE and CREATE
/// TABLE of the file before), in 8.4's 123-byte FDE format.
#[test]
fn mysql_8_4_gtid_events_are_followed_into_the_saved_set() {
    let u = "ca3ce93b-9bea-11f1-b808-e608fdb6e3c5";
    let r = read(
        &[fixture!("percona-8.4-binlog.000003")],
        0,
        Some(&format!("{u}:1-2")),
        &[catalog("t", "a", &[("id", "int", "int", None)], &[0])],
    );
    assert_eq!(
        ops(&r, "t.a"),
        vec![op("I", &["1"]), op("I", &["2"]), op("I", &["3"])]
    );
    assert_eq!(r.transactions, 1);
    assert_eq!(
        r.to_pos,
        Some(Position::Binlog {
            file: "percona-8.4-binlog.000003".into(),
            pos: 473,
            gtid: Some(format!("{u}:1-3")),
        })
    );
}

/// MySQL 9.6.0: a tagged GTID (GTID_TAGGED_LOG_EVENT, type 42) after the
/// tagged PREVIOUS_GTIDS `5577...:1-13:mytag:1-2`; the row (3, 100,
/// 250.00) read by hand from the event's bytes.
#[test]
fn mysql_9_tagged_gtids_are_followed_into_the_saved_set() {
    let u = "55778904-0299-11f1-b1b8-4ef0c4956feb";
    let r = read(
        &[fixture!("rmc-binlog_transaction_with_GTID_TAG.000001")],
        0,
        Some(&format!("{u}:1-13,{u}:mytag:1-2")),
        &[catalog(
            "test",
            "orders",
            &[
                ("id", "int", "int", None),
                ("qty", "int", "int", None),
                ("amount", "decimal", "decimal(10,2)", None),
            ],
            &[0],
        )],
    );
    assert_eq!(
        ops(&r, "test.orders"),
        vec![op("I", &["3", "100", "250.00"])]
    );
    assert_eq!(
        r.to_pos,
        Some(Position::Binlog {
            file: "rmc-binlog_transaction_with_GTID_TAG.000001".into(),
            pos: 541,
            gtid: Some(format!("{u}:1-13:mytag:1-3")),
        })
    );
    // A position saved without GTIDs, at the file's start: the file's
    // PREVIOUS_GTIDS (tagged format) gives them.
    let r = read(
        &[fixture!("rmc-binlog_transaction_with_GTID_TAG.000001")],
        4,
        None,
        &[],
    );
    assert_eq!(
        r.to_pos.and_then(|p| match p {
            Position::Binlog { gtid, .. } => gtid,
            _ => None,
        }),
        Some(format!("{u}:1-13:mytag:1-3"))
    );
}

/// `binlog_transaction_compression = ON`: a transaction is one zstd
/// TRANSACTION_PAYLOAD event whose inner events (no checksums, no
/// positions) are decoded like any; the saved position is the payload's
/// end. MySQL 8.0.32 (`INSERT INTO test.tb1 VALUES (1)`, anonymous GTID)
/// and 8.0.31 (two payloads with GTIDs: `insert into b values(1)`, then a
/// transaction on a table not selected).
#[test]
fn compressed_transactions_are_decoded() {
    let r = read(
        &[fixture!("rmc-transaction_compression.000001")],
        0,
        None,
        &[catalog("test", "tb1", &[("a", "int", "int", None)], &[0])],
    );
    assert_eq!(ops(&r, "test.tb1"), vec![op("I", &["1"])]);
    assert_eq!(r.transactions, 1);
    assert_eq!(
        r.to_pos,
        Some(Position::Binlog {
            file: "rmc-transaction_compression.000001".into(),
            pos: 431,
            // From the file's PREVIOUS_GTIDS (the transaction itself is
            // anonymous).
            gtid: Some("357df524-4139-11ee-9979-b033ee13919e:1".into()),
        })
    );
    let u = "76f3e7be-6720-11ed-9cad-0242ac110002";
    let r = read(
        // From after its `create table b(id int)`.
        &[fixture!("mbcr-mysql-bin.000057")],
        378,
        Some(&format!("{u}:1-11")),
        &[catalog("a", "b", &[("id", "int", "int", None)], &[0])],
    );
    assert_eq!(ops(&r, "a.b"), vec![op("I", &["1"])]);
    assert_eq!(r.transactions, 2);
    assert_eq!(
        r.to_pos,
        Some(Position::Binlog {
            file: "mbcr-mysql-bin.000057".into(),
            pos: 1283,
            gtid: Some(format!("{u}:1-13")),
        })
    );
}

/// MySQL 9.0.1's binary JSON with opaque values (DECIMAL, DATE, TIME,
/// DATETIME inside documents, as `CAST(... AS JSON)` stores them), eight
/// rows of `foo.test (a JSON)`: written as JSON text.
#[test]
fn mysql_9_json_with_opaque_values_reads_as_json_text() {
    let r = read(
        &[fixture!("rmc-json-opaque.binlog")],
        529,
        None,
        &[catalog("foo", "test", &[("a", "json", "json", None)], &[0])],
    );
    assert_eq!(r.stopped, vec![]);
    let got: Vec<String> = ops(&r, "foo.test")
        .into_iter()
        .map(|(_, v)| v[0].clone())
        .collect();
    // As MySQL writes them: a VARCHAR opaque as base64, dates and times as
    // strings with six fractional digits, decimals as numbers.
    assert_eq!(
        got,
        [
            r#"{"a":"base64:type15:VQ=="}"#,
            r#"{"b":"2012-03-18"}"#,
            r#"{"c":"2012-03-18 11:30:45.000000"}"#,
            r#"{"c":"87:31:46.654321"}"#,
            r#"{"d":123.456}"#,
            r#"{"e":9.00}"#,
            r#"{"e":[0,1,true,false]}"#,
            r#"{"e":null}"#,
        ]
    );
}

/// MySQL 8.0.22, `binlog_row_value_options = PARTIAL_JSON`: inserts and
/// a full update of `mysql.t (id, json_col, name and age generated from
/// it)` decode; the partial update after them (JSON diffs) is completed
/// from the source by key, like a MINIMAL insert.
#[test]
fn a_partial_json_update_is_read_back_from_the_source() {
    let r = read(
        &[fixture!("rmc-json.binlog.000001")],
        845,
        None,
        &[catalog(
            "mysql",
            "t",
            &[
                ("id", "int", "int", None),
                ("json_col", "json", "json", None),
                ("name", "varchar", "varchar(100)", Some("utf8mb4")),
                ("age", "int", "int", None),
            ],
            &[0],
        )],
    );
    // The generated columns are logged with their values, like others.
    let row = |id: &str, age: &str, data: &str, name: &str| {
        let doc = format!(r#"{{"age":{age},"data":"{data}","name":"{name}"}}"#);
        [id.to_string(), doc, name.to_string(), age.to_string()]
    };
    let people = [
        ("Joe", 24, "xxxxxxxxxx"),
        ("Sue", 32, "yyyyyyyyyy"),
        ("Pete", 40, "zzzzzzzzzz"),
    ];
    let mut expect = vec![];
    for (o, older) in [("I", 0), ("U", 1)] {
        for id in 1..=6 {
            let (name, age, data) = people[(id - 1) % 3];
            let r = row(&id.to_string(), &(age + older).to_string(), data, name);
            expect.push((o.to_string(), r.to_vec()));
        }
    }
    assert_eq!(ops(&r, "mysql.t"), expect);
    assert_eq!(r.stopped, vec![]);
    let deferred: Vec<(u64, Vec<Option<String>>, Vec<bool>)> = r
        .deferred
        .iter()
        .map(|d| {
            let row = d
                .row
                .iter()
                .map(|v| v.as_ref().map(|v| String::from_utf8(v.clone()).unwrap()))
                .collect();
            (d.seq, row, d.unchanged.clone())
        })
        .collect();
    // `age` went up by one again through JSON_SET on `$.age`: the event
    // logs that diff, the id only in the before image (MINIMAL after
    // image) and the generated columns' new values. Each row goes back to
    // the source for its document, at its place (seq 13 to 18).
    let mut want = vec![];
    for id in 1..=6u64 {
        let (name, age, _) = people[(id as usize - 1) % 3];
        let row = vec![
            Some(id.to_string()),
            None,
            Some(name.to_string()),
            Some((age + 2).to_string()),
        ];
        want.push((12 + id, row, vec![false, true, false, false]));
    }
    assert_eq!(deferred, want);
}

/// MySQL 8.0.26: INVISIBLE columns are in row images like the others
/// (and in `information_schema.COLUMNS`, so in the snapshot's SELECT).
#[test]
fn invisible_columns_are_replicated() {
    let r = read(
        &[fixture!("rmc-binlog-invisible-columns.000001")],
        787,
        None,
        &[catalog(
            "mysql",
            "t1",
            &[
                ("f1", "int", "int unsigned", None),
                ("f2", "int", "int unsigned", None),
                ("f3", "int", "int", None),
                ("f4", "text", "text", Some("utf8mb4")),
                ("f5", "blob", "blob", None),
                ("f6", "bigint", "bigint unsigned", None),
            ],
            &[2],
        )],
    );
    assert_eq!(r.stopped, vec![]);
    // f1, f2 and f6 are invisible; the first row read by hand from the
    // event's bytes. The update changed the key (f3): a delete and an insert.
    assert_eq!(
        ops(&r, "mysql.t1"),
        vec![
            op("I", &["1", "2", "-3", "4", "05", "6000000000"]),
            op("I", &["NULL", "NULL", "-33", "44", "55", "NULL"]),
            op("D", &["NULL", "NULL", "-33", "44", "55", "NULL"]),
            op("I", &["111", "222", "-333", "444", "55", "NULL"]),
        ]
    );
}

/// MySQL 8.0.40: a negative TIME(0), -507:48:27 by hand from its three
/// bytes (`43 e5 60` less 0x800000).
#[test]
fn mysql_8_time_reads_as_logged() {
    let r = read(
        &[fixture!("rmc-time_issue.000001")],
        0,
        None,
        &[catalog("noria", "t", &[("t", "time", "time", None)], &[0])],
    );
    assert_eq!(ops(&r, "noria.t"), vec![op("I", &["-507:48:27.000000"])]);
}

/// MySQL 8.2.0 (mysql-cdc-rs `32_delete_rows_v2`, MINIMAL metadata): a
/// table without primary key (keyed by configuration on `col1`), every
/// integer width; the statements and the SELECTs after each are in its
/// `_sql.sql` transcript.
#[test]
fn mysql_8_2_integer_rows_read_as_the_transcript_shows() {
    let r = read(
        &[fixture!("32_delete_rows_v2__binlog.000001")],
        832,
        None,
        &[catalog(
            "test",
            "int_table",
            &[
                ("col1", "tinyint", "tinyint", None),
                ("col2", "smallint", "smallint", None),
                ("col3", "mediumint", "mediumint", None),
                ("col4", "int", "int", None),
                ("col5", "bigint", "bigint", None),
                ("col6", "tinyint", "tinyint(1)", None),
            ],
            &[0],
        )],
    );
    assert_eq!(
        ops(&r, "test.int_table"),
        vec![
            op("I", &["1", "11", "111", "1111", "11111", "1"]),
            op("U", &["1", "22", "222", "1111", "11111", "1"]),
            op("D", &["1", "22", "222", "1111", "11111", "1"]),
        ]
    );
}

/// MySQL 8.0.31 (mysql-cdc-rs `02_query_bigger`): DECIMAL(12,3), (13,2),
/// (10,1) and (12,1), BIGINT keys, DATE, utf8mb3 text with Chinese, a
/// composite key; inserts, an update and two deletes, as its transcript.
#[test]
fn mysql_8_0_decimal_rows_read_as_the_transcript_shows() {
    let u3 = Some("utf8mb3");
    let r = read(
        &[fixture!("02_query_bigger__binlog.000733")],
        1182,
        None,
        &[catalog(
            "test",
            "LINEITEM",
            &[
                ("L_ORDERKEY", "bigint", "bigint", None),
                ("L_PARTKEY", "int", "int", None),
                ("L_SUPPKEY", "int", "int", None),
                ("L_LINENUMBER", "bigint", "bigint", None),
                ("L_QUANTITY", "decimal", "decimal(12,3)", None),
                ("L_EXTENDEDPRICE", "decimal", "decimal(13,2)", None),
                ("L_DISCOUNT", "decimal", "decimal(10,1)", None),
                ("L_TAX", "decimal", "decimal(12,1)", None),
                ("L_RETURNFLAG", "varchar", "varchar(128)", u3),
                ("L_LINESTATUS", "varchar", "varchar(8)", u3),
                ("L_SHIPDATE", "date", "date", None),
                ("L_COMMITDATE", "date", "date", None),
                ("L_RECEIPTDATE", "date", "date", None),
                ("L_SHIPINSTRUCT", "varchar", "varchar(128)", u3),
                ("L_SHIPMODE", "varchar", "varchar(128)", u3),
                ("L_COMMENT", "varchar", "varchar(128)", u3),
            ],
            &[0, 3, 10],
        )],
    );
    let chinese =
        "使用箭头标记 -> 不是 SQL 语句的一部分，它仅仅表示一个新行，如果一条 SQL 语句太长，\
                   我们可以通过回车键来创建一个新行来编写 SQL 语句，SQL 语句的命令结束符为分号 ;。";
    let row = |k: &str, p: &str, s: &str, l: &str, q: &str, e: &str, d: &str, t: &str, c: &str| {
        let mut v = vec![
            k,
            p,
            s,
            l,
            q,
            e,
            d,
            t,
            "code",
            "Y",
            "1990-08-01",
            "1990-06-01",
            "1990-01-01",
        ];
        v.extend(["test@test.com", "test", c]);
        v.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let r1 = row(
        "1234567890111",
        "1235111",
        "13711",
        "888878711",
        "99.911",
        "76.11",
        "888.1",
        "109.1",
        "com",
    );
    let r2 = row(
        "12345678909876",
        "12356789",
        "13789",
        "888878787",
        "99.998",
        "76.77",
        "888.7",
        "109.7",
        "com",
    );
    let r3 = row(
        "12345678909877",
        "12356790",
        "13789",
        "888878788",
        "99.997",
        "76.88",
        "888.1",
        "109.8",
        "com",
    );
    let r4 = row(
        "12345678909878",
        "12356791",
        "13790",
        "888878789",
        "99.999",
        "76.99",
        "888.5",
        "109.9",
        chinese,
    );
    let r5 = row(
        "12345678909879",
        "12356792",
        "13791",
        "888878790",
        "99.995",
        "76.01",
        "888.3",
        "109.1",
        "com",
    );
    let r6 = row(
        "12345678909880",
        "12356792",
        "13791",
        "888878791",
        "99.999",
        "76.22",
        "888.8",
        "109.0",
        "com",
    );
    let mut r3u = r3.clone();
    r3u[4] = "88.880".into();
    r3u[8] = "update L_RETURNFLAG ".into();
    let i = |v: &Vec<String>| ("I".to_string(), v.clone());
    assert_eq!(
        ops(&r, "test.LINEITEM"),
        vec![
            i(&r1),
            i(&r2),
            i(&r3),
            i(&r4),
            i(&r5),
            i(&r6),
            ("U".into(), r3u),
            ("D".into(), r6),
            ("D".into(), r5),
        ]
    );
    assert_eq!(r.stopped, vec![]);
}

/// zongji's MINIMAL-metadata capture (MySQL 8.4.8): the same statements
/// on 22 columns (no `e2` and no latin1/ucs2 columns) and no primary key
/// (keyed on `id` by configuration); the table map carries no names, so
/// the catalog decides how each value reads.
#[test]
fn mysql_8_4_minimal_metadata_rows_read_as_inserted() {
    let full = zongji_fullmeta();
    let keep: Vec<usize> = (0..26).filter(|i| ![18, 23, 24, 25].contains(i)).collect();
    let cat = Catalog {
        id: full.id.clone(),
        cols: keep.iter().map(|&i| full.cols[i].clone()).collect(),
        key: vec![0],
    };
    let u = "fb5b7041-7754-11f1-a067-e69d25af13b4";
    let r = read(
        &[fixture!("binlog-mysql84.pseudo.binlog")],
        4002,
        Some(&format!("{u}:1-13")),
        &[cat],
    );
    assert_eq!(r.stopped, vec![]);
    // The same row without the columns this table lacks.
    let first: Vec<&str> = keep.iter().map(|&i| ZONGJI_ROW[i]).collect();
    // Without a primary key the before images are whole (NOBLOB keeps
    // every column that identifies the row).
    let mut moved = first.clone();
    moved[0] = "2";
    moved[4] = "updated";
    assert_eq!(
        r.lines["zongji_fixture_capture.capture_types"],
        vec![line("I", &first), line("D", &first), line("D", &moved)]
    );
    let deferred: Vec<(u64, Vec<bool>)> = r
        .deferred
        .iter()
        .map(|d| (d.seq, d.unchanged.clone()))
        .collect();
    let blobs: Vec<bool> = (0..22).map(|i| i == 8 || i == 9).collect();
    assert_eq!(deferred, vec![(3, blobs.clone()), (5, blobs)]);
    assert_eq!(
        r.to_pos,
        Some(Position::Binlog {
            file: "binlog-mysql84.pseudo.binlog".into(),
            pos: 6409,
            gtid: Some(format!("{u}:1-17")),
        })
    );
}

/// Negative TIME values with fractions (MariaDB 10.11, TIME2 format):
/// `tests/fixtures/binlog/mariadb-10.11-negative-time.binlog` holds
/// `INSERT INTO tt.tm VALUES (1, '-00:00:00.1', '-00:00:00.01',
/// '-00:00:00.001', '-00:00:00.0001', '-00:00:00.000001', '-00:00:01'),
/// (2, '-01:02:03.5', '-12:34:56.78', '-838:59:58.999', '-00:00:01.0001',
/// '-838:59:59.000001', '00:00:00')` into TIME(1), (2), (3), (4), (6), (0).
#[test]
fn negative_times_with_fractions_read_as_written() {
    let r = read(
        &[(
            "mariadb-10.11-negative-time.binlog",
            &include_bytes!("../../../tests/fixtures/binlog/mariadb-10.11-negative-time.binlog")[..],
        )],
        0,
        None,
        &[catalog(
            "tt",
            "tm",
            &[
                ("id", "int", "int(11)", None),
                ("a", "time", "time(1)", None),
                ("b", "time", "time(2)", None),
                ("c", "time", "time(3)", None),
                ("d", "time", "time(4)", None),
                ("e", "time", "time(6)", None),
                ("f", "time", "time", None),
            ],
            &[0],
        )],
    );
    assert!(r.warnings.0.is_empty(), "{:?}", r.warnings.0);
    assert_eq!(
        ops(&r, "tt.tm"),
        vec![
            op(
                "I",
                &[
                    "1",
                    "-00:00:00.100000",
                    "-00:00:00.010000",
                    "-00:00:00.001000",
                    "-00:00:00.000100",
                    "-00:00:00.000001",
                    "-00:00:01.000000",
                ]
            ),
            op(
                "I",
                &[
                    "2",
                    "-01:02:03.500000",
                    "-12:34:56.780000",
                    "-838:59:58.999000",
                    "-00:00:01.000100",
                    "-838:59:59.000001",
                    "00:00:00.000000",
                ]
            ),
        ]
    );
}
