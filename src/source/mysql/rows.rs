//! Row images of binlog row events, read straight from the event's bytes.
//!
//! `mysql_common`'s own row iterator builds a full column description
//! (names, flags, character set, behind an `Arc`) for every row and finds
//! each column's metadata by walking the table map from its start, which
//! made it the largest cost of a MySQL delta. Here the column types and
//! metadata of a table map are read once ([`RowLayout`]); a row image is
//! then its null bitmap and its values, strings and blobs borrowed from the
//! event, other types parsed by `mysql_common`'s value parser
//! ([`BinlogValue`]), so their decoding stays the library's.
//!
//! An image holds every column (`binlog_row_image = FULL`) or those its
//! event's column bitmap names (`MINIMAL`, `NOBLOB`): the caller passes
//! which; an absent column reads as NULL, and the caller tells it apart.

use std::io;

use mysql_common::binlog::events::{OptionalMetadataField, TableMapEvent};
use mysql_common::binlog::jsonb::{JsonContainer, JsonDom, JsonNumber, JsonScalar};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value;

use super::column::MyCol;
use super::values::{bytes_text, value_into, within_years, Origin, Text};
use crate::schema::Unrepresentable;

/// One column value of a row image.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw<'d> {
    Null,
    /// CHAR, VARCHAR, TEXT, BLOB and GEOMETRY: the bytes as logged.
    Bytes(&'d [u8]),
    /// Every other type, as `mysql_common` parses it (signed: the catalog
    /// says which integers are unsigned).
    Value(BinlogValue<'d>),
}

/// What the binlog says of a table's columns: type and metadata, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct RowLayout {
    cols: Vec<(ColumnType, Vec<u8>)>,
    json_cols: usize,
    /// Column names, where the server logs them (`binlog_row_metadata = FULL`).
    names: Option<Vec<String>>,
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn take<'d>(buf: &mut ParseBuf<'d>, n: usize) -> io::Result<&'d [u8]> {
    if buf.0.len() < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "row image ends early ({} bytes left, {n} needed)",
                buf.0.len()
            ),
        ));
    }
    let (head, rest) = buf.0.split_at(n);
    buf.0 = rest;
    Ok(head)
}

/// A little-endian length of `n` (1 to 4) bytes.
fn length(buf: &mut ParseBuf<'_>, n: usize) -> io::Result<usize> {
    Ok(take(buf, n)?
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)))
}

/// A length-encoded integer of the client protocol.
fn lenenc(buf: &mut ParseBuf<'_>) -> io::Result<u64> {
    let first = take(buf, 1)?[0];
    Ok(match first {
        0xfc => length(buf, 2)? as u64,
        0xfd => length(buf, 3)? as u64,
        0xfe => {
            let b = take(buf, 8)?;
            u64::from_le_bytes(b.try_into().expect("8 bytes"))
        }
        x => u64::from(x),
    })
}

fn meta_byte(meta: &[u8], i: usize) -> io::Result<usize> {
    meta.get(i)
        .map(|&b| usize::from(b))
        .ok_or_else(|| invalid("column metadata too short"))
}

impl RowLayout {
    /// The layout of a table map event.
    pub fn new(tme: &TableMapEvent<'_>) -> io::Result<RowLayout> {
        let n = tme.columns_count() as usize;
        let mut cols = Vec::with_capacity(n);
        for i in 0..n {
            let ty = tme
                .get_column_type(i)
                .map_err(|e| invalid(format!("column {}: {e}", i + 1)))?
                .ok_or_else(|| invalid(format!("column {}: no type in the table map", i + 1)))?;
            let meta = tme.get_column_metadata(i).unwrap_or(&[]).to_vec();
            cols.push((ty, meta));
        }
        let mut names = None;
        for field in tme.iter_optional_meta() {
            if let Ok(OptionalMetadataField::ColumnName(n)) = field {
                names = n
                    .iter_names()
                    .map(|x| x.map(|x| x.name().into_owned()))
                    .collect::<io::Result<Vec<String>>>()
                    .ok();
            }
        }
        Ok(RowLayout {
            cols,
            json_cols: tme.json_column_count(),
            names,
        })
    }

    /// Why rows of this layout are not rows of the table the catalog
    /// describes (an event written before an ALTER TABLE), if so: another
    /// column count, a column of another type or size, or (where the
    /// server logs names) another name.
    pub fn differs_from(&self, cols: &[MyCol]) -> Option<String> {
        if self.cols.len() != cols.len() {
            return Some(format!(
                "{} columns in the binlog, {} in the table",
                self.cols.len(),
                cols.len()
            ));
        }
        for (i, ((ty, meta), c)) in self.cols.iter().zip(cols).enumerate() {
            if let Some(why) = c.map_differs(*ty as u8, meta) {
                return Some(why);
            }
            if let Some(name) = self.names.as_ref().and_then(|n| n.get(i)) {
                if !name.eq_ignore_ascii_case(&c.name) {
                    return Some(format!(
                        "column {} is {name} in the binlog, {} in the table",
                        i + 1,
                        c.name
                    ));
                }
            }
        }
        None
    }

    /// A layout from column types and metadata, as a table map holds them.
    pub fn from_columns(cols: Vec<(ColumnType, Vec<u8>)>) -> RowLayout {
        let json_cols = cols
            .iter()
            .filter(|(t, _)| *t == ColumnType::MYSQL_TYPE_JSON)
            .count();
        RowLayout {
            cols,
            json_cols,
            names: None,
        }
    }

    pub fn len(&self) -> usize {
        self.cols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cols.is_empty()
    }

    /// Reads one row image from `buf` into `out` (cleared first): every
    /// column, or (`present`) those the event's bitmap names, the others
    /// `Raw::Null`. `shared_image`: the after image of a partial-update
    /// event, which starts with the value options.
    pub fn read_image<'d>(
        &'d self,
        buf: &mut ParseBuf<'d>,
        shared_image: bool,
        present: Option<&[bool]>,
        out: &mut Vec<Raw<'d>>,
    ) -> io::Result<()> {
        out.clear();
        // PARTIAL_JSON_UPDATES: a bitmap of the JSON columns logged as
        // diffs (`JsonDiff` values), one bit per JSON column.
        let mut partial: &[u8] = &[];
        if shared_image && lenenc(buf)? & 1 != 0 {
            partial = take(buf, self.json_cols.div_ceil(8))?;
        }
        let here = |i: usize| present.is_none_or(|p| p.get(i) == Some(&true));
        let logged = match present {
            None => self.cols.len(),
            Some(_) => (0..self.cols.len()).filter(|&i| here(i)).count(),
        };
        // The null bitmap has a bit per logged column.
        let nulls = take(buf, logged.div_ceil(8))?;
        let mut bit = 0;
        let mut json = 0;
        for (i, (ty, meta)) in self.cols.iter().enumerate() {
            // The partial bitmap has a bit per JSON column of the table,
            // logged in this image or not.
            let diff = *ty == ColumnType::MYSQL_TYPE_JSON && {
                json += 1;
                partial
                    .get((json - 1) / 8)
                    .is_some_and(|b| b & (1 << ((json - 1) % 8)) != 0)
            };
            if !here(i) {
                out.push(Raw::Null);
                continue;
            }
            bit += 1;
            if nulls[(bit - 1) / 8] & (1 << ((bit - 1) % 8)) != 0 {
                out.push(Raw::Null);
                continue;
            }
            if diff {
                let v = buf
                    .parse::<BinlogValue<'d>>((*ty, meta.as_slice(), false, true))
                    .map_err(|e| io::Error::new(e.kind(), format!("column {}: {e}", i + 1)))?;
                out.push(Raw::Value(v));
                continue;
            }
            let v = read_value(buf, *ty, meta)
                .map_err(|e| io::Error::new(e.kind(), format!("column {}: {e}", i + 1)))?;
            out.push(v);
        }
        Ok(())
    }
}

fn read_value<'d>(buf: &mut ParseBuf<'d>, ty: ColumnType, meta: &'d [u8]) -> io::Result<Raw<'d>> {
    use ColumnType::*;
    let prefix = match ty {
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING => {
            let declared = meta_byte(meta, 0)? | (meta_byte(meta, 1)? << 8);
            if declared < 256 {
                1
            } else {
                2
            }
        }
        MYSQL_TYPE_STRING => {
            // CHAR(n): the byte length hides in the real-type byte for n > 255.
            let (b0, b1) = (meta_byte(meta, 0)?, meta_byte(meta, 1)?);
            let declared = if b0 & 0x30 != 0x30 {
                b1 | (((b0 & 0x30) ^ 0x30) << 4)
            } else {
                b1
            };
            if declared < 256 {
                1
            } else {
                2
            }
        }
        MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_GEOMETRY => match meta_byte(meta, 0)? {
            n @ 1..=4 => n,
            n => return Err(invalid(format!("BLOB length of {n} bytes"))),
        },
        MYSQL_TYPE_TIME2 => return time2(buf, meta_byte(meta, 0)?).map(Raw::Value),
        MYSQL_TYPE_DATETIME2 => return datetime2(buf, meta_byte(meta, 0)?).map(Raw::Value),
        MYSQL_TYPE_NEWDECIMAL => {
            return decimal(buf, meta_byte(meta, 0)?, meta_byte(meta, 1)?).map(Raw::Value)
        }
        // Metadata `mysql_common` trusts (it overflows on what no server
        // writes): checked first, so a damaged event is an error.
        MYSQL_TYPE_TIMESTAMP2 if meta_byte(meta, 0)? > 6 => {
            return Err(invalid(format!(
                "{} fractional digits in the table map",
                meta_byte(meta, 0)?
            )))
        }
        _ => {
            // The metadata bytes `mysql_common` reads by index.
            let need = match ty {
                MYSQL_TYPE_BIT | MYSQL_TYPE_ENUM | MYSQL_TYPE_SET => 2,
                MYSQL_TYPE_TIMESTAMP2 | MYSQL_TYPE_JSON => 1,
                _ => 0,
            };
            if need > 0 {
                meta_byte(meta, need - 1)?;
            }
            return Ok(Raw::Value(
                buf.parse::<BinlogValue<'d>>((ty, meta, false, false))?,
            ));
        }
    };
    let n = length(buf, prefix)?;
    Ok(Raw::Bytes(take(buf, n)?))
}

/// A DECIMAL(`precision`, `scale`) value as text (`-12.50`), from
/// MySQL's binary form (`decimal2bin`): groups of 9 digits in 4 big-endian
/// bytes, a shorter group first and last, the sign in the first bit (all
/// bytes inverted when negative). Read here because `mysql_common`
/// overflows on digit groups no server writes; those are an error.
pub(crate) fn decimal<'d>(
    buf: &mut ParseBuf<'d>,
    precision: usize,
    scale: usize,
) -> io::Result<BinlogValue<'d>> {
    const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    if !(1..=65).contains(&precision) || scale > precision || scale > 30 {
        return Err(invalid(format!(
            "DECIMAL({precision}, {scale}) in the table map"
        )));
    }
    let intg = precision - scale;
    let (intg0, intg0x, frac0, frac0x) = (intg / 9, intg % 9, scale / 9, scale % 9);
    let size = intg0 * 4 + DIG2BYTES[intg0x] + frac0 * 4 + DIG2BYTES[frac0x];
    let mut bytes = take(buf, size)?.to_vec();
    let negative = bytes[0] & 0x80 == 0;
    bytes[0] ^= 0x80;
    if negative {
        bytes.iter_mut().for_each(|b| *b = !*b);
    }
    let mut at = 0;
    let mut group = |len: usize, digits: usize| -> io::Result<String> {
        let v = bytes[at..at + len]
            .iter()
            .fold(0u64, |a, &x| (a << 8) | u64::from(x));
        at += len;
        if v >= 10u64.pow(digits as u32) {
            return Err(invalid(format!(
                "a DECIMAL digit group {v} wider than {digits} digits"
            )));
        }
        Ok(format!("{v:0digits$}"))
    };
    let mut int = String::new();
    if intg0x > 0 {
        int.push_str(&group(DIG2BYTES[intg0x], intg0x)?);
    }
    for _ in 0..intg0 {
        int.push_str(&group(4, 9)?);
    }
    let mut frac = String::new();
    for _ in 0..frac0 {
        frac.push_str(&group(4, 9)?);
    }
    if frac0x > 0 {
        frac.push_str(&group(DIG2BYTES[frac0x], frac0x)?);
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let zero = int == "0" && frac.bytes().all(|b| b == b'0');
    let mut text = String::new();
    if negative && !zero {
        text.push('-');
    }
    text.push_str(int);
    if scale > 0 {
        text.push('.');
        text.push_str(&frac);
    }
    Ok(BinlogValue::Value(Value::Bytes(text.into_bytes())))
}

/// A DATETIME2 value with `fsp` fractional digits: year*13+month, day,
/// hour, minute and second packed in 5 big-endian bytes offset by
/// 0x8000000000, then the fraction in 0 to 3 bytes (MySQL's
/// `my_datetime_packed_from_binary`). Read here because `mysql_common`
/// overflows on bytes no server writes; those are an error.
fn datetime2<'d>(buf: &mut ParseBuf<'d>, fsp: usize) -> io::Result<BinlogValue<'d>> {
    let be = |b: &[u8]| b.iter().fold(0i64, |a, &x| (a << 8) | i64::from(x));
    let int = be(take(buf, 5)?) - 0x80_0000_0000;
    let (bytes, scale) = match fsp {
        0 => (0, 0),
        1 | 2 => (1, 10_000),
        3 | 4 => (2, 100),
        5 | 6 => (3, 1),
        n => return Err(invalid(format!("DATETIME2 with {n} fractional digits"))),
    };
    let frac = be(take(buf, bytes)?) * scale;
    if int < 0 || !(0..1_000_000).contains(&frac) {
        return Err(invalid("a DATETIME2 value out of range".to_string()));
    }
    let ymd = int >> 17;
    let (ym, hms) = (ymd >> 5, int & 0x1_ffff);
    Ok(BinlogValue::Value(Value::Date(
        u16::try_from(ym / 13).map_err(|_| invalid("a DATETIME2 year out of range".to_string()))?,
        (ym % 13) as u8,
        (ymd & 31) as u8,
        (hms >> 12) as u8,
        ((hms >> 6) & 63) as u8,
        (hms & 63) as u8,
        frac as u32,
    )))
}

/// A TIME2 value (MySQL 5.6+, MariaDB's default format) with `fsp`
/// fractional digits: hours, minutes and seconds packed in 3 big-endian
/// bytes offset by 0x800000, then the fraction in 0 to 3 bytes, stored
/// reversed for negative values (MySQL's `my_time_packed_from_binary`).
/// `mysql_common` overflows on a negative value with a fraction.
fn time2<'d>(buf: &mut ParseBuf<'d>, fsp: usize) -> io::Result<BinlogValue<'d>> {
    let be = |b: &[u8]| b.iter().fold(0i64, |a, &x| (a << 8) | i64::from(x));
    let packed = match fsp {
        0 => (be(take(buf, 3)?) - 0x80_0000) << 24,
        1..=4 => {
            let int = be(take(buf, 3)?) - 0x80_0000;
            let (bytes, scale) = if fsp <= 2 { (1, 10_000) } else { (2, 100) };
            let frac = be(take(buf, bytes)?);
            let (int, frac) = if int < 0 && frac > 0 {
                (int + 1, frac - (1 << (8 * bytes)))
            } else {
                (int, frac)
            };
            (int << 24) + frac * scale
        }
        5 | 6 => be(take(buf, 6)?) - 0x8000_0000_0000,
        n => return Err(invalid(format!("TIME with {n} fractional digits"))),
    };
    let neg = packed < 0;
    let p = packed.unsigned_abs();
    let hms = p >> 24;
    let hours = ((hms >> 12) % (1 << 10)) as u32;
    Ok(BinlogValue::Value(Value::Time(
        neg,
        hours / 24,
        (hours % 24) as u8,
        ((hms >> 6) % (1 << 6)) as u8,
        (hms % (1 << 6)) as u8,
        (p % (1 << 24)) as u32,
    )))
}

/// The spool texts of one row image into `out`: every value converted for
/// its catalog column, formatted values in `scratch` (both cleared first).
/// A value the destination cannot hold becomes NULL and goes to `warn`;
/// `Err` names the column of a value that cannot be read at all.
pub fn row_texts<'r>(
    cols: &[MyCol],
    row: &'r [Raw<'r>],
    scratch: &mut Vec<u8>,
    out: &mut Vec<Option<Text<'r>>>,
    mut warn: impl FnMut(&MyCol, Unrepresentable),
) -> Result<(), String> {
    scratch.clear();
    out.clear();
    for (c, raw) in cols.iter().zip(row) {
        let converted = match raw {
            Raw::Null | Raw::Value(BinlogValue::Value(Value::NULL)) => Ok(None),
            Raw::Bytes(b) => {
                bytes_text(c, b, Origin::Binlog).map(|t| t.map(|t| Text::keep(t, scratch)))
            }
            Raw::Value(BinlogValue::Value(v)) => value_into(c, v, Origin::Binlog, scratch),
            Raw::Value(BinlogValue::Jsonb(j)) => {
                if !json_sane(j, 0) {
                    return Err(format!(
                        "{}: JSON value not understood (a number or nesting no server writes)",
                        c.name
                    ));
                }
                let dom = j
                    .clone()
                    .parse()
                    .map_err(|e| format!("{}: JSON value not understood: {e}", c.name))?;
                let from = scratch.len();
                write_json(&dom, scratch);
                Ok(Some(Text::Scratch(from..scratch.len())))
            }
            // A partial JSON update: the caller reads the row back.
            Raw::Value(BinlogValue::JsonDiff(_)) => Ok(None),
        };
        let converted = converted.and_then(|t| {
            if let Some(x) = &t {
                within_years(c, x.get(scratch))?;
            }
            Ok(t)
        });
        if converted == Err(Unrepresentable::BadEncoding) {
            return Err(format!(
                "column {} holds bytes that are not valid {}",
                c.name,
                c.charset.as_deref().unwrap_or("text")
            ));
        }
        out.push(converted.unwrap_or_else(|why| {
            warn(c, why);
            None
        }));
    }
    Ok(())
}

/// MySQL's binary JSON as JSON text, as MySQL writes it: DECIMAL values
/// (opaque in the binary form) as numbers, dates and times as strings
/// (`2012-03-18 11:30:45.000000`), other opaque values as
/// `"base64:type<N>:..."`; object keys in sorted order.
/// Whether `mysql_common` can parse a binary JSON document without
/// failing hard: a DECIMAL inside it that no server writes (scale above
/// precision: a negative size, a panic or an allocation of exabytes in a
/// release build; digit groups above 999,999,999: an overflow; both found
/// by fuzzing) makes it fail, and nesting deeper than MySQL allows (100) would exhaust the
/// stack. Elements it cannot read are left to its parse to report.
fn json_sane(v: &mysql_common::binlog::jsonb::Value<'_>, depth: usize) -> bool {
    use mysql_common::binlog::jsonb::Value as J;
    if depth > 150 {
        return false;
    }
    match v {
        // Read by ingest's own DECIMAL reader first, which checks the
        // precision, scale and every digit group.
        J::Opaque(o) if o.value_type() == ColumnType::MYSQL_TYPE_NEWDECIMAL => match o.data_raw() {
            [p, s, digits @ ..] => decimal(&mut ParseBuf(digits), *p as usize, *s as usize).is_ok(),
            _ => false,
        },
        J::SmallArray(a) => a
            .iter()
            .all(|e| e.map_or(true, |e| json_sane(&e, depth + 1))),
        J::LargeArray(a) => a
            .iter()
            .all(|e| e.map_or(true, |e| json_sane(&e, depth + 1))),
        J::SmallObject(o) => o
            .iter()
            .all(|e| e.map_or(true, |(_, e)| json_sane(&e, depth + 1))),
        J::LargeObject(o) => o
            .iter()
            .all(|e| e.map_or(true, |(_, e)| json_sane(&e, depth + 1))),
        _ => true,
    }
}

fn write_json(dom: &JsonDom, out: &mut Vec<u8>) {
    match dom {
        JsonDom::Container(JsonContainer::Array(items)) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(v, out);
            }
            out.push(b']');
        }
        JsonDom::Container(JsonContainer::Object(fields)) => {
            out.push(b'{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_string(k, out);
                out.push(b':');
                write_json(v, out);
            }
            out.push(b'}');
        }
        JsonDom::Scalar(JsonScalar::Number(JsonNumber::Decimal(d))) => {
            out.extend_from_slice(d.to_string().as_bytes());
        }
        JsonDom::Scalar(JsonScalar::String(s)) => write_json_string(s, out),
        JsonDom::Scalar(other) => {
            let v = serde_json::Value::from(other.clone());
            serde_json::to_writer(&mut *out, &v).expect("writing to a Vec");
        }
    }
}

fn write_json_string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec");
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnType::*;

    fn layout() -> RowLayout {
        RowLayout::from_columns(vec![
            (MYSQL_TYPE_LONG, vec![]),
            (MYSQL_TYPE_VARCHAR, vec![0x2c, 0x01]), // 300 bytes: 2-byte lengths
            (MYSQL_TYPE_VARCHAR, vec![40, 0]),
            (MYSQL_TYPE_STRING, vec![0xfe, 20]),
            (MYSQL_TYPE_BLOB, vec![2]),
            (MYSQL_TYPE_LONGLONG, vec![]),
            (MYSQL_TYPE_DOUBLE, vec![8]),
            (MYSQL_TYPE_NEWDECIMAL, vec![10, 2]),
            (MYSQL_TYPE_JSON, vec![4]),
        ])
    }

    /// One image: LONG -7, VARCHAR(300) "a,b", VARCHAR(40) NULL, CHAR "xy",
    /// BLOB [0, 255], LONGLONG NULL, DOUBLE 1.5, DECIMAL(10,2) 12.34,
    /// JSON NULL.
    fn image() -> Vec<u8> {
        let mut b = vec![0b0010_0100, 0b0000_0001];
        b.extend_from_slice(&(-7i32).to_le_bytes());
        b.extend_from_slice(&[3, 0]);
        b.extend_from_slice(b"a,b");
        b.extend_from_slice(&[2]);
        b.extend_from_slice(b"xy");
        b.extend_from_slice(&[2, 0, 0, 255]);
        b.extend_from_slice(&1.5f64.to_le_bytes());
        // DECIMAL(10,2) 12.34: 8 integer digits in 4 bytes, 2 fraction
        // digits in 1 byte, sign bit flipped.
        b.extend_from_slice(&[0x80, 0, 0, 12, 34]);
        b
    }

    #[test]
    fn a_full_image_reads_every_column() {
        let data = image();
        let mut buf = ParseBuf(&data);
        let mut out = vec![];
        let l = layout();
        l.read_image(&mut buf, false, None, &mut out).unwrap();
        assert!(buf.0.is_empty(), "{} bytes left", buf.0.len());
        assert_eq!(out.len(), 9);
        assert_eq!(out[0], Raw::Value(BinlogValue::Value(Value::Int(-7))));
        assert_eq!(out[1], Raw::Bytes(b"a,b"));
        assert_eq!(out[2], Raw::Null);
        assert_eq!(out[3], Raw::Bytes(b"xy"));
        assert_eq!(out[4], Raw::Bytes(&[0, 255]));
        assert_eq!(out[5], Raw::Null);
        assert_eq!(out[6], Raw::Value(BinlogValue::Value(Value::Double(1.5))));
        assert_eq!(
            out[7],
            Raw::Value(BinlogValue::Value(Value::Bytes(b"12.34".to_vec())))
        );
        assert_eq!(out[8], Raw::Null);
    }

    #[test]
    fn two_images_in_a_row_and_a_short_one() {
        let mut data = image();
        data.extend_from_slice(&image());
        let mut buf = ParseBuf(&data);
        let mut out = vec![];
        let l = layout();
        l.read_image(&mut buf, false, None, &mut out).unwrap();
        l.read_image(&mut buf, false, None, &mut out).unwrap();
        assert_eq!(out[1], Raw::Bytes(b"a,b"));
        assert!(buf.0.is_empty());
        // Cut inside the BLOB: an error that says where, not a panic.
        let data = image();
        let mut buf = ParseBuf(&data[..16]);
        let err = l.read_image(&mut buf, false, None, &mut out).unwrap_err();
        assert!(err.to_string().contains("column 5"), "{err}");
    }

    #[test]
    fn long_char_lengths_and_shared_images() {
        // CHAR(100) in utf8mb4 (400 bytes): 2-byte length, flagged in byte 0.
        let l = RowLayout::from_columns(vec![
            (MYSQL_TYPE_STRING, vec![0xee, 0x90]),
            (MYSQL_TYPE_JSON, vec![4]),
        ]);
        let mut data = vec![0b10];
        data.extend_from_slice(&[5, 0]);
        data.extend_from_slice(b"hello");
        let mut out = vec![];
        l.read_image(&mut ParseBuf(&data), false, None, &mut out)
            .unwrap();
        assert_eq!(out, vec![Raw::Bytes(b"hello"), Raw::Null]);
        // After image of a partial update, no JSON column partial.
        let mut shared = vec![1, 0];
        shared.extend_from_slice(&data);
        l.read_image(&mut ParseBuf(&shared), true, None, &mut out)
            .unwrap();
        assert_eq!(out[0], Raw::Bytes(b"hello"));
        // The JSON column flagged as a diff, but NULL: no diff to read.
        let mut partial = vec![1, 1];
        partial.extend_from_slice(&data);
        l.read_image(&mut ParseBuf(&partial), true, None, &mut out)
            .unwrap();
        assert_eq!(out, vec![Raw::Bytes(b"hello"), Raw::Null]);
    }

    #[test]
    fn partial_json_bits_count_every_json_column() {
        // (id, j1 JSON, j2 JSON); a MINIMAL after image logs id and j2;
        // the partial bitmap's second bit (j2) is set: j2 is a diff.
        let l = RowLayout::from_columns(vec![
            (MYSQL_TYPE_LONG, vec![]),
            (MYSQL_TYPE_JSON, vec![4]),
            (MYSQL_TYPE_JSON, vec![4]),
        ]);
        let mut image = vec![1, 0b10, 0];
        image.extend_from_slice(&7i32.to_le_bytes());
        // JSON_REMOVE of `$.x`: operation 2, the path, no value.
        let diff = [2u8, 3, b'$', b'.', b'x'];
        image.extend_from_slice(&(diff.len() as u32).to_le_bytes());
        image.extend_from_slice(&diff);
        let mut out = vec![];
        l.read_image(
            &mut ParseBuf(&image),
            true,
            Some(&[true, false, true]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[1], Raw::Null);
        assert!(
            matches!(&out[2], Raw::Value(BinlogValue::JsonDiff(d)) if d.len() == 1),
            "{out:?}"
        );
    }

    #[test]
    fn row_texts_follow_the_catalog() {
        let cols = [
            MyCol::new("u", "int", "int(10) unsigned", None),
            MyCol::new("l", "varchar", "varchar(10)", Some("latin1")),
            MyCol::new("c", "char", "char(5)", Some("utf8mb4")),
            MyCol::new("e", "enum", "enum('a','b')", None),
            MyCol::new("n", "varchar", "varchar(10)", Some("utf8mb4")),
        ];
        let row = [
            Raw::Value(BinlogValue::Value(Value::Int(-1))),
            Raw::Bytes(b"caf\xe9"),
            Raw::Bytes(b"ab   "),
            Raw::Value(BinlogValue::Value(Value::Int(3))),
            Raw::Null,
        ];
        let mut scratch = b"left over".to_vec();
        let mut out = vec![];
        let mut warned = vec![];
        row_texts(&cols, &row, &mut scratch, &mut out, |c, why| {
            warned.push((c.name.clone(), why))
        })
        .unwrap();
        let texts: Vec<Option<&[u8]>> = out
            .iter()
            .map(|t| t.as_ref().map(|t| t.get(&scratch)))
            .collect();
        assert_eq!(
            texts,
            vec![
                Some(&b"4294967295"[..]),
                Some("café".as_bytes()),
                Some(b"ab"),
                None,
                None
            ]
        );
        // The bytes of a UTF-8 column are passed on without a copy.
        assert!(matches!(out[2], Some(Text::Row(_))));
        assert_eq!(warned, vec![("e".to_string(), Unrepresentable::OutOfRange)]);
        // A destination whose dates start at year 1000 (SingleStore):
        // earlier dates and zero dates are NULL with a warning, never moved.
        let mut d = MyCol::new("d", "date", "date", None);
        d.min_year = 1000;
        let mut ts = MyCol::new("ts", "timestamp", "timestamp", None);
        ts.min_year = 1000;
        let cols = [d.clone(), d.clone(), d, ts];
        let row = [
            Raw::Value(BinlogValue::Value(Value::Date(999, 12, 31, 0, 0, 0, 0))),
            Raw::Value(BinlogValue::Value(Value::Date(1000, 1, 1, 0, 0, 0, 0))),
            Raw::Value(BinlogValue::Value(Value::Date(0, 0, 0, 0, 0, 0, 0))),
            Raw::Bytes(b"0"),
        ];
        let mut warned = vec![];
        row_texts(&cols, &row, &mut scratch, &mut out, |c, why| {
            warned.push((c.name.clone(), why))
        })
        .unwrap();
        let texts: Vec<Option<&[u8]>> = out
            .iter()
            .map(|t| t.as_ref().map(|t| t.get(&scratch)))
            .collect();
        assert_eq!(texts, vec![None, Some(&b"1000-01-01"[..]), None, None]);
        assert_eq!(warned.len(), 3);
        // Bytes that are no sjis: the row cannot be read (the caller stops
        // the table), never a replacement character.
        let cols = [MyCol::new("j", "varchar", "varchar(10)", Some("sjis"))];
        let e = row_texts(
            &cols,
            &[Raw::Bytes(b"\x81")],
            &mut scratch,
            &mut out,
            |_, _| {},
        )
        .unwrap_err();
        assert_eq!(e, "column j holds bytes that are not valid sjis");
    }
}
