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
use crate::schema::{Column, Conv, TableSchema};
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
            let columns = c
                .cols
                .iter()
                .map(|m| Column {
                    name: m.name.clone(),
                    source_type: m.column_type.clone(),
                    dest_type: m.dest_type(),
                    conv: Conv::Verbatim,
                    binary: m.binary(),
                    toastable: true,
                    nullable: true,
                })
                .collect();
            let s = TableSchema {
                schema: c.id.schema.clone(),
                name: c.id.name.clone(),
                dest_db: "d".into(),
                dest_table: c.id.name.clone(),
                columns,
                key: c.key.clone(),
                min_year: 0,
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
    let first = [
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
