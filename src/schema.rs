//! The shape of a replicated table, shared by sources, spool and destination.
//!
//! A source describes each column once ([`Column`]): its destination SQL type
//! and how its values are converted on the way ([`Conv`]). Everything after
//! extract (spool, staging, merge) works from this description only.

use crate::table::TableId;

/// How a source value, in the source's own text form, becomes spool text.
/// Conversions never guess: a value the destination cannot hold exactly is
/// written as NULL and reported ([`Unrepresentable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Conv {
    /// The text is already what the destination reads.
    Verbatim,
    /// `t`/`f` → `1`/`0`.
    Bool,
    /// PostgreSQL bytea hex text `\x0aff` → `0aff` (loaded through UNHEX).
    Bytea,
    /// Double precision: NaN and ±Infinity cannot be stored.
    Float,
    /// Single precision, as `Float`; written as the exact double of the
    /// value, since the shortest text of FLT_MAX ("3.4028235e+38") reads as
    /// a double above FLT_MAX and MySQL refuses it.
    Float4,
    /// Decimal text with at most `int_digits` digits before the point and
    /// `frac_digits` after it.
    Numeric { int_digits: u8, frac_digits: u8 },
    /// `YYYY-MM-DD` within years 1..9999.
    Date,
    /// `YYYY-MM-DD HH:MM:SS[.ffffff]` within years 1..9999.
    Timestamp,
    /// As `Timestamp`, with a trailing UTC offset (`+00`) to drop.
    TimestampTz,
    /// Money text such as `-$1,234.56` → `-1234.56`.
    Money,
}

/// Why a value was written as NULL instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unrepresentable {
    NotANumber,
    Infinite,
    OutOfRange,
    TooPrecise,
    BeforeChrist,
    Malformed,
    /// Text bytes that are not valid in the column's character set.
    BadEncoding,
    /// A value its `type_change` does not convert (`on_bad_value = "null"`).
    NotConvertible,
    /// A 7th fractional digit (100 ns, SQL Server) the destination's
    /// microseconds cannot keep: dropped, the value kept.
    SubMicrosecond,
}

impl Unrepresentable {
    pub fn describe(self) -> &'static str {
        match self {
            Unrepresentable::NotANumber => "NaN cannot be stored: written as NULL",
            Unrepresentable::Infinite => "infinite value cannot be stored: written as NULL",
            Unrepresentable::OutOfRange => {
                "value out of the destination type's range: written as NULL"
            }
            Unrepresentable::TooPrecise => {
                "value has more digits than the destination type holds: written as NULL"
            }
            Unrepresentable::BeforeChrist => "BC date cannot be stored: written as NULL",
            Unrepresentable::Malformed => "value not understood: written as NULL",
            Unrepresentable::BadEncoding => {
                "bytes not valid in the column's character set: written as NULL"
            }
            Unrepresentable::NotConvertible => {
                "value its type_change does not convert: written as NULL"
            }
            Unrepresentable::SubMicrosecond => {
                "7th fractional digit (100 ns) dropped: the destination keeps microseconds"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    /// The source's type, as the source names it (for messages and `tables`).
    pub source_type: String,
    /// The destination column type, e.g. `DECIMAL(10,2)`.
    pub dest_type: String,
    pub conv: Conv,
    /// Spool holds hex; the load applies `UNHEX()`.
    pub binary: bool,
    /// A value may arrive as "unchanged" in an update (PostgreSQL TOAST;
    /// MySQL images under `binlog_row_image = MINIMAL` or `NOBLOB`).
    pub toastable: bool,
    pub nullable: bool,
    /// `mask`: never read from the source; NULL at the destination.
    #[serde(default)]
    pub masked: bool,
    /// A generated column the change log does not carry (PostgreSQL
    /// before 18): its values are read from the source by key.
    #[serde(default)]
    pub generated: bool,
    /// `type_change`: the manual's conversion of its values (`@I`, ...).
    #[serde(default)]
    pub type_change: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableSchema {
    /// Source schema (PostgreSQL schema, MySQL database).
    pub schema: String,
    pub name: String,
    pub dest_db: String,
    pub dest_table: String,
    pub columns: Vec<Column>,
    /// Indexes into `columns` of the key, in key order.
    pub key: Vec<usize>,
    /// Dates before this year cannot be held by the destination: written
    /// as NULL with a warning, never as another date (0: no limit).
    pub min_year: u16,
    /// `where`: the initial extract's rows (deltas are not filtered).
    #[serde(default)]
    pub filter: Option<String>,
    /// `on_bad_value = "fail"`: a value a `type_change` cannot convert
    /// fails the table (else it is NULL with a warning).
    #[serde(default)]
    pub bad_value_fail: bool,
    /// `history`: the destination keeps every version (type 2).
    #[serde(default)]
    pub history: Option<History>,
    /// `keyless`: the table has no key; `key` holds the columns that make
    /// a row's identity (every column the change log carries) and the
    /// destination counts rows, duplicates included.
    #[serde(default)]
    pub keyless: bool,
    /// The destination keys the table by a hash of these (source key)
    /// columns, which `key` then names (set by `dest::sql::shaped` only).
    #[serde(default)]
    pub hashed_key: Vec<usize>,
}

/// A plain column for tests: text as it is, nullable.
#[cfg(test)]
pub fn test_column(name: &str, dest_type: &str) -> Column {
    Column {
        name: name.into(),
        source_type: String::new(),
        dest_type: dest_type.into(),
        conv: Conv::Verbatim,
        binary: false,
        toastable: false,
        nullable: true,
        masked: false,
        generated: false,
        type_change: None,
    }
}

/// The destination's own key column of a `keyless` table.
pub const ROW_COLUMN: &str = "ingest_row";

/// A history table's bookkeeping columns and rules (`[history]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct History {
    /// When the version started: the source's commit time of its change.
    pub start: String,
    /// When it ended; `open_end` while it is the current one.
    pub end: String,
    /// `I`, `U` or `D`: what made the version.
    pub op: String,
    /// `YYYY-MM-DD HH:MM:SS`.
    pub open_end: String,
    /// A delete adds a `D` version (else it only ends the current one).
    pub keep_deleted: bool,
    /// Versions of a key kept per batch: the first `max_updates - 1` and
    /// the last (0: every one).
    pub max_updates: u32,
}

impl History {
    pub fn is_column(&self, name: &str) -> bool {
        [&self.start, &self.end, &self.op]
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }
}

/// A table's key: from its `[[table]]` entry (`key`, `keyless`: every
/// column) or the source's primary key `pk`, as indexes into `columns`,
/// and whether the table is keyless. A missing key, a key column that does
/// not exist or one that may be NULL is an error naming the table.
pub fn resolve_key(
    table: &str,
    rule: Option<&crate::config::TableRule>,
    columns: &[Column],
    pk: Vec<String>,
) -> anyhow::Result<(Vec<usize>, bool)> {
    let keyless = rule.is_some_and(|r| r.keyless);
    let names: Vec<String> = match rule.and_then(|r| r.key.clone()) {
        Some(k) => k,
        // Every column: a row is all its values.
        None if keyless => columns.iter().map(|c| c.name.clone()).collect(),
        None if pk.is_empty() => {
            return Err(crate::error::config(format!(
            "table {table} has no primary key: add `key = [\"col\", ...]` to its [[table]] entry"
        )))
        }
        None => pk,
    };
    let mut key = vec![];
    for k in &names {
        match columns.iter().position(|c| &c.name == k) {
            Some(i) => key.push(i),
            None => {
                return Err(crate::error::config(format!(
                    "table {table}: key column \"{k}\" does not exist (columns: {})",
                    columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }
    if !keyless {
        key_not_null(table, columns, &key)?;
    }
    Ok((key, keyless))
}

/// Sets `history` (from `Config::history_for`); a source column with the
/// name of a history column is a configuration error naming both.
pub fn apply_history(s: &mut TableSchema, h: Option<History>) -> anyhow::Result<()> {
    if let Some(h) = &h {
        if let Some(c) = s.columns.iter().find(|c| h.is_column(&c.name)) {
            return Err(crate::error::config(format!(
                "table {} keeps history, and its column {} has the name of a history column: \
                 choose other names in [history] (start_column, end_column, op_column)",
                s.source_name(),
                c.name
            )));
        }
    }
    s.history = h;
    Ok(())
}

/// A table's `[[table]]` options that shape it: `mask` (the columns are
/// never read: `VARCHAR(1)` NULL at the destination) and `where` (the
/// initial extract's rows). A masked column that is not there, or is part
/// of the key, is a configuration error naming both.
pub fn apply_rule(
    s: &mut TableSchema,
    rule: Option<&crate::config::TableRule>,
) -> anyhow::Result<()> {
    let Some(rule) = rule else { return Ok(()) };
    if s.keyless {
        if let Some(c) = s
            .columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(ROW_COLUMN))
        {
            return Err(crate::error::config(format!(
                "table {} is keyless, and its column {} has the name of the destination's row \
                 column: rename it, or give the table a key",
                s.source_name(),
                c.name
            )));
        }
    }
    for m in &rule.mask {
        let Some(i) = s.columns.iter().position(|c| c.name == *m) else {
            return Err(crate::error::config(format!(
                "table {}: mask names column {m}, which it does not have",
                s.source_name()
            )));
        };
        if s.keyless {
            // Never read: not part of the row's identity.
            s.key.retain(|&k| k != i);
        } else if s.is_key(i) {
            return Err(crate::error::config(format!(
                "table {}: mask names key column {m}: a key cannot be masked",
                s.source_name()
            )));
        }
        let c = &mut s.columns[i];
        c.masked = true;
        c.dest_type = "VARCHAR(1)".into();
        c.conv = Conv::Verbatim;
        c.binary = false;
        c.nullable = true;
    }
    for (col, spec) in &rule.type_change {
        let name = s.source_name();
        let Some(i) = s.columns.iter().position(|c| c.name == *col) else {
            return Err(crate::error::config(format!(
                "table {name}: type_change names column {col}, which it does not have"
            )));
        };
        if s.is_key(i) {
            // Two source keys could become one ("007" and "7" as @I).
            return Err(crate::error::config(format!(
                "table {name}: type_change of key column {col}: keys are kept as the source has them"
            )));
        }
        let c = &mut s.columns[i];
        if c.binary || c.masked {
            return Err(crate::error::config(format!(
                "table {name}: type_change of column {col}: it is {}",
                if c.masked { "masked" } else { "binary" }
            )));
        }
        let tc = crate::type_change::TypeChange::parse(spec).map_err(|e| {
            crate::error::config(format!("table {name}: type_change of {col}: {e}"))
        })?;
        c.dest_type = tc.dest_type().to_string();
        c.type_change = Some(spec.clone());
    }
    s.filter.clone_from(&rule.filter);
    s.bad_value_fail = rule.bad_value_fail;
    Ok(())
}

impl TableSchema {
    /// Column `col`'s source text → spool text ([`convert`]), with the
    /// destination's first year applied to dates and timestamps.
    pub fn convert<'a>(
        &self,
        col: usize,
        text: &'a [u8],
    ) -> Result<std::borrow::Cow<'a, [u8]>, Unrepresentable> {
        let conv = self.columns[col].conv;
        let out = convert(conv, text)?;
        if matches!(conv, Conv::Date | Conv::Timestamp | Conv::TimestampTz)
            && before_year(&out, self.min_year)
        {
            return Err(Unrepresentable::OutOfRange);
        }
        Ok(out)
    }

    pub fn id(&self) -> TableId {
        TableId::new(&self.schema, &self.name)
    }

    /// `schema.table`, the name used in state.db, logs and messages.
    pub fn source_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    pub fn dest_name(&self) -> String {
        format!("{}.{}", self.dest_db, self.dest_table)
    }

    pub fn is_key(&self, col: usize) -> bool {
        self.key.contains(&col)
    }
}

/// Refuses key columns that allow NULL (only a configured `key` can have
/// them: primary keys are NOT NULL). A row with NULL there has no key to
/// merge by, the destination's primary key cannot hold it, and a snapshot
/// split in key ranges reads it in no range.
pub fn key_not_null(table: &str, columns: &[Column], key: &[usize]) -> anyhow::Result<()> {
    match key.iter().map(|&k| &columns[k]).find(|c| c.nullable) {
        Some(c) => Err(crate::error::config(format!(
            "table {table}: key column \"{}\" allows NULL, and a row with NULL there cannot be merged \
             by its key: declare it NOT NULL at the source, or configure other key columns",
            c.name
        ))),
        None => Ok(()),
    }
}

/// Converts one value's text; `Ok(None)` never happens for a present value.
pub fn convert<'a>(
    conv: Conv,
    text: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, Unrepresentable> {
    use std::borrow::Cow;
    match conv {
        Conv::Verbatim => Ok(Cow::Borrowed(text)),
        Conv::Bool => match text {
            b"t" | b"true" | b"1" => Ok(Cow::Borrowed(b"1")),
            b"f" | b"false" | b"0" => Ok(Cow::Borrowed(b"0")),
            _ => Err(Unrepresentable::Malformed),
        },
        Conv::Bytea => match text.strip_prefix(b"\\x") {
            Some(hex) => Ok(Cow::Borrowed(hex)),
            None => Err(Unrepresentable::Malformed),
        },
        Conv::Float | Conv::Float4 => match text {
            b"NaN" => Err(Unrepresentable::NotANumber),
            b"Infinity" | b"-Infinity" => Err(Unrepresentable::Infinite),
            _ if conv == Conv::Float4 => {
                let v: f32 = std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or(Unrepresentable::Malformed)?;
                Ok(Cow::Owned(format!("{:e}", f64::from(v)).into_bytes()))
            }
            _ => Ok(Cow::Borrowed(text)),
        },
        Conv::Numeric {
            int_digits,
            frac_digits,
        } => {
            match text {
                b"NaN" => return Err(Unrepresentable::NotANumber),
                b"Infinity" | b"-Infinity" => return Err(Unrepresentable::Infinite),
                _ => {}
            }
            let body = text.strip_prefix(b"-").unwrap_or(text);
            let (int, frac) = match body.iter().position(|&b| b == b'.') {
                Some(p) => (&body[..p], &body[p + 1..]),
                None => (body, &b""[..]),
            };
            if int.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
                return Err(Unrepresentable::Malformed);
            }
            let int_sig = int.iter().skip_while(|&&b| b == b'0').count();
            let frac_sig = frac.len() - frac.iter().rev().take_while(|&&b| b == b'0').count();
            if int_sig > int_digits as usize {
                Err(Unrepresentable::OutOfRange)
            } else if frac_sig > frac_digits as usize {
                Err(Unrepresentable::TooPrecise)
            } else {
                Ok(Cow::Borrowed(text))
            }
        }
        Conv::Date | Conv::Timestamp | Conv::TimestampTz => {
            match text {
                b"infinity" | b"-infinity" => return Err(Unrepresentable::Infinite),
                _ => {}
            }
            if text.ends_with(b" BC") {
                return Err(Unrepresentable::BeforeChrist);
            }
            let year_len = text.iter().take_while(|b| b.is_ascii_digit()).count();
            if year_len != 4 || text.get(4) != Some(&b'-') {
                // Years above 9999 print with more digits.
                return Err(if year_len > 4 {
                    Unrepresentable::OutOfRange
                } else {
                    Unrepresentable::Malformed
                });
            }
            if text.starts_with(b"0000") {
                return Err(Unrepresentable::OutOfRange);
            }
            if conv == Conv::TimestampTz {
                // Session TimeZone is UTC: the offset is "+00".
                match text.iter().rposition(|&b| b == b'+' || b == b'-') {
                    Some(p) if p > 10 => {
                        if &text[p..] != b"+00" {
                            return Err(Unrepresentable::Malformed);
                        }
                        Ok(Cow::Borrowed(&text[..p]))
                    }
                    _ => Err(Unrepresentable::Malformed),
                }
            } else {
                Ok(Cow::Borrowed(text))
            }
        }
        Conv::Money => {
            let neg = text.contains(&b'-') || text.starts_with(b"(");
            let mut out: Vec<u8> = Vec::with_capacity(text.len());
            if neg {
                out.push(b'-');
            }
            out.extend(text.iter().filter(|b| b.is_ascii_digit() || **b == b'.'));
            if out.iter().filter(|b| b.is_ascii_digit()).count() == 0 {
                return Err(Unrepresentable::Malformed);
            }
            Ok(Cow::Owned(out))
        }
    }
}

/// Whether a date or timestamp text (`YYYY-...`) lies before year `min`.
pub fn before_year(text: &[u8], min: u16) -> bool {
    // The leading year digits, read without allocating (per value).
    let (mut year, mut digits) = (0u32, 0);
    for d in text.iter().take_while(|b| b.is_ascii_digit()).take(5) {
        year = year * 10 + u32::from(d - b'0');
        digits += 1;
    }
    min > 0 && digits > 0 && year < u32::from(min)
}

/// Labels of `enum('a','b''c')` / `set(...)`.
pub fn enum_labels(column_type: &str) -> Vec<String> {
    let Some(start) = column_type.find('(') else {
        return vec![];
    };
    let body = &column_type[start + 1..];
    let mut out = vec![];
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            if c == ')' {
                break;
            }
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    label.push('\'');
                } else {
                    break;
                }
            } else if c == '\\' {
                if let Some(n) = chars.next() {
                    label.push(n);
                }
            } else {
                label.push(c);
            }
        }
        out.push(label);
    }
    out
}

/// The spool text of the ENUM "error value" (index 0, which a non-strict
/// session stores for an invalid member) in a column of `source_type`: the
/// empty string, or `0` where `''` is a member (see [`enum_by_index`]);
/// `None` for other types.
pub fn enum_error_text(source_type: &str) -> Option<&'static [u8]> {
    let t = source_type.trim_start();
    if !t.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("enum(")) {
        return None;
    }
    Some(if enum_labels(t).iter().any(String::is_empty) {
        b"0"
    } else {
        b""
    })
}

/// Whether a column of `source_type` is a MySQL ENUM with `''` among its
/// members: that member and the error value (index 0) read the same, so
/// such a column travels as its index, which the load sets.
pub fn enum_by_index(source_type: &str) -> bool {
    enum_error_text(source_type) == Some(b"0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Unrepresentable::*;

    fn c(conv: Conv, s: &str) -> Result<String, Unrepresentable> {
        convert(conv, s.as_bytes()).map(|v| String::from_utf8(v.into_owned()).unwrap())
    }

    #[test]
    fn dates_before_the_destination_s_first_year_are_refused() {
        let col = |conv| Column {
            name: "d".into(),
            source_type: "date".into(),
            dest_type: "DATE".into(),
            conv,
            binary: false,
            toastable: false,
            nullable: true,
            masked: false,
            generated: false,
            type_change: None,
        };
        let mut s = TableSchema {
            schema: "public".into(),
            name: "t".into(),
            dest_db: "d".into(),
            dest_table: "t".into(),
            columns: vec![col(Conv::Date), col(Conv::TimestampTz), col(Conv::Verbatim)],
            key: vec![2],
            min_year: 0,
            filter: None,
            bad_value_fail: false,
            history: None,
            keyless: false,
            hashed_key: vec![],
        };
        assert!(s.convert(0, b"0999-12-31").is_ok());
        s.min_year = 1000;
        assert_eq!(
            s.convert(0, b"0999-12-31"),
            Err(Unrepresentable::OutOfRange)
        );
        assert_eq!(s.convert(0, b"1000-01-01").unwrap().as_ref(), b"1000-01-01");
        assert_eq!(
            s.convert(1, b"0001-01-01 00:00:00+00"),
            Err(Unrepresentable::OutOfRange)
        );
        // Only dates: a text column's value is left alone.
        assert!(s.convert(2, b"0999-12-31").is_ok());
        assert!(!before_year(b"abc", 1000));
        assert!(before_year(b"0000-00-00", 1000));
    }

    #[test]
    fn numerics() {
        let n = Conv::Numeric {
            int_digits: 35,
            frac_digits: 30,
        };
        assert_eq!(
            c(n, "-12345678901234567890.123456789012345678").unwrap(),
            "-12345678901234567890.123456789012345678"
        );
        assert_eq!(c(n, "NaN"), Err(NotANumber));
        assert_eq!(c(n, "Infinity"), Err(Infinite));
        assert_eq!(c(n, &"9".repeat(36)), Err(OutOfRange));
        assert_eq!(c(n, &format!("0.{}", "1".repeat(31))), Err(TooPrecise));
        assert_eq!(c(n, &format!("0.{}000", "1".repeat(30))).unwrap().len(), 35);
        assert_eq!(
            c(
                Conv::Numeric {
                    int_digits: 3,
                    frac_digits: 2
                },
                "000123.10"
            ),
            Ok("000123.10".into())
        );
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            c(Conv::TimestampTz, "2024-02-29 23:59:59.999999+00").unwrap(),
            "2024-02-29 23:59:59.999999"
        );
        assert_eq!(
            c(Conv::TimestampTz, "2024-02-29 23:59:59+02"),
            Err(Malformed)
        );
        assert_eq!(c(Conv::Timestamp, "infinity"), Err(Infinite));
        assert_eq!(c(Conv::Date, "0044-03-15 BC"), Err(BeforeChrist));
        assert_eq!(c(Conv::Date, "10000-01-01"), Err(OutOfRange));
        assert_eq!(c(Conv::Date, "0001-01-01").unwrap(), "0001-01-01");
        assert_eq!(
            c(Conv::TimestampTz, "12024-01-01 00:00:00+00"),
            Err(OutOfRange)
        );
    }

    #[test]
    fn others() {
        assert_eq!(c(Conv::Bool, "t").unwrap(), "1");
        assert_eq!(c(Conv::Bytea, "\\x00ff").unwrap(), "00ff");
        assert_eq!(c(Conv::Float, "-Infinity"), Err(Infinite));
        assert_eq!(c(Conv::Float, "1.5e-07").unwrap(), "1.5e-07");
        assert_eq!(
            c(Conv::Float4, "3.4028235e+38").unwrap(),
            "3.4028234663852886e38"
        );
        assert_eq!(c(Conv::Float4, "1.1").unwrap(), "1.100000023841858e0");
        assert_eq!(c(Conv::Float4, "NaN"), Err(NotANumber));
        assert_eq!(c(Conv::Money, "-$1,234.56").unwrap(), "-1234.56");
        assert_eq!(c(Conv::Money, "$0.00").unwrap(), "0.00");
    }
}
