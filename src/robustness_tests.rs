//! Bad input never panics: random bytes (and random bytes behind valid
//! headers) through the pgoutput decoder, the binlog row-image reader with
//! its value conversion, and the spool's record and field readers. Each
//! must return an error or a value, never panic. Deterministic (a fixed
//! seed per test), a few seconds in all; a panic found becomes a
//! regression case here.

use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;

use crate::source::mysql::column::MyCol;
use crate::source::mysql::rows::{row_texts, RowLayout};

/// xorshift64*: enough to spread inputs, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        // Small values are likelier to be lengths and counts that fit.
        (0..n)
            .map(|_| match self.below(4) {
                0 => 0,
                1 => self.below(8) as u8,
                _ => self.next() as u8,
            })
            .collect()
    }
}

#[test]
fn pgoutput_messages_of_random_bytes_are_errors_not_panics() {
    let mut r = Rng(0x1357_9bdf_2468_ace0);
    let tags = b"BCORYIUDTMbcrstL";
    for _ in 0..300_000 {
        let mut m = r.bytes(96);
        if !m.is_empty() && r.below(4) != 0 {
            m[0] = tags[r.below(tags.len())];
        }
        let _ = crate::source::postgres::pgoutput::parse(&m);
    }
}

/// Binlog column types with plausible metadata, and the catalog column the
/// source would pair with each (its values are converted for it).
fn binlog_column(r: &mut Rng) -> (ColumnType, Vec<u8>, MyCol) {
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

#[test]
fn binlog_row_images_of_random_bytes_are_errors_not_panics() {
    let mut r = Rng(0x0bad_5eed_1234_9876);
    let mut scratch = vec![];
    for _ in 0..100_000 {
        let mut out = vec![];
        let mut texts = vec![];
        let n = 1 + r.below(6);
        let mut types = vec![];
        let mut cols = vec![];
        for _ in 0..n {
            let (t, meta, c) = binlog_column(&mut r);
            types.push((t, meta));
            cols.push(c);
        }
        let layout = RowLayout::from_columns(types);
        let data = r.bytes(160);
        let present: Option<Vec<bool>> =
            (r.below(3) == 0).then(|| (0..n).map(|_| r.below(2) == 0).collect());
        let mut buf = ParseBuf(&data);
        if layout
            .read_image(&mut buf, r.below(4) == 0, present.as_deref(), &mut out)
            .is_ok()
        {
            let _ = row_texts(&cols, &out, &mut scratch, &mut texts, |_, _| {});
        }
    }
}

#[test]
fn spool_records_and_fields_of_random_bytes_never_panic() {
    let mut r = Rng(0xdead_beef_cafe_f00d);
    let mut key = vec![];
    for _ in 0..200_000 {
        let mut rec = r.bytes(80);
        // Quotes, commas and NULLs are what the readers look for.
        for b in rec.iter_mut() {
            match *b % 5 {
                0 => *b = b'"',
                1 => *b = b',',
                _ => {}
            }
        }
        let _ = crate::spool::latest::seq_of(&rec);
        key.clear();
        let k: Vec<usize> = (0..1 + r.below(3)).map(|_| r.below(5)).collect();
        let _ = crate::spool::latest::key_text(&rec, &k, &mut key);
    }
    let mut all = vec![];
    for _ in 0..2_000 {
        all.extend(r.bytes(200).into_iter().map(|b| match b % 7 {
            0 => b'"',
            1 => b'\n',
            _ => b,
        }));
    }
    let mut records = crate::spool::reader::Records(Box::new(std::io::Cursor::new(all)));
    let mut rec = vec![];
    while records.next_into(&mut rec).unwrap() {}
}

/// Our DECIMAL reader gives the text `mysql_common` gives, on values a
/// server writes (encoded by `mysql_common`), and refuses what none does.
#[test]
fn decimals_read_as_mysql_common_reads_them() {
    use mysql_common::binlog::decimal::Decimal;
    use mysql_common::binlog::value::BinlogValue;
    use std::str::FromStr;
    let mut r = Rng(0x5151_2727_abab_0101);
    for _ in 0..20_000 {
        let intg = r.below(25);
        let frac = r.below(12);
        let mut text = String::new();
        if r.below(2) == 0 {
            text.push('-');
        }
        if intg == 0 {
            text.push('0');
        } else {
            text.push((b'1' + r.below(9) as u8) as char);
            for _ in 1..intg {
                text.push((b'0' + r.below(10) as u8) as char);
            }
        }
        if frac > 0 {
            text.push('.');
            for _ in 0..frac {
                text.push((b'0' + r.below(10) as u8) as char);
            }
        }
        let d = Decimal::from_str(&text).unwrap();
        let mut bin = vec![];
        d.write_bin(&mut bin).unwrap();
        let (p, s) = (intg.max(1) + frac, frac);
        let ours = crate::source::mysql::rows::decimal(&mut ParseBuf(&bin), p, s).unwrap();
        let meta = [p as u8, s as u8];
        let theirs: BinlogValue = ParseBuf(&bin)
            .parse((ColumnType::MYSQL_TYPE_NEWDECIMAL, &meta[..], false, false))
            .unwrap();
        assert_eq!(ours, theirs, "{text} as DECIMAL({p},{s})");
    }
    // A digit group of more than 9 digits: an error, not a wrong number.
    let bad = [0x80u8, 0xff, 0xff, 0xff, 0xff];
    assert!(crate::source::mysql::rows::decimal(&mut ParseBuf(&bad), 10, 0).is_err());
}
