//! Reading a result set into spool text: in blocks of rows with a buffer
//! per column chosen from the column's type (never the driver's default:
//! odbc-api reads `tinyint` signed, `nvarchar` narrow and UDTs as 2 GiB of
//! binary), or a row at a time where a column is unbounded (`(max)`).

use anyhow::{anyhow, Result};
use odbc_api::buffers::{BufferDesc, ColumnarDynBuffer};
use odbc_api::sys::{Date, Timestamp};
use odbc_api::{Bit, Cursor, Nullable};

use super::types::{self, Kind, MsCol};
use crate::schema::Unrepresentable;
use crate::source::Warnings;

/// A value as the driver handed it over.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    Null,
    Bit(bool),
    U8(u8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Ts(Timestamp),
    Date(Date),
    /// Narrow text (decimals, times, offsets, GUIDs: ASCII).
    Narrow(&'a [u8]),
    Wide(&'a [u16]),
    Bin(&'a [u8]),
}

/// Bytes of a block of rows, at most.
const BLOCK_BYTES: usize = 8 << 20;

fn desc(k: Kind) -> BufferDesc {
    let nullable = true;
    match k {
        Kind::Bit => BufferDesc::Bit { nullable },
        Kind::U8 => BufferDesc::U8 { nullable },
        Kind::I16 => BufferDesc::I16 { nullable },
        Kind::I32 => BufferDesc::I32 { nullable },
        Kind::I64 => BufferDesc::I64 { nullable },
        Kind::F32 => BufferDesc::F32 { nullable },
        Kind::F64 => BufferDesc::F64 { nullable },
        Kind::Timestamp { .. } => BufferDesc::Timestamp { nullable },
        Kind::Date => BufferDesc::Date { nullable },
        Kind::Decimal { .. } => BufferDesc::Text { max_str_len: 48 },
        Kind::Time { .. } => BufferDesc::Text { max_str_len: 24 },
        Kind::Offset { .. } => BufferDesc::Text { max_str_len: 48 },
        Kind::Guid => BufferDesc::Text { max_str_len: 40 },
        Kind::Binary { max } => BufferDesc::Binary {
            max_bytes: max.unwrap_or(0) as usize,
        },
        Kind::Text { max } => BufferDesc::WText {
            max_str_len: max.unwrap_or(0) as usize,
        },
    }
}

/// Converts values into spool text, counting those the destination
/// cannot hold (and dropped 7th digits) per column.
pub struct Texts<'w> {
    pub table: String,
    pub min_year: u16,
    pub warnings: &'w mut Warnings,
}

impl<'w> Texts<'w> {
    /// For the values of table `s`.
    pub fn of(s: &crate::schema::TableSchema, warnings: &'w mut Warnings) -> Texts<'w> {
        Texts {
            table: s.source_name(),
            min_year: s.min_year,
            warnings,
        }
    }

    /// The spool text of `raw` in `out` (cleared first); `false`: NULL.
    pub fn put(&mut self, raw: Raw<'_>, c: &MsCol, out: &mut Vec<u8>) -> bool {
        out.clear();
        match format(raw, c, self.min_year, out) {
            Ok(Some(cut)) => {
                if cut {
                    self.warnings
                        .add(&self.table, &c.name, Unrepresentable::SubMicrosecond);
                }
                true
            }
            Ok(None) => false,
            Err(why) => {
                self.warnings.add(&self.table, &c.name, why);
                out.clear();
                false
            }
        }
    }
}

/// The spool text of one value (`None`: NULL; `Some(true)`: a 7th
/// fractional digit was dropped).
pub fn format(
    raw: Raw<'_>,
    c: &MsCol,
    min_year: u16,
    out: &mut Vec<u8>,
) -> Result<Option<bool>, Unrepresentable> {
    use std::io::Write;
    let mut cut = false;
    match raw {
        Raw::Null => return Ok(None),
        Raw::Bit(b) => out.push(if b { b'1' } else { b'0' }),
        Raw::U8(v) => write!(out, "{v}").unwrap_or(()),
        Raw::I16(v) => write!(out, "{v}").unwrap_or(()),
        Raw::I32(v) => write!(out, "{v}").unwrap_or(()),
        Raw::I64(v) => write!(out, "{v}").unwrap_or(()),
        Raw::F32(v) => out.extend_from_slice(types::real(v).as_bytes()),
        Raw::F64(v) => out.extend_from_slice(types::float(v).as_bytes()),
        Raw::Ts(t) => {
            let scale = match c.kind {
                Kind::Timestamp { scale } => scale,
                _ => 6,
            };
            let (s, c7) = types::timestamp(
                t.year, t.month, t.day, t.hour, t.minute, t.second, t.fraction, scale,
            );
            if crate::schema::before_year(s.as_bytes(), min_year) {
                return Err(Unrepresentable::OutOfRange);
            }
            cut = c7;
            out.extend_from_slice(s.as_bytes());
        }
        Raw::Date(d) => {
            let s = format!("{:04}-{:02}-{:02}", d.year, d.month, d.day);
            if crate::schema::before_year(s.as_bytes(), min_year) {
                return Err(Unrepresentable::OutOfRange);
            }
            out.extend_from_slice(s.as_bytes());
        }
        Raw::Narrow(b) => {
            let t = std::str::from_utf8(b).map_err(|_| Unrepresentable::Malformed)?;
            let s = match c.kind {
                Kind::Decimal { int, frac } => types::decimal(t, int, frac)?,
                Kind::Time { scale } => {
                    let (s, c7) = types::time(t, scale)?;
                    cut = c7;
                    s
                }
                Kind::Offset { scale } => {
                    let (s, c7) = types::offset(t, scale)?;
                    if crate::schema::before_year(s.as_bytes(), min_year) {
                        return Err(Unrepresentable::OutOfRange);
                    }
                    cut = c7;
                    s
                }
                Kind::Guid => t.trim().to_ascii_uppercase(),
                _ => t.to_string(),
            };
            out.extend_from_slice(s.as_bytes());
        }
        Raw::Wide(w) => {
            for ch in char::decode_utf16(w.iter().copied()) {
                let ch = ch.map_err(|_| Unrepresentable::BadEncoding)?;
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
        }
        Raw::Bin(b) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.reserve(b.len() * 2);
            for &x in b {
                out.push(HEX[usize::from(x >> 4)]);
                out.push(HEX[usize::from(x & 15)]);
            }
        }
    }
    Ok(Some(cut))
}

/// Runs `sql` and reads its rows (columns `cols`) as [`rows`] does; `what`
/// names the read in errors.
pub fn select(
    conn: &odbc_api::Connection<'_>,
    sql: &str,
    params: impl odbc_api::ParameterCollectionRef,
    cols: &[MsCol],
    texts: &mut Texts<'_>,
    what: &str,
    row: impl FnMut(&[Option<&[u8]>], &mut Texts<'_>) -> Result<()>,
) -> Result<u64> {
    let Some(cursor) = conn
        .execute(sql, params, None)
        .map_err(|e| super::odbc::query_error(sql, e))?
    else {
        anyhow::bail!("{what}: the server returned no result set");
    };
    rows(cursor, cols, texts, what, row)
}

/// Reads every row of `cursor` (columns `cols`, in order), hands each to
/// `row` as spool texts (`None`: NULL); returns the row count.
pub fn rows<C: Cursor>(
    cursor: C,
    cols: &[MsCol],
    texts: &mut Texts<'_>,
    what: &str,
    mut row: impl FnMut(&[Option<&[u8]>], &mut Texts<'_>) -> Result<()>,
) -> Result<u64> {
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); cols.len()];
    let mut present = vec![false; cols.len()];
    let mut n = 0u64;
    let mut emit = |bufs: &[Vec<u8>], present: &[bool], texts: &mut Texts<'_>| -> Result<()> {
        let vals: Vec<Option<&[u8]>> = bufs
            .iter()
            .zip(present)
            .map(|(b, &p)| p.then_some(b.as_slice()))
            .collect();
        row(&vals, texts)
    };
    if cols.iter().any(|c| c.kind.is_long()) {
        let mut cursor = cursor;
        let mut scratch: Vec<u8> = vec![];
        let mut wide: Vec<u16> = vec![];
        while let Some(mut r) = cursor
            .next_row()
            .map_err(|e| anyhow!("{what}, row {}: {e}", n + 1))?
        {
            for (i, c) in cols.iter().enumerate() {
                let col = (i + 1) as u16;
                let err =
                    |e: odbc_api::Error| anyhow!("{what}, row {}, column {}: {e}", n + 1, c.name);
                let raw = match c.kind {
                    Kind::Bit => {
                        let mut v = Nullable::<Bit>::null();
                        r.get_data(col, &mut v).map_err(err)?;
                        v.into_opt().map_or(Raw::Null, |b| Raw::Bit(b.as_bool()))
                    }
                    Kind::U8 => {
                        let mut v = Nullable::<u8>::null();
                        r.get_data(col, &mut v).map_err(err)?;
                        v.into_opt().map_or(Raw::Null, Raw::U8)
                    }
                    Kind::I16 => {
                        let mut v = Nullable::<i16>::null();
                        r.get_data(col, &mut v).map_err(err)?;
                        v.into_opt().map_or(Raw::Null, Raw::I16)
                    }
                    Kind::I32 => {
                        let mut v = Nullable::<i32>::null();
                        r.get_data(col, &mut v).map_err(err)?;
                        v.into_opt().map_or(Raw::Null, Raw::I32)
                    }
                    Kind::I64 => {
                        let mut v = Nullable::<i64>::null();
                        r.get_data(col, &mut v).map_err(err)?;
                        v.into_opt().map_or(Raw::Null, Raw::I64)
                    }
                    Kind::F32 => {
                        let mut v = Nullable::<f32>::null();
                        r.get_data(col, &mut v).map_err(err)?;
                        v.into_opt().map_or(Raw::Null, Raw::F32)
                    }
                    Kind::F64 => {
                        let mut v = Nullable::<f64>::null();
                        r.get_data(col, &mut v).map_err(err)?;
                        v.into_opt().map_or(Raw::Null, Raw::F64)
                    }
                    Kind::Timestamp { .. } => {
                        let mut v = Nullable::<Timestamp>::null();
                        r.get_data(col, &mut v).map_err(err)?;
                        v.into_opt().map_or(Raw::Null, Raw::Ts)
                    }
                    Kind::Date => {
                        let mut v = Nullable::<Date>::null();
                        r.get_data(col, &mut v).map_err(err)?;
                        v.into_opt().map_or(Raw::Null, Raw::Date)
                    }
                    Kind::Decimal { .. } | Kind::Time { .. } | Kind::Offset { .. } | Kind::Guid => {
                        scratch.clear();
                        if r.get_text(col, &mut scratch).map_err(err)? {
                            Raw::Narrow(&scratch)
                        } else {
                            Raw::Null
                        }
                    }
                    Kind::Binary { .. } => {
                        scratch.clear();
                        if r.get_binary(col, &mut scratch).map_err(err)? {
                            Raw::Bin(&scratch)
                        } else {
                            Raw::Null
                        }
                    }
                    Kind::Text { .. } => {
                        wide.clear();
                        if r.get_wide_text(col, &mut wide).map_err(err)? {
                            Raw::Wide(&wide)
                        } else {
                            Raw::Null
                        }
                    }
                };
                present[i] = texts.put(raw, c, &mut bufs[i]);
            }
            n += 1;
            emit(&bufs, &present, texts)?;
        }
        return Ok(n);
    }
    let row_bytes: usize = cols
        .iter()
        .map(|c| match c.kind {
            Kind::Binary { max } => max.unwrap_or(0) as usize + 8,
            Kind::Text { max } => 2 * max.unwrap_or(0) as usize + 10,
            _ => 56,
        })
        .sum();
    let batch = (BLOCK_BYTES / row_bytes.max(1)).clamp(1, 5000);
    let buffer = ColumnarDynBuffer::from_descs(batch, cols.iter().map(|c| desc(c.kind)));
    let mut block = cursor
        .bind_buffer(buffer)
        .map_err(|e| anyhow!("{what}: {e}"))?;
    while let Some(b) = block
        .fetch_with_truncation_check(true)
        .map_err(|e| anyhow!("{what}, after row {n}: {e}"))?
    {
        for r in 0..b.num_rows() {
            for (i, c) in cols.iter().enumerate() {
                let col = b.column(i);
                let bad = || anyhow!("{what}: column {} has no {:?} buffer", c.name, c.kind);
                let raw = match c.kind {
                    Kind::Bit => col
                        .as_nullable_slice::<Bit>()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, |v| Raw::Bit(v.as_bool())),
                    Kind::U8 => col
                        .as_nullable_slice::<u8>()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, |v| Raw::U8(*v)),
                    Kind::I16 => col
                        .as_nullable_slice::<i16>()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, |v| Raw::I16(*v)),
                    Kind::I32 => col
                        .as_nullable_slice::<i32>()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, |v| Raw::I32(*v)),
                    Kind::I64 => col
                        .as_nullable_slice::<i64>()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, |v| Raw::I64(*v)),
                    Kind::F32 => col
                        .as_nullable_slice::<f32>()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, |v| Raw::F32(*v)),
                    Kind::F64 => col
                        .as_nullable_slice::<f64>()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, |v| Raw::F64(*v)),
                    Kind::Timestamp { .. } => col
                        .as_nullable_slice::<Timestamp>()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, |v| Raw::Ts(*v)),
                    Kind::Date => col
                        .as_nullable_slice::<Date>()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, |v| Raw::Date(*v)),
                    Kind::Decimal { .. } | Kind::Time { .. } | Kind::Offset { .. } | Kind::Guid => {
                        col.as_text()
                            .ok_or_else(bad)?
                            .get(r)
                            .map_or(Raw::Null, Raw::Narrow)
                    }
                    Kind::Binary { .. } => col
                        .as_binary()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, Raw::Bin),
                    Kind::Text { .. } => col
                        .as_wide_text()
                        .ok_or_else(bad)?
                        .get(r)
                        .map_or(Raw::Null, Raw::Wide),
                };
                present[i] = texts.put(raw, c, &mut bufs[i]);
            }
            n += 1;
            emit(&bufs, &present, texts)?;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: &str, len: i32, p: u8, s: u8) -> MsCol {
        types::column("c", t, len, p, s, true).unwrap().0
    }

    fn text(
        raw: Raw<'_>,
        c: &MsCol,
        min_year: u16,
    ) -> Result<Option<(String, bool)>, Unrepresentable> {
        let mut out = vec![];
        Ok(format(raw, c, min_year, &mut out)?.map(|cut| (String::from_utf8(out).unwrap(), cut)))
    }

    fn ts(year: i16, fraction: u32) -> Timestamp {
        Timestamp {
            year,
            month: 12,
            day: 31,
            hour: 23,
            minute: 59,
            second: 59,
            fraction,
        }
    }

    #[test]
    fn values_of_every_kind() {
        let ok = |raw, c: &MsCol| text(raw, c, 0).unwrap().unwrap().0;
        assert_eq!(ok(Raw::U8(255), &col("tinyint", 1, 3, 0)), "255");
        assert_eq!(
            ok(Raw::I64(i64::MIN), &col("bigint", 8, 19, 0)),
            "-9223372036854775808"
        );
        assert_eq!(ok(Raw::Bit(true), &col("bit", 1, 1, 0)), "1");
        assert_eq!(
            ok(Raw::F32(f32::MAX), &col("real", 4, 24, 0)),
            "3.4028234663852886e38"
        );
        assert_eq!(ok(Raw::F64(-1.5), &col("float", 8, 53, 0)), "-1.5e0");
        assert_eq!(ok(Raw::Narrow(b".001"), &col("numeric", 5, 5, 3)), "0.001");
        assert_eq!(
            ok(
                Raw::Narrow(b"-922337203685477.5808"),
                &col("money", 8, 19, 4)
            ),
            "-922337203685477.5808"
        );
        assert_eq!(
            ok(
                Raw::Narrow(b"6f9619ff-8b86-d011-b42d-00c04fc964ff"),
                &col("uniqueidentifier", 16, 0, 0)
            ),
            "6F9619FF-8B86-D011-B42D-00C04FC964FF"
        );
        assert_eq!(
            ok(Raw::Bin(&[0, 0xab, 0xff]), &col("varbinary", 10, 0, 0)),
            "00abff"
        );
        assert_eq!(ok(Raw::Bin(&[]), &col("varbinary", 10, 0, 0)), "");
        let wide: Vec<u16> = "zł 😀".encode_utf16().collect();
        assert_eq!(ok(Raw::Wide(&wide), &col("nvarchar", 20, 0, 0)), "zł 😀");
        assert_eq!(text(Raw::Null, &col("int", 4, 10, 0), 0), Ok(None));
        assert_eq!(
            text(Raw::Wide(&[0xD800]), &col("nvarchar", 20, 0, 0), 0),
            Err(Unrepresentable::BadEncoding)
        );
        // datetime2(7): the 7th digit is cut and said.
        assert_eq!(
            text(
                Raw::Ts(ts(9999, 999_999_900)),
                &col("datetime2", 8, 27, 7),
                0
            ),
            Ok(Some(("9999-12-31 23:59:59.999999".into(), true)))
        );
        assert_eq!(
            text(
                Raw::Ts(ts(2024, 997_000_000)),
                &col("datetime", 8, 23, 3),
                0
            ),
            Ok(Some(("2024-12-31 23:59:59.997".into(), false)))
        );
        // Years before the destination's first are not stored.
        assert_eq!(
            text(Raw::Ts(ts(1, 0)), &col("datetime2", 8, 27, 7), 1000),
            Err(Unrepresentable::OutOfRange)
        );
        assert_eq!(
            text(
                Raw::Date(Date {
                    year: 1,
                    month: 1,
                    day: 1
                }),
                &col("date", 3, 10, 0),
                0
            ),
            Ok(Some(("0001-01-01".into(), false)))
        );
        assert_eq!(
            text(
                Raw::Narrow(b"2024-05-01 10:00:00.1234567 +02:00"),
                &col("datetimeoffset", 10, 34, 7),
                0
            ),
            Ok(Some(("2024-05-01 08:00:00.123456".into(), true)))
        );
        assert_eq!(
            text(Raw::Narrow(b"23:59:59.9999999"), &col("time", 5, 16, 7), 0),
            Ok(Some(("23:59:59.999999".into(), true)))
        );
    }
}
