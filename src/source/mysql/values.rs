//! MySQL/MariaDB values, converted without I/O.
//!
//! Values arrive in two shapes: from the binary protocol of a snapshot
//! (`SELECT` through a prepared statement) and from row events of the binlog
//! (row images read by [`super::rows`], values parsed by
//! `mysql_common`). Both are [`mysql::Value`]s, with the binlog's
//! known quirks, corrected here from the column's catalog description
//! ([`MyCol`], from `information_schema.COLUMNS`):
//! - unsigned integers come back signed (the row reader asks for signed values),
//! - a signed MEDIUMINT is not sign-extended,
//! - YEAR 0000 reads as 1900,
//! - ENUM and SET come as index and bitmask,
//! - TIMESTAMP comes as epoch seconds text,
//! - CHAR keeps its padding and BINARY(n) loses its trailing zero bytes.
//!
//! [`value_text`] turns either shape into the spool text the destination
//! reads.

use std::borrow::Cow;
use std::io::Write;

use mysql::Value;

use super::column::{MyCol, TextEncoding};
use crate::schema::Unrepresentable;

fn hex(b: &[u8]) -> Vec<u8> {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(b.len() * 2);
    for &x in b {
        out.push(H[(x >> 4) as usize]);
        out.push(H[(x & 15) as usize]);
    }
    out
}

fn date_text(y: u16, m: u8, d: u8) -> String {
    let mut out = Vec::with_capacity(10);
    write_date(&mut out, y, m, d);
    String::from_utf8(out).unwrap_or_default()
}

fn write_date(out: &mut Vec<u8>, y: u16, m: u8, d: u8) {
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
}

fn datetime_text(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, us: u32) -> String {
    let mut out = Vec::with_capacity(26);
    write_datetime(&mut out, y, mo, d, h, mi, s, us);
    String::from_utf8(out).unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn write_datetime(out: &mut Vec<u8>, y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, us: u32) {
    let _ = write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}");
}

/// A converted value: borrowed from the row as it came, or written into
/// the row's scratch buffer (one buffer a row instead of one allocation a
/// value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text<'v> {
    Row(&'v [u8]),
    Scratch(std::ops::Range<usize>),
}

impl<'v> Text<'v> {
    /// A converted value: borrowed as it is, or an owned one appended to
    /// `scratch`.
    pub fn keep(t: Cow<'v, [u8]>, scratch: &mut Vec<u8>) -> Text<'v> {
        match t {
            Cow::Borrowed(b) => Text::Row(b),
            Cow::Owned(o) => {
                let from = scratch.len();
                scratch.extend_from_slice(&o);
                Text::Scratch(from..scratch.len())
            }
        }
    }

    pub fn get<'a>(&'a self, scratch: &'a [u8]) -> &'a [u8]
    where
        'v: 'a,
    {
        match self {
            Text::Row(b) => b,
            Text::Scratch(r) => &scratch[r.clone()],
        }
    }
}

/// A date, datetime or timestamp text the destination cannot hold (before
/// its first year; zero dates included) is refused, never shifted.
pub fn within_years(c: &MyCol, text: &[u8]) -> Result<(), Unrepresentable> {
    // Checked per value on the binlog path: the limit first, then the type.
    if c.min_year > 0
        && matches!(c.data_type.as_str(), "date" | "datetime" | "timestamp")
        && crate::schema::before_year(text, c.min_year)
    {
        return Err(Unrepresentable::OutOfRange);
    }
    Ok(())
}

/// [`value_text`] without an allocation for the common types: integers,
/// doubles and dates are formatted straight into `scratch`.
pub fn value_into<'v>(
    c: &MyCol,
    v: &'v Value,
    origin: Origin,
    scratch: &mut Vec<u8>,
) -> Result<Option<Text<'v>>, Unrepresentable> {
    let from = scratch.len();
    let int = matches!(
        c.data_type.as_str(),
        "tinyint" | "smallint" | "int" | "integer" | "bigint"
    );
    if let Value::Int(i) = v {
        if let Some(n) = integer(c, *i) {
            let _ = write!(scratch, "{n}");
            return Ok(Some(Text::Scratch(from..scratch.len())));
        }
    }
    match v {
        Value::UInt(u) if int || c.data_type == "mediumint" => {
            let _ = write!(scratch, "{u}");
        }
        Value::Double(d) if d.is_finite() => {
            let _ = write!(scratch, "{d:e}");
        }
        Value::Date(y, mo, d, ..) if c.data_type == "date" => write_date(scratch, *y, *mo, *d),
        Value::Date(y, mo, d, h, mi, s, us) => {
            write_datetime(scratch, *y, *mo, *d, *h, *mi, *s, *us)
        }
        _ => return Ok(value_text(c, v, origin)?.map(|t| Text::keep(t, scratch))),
    }
    Ok(Some(Text::Scratch(from..scratch.len())))
}

/// A signed integer as the column's value: row events give unsigned
/// columns as signed (of their width), and a signed MEDIUMINT without its
/// sign extended. `None` when the column is no integer type.
fn integer(c: &MyCol, i: i64) -> Option<i128> {
    Some(match (c.data_type.as_str(), c.unsigned) {
        ("tinyint", true) => i128::from(i as u8),
        ("smallint", true) => i128::from(i as u16),
        ("mediumint", true) => i128::from(i & 0xff_ffff),
        ("mediumint", false) if i > 0x7f_ffff => i128::from(i - 0x100_0000),
        ("int" | "integer", true) => i128::from(i as u32),
        ("bigint", true) => i128::from(i as u64),
        ("tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint", _) => i128::from(i),
        _ => return None,
    })
}

/// `TIMESTAMP` as the binlog sends it (`1700000000` or `1700000000.123456`
/// seconds since the epoch) → UTC datetime text.
fn epoch_text(b: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(b).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    if secs == 0 && frac.trim_matches('0').is_empty() {
        return Some("0000-00-00 00:00:00.000000".into());
    }
    let mut us: i64 = 0;
    for (i, c) in frac.chars().take(6).enumerate() {
        us += i64::from(c.to_digit(10)?) * 10i64.pow(5 - i as u32);
    }
    Some(crate::clock::format_micros(secs * 1_000_000 + us))
}

/// Where a value comes from: a snapshot's binary protocol (text already
/// UTF-8, CHAR trimmed, BINARY padded) or a binlog row event (raw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Snapshot,
    Binlog,
}

/// Spool text of one value of column `c`. `None` for SQL NULL.
pub fn value_text<'v>(
    c: &MyCol,
    v: &'v Value,
    origin: Origin,
) -> Result<Option<Cow<'v, [u8]>>, Unrepresentable> {
    let own = |s: String| Ok(Some(Cow::Owned(s.into_bytes())));
    match v {
        Value::NULL => Ok(None),
        Value::Int(i) => {
            let i = *i;
            match c.data_type.as_str() {
                "enum" => label(c, i as u64, false),
                "set" => label(c, i as u64, true),
                "year" => own(if i == 0 || i == 1900 {
                    "0000".into()
                } else {
                    format!("{i:04}")
                }),
                "bit" => own_hex_bits(c, i as u64),
                _ => own(integer(c, i).unwrap_or(i128::from(i)).to_string()),
            }
        }
        Value::UInt(u) => match c.data_type.as_str() {
            "enum" => label(c, *u, false),
            "set" => label(c, *u, true),
            "year" => own(if *u == 0 || *u == 1900 {
                "0000".into()
            } else {
                format!("{u:04}")
            }),
            "bit" => own_hex_bits(c, *u),
            _ => own(u.to_string()),
        },
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(if f.is_nan() {
                    Unrepresentable::NotANumber
                } else {
                    Unrepresentable::Infinite
                });
            }
            // The exact double of the float: MySQL would refuse the
            // shortest text of FLT_MAX as out of range.
            own(format!("{:e}", f64::from(*f)))
        }
        Value::Double(d) => {
            if !d.is_finite() {
                return Err(if d.is_nan() {
                    Unrepresentable::NotANumber
                } else {
                    Unrepresentable::Infinite
                });
            }
            own(format!("{d:e}"))
        }
        Value::Date(y, mo, d, h, mi, s, us) => match c.data_type.as_str() {
            "date" => own(date_text(*y, *mo, *d)),
            _ => own(datetime_text(*y, *mo, *d, *h, *mi, *s, *us)),
        },
        Value::Time(neg, days, h, mi, s, us) => {
            // mysql_common 0.37 mis-decodes negative TIME(1)/TIME(2) with a
            // fraction into impossible fields: never pass those on.
            if *mi >= 60 || *s >= 60 || *us >= 1_000_000 || *h >= 24 {
                return Err(Unrepresentable::Malformed);
            }
            let hours = days * 24 + u32::from(*h);
            own(format!(
                "{}{hours:02}:{mi:02}:{s:02}.{us:06}",
                if *neg { "-" } else { "" }
            ))
        }
        Value::Bytes(b) => bytes_text(c, b, origin),
    }
}

/// Spool text of a value that came as bytes (strings, blobs, DECIMAL,
/// TIMESTAMP of the binlog, SET bitmaps, BIT), borrowed where no
/// conversion is needed.
pub fn bytes_text<'v>(
    c: &MyCol,
    b: &'v [u8],
    origin: Origin,
) -> Result<Option<Cow<'v, [u8]>>, Unrepresentable> {
    let own = |s: String| Ok(Some(Cow::Owned(s.into_bytes())));
    match c.data_type.as_str() {
        "timestamp" if !b.contains(&b'-') => match epoch_text(b) {
            Some(t) => own(t),
            None => Err(Unrepresentable::Malformed),
        },
        "binary" => {
            // Row events drop BINARY(n)'s trailing zero bytes.
            let n = c.length.unwrap_or(b.len()).max(b.len());
            let mut full = b.to_vec();
            full.resize(n, 0);
            Ok(Some(Cow::Owned(hex(&full))))
        }
        "bit" => Ok(Some(Cow::Owned(hex(b)))),
        // Row events hold MariaDB's UUID, INET4 and INET6 as their bytes
        // (trailing zero bytes dropped, like BINARY's); snapshots as text.
        "uuid" | "inet4" | "inet6" if origin == Origin::Binlog => {
            let n = if c.data_type == "inet4" { 4 } else { 16 };
            if b.len() > n {
                return Err(Unrepresentable::Malformed);
            }
            let mut full = [0u8; 16];
            full[..b.len()].copy_from_slice(b);
            own(match c.data_type.as_str() {
                "uuid" => uuid_text(&full),
                "inet4" => format!("{}.{}.{}.{}", full[0], full[1], full[2], full[3]),
                _ => inet6_text(&full),
            })
        }
        "year" => match b {
            b"0" | b"1900" | b"0000" => Ok(Some(Cow::Borrowed(b"0000"))),
            _ => Ok(Some(Cow::Borrowed(b))),
        },
        // Row events carry SET and ENUM as little-endian numbers.
        "set" | "enum" if origin == Origin::Binlog && b.len() <= 8 => {
            let mut n = 0u64;
            for (i, x) in b.iter().enumerate() {
                n |= u64::from(*x) << (8 * i);
            }
            label(c, n, c.data_type == "set")
        }
        _ if c.binary() => Ok(Some(Cow::Owned(hex(b)))),
        "char" => {
            // CHAR's trailing spaces are never part of the value (trimmed
            // in UTF-8: in UTF-16 or UTF-32 a space is several bytes).
            Ok(Some(match convert_text(c, b, origin)? {
                Cow::Borrowed(t) => {
                    let end = t.iter().rposition(|&x| x != b' ').map_or(0, |p| p + 1);
                    Cow::Borrowed(&t[..end])
                }
                Cow::Owned(mut t) => {
                    let end = t.iter().rposition(|&x| x != b' ').map_or(0, |p| p + 1);
                    t.truncate(end);
                    Cow::Owned(t)
                }
            }))
        }
        _ => Ok(Some(convert_text(c, b, origin)?)),
    }
}

/// `6ccd780c-baba-1026-9564-5b8c656024db`: a UUID's text (MariaDB's UUID
/// type, MySQL's server UUIDs in GTIDs).
pub fn uuid_text(b: &[u8; 16]) -> String {
    let h = String::from_utf8(hex(b)).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// MariaDB's INET6 text (the BIND `inet_ntop` rules, except that a single
/// zero group is compressed too, as MariaDB 10.11 does): the longest run of
/// zero groups becomes `::` (the first of equal runs), groups in lower-case
/// hex without leading zeros, and IPv4 compatible (`::1.2.3.4`) and mapped
/// (`::ffff:1.2.3.4`) addresses end in dotted decimal.
fn inet6_text(b: &[u8; 16]) -> String {
    let words: Vec<u16> = b
        .chunks(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]))
        .collect();
    let (mut best, mut cur): ((usize, usize), Option<(usize, usize)>) = ((0, 0), None);
    for (i, &w) in words.iter().enumerate() {
        if w == 0 {
            let c = cur.map_or((i, 1), |(s, n)| (s, n + 1));
            cur = Some(c);
            if c.1 > best.1 {
                best = c;
            }
        } else {
            cur = None;
        }
    }
    if best.1 == 0 {
        best = (usize::MAX, 0);
    }
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if i == best.0 {
            out.push(':');
            if i + best.1 == 8 {
                out.push(':');
            }
            i += best.1;
            continue;
        }
        if i > 0 {
            out.push(':');
        }
        if i == 6 && best.0 == 0 && (best.1 == 6 || (best.1 == 5 && words[5] == 0xffff)) {
            out.push_str(&format!("{}.{}.{}.{}", b[12], b[13], b[14], b[15]));
            break;
        }
        out.push_str(&format!("{:x}", words[i]));
        i += 1;
    }
    out
}

/// A text value in row-event bytes (the column's character set) → UTF-8;
/// snapshots arrive in UTF-8 already (the session's character set).
/// Bytes that are not valid in the character set are refused
/// ([`Unrepresentable::BadEncoding`]), never replaced.
fn convert_text<'v>(
    c: &MyCol,
    b: &'v [u8],
    origin: Origin,
) -> Result<Cow<'v, [u8]>, Unrepresentable> {
    if origin == Origin::Snapshot {
        return Ok(Cow::Borrowed(b));
    }
    match c.encoding {
        TextEncoding::Utf8 => match std::str::from_utf8(b) {
            Ok(_) => Ok(Cow::Borrowed(b)),
            Err(_) => Err(Unrepresentable::BadEncoding),
        },
        TextEncoding::Whatwg(enc) => {
            match enc.decode_without_bom_handling_and_without_replacement(b) {
                Some(Cow::Borrowed(s)) => Ok(Cow::Borrowed(s.as_bytes())),
                Some(Cow::Owned(s)) => Ok(Cow::Owned(s.into_bytes())),
                None => Err(Unrepresentable::BadEncoding),
            }
        }
        TextEncoding::Utf32 => {
            if !b.len().is_multiple_of(4) {
                return Err(Unrepresentable::BadEncoding);
            }
            let mut s = String::with_capacity(b.len());
            for w in b.chunks_exact(4) {
                let u = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
                s.push(char::from_u32(u).ok_or(Unrepresentable::BadEncoding)?);
            }
            Ok(Cow::Owned(s.into_bytes()))
        }
    }
}

fn own_hex_bits(c: &MyCol, v: u64) -> Result<Option<Cow<'static, [u8]>>, Unrepresentable> {
    let bytes = c.length.unwrap_or(64).div_ceil(8).clamp(1, 8);
    Ok(Some(Cow::Owned(hex(&v.to_be_bytes()[8 - bytes..]))))
}

fn label(c: &MyCol, v: u64, set: bool) -> Result<Option<Cow<'static, [u8]>>, Unrepresentable> {
    if set {
        let mut parts = vec![];
        for (i, l) in c.labels.iter().enumerate() {
            if i < 64 && v & (1 << i) != 0 {
                parts.push(l.as_str());
            }
        }
        Ok(Some(Cow::Owned(parts.join(",").into_bytes())))
    } else if c.labels.iter().any(String::is_empty) {
        // `''` is a member: it and the error value (index 0) read the
        // same, so the index travels (`enum_by_index`).
        Ok(Some(Cow::Owned(v.to_string().into_bytes())))
    } else if v == 0 {
        // The "error" value of an ENUM: the empty string.
        Ok(Some(Cow::Borrowed(b"")))
    } else {
        match c.labels.get(v as usize - 1) {
            Some(l) => Ok(Some(Cow::Owned(l.clone().into_bytes()))),
            None => Err(Unrepresentable::OutOfRange),
        }
    }
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
