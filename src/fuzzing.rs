//! Entry points for fuzzing the readers of outside bytes: the pgoutput
//! decoder, the binlog row-image reader (with the value conversion after
//! it), the spool's record and field readers, and SQL Server's bcp files
//! and value texts. Each takes any bytes and
//! must return, never panic. The `cargo fuzz` targets in `tests/fuzz/` call
//! them; `robustness_tests.rs` feeds them random bytes on every test run.

use std::io::Cursor;

use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;

use crate::source::mysql::column::MyCol;
use crate::source::mysql::rows::{row_texts, RowLayout};

/// Choices drawn from the input's bytes (0 once they run out), so that a
/// fuzzer's mutations steer the layout as well as the data.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n.max(1)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.byte()).collect()
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// One pgoutput message.
pub fn pgoutput(data: &[u8]) {
    let _ = crate::source::postgres::pgoutput::parse(data);
}

/// A row image: the first bytes choose 1 to 6 columns (types, metadata
/// that may lie, which are present, whether the image is partial), the
/// rest is the image; a row read is converted for its catalog columns.
pub fn row_image(data: &[u8]) {
    let mut i = Input(data);
    let n = 1 + i.below(6);
    let mut types = vec![];
    let mut cols = vec![];
    for _ in 0..n {
        let (t, meta, c) = binlog_column(&mut i);
        types.push((t, meta));
        cols.push(c);
    }
    let present: Option<Vec<bool>> =
        (i.below(3) == 0).then(|| (0..n).map(|_| i.below(2) == 0).collect());
    let partial = i.below(4) == 0;
    let layout = RowLayout::from_columns(types);
    let mut buf = ParseBuf(i.rest());
    let mut out = vec![];
    if layout
        .read_image(&mut buf, partial, present.as_deref(), &mut out)
        .is_ok()
    {
        let (mut scratch, mut texts) = (vec![], vec![]);
        let _ = row_texts(&cols, &out, &mut scratch, &mut texts, |_, _| {});
    }
}

/// Spool bytes: one record through the field readers (the first byte
/// chooses the key columns), and all of it through the record splitter.
pub fn spool(data: &[u8]) {
    let mut i = Input(data);
    let k: Vec<usize> = (0..1 + i.below(3)).map(|_| i.below(5)).collect();
    let rec = i.rest();
    let _ = crate::spool::latest::seq_of(rec);
    let _ = crate::spool::latest::key_text(rec, &k, &mut vec![]);
    let mut records = crate::spool::reader::Records(Box::new(Cursor::new(data.to_vec())));
    let mut one = vec![];
    while let Ok(true) = records.next_into(&mut one) {}
}

/// A bcp character-mode file (the first bytes choose 1 to 6 columns of
/// the SQL Server kinds), and the same bytes as each kind's value text.
pub fn sqlserver(data: &[u8]) {
    use crate::source::sqlserver::{bcp, fetch, types};
    const TYPES: [(&str, i32, u8, u8); 12] = [
        ("int", 4, 10, 0),
        ("tinyint", 1, 3, 0),
        ("bit", 1, 1, 0),
        ("float", 8, 53, 0),
        ("real", 4, 24, 0),
        ("decimal", 17, 38, 10),
        ("datetime2", 8, 27, 7),
        ("date", 3, 10, 0),
        ("time", 5, 16, 7),
        ("datetimeoffset", 10, 34, 7),
        ("varbinary", 8, 0, 0),
        ("nvarchar", 40, 0, 0),
    ];
    let mut i = Input(data);
    let cols: Vec<_> = (0..1 + i.below(6))
        .map(|_| {
            let (t, l, p, s) = TYPES[i.below(TYPES.len())];
            types::column("c", t, l, p, s, true).map(|c| c.0)
        })
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    let rest = i.rest();
    let mut w = crate::source::Warnings::default();
    let mut texts = fetch::Texts {
        table: "t".into(),
        min_year: 1000,
        warnings: &mut w,
    };
    let _ = bcp::parse(rest, &cols, &mut texts, "fuzz", |_, _| Ok(()));
    let text = String::from_utf8_lossy(rest);
    let _ = types::decimal(&text, 28, 10);
    let _ = types::time(&text, 7);
    let _ = types::offset(&text, 7);
    let _ = types::timestamp_text(&text, 7);
}

/// Binlog column types with plausible metadata, and the catalog column the
/// source would pair with each (its values are converted for it).
fn binlog_column(r: &mut Input) -> (ColumnType, Vec<u8>, MyCol) {
    let (t, meta, data_type, column_type): (ColumnType, Vec<u8>, &str, &str) = match r.below(16) {
        0 => (ColumnType::MYSQL_TYPE_LONG, vec![], "int", "int(11)"),
        1 => (
            ColumnType::MYSQL_TYPE_LONGLONG,
            vec![],
            "bigint",
            "bigint(20) unsigned",
        ),
        2 => (
            ColumnType::MYSQL_TYPE_VARCHAR,
            vec![20, 0],
            "varchar",
            "varchar(20)",
        ),
        3 => (
            ColumnType::MYSQL_TYPE_NEWDECIMAL,
            vec![10, 2],
            "decimal",
            "decimal(10,2)",
        ),
        4 => (
            ColumnType::MYSQL_TYPE_DATETIME2,
            vec![6],
            "datetime",
            "datetime(6)",
        ),
        5 => (
            ColumnType::MYSQL_TYPE_TIMESTAMP2,
            vec![3],
            "timestamp",
            "timestamp(3)",
        ),
        6 => (ColumnType::MYSQL_TYPE_TIME2, vec![0], "time", "time"),
        7 => (ColumnType::MYSQL_TYPE_DATE, vec![], "date", "date"),
        8 => (ColumnType::MYSQL_TYPE_BLOB, vec![2], "blob", "blob"),
        9 => (ColumnType::MYSQL_TYPE_JSON, vec![4], "json", "json"),
        10 => (
            ColumnType::MYSQL_TYPE_STRING,
            vec![0xf7, 1],
            "enum",
            "enum('a','b')",
        ),
        11 => (
            ColumnType::MYSQL_TYPE_STRING,
            vec![0xf8, 1],
            "set",
            "set('a','b')",
        ),
        12 => (ColumnType::MYSQL_TYPE_BIT, vec![0, 1], "bit", "bit(8)"),
        13 => (ColumnType::MYSQL_TYPE_DOUBLE, vec![8], "double", "double"),
        14 => (ColumnType::MYSQL_TYPE_YEAR, vec![], "year", "year(4)"),
        _ => (
            ColumnType::MYSQL_TYPE_STRING,
            vec![0xfe, 40],
            "char",
            "char(10)",
        ),
    };
    let mut meta = meta;
    if r.below(8) == 0 {
        // Metadata that lies about the type.
        meta = r.bytes(3);
    }
    let col = MyCol::new("c", data_type, column_type, Some("utf8mb4"));
    (t, meta, col)
}
