//! Bad input never panics: random bytes (and random bytes behind valid
//! headers) through the pgoutput decoder, the binlog row-image reader with
//! its value conversion, and the spool's record and field readers. Each
//! must return an error or a value, never panic. Deterministic (a fixed
//! seed per test), a few seconds in all; a panic found becomes a
//! regression case here.

use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;

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
        crate::fuzzing::pgoutput(&m);
    }
}

#[test]
fn binlog_row_images_of_random_bytes_are_errors_not_panics() {
    // The fuzz target's input: column choices, then the image.
    let mut r = Rng(0x0bad_5eed_1234_9876);
    for _ in 0..100_000 {
        crate::fuzzing::row_image(&r.bytes(200));
    }
}

/// Found by `cargo fuzz` (row_image, 2026-11-30): MySQL 8 binary JSON
/// values holding a DECIMAL of scale above its precision, and one whose
/// last digit group is out of range, made `mysql_common` overflow; now an
/// error naming the column.
#[test]
fn a_json_decimal_no_server_writes_is_an_error() {
    crate::fuzzing::row_image(&[
        0x00, 0x09, 0x64, 0x85, 0x74, 0x2c, 0x40, 0x21, 0x00, 0x00, 0x00, 0x02, 0x04, 0x00, 0x19,
        0x00, 0x0f, 0x14, 0x00, 0x0f, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0xf6, 0x85, 0x00,
        0x05, 0x04, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x0f, 0x00, 0x74, 0x06, 0x0a,
    ]);
    crate::fuzzing::row_image(&[
        0x99, 0x01, 0x0e, 0x99, 0x99, 0x2a, 0xff, 0x99, 0x99, 0x3d, 0x99, 0x99, 0x05, 0x00, 0x00,
        0x00, 0x0f, 0xf6, 0x02, 0x00, 0xff, 0x00,
    ]);
}

#[test]
fn spool_records_and_fields_of_random_bytes_never_panic() {
    let mut r = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..200_000 {
        let mut rec = r.bytes(80);
        // Quotes, commas and newlines are what the readers look for (the
        // first byte chooses the key columns).
        for b in rec.iter_mut().skip(1) {
            match *b % 7 {
                0 | 5 => *b = b'"',
                1 | 4 => *b = b',',
                2 => *b = b'\n',
                _ => {}
            }
        }
        crate::fuzzing::spool(&rec);
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

#[test]
fn sqlserver_bcp_files_and_value_texts_of_random_bytes_never_panic() {
    let mut r = Rng(0x5eed_0fb0_c9c9);
    let (field, row) = (
        crate::source::sqlserver::bcp::FIELD,
        crate::source::sqlserver::bcp::ROW,
    );
    for _ in 0..50_000 {
        let mut data = r.bytes(120);
        // Terminators, NULs and the characters of numbers and dates are
        // what the readers look for (the first bytes choose the columns).
        let mut out = vec![];
        for (k, b) in data.drain(..).enumerate() {
            match (k > 3).then_some(b % 11) {
                Some(0) => out.extend_from_slice(field),
                Some(1) => out.extend_from_slice(row),
                Some(2) => out.push(0),
                Some(3) => out.push(b"-:. +"[usize::from(b) % 5]),
                Some(4 | 5) => out.push(b'0' + b % 10),
                _ => out.push(b),
            }
        }
        crate::fuzzing::sqlserver(&out);
    }
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
