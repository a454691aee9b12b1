//! SQL Server types: the destination type of each, the ODBC buffer its
//! values are fetched in, and their spool text. Pure: tested on the values
//! both drivers (Microsoft's ODBC Driver 18, FreeTDS) hand over.
//!
//! Numbers, bits, dates, timestamps and binary values are fetched in
//! binary buffers (no driver's text form involved); decimals, times and
//! `datetimeoffset` as text, read in both drivers' forms (`.001` and
//! `0.001`); character data as UTF-16 and converted here.

use crate::schema::{Column, Conv, Unrepresentable};

/// How a column's values are fetched and turned into spool text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    Bit,
    /// `tinyint`: 0..255 (fetched unsigned).
    U8,
    I16,
    I32,
    I64,
    /// `real`: written as the exact double of the value.
    F32,
    F64,
    /// `decimal`/`numeric`/`money` as text; `frac` digits kept.
    Decimal {
        int: u8,
        frac: u8,
    },
    /// `datetime`, `smalldatetime`, `datetime2(scale)`.
    Timestamp {
        scale: u8,
    },
    Date,
    /// `time(scale)` as text.
    Time {
        scale: u8,
    },
    /// `datetimeoffset(scale)` as text: written in UTC.
    Offset {
        scale: u8,
    },
    /// `uniqueidentifier` as text.
    Guid,
    /// Binary (`max`: none for `(max)`): written as hex.
    Binary {
        max: Option<u32>,
    },
    /// Character data in UTF-16 units (`max`: none for `(max)`, `xml`, and
    /// the text of `hierarchyid`/`geometry`/`geography`).
    Text {
        max: Option<u32>,
    },
}

impl Kind {
    /// Values of unbounded size: fetched one row at a time.
    pub fn is_long(self) -> bool {
        matches!(self, Kind::Binary { max: None } | Kind::Text { max: None })
    }
}

/// One column as the catalog describes it (`sys.columns`, `sys.types`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MsCol {
    pub name: String,
    /// The system type's name (`nvarchar`, `datetime2`, `hierarchyid`).
    pub type_name: String,
    /// Bytes (`-1`: `(max)`).
    pub max_length: i32,
    pub precision: u8,
    pub scale: u8,
    pub nullable: bool,
    pub kind: Kind,
}

impl MsCol {
    /// What a structure change changes: name, type, bytes, precision, scale.
    pub fn shape(&self) -> (&str, &str, i32, u8, u8) {
        (
            &self.name,
            &self.type_name,
            self.max_length,
            self.precision,
            self.scale,
        )
    }

    /// A column of a statement that is not the table's (`__$operation`).
    pub fn extra(name: &str, kind: Kind) -> MsCol {
        MsCol {
            name: name.into(),
            type_name: String::new(),
            max_length: 0,
            precision: 0,
            scale: 0,
            nullable: true,
            kind,
        }
    }
}

/// The microseconds the destination keeps (`DATETIME(6)`, `TIME(6)`).
const MAX_FRAC: u8 = 6;

/// What a column of this catalog type becomes; an error names the type
/// when it has no destination (`sql_variant`).
pub fn column(
    name: &str,
    type_name: &str,
    max_length: i32,
    precision: u8,
    scale: u8,
    nullable: bool,
) -> Result<(MsCol, Column), String> {
    let t = type_name.to_ascii_lowercase();
    let chars = |per: i32| (max_length >= 0).then(|| (max_length / per).max(1) as u32);
    let frac = scale.min(MAX_FRAC);
    let (kind, dest, source_type) = match t.as_str() {
        "bit" => (Kind::Bit, "TINYINT(1)".to_string(), t.clone()),
        "tinyint" => (Kind::U8, "TINYINT UNSIGNED".into(), t.clone()),
        "smallint" => (Kind::I16, "SMALLINT".into(), t.clone()),
        "int" => (Kind::I32, "INT".into(), t.clone()),
        "bigint" => (Kind::I64, "BIGINT".into(), t.clone()),
        "real" => (Kind::F32, "FLOAT".into(), t.clone()),
        "float" => (Kind::F64, "DOUBLE".into(), t.clone()),
        "decimal" | "numeric" => {
            // MySQL's DECIMAL keeps at most 30 digits after the point.
            let f = scale.min(30);
            (
                Kind::Decimal {
                    int: precision - scale,
                    frac: f,
                },
                format!("DECIMAL({},{f})", precision - scale + f),
                format!("{t}({precision},{scale})"),
            )
        }
        "money" => (
            Kind::Decimal { int: 15, frac: 4 },
            "DECIMAL(19,4)".into(),
            t.clone(),
        ),
        "smallmoney" => (
            Kind::Decimal { int: 6, frac: 4 },
            "DECIMAL(10,4)".into(),
            t.clone(),
        ),
        "datetime" => (
            Kind::Timestamp { scale: 3 },
            "DATETIME(3)".into(),
            t.clone(),
        ),
        "smalldatetime" => (Kind::Timestamp { scale: 0 }, "DATETIME".into(), t.clone()),
        "datetime2" => (
            Kind::Timestamp { scale },
            datetime("DATETIME", frac),
            format!("{t}({scale})"),
        ),
        "date" => (Kind::Date, "DATE".into(), t.clone()),
        "time" => (
            Kind::Time { scale },
            datetime("TIME", frac),
            format!("{t}({scale})"),
        ),
        "datetimeoffset" => (
            Kind::Offset { scale },
            datetime("DATETIME", frac),
            format!("{t}({scale})"),
        ),
        "uniqueidentifier" => (Kind::Guid, "CHAR(36)".into(), t.clone()),
        "binary" | "timestamp" | "rowversion" => {
            let n = chars(1).unwrap_or(8);
            (
                Kind::Binary { max: Some(n) },
                format!("BINARY({n})"),
                if t == "binary" {
                    format!("binary({n})")
                } else {
                    "rowversion".into()
                },
            )
        }
        "varbinary" | "image" => match chars(1).filter(|_| t == "varbinary") {
            Some(n) => (
                Kind::Binary { max: Some(n) },
                format!("VARBINARY({n})"),
                format!("varbinary({n})"),
            ),
            None => (
                Kind::Binary { max: None },
                "LONGBLOB".into(),
                if t == "image" {
                    t.clone()
                } else {
                    "varbinary(max)".into()
                },
            ),
        },
        "char" | "varchar" | "nchar" | "nvarchar" | "text" | "ntext" | "xml" | "sysname" => {
            let per = if t.starts_with('n') || t == "sysname" {
                2
            } else {
                1
            };
            match chars(per).filter(|_| !matches!(t.as_str(), "text" | "ntext" | "xml")) {
                Some(n) => {
                    let base = if t.ends_with("char") && !t.contains("var") {
                        "CHAR"
                    } else {
                        "VARCHAR"
                    };
                    // A CHAR longer than MySQL's 255 is kept as VARCHAR
                    // with its padding (the value arrives padded).
                    let base = if base == "CHAR" && n > 255 {
                        "VARCHAR"
                    } else {
                        base
                    };
                    (
                        Kind::Text { max: Some(n) },
                        format!("{base}({n})"),
                        format!("{t}({n})"),
                    )
                }
                None => (
                    Kind::Text { max: None },
                    "LONGTEXT".into(),
                    if matches!(t.as_str(), "text" | "ntext" | "xml") {
                        t.clone()
                    } else {
                        format!("{t}(max)")
                    },
                ),
            }
        }
        // Read as text through their methods (see `select_expr`).
        "hierarchyid" => (
            Kind::Text { max: Some(4000) },
            "VARCHAR(4000)".into(),
            t.clone(),
        ),
        "geometry" | "geography" => (Kind::Text { max: None }, "LONGTEXT".into(), t.clone()),
        "sql_variant" => {
            return Err(format!(
                "column {name} is sql_variant, whose values have no one destination type: \
                 mask it (mask = [\"{name}\"]) or convert it in a view"
            ))
        }
        other => {
            return Err(format!(
                "column {name} has type {other}, which ingest does not read: mask it \
                 (mask = [\"{name}\"])"
            ))
        }
    };
    let binary = matches!(kind, Kind::Binary { .. });
    let ms = MsCol {
        name: name.to_string(),
        type_name: t,
        max_length,
        precision,
        scale,
        nullable,
        kind,
    };
    let col = Column {
        name: name.to_string(),
        source_type,
        dest_type: dest,
        conv: Conv::Verbatim,
        binary,
        toastable: false,
        nullable,
        masked: false,
        generated: false,
        type_change: None,
    };
    Ok((ms, col))
}

fn datetime(base: &str, frac: u8) -> String {
    if frac == 0 {
        base.to_string()
    } else {
        format!("{base}({frac})")
    }
}

/// The SELECT expression reading a column (`q`: its quoted name):
/// `hierarchyid` and spatial values as text through their methods.
pub fn select_expr(c: &MsCol, q: &str) -> String {
    match c.type_name.as_str() {
        "hierarchyid" => format!("{q}.ToString()"),
        "geometry" | "geography" => format!("{q}.STAsText()"),
        _ => q.to_string(),
    }
}

/// `[name]`, with `]` doubled.
pub fn qi(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

/// The value of a default constraint's definition as SQL Server keeps it
/// (`((0))`, `('abc')`, `(N'x''y')`, `((-1.5))`): a literal's text, or
/// `None` for an expression (`(getdate())`).
pub fn default_literal(definition: &str) -> Option<String> {
    let mut d = definition.trim();
    while let Some(inner) = d.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        d = inner.trim();
    }
    let quoted = d.strip_prefix('N').unwrap_or(d);
    if let Some(body) = quoted.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return (!body.replace("''", "").contains('\'')).then(|| body.replace("''", "'"));
    }
    let number = d.strip_prefix('-').unwrap_or(d);
    (!number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.chars().filter(|&c| c == '.').count() <= 1)
        .then(|| d.to_string())
}

/// A decimal's text in either driver's form (`.5`, `-.5`, `0.500`, `1`)
/// as the destination reads it, checked against the digits it keeps.
pub fn decimal(text: &str, int: u8, frac: u8) -> Result<String, Unrepresentable> {
    let t = text.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let body = if body.starts_with('.') {
        format!("0{body}")
    } else {
        body.to_string()
    };
    let out = if neg { format!("-{body}") } else { body };
    crate::schema::convert(
        Conv::Numeric {
            int_digits: int,
            frac_digits: frac,
        },
        out.as_bytes(),
    )?;
    Ok(out)
}

/// Digits of a fraction in nanoseconds, cut to `keep` (at most 6); the
/// second value tells whether digits that were not zero were cut.
fn fraction(nanos: u32, keep: u8) -> (String, bool) {
    let keep = keep.min(MAX_FRAC) as usize;
    let all = format!("{nanos:09}");
    let cut = all[keep..].bytes().any(|b| b != b'0');
    (all[..keep].to_string(), cut)
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` of an ODBC timestamp; `true` when a 7th
/// fractional digit was dropped.
#[allow(clippy::too_many_arguments)]
pub fn timestamp(
    year: i16,
    month: u16,
    day: u16,
    hour: u16,
    minute: u16,
    second: u16,
    nanos: u32,
    scale: u8,
) -> (String, bool) {
    let mut s = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
    let (f, cut) = fraction(nanos, scale);
    if !f.is_empty() {
        s.push('.');
        s.push_str(&f);
    }
    (s, cut)
}

/// A date or timestamp as text (`2024-05-01 10:00:00.1234567`, `1-01-01`
/// from FreeTDS) as `YYYY-MM-DD HH:MM:SS[.ffffff]` cut to `scale`
/// digits; `true` when a 7th digit was dropped.
pub fn timestamp_text(text: &str, scale: u8) -> Result<(String, bool), Unrepresentable> {
    let t = text.trim();
    let (date, clock_text) = t.split_once([' ', 'T']).unwrap_or((t, "00:00:00"));
    let (y, mo, da) = date_parts(date)?;
    let (h, mi, s, nanos) = clock(clock_text)?;
    Ok(timestamp(
        y, mo, da, h as u16, mi as u16, s as u16, nanos, scale,
    ))
}

/// Year, month and day of `YYYY-MM-DD` (years 1 to 9999, written with
/// fewer digits by some drivers).
fn date_parts(date: &str) -> Result<(i16, u16, u16), Unrepresentable> {
    let bad = Unrepresentable::Malformed;
    let mut d = date.split('-');
    let (Some(y), Some(mo), Some(da), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(bad);
    };
    let (y, mo, da): (i16, u16, u16) = (
        y.parse().map_err(|_| bad)?,
        mo.parse().map_err(|_| bad)?,
        da.parse().map_err(|_| bad)?,
    );
    if !(1..=9999).contains(&y) || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return Err(bad);
    }
    Ok((y, mo, da))
}

/// Hours, minutes, seconds and nanoseconds of `HH:MM:SS[.fffffff]`.
fn clock(text: &str) -> Result<(u32, u32, u32, u32), Unrepresentable> {
    let t = text.trim();
    let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
    let parts: Vec<&str> = hms.split(':').collect();
    let [h, m, s] = parts[..] else {
        return Err(Unrepresentable::Malformed);
    };
    let num = |v: &str, max: u32| -> Result<u32, Unrepresentable> {
        v.parse::<u32>()
            .ok()
            .filter(|n| *n <= max && !v.is_empty() && v.len() <= 2)
            .ok_or(Unrepresentable::Malformed)
    };
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Unrepresentable::Malformed);
    }
    let nanos: u32 = format!("{frac:0<9}").parse().unwrap_or(0);
    Ok((num(h, 23)?, num(m, 59)?, num(s, 59)?, nanos))
}

/// A `time(n)` value's text (`23:59:59.9999999`, `1:02:03` from some
/// drivers) as `HH:MM:SS[.ffffff]`; `true` when a 7th digit was dropped.
pub fn time(text: &str, scale: u8) -> Result<(String, bool), Unrepresentable> {
    let (h, m, s, nanos) = clock(text)?;
    let (f, cut) = fraction(nanos, scale);
    let mut out = format!("{h:02}:{m:02}:{s:02}");
    if !f.is_empty() {
        out.push('.');
        out.push_str(&f);
    }
    Ok((out, cut))
}

/// A `datetimeoffset` text (`2024-05-01 10:00:00.1234567 +02:00`) as the
/// UTC `YYYY-MM-DD HH:MM:SS[.ffffff]` it stands for; `true` when a 7th
/// digit was dropped.
pub fn offset(text: &str, scale: u8) -> Result<(String, bool), Unrepresentable> {
    let t = text.trim();
    let bad = Unrepresentable::Malformed;
    let (local, off) = t.rsplit_once(' ').ok_or(bad)?;
    let (sign, off) = match off.as_bytes().first() {
        Some(b'+') => (1i64, &off[1..]),
        Some(b'-') => (-1, &off[1..]),
        _ => return Err(bad),
    };
    let (oh, om) = off.split_once(':').ok_or(bad)?;
    // SQL Server's offsets lie within ±14:00.
    let (oh, om): (i64, i64) = (oh.parse().map_err(|_| bad)?, om.parse().map_err(|_| bad)?);
    if !(0..=14).contains(&oh) || !(0..=59).contains(&om) {
        return Err(bad);
    }
    let off_min = sign * (oh * 60 + om);
    let (date, clock_text) = local.trim().split_once(' ').ok_or(bad)?;
    let (y, mo, da) = date_parts(date)?;
    let (h, mi, s, nanos) = clock(clock_text)?;
    let (h, mi, s) = (i64::from(h), i64::from(mi), i64::from(s));
    let days = days_from_civil(i64::from(y), u32::from(mo), u32::from(da));
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - off_min * 60;
    let (yy, mm, dd) = crate::clock::civil_from_days(secs.div_euclid(86_400));
    if !(1..=9999).contains(&yy) {
        return Err(Unrepresentable::OutOfRange);
    }
    let r = secs.rem_euclid(86_400);
    let (f, cut) = fraction(nanos, scale);
    let mut out = format!(
        "{yy:04}-{mm:02}-{dd:02} {:02}:{:02}:{:02}",
        r / 3600,
        r / 60 % 60,
        r % 60
    );
    if !f.is_empty() {
        out.push('.');
        out.push_str(&f);
    }
    Ok((out, cut))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's
/// `days_from_civil`, the inverse of [`crate::clock::civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A `real` as the exact double of its value.
pub fn real(v: f32) -> String {
    format!("{:e}", f64::from(v))
}

/// A `float` as the shortest text that reads back as the same double.
pub fn float(v: f64) -> String {
    format!("{v:e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(t: &str, len: i32, p: u8, s: u8) -> String {
        column("c", t, len, p, s, true).unwrap().1.dest_type
    }

    #[test]
    fn every_type_has_a_destination() {
        let cases = [
            ("bit", 1, 1, 0, "TINYINT(1)"),
            ("tinyint", 1, 3, 0, "TINYINT UNSIGNED"),
            ("smallint", 2, 5, 0, "SMALLINT"),
            ("int", 4, 10, 0, "INT"),
            ("bigint", 8, 19, 0, "BIGINT"),
            ("real", 4, 24, 0, "FLOAT"),
            ("float", 8, 53, 0, "DOUBLE"),
            ("decimal", 17, 38, 10, "DECIMAL(38,10)"),
            ("numeric", 17, 38, 38, "DECIMAL(30,30)"),
            ("money", 8, 19, 4, "DECIMAL(19,4)"),
            ("smallmoney", 4, 10, 4, "DECIMAL(10,4)"),
            ("datetime", 8, 23, 3, "DATETIME(3)"),
            ("smalldatetime", 4, 16, 0, "DATETIME"),
            ("datetime2", 8, 27, 7, "DATETIME(6)"),
            ("datetime2", 6, 19, 0, "DATETIME"),
            ("date", 3, 10, 0, "DATE"),
            ("time", 5, 16, 7, "TIME(6)"),
            ("time", 3, 8, 0, "TIME"),
            ("datetimeoffset", 10, 34, 7, "DATETIME(6)"),
            ("uniqueidentifier", 16, 0, 0, "CHAR(36)"),
            ("binary", 16, 0, 0, "BINARY(16)"),
            ("varbinary", 100, 0, 0, "VARBINARY(100)"),
            ("varbinary", -1, 0, 0, "LONGBLOB"),
            ("image", 16, 0, 0, "LONGBLOB"),
            ("rowversion", 8, 0, 0, "BINARY(8)"),
            ("timestamp", 8, 0, 0, "BINARY(8)"),
            ("char", 10, 0, 0, "CHAR(10)"),
            ("char", 1000, 0, 0, "VARCHAR(1000)"),
            ("varchar", 50, 0, 0, "VARCHAR(50)"),
            ("varchar", -1, 0, 0, "LONGTEXT"),
            ("text", 16, 0, 0, "LONGTEXT"),
            ("nchar", 20, 0, 0, "CHAR(10)"),
            ("nvarchar", 200, 0, 0, "VARCHAR(100)"),
            ("nvarchar", -1, 0, 0, "LONGTEXT"),
            ("ntext", 16, 0, 0, "LONGTEXT"),
            ("sysname", 256, 0, 0, "VARCHAR(128)"),
            ("xml", -1, 0, 0, "LONGTEXT"),
            ("hierarchyid", 892, 0, 0, "VARCHAR(4000)"),
            ("geometry", -1, 0, 0, "LONGTEXT"),
            ("geography", -1, 0, 0, "LONGTEXT"),
        ];
        for (t, len, p, s, want) in cases {
            assert_eq!(dest(t, len, p, s), want, "{t}({len},{p},{s})");
        }
        let e = column("v", "sql_variant", 8016, 0, 0, true).unwrap_err();
        assert!(
            e.contains("column v is sql_variant") && e.contains("mask"),
            "{e}"
        );
        assert!(column("b", "varbinary", 4, 0, 0, true).unwrap().1.binary);
    }

    #[test]
    fn udt_columns_are_read_through_their_methods() {
        let (h, _) = column("h", "hierarchyid", 892, 0, 0, true).unwrap();
        let (g, _) = column("g", "geography", -1, 0, 0, true).unwrap();
        let (i, _) = column("i", "int", 4, 10, 0, true).unwrap();
        assert_eq!(select_expr(&h, "[h]"), "[h].ToString()");
        assert_eq!(select_expr(&g, "[g]"), "[g].STAsText()");
        assert_eq!(select_expr(&i, "[i]"), "[i]");
        assert_eq!(qi("a]b"), "[a]]b]");
    }

    #[test]
    fn default_literals() {
        assert_eq!(default_literal("((0))").as_deref(), Some("0"));
        assert_eq!(default_literal("((-1.5))").as_deref(), Some("-1.5"));
        assert_eq!(default_literal("('abc')").as_deref(), Some("abc"));
        assert_eq!(default_literal("(N'x''y')").as_deref(), Some("x'y"));
        assert_eq!(default_literal("(getdate())"), None);
        assert_eq!(default_literal("((1)+(2))"), None);
        assert_eq!(default_literal("('a')+('b')"), None);
    }

    #[test]
    fn decimals_in_both_drivers_forms() {
        assert_eq!(decimal(".001", 2, 3).unwrap(), "0.001");
        assert_eq!(decimal("-.5", 2, 3).unwrap(), "-0.5");
        assert_eq!(decimal("0.001", 2, 3).unwrap(), "0.001");
        assert_eq!(decimal("1", 2, 3).unwrap(), "1");
        assert_eq!(
            decimal("99999999999999999999999999999999999999", 38, 0).unwrap(),
            "99999999999999999999999999999999999999"
        );
        assert_eq!(decimal("123", 2, 3), Err(Unrepresentable::OutOfRange));
        assert_eq!(
            decimal("0.00000000000000000000000000000000000001", 0, 30),
            Err(Unrepresentable::TooPrecise)
        );
        assert_eq!(decimal("x", 2, 2), Err(Unrepresentable::Malformed));
    }

    #[test]
    fn timestamps_keep_six_digits_and_say_when_a_seventh_is_cut() {
        assert_eq!(
            timestamp(2024, 5, 1, 10, 0, 0, 123_456_700, 7),
            ("2024-05-01 10:00:00.123456".into(), true)
        );
        assert_eq!(
            timestamp(9999, 12, 31, 23, 59, 59, 999_999_000, 7),
            ("9999-12-31 23:59:59.999999".into(), false)
        );
        assert_eq!(
            timestamp(1, 1, 1, 0, 0, 0, 0, 7),
            ("0001-01-01 00:00:00.000000".into(), false)
        );
        assert_eq!(
            timestamp(2024, 5, 1, 10, 0, 0, 997_000_000, 3),
            ("2024-05-01 10:00:00.997".into(), false)
        );
        assert_eq!(
            timestamp(1900, 1, 1, 0, 0, 0, 0, 0),
            ("1900-01-01 00:00:00".into(), false)
        );
    }

    #[test]
    fn timestamps_as_text() {
        assert_eq!(
            timestamp_text("9999-12-31 23:59:59.9999999", 7).unwrap(),
            ("9999-12-31 23:59:59.999999".into(), true)
        );
        assert_eq!(
            timestamp_text("1-01-01 00:00:00.000", 3).unwrap(),
            ("0001-01-01 00:00:00.000".into(), false)
        );
        assert_eq!(
            timestamp_text("2024-02-29", 0).unwrap(),
            ("2024-02-29 00:00:00".into(), false)
        );
        assert!(timestamp_text("2024-13-01", 0).is_err());
        assert!(timestamp_text("x", 0).is_err());
    }

    #[test]
    fn times_and_offsets() {
        assert_eq!(
            time("23:59:59.9999999", 7).unwrap(),
            ("23:59:59.999999".into(), true)
        );
        assert_eq!(time("1:02:03", 0).unwrap(), ("01:02:03".into(), false));
        assert_eq!(
            time("00:00:00.5", 3).unwrap(),
            ("00:00:00.500".into(), false)
        );
        assert!(time("25:00:00", 0).is_err());
        assert_eq!(
            offset("2024-05-01 10:00:00.1234567 +02:00", 7).unwrap(),
            ("2024-05-01 08:00:00.123456".into(), true)
        );
        assert_eq!(
            offset("2024-01-01 00:30:00 -01:00", 0).unwrap(),
            ("2024-01-01 01:30:00".into(), false)
        );
        assert_eq!(
            offset("0001-01-01 00:00:00.0000000 +14:00", 7),
            Err(Unrepresentable::OutOfRange)
        );
        assert_eq!(
            offset("9999-12-31 23:59:59.9999999 +00:00", 3).unwrap(),
            ("9999-12-31 23:59:59.999".into(), true)
        );
        assert!(offset("2024-05-01 10:00:00", 0).is_err());
        // Found by cargo fuzz: an offset of many digits overflowed.
        assert!(offset("1-1-1 00:00:00 -1000000000000000001:-10060", 7).is_err());
        assert!(offset("99999-01-01 00:00:00 +00:00", 7).is_err());
        for d in [-719_162i64, 0, 19_844, 2_932_896] {
            let (y, m, dd) = crate::clock::civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn floats_read_back_exactly() {
        for v in [f32::MAX, f32::MIN_POSITIVE, 0.1, -1.0, 0.0] {
            let t = real(v);
            assert_eq!(t.parse::<f64>().unwrap(), f64::from(v), "{t}");
        }
        for v in [f64::MAX, f64::MIN_POSITIVE, 0.1, -1e-300, 1.0] {
            assert_eq!(float(v).parse::<f64>().unwrap(), v);
        }
        assert_eq!(float(1e308), "1e308");
    }
}
