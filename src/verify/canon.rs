//! The canonical text of a value, computed in SQL on either side, so that a
//! source row and the destination row it became hash alike.
//!
//! The canonical form is the destination's text of the value under the
//! README's type mapping, with the forms that differ only in spelling made
//! one: decimals without trailing fraction zeros, floating-point values as
//! their shortest digits and a decimal exponent (`0.15e-6`), timestamps
//! with six fraction digits, times as `HH:MM:SS.ffffff`, binary values as
//! lower-case hex. A value the destination cannot hold (NaN, infinity, a
//! year it has not) is NULL on the source side too, as it became.
//!
//! Each row is hashed (MD5 of its canonical values, each with its length,
//! NULL apart) and the hashes are summed as two 60-bit numbers: a sum does
//! not depend on row order, and counts a row held twice twice.

use crate::schema::{Column, Conv};

/// Which SQL an expression is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sql {
    Postgres,
    /// MySQL, MariaDB and SingleStore. `convert_text`: text columns may be
    /// in other character sets (a MySQL source) and are converted to
    /// utf8mb4 before hashing, so that the same characters hash alike.
    Mysql {
        convert_text: bool,
    },
}

/// Number of key buckets `--rows` narrows differences down with.
pub const BUCKETS: u32 = 4096;

fn base(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    let end = t.find(['(', ' ']).unwrap_or(t.len());
    t[..end].to_string()
}

/// `t` (a decimal's text) without trailing fraction zeros, `-0` as `0`.
fn trim_decimal(sql: Sql, t: &str) -> String {
    match sql {
        Sql::Postgres => format!(
            "(CASE WHEN position('.' in {t}) > 0 THEN rtrim(rtrim({t}, '0'), '.') ELSE {t} END)"
        ),
        Sql::Mysql { .. } => format!(
            "(CASE WHEN LOCATE('.', {t}) > 0 THEN TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {t})) ELSE {t} END)"
        ),
    }
}

/// A floating-point value's text (`[-]I[.F][e[+-]X]`, shortest round-trip
/// digits, as PostgreSQL 12+ and MySQL/MariaDB print doubles) as
/// `[-]D e E`: its significant digits and the exponent of 0.D, so that
/// `1e+300`, `1e300`, `0.00000015` and `1.5e-07` compare by value.
fn float_text(sql: Sql, t: &str) -> String {
    match sql {
        Sql::Postgres => {
            let b = format!("ltrim(lower({t}), '-')");
            let mant = format!("split_part({b}, 'e', 1)");
            let x = format!(
                "(CASE WHEN position('e' in {b}) > 0 THEN split_part({b}, 'e', 2)::int ELSE 0 END)"
            );
            let int = format!("split_part({mant}, '.', 1)");
            let digits = format!("({int} || split_part({mant}, '.', 2))");
            let sig = format!("rtrim(ltrim({digits}, '0'), '0')");
            let lead = format!("(length({digits}) - length(ltrim({digits}, '0')))");
            format!(
                "(CASE WHEN {sig} = '' THEN '0' ELSE \
                 (CASE WHEN {t} LIKE '-%' THEN '-' ELSE '' END) || {sig} || 'e' || \
                 ({x} + length({int}) - {lead})::text END)"
            )
        }
        Sql::Mysql { .. } => {
            let b = format!("TRIM(LEADING '-' FROM LOWER({t}))");
            let mant = format!("SUBSTRING_INDEX({b}, 'e', 1)");
            let x = format!(
                "(CASE WHEN LOCATE('e', {b}) > 0 THEN CAST(SUBSTRING_INDEX({b}, 'e', -1) AS SIGNED) ELSE 0 END)"
            );
            let int = format!("SUBSTRING_INDEX({mant}, '.', 1)");
            let frac = format!(
                "(CASE WHEN LOCATE('.', {mant}) > 0 THEN SUBSTRING_INDEX({mant}, '.', -1) ELSE '' END)"
            );
            let digits = format!("CONCAT({int}, {frac})");
            let sig = format!("TRIM(TRAILING '0' FROM TRIM(LEADING '0' FROM {digits}))");
            let lead = format!("(LENGTH({digits}) - LENGTH(TRIM(LEADING '0' FROM {digits})))");
            format!(
                "(CASE WHEN {sig} = '' THEN '0' ELSE CONCAT(\
                 CASE WHEN {t} LIKE '-%' THEN '-' ELSE '' END, {sig}, 'e', \
                 {x} + LENGTH({int}) - {lead}) END)"
            )
        }
    }
}

/// The canonical text of a MySQL, MariaDB or SingleStore column of type
/// `column_type` (`COLUMN_TYPE`, e.g. `decimal(10,2) unsigned`): the
/// destination's columns, and a MySQL source's. `min_year`: dates before
/// it became NULL at the destination (a MySQL source on SingleStore).
pub fn mysql(q: &str, column_type: &str, sql: Sql, min_year: u16) -> String {
    let convert = matches!(sql, Sql::Mysql { convert_text: true });
    let e = match base(column_type).as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" | "bool"
        | "boolean" => format!("CAST({q} AS CHAR)"),
        "decimal" | "numeric" | "dec" | "fixed" => trim_decimal(sql, &format!("CAST({q} AS CHAR)")),
        "float" | "double" | "real" => {
            float_text(sql, &format!("CAST(CAST({q} AS DOUBLE) AS CHAR)"))
        }
        "date" => format!("CAST({q} AS CHAR)"),
        "datetime" | "timestamp" => format!("DATE_FORMAT({q}, '%Y-%m-%d %H:%i:%s.%f')"),
        "time" => format!("TIME_FORMAT({q}, '%H:%i:%s.%f')"),
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "bit"
        | "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" | "geomcollection" => {
            format!("LOWER(HEX({q}))")
        }
        "json" => format!("CAST({q} AS CHAR)"),
        _ if convert => format!("CONVERT({q} USING utf8mb4)"),
        _ => format!("CAST({q} AS CHAR)"),
    };
    let dated = matches!(
        base(column_type).as_str(),
        "date" | "datetime" | "timestamp"
    );
    if dated && min_year > 0 {
        format!("(CASE WHEN {q} < '{min_year:04}-01-01' THEN NULL ELSE {e} END)")
    } else {
        e
    }
}

/// The canonical text of a PostgreSQL source column, as the destination
/// holds it (`c.dest_type`, `c.conv`). Floating-point columns need a
/// server that prints shortest round-trip digits (PostgreSQL 12+).
pub fn postgres(q: &str, c: &Column, min_year: u16) -> String {
    let sql = Sql::Postgres;
    let years = |v: &str, e: String| {
        format!(
            "(CASE WHEN NOT isfinite({v}) OR extract(year from {v}) < {lo} OR extract(year from {v}) > 9999 \
             THEN NULL ELSE {e} END)",
            lo = min_year.max(1)
        )
    };
    match c.conv {
        Conv::Bool => format!("(CASE WHEN {q} THEN '1' WHEN NOT {q} THEN '0' END)"),
        Conv::Bytea => format!("encode({q}, 'hex')"),
        Conv::Float | Conv::Float4 => format!(
            "(CASE WHEN {q}::text IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE {} END)",
            float_text(sql, &format!("{q}::float8::text"))
        ),
        Conv::Numeric {
            int_digits,
            frac_digits,
        } => format!(
            "(CASE WHEN {q}::text IN ('NaN', 'Infinity', '-Infinity') THEN NULL \
             WHEN abs({q}) >= 1e{int_digits} THEN NULL \
             WHEN {q} <> round({q}, {frac_digits}) THEN NULL ELSE {} END)",
            trim_decimal(sql, &format!("{q}::text"))
        ),
        Conv::Money => trim_decimal(sql, &format!("{q}::numeric::text")),
        Conv::Date => years(q, format!("to_char({q}, 'YYYY-MM-DD')")),
        Conv::Timestamp => years(q, format!("to_char({q}, 'YYYY-MM-DD HH24:MI:SS.US')")),
        Conv::TimestampTz => {
            let utc = format!("({q} AT TIME ZONE 'UTC')");
            years(&utc, format!("to_char({utc}, 'YYYY-MM-DD HH24:MI:SS.US')"))
        }
        Conv::Verbatim => match base(&c.dest_type).as_str() {
            "time" => format!("to_char({q}::interval, 'HH24:MI:SS.US')"),
            // bpchar's text drops the padding, as MySQL's CHAR does on read.
            "char" => format!("{q}::text"),
            // format() uses the type's output function, as COPY and
            // pgoutput do (inet's ::text would add the mask length).
            _ => format!("(CASE WHEN {q} IS NULL THEN NULL ELSE format('%s', {q}) END)"),
        },
    }
}

/// One row's hash (32 hex digits) over canonical value expressions.
pub fn row_hash(sql: Sql, exprs: &[String]) -> String {
    match sql {
        Sql::Postgres => {
            let parts: Vec<String> = exprs
                .iter()
                .map(|e| format!("COALESCE(length({e})::text || ':' || {e}, 'N')"))
                .collect();
            format!("md5({})", parts.join(" || ',' || "))
        }
        Sql::Mysql { .. } => {
            let parts: Vec<String> = exprs
                .iter()
                .map(|e| format!("COALESCE(CONCAT(CHAR_LENGTH({e}), ':', {e}), 'N')"))
                .collect();
            format!("MD5(CONCAT({}))", parts.join(", ',', "))
        }
    }
}

/// A 60-bit number from hex digits `from`..`from + 15` of `h`.
fn part(sql: Sql, h: &str, from: u32) -> String {
    match sql {
        Sql::Postgres => format!("('x' || substr({h}, {from}, 15))::bit(60)::bigint"),
        Sql::Mysql { .. } => {
            format!("CAST(CONV(SUBSTRING({h}, {from}, 15), 16, 10) AS UNSIGNED)")
        }
    }
}

/// The key's bucket (0..BUCKETS) from the key's hash `k`.
fn bucket(sql: Sql, k: &str) -> String {
    match sql {
        Sql::Postgres => format!("('x' || substr({k}, 1, 3))::bit(12)::int"),
        Sql::Mysql { .. } => format!("CAST(CONV(SUBSTRING({k}, 1, 3), 16, 10) AS UNSIGNED)"),
    }
}

/// What one side's query reads: the table (quoted), the canonical
/// expressions of the compared columns and of the key, and a condition.
pub struct Side<'a> {
    pub sql: Sql,
    pub table: &'a str,
    pub values: &'a [String],
    pub key: &'a [String],
    pub filter: Option<String>,
}

impl Side<'_> {
    fn inner(&self, with_key: bool) -> String {
        let mut cols = vec![format!("{} AS h", row_hash(self.sql, self.values))];
        if with_key {
            cols.push(format!("{} AS k", row_hash(self.sql, self.key)));
        }
        format!(
            "SELECT {} FROM {}{}",
            cols.join(", "),
            self.table,
            self.filter
                .as_ref()
                .map(|f| format!(" WHERE {f}"))
                .unwrap_or_default()
        )
    }

    fn sums(&self) -> String {
        format!(
            "COUNT(*), COALESCE(SUM({}), 0), COALESCE(SUM({}), 0)",
            part(self.sql, "h", 1),
            part(self.sql, "h", 16)
        )
    }

    /// Count and checksum of the whole table: one row of three numbers.
    pub fn total(&self) -> String {
        format!("SELECT {} FROM ({}) v", self.sums(), self.inner(false))
    }

    /// The same per key bucket: rows of bucket, count and checksum.
    pub fn per_bucket(&self) -> String {
        format!(
            "SELECT b, {} FROM (SELECT h, {} AS b FROM ({}) w) v GROUP BY b",
            self.sums(),
            bucket(self.sql, "k"),
            self.inner(true)
        )
    }

    /// The rows of some buckets: their hash and key values.
    pub fn rows_in(&self, buckets: &[u32]) -> String {
        let list = buckets
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let keys = self
            .key
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{e} AS k{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let filter = self
            .filter
            .as_ref()
            .map(|f| format!(" WHERE {f}"))
            .unwrap_or_default();
        format!(
            "SELECT h, {kn} FROM (SELECT {h} AS h, {b} AS b, {keys} FROM {t}{filter}) v WHERE b IN ({list})",
            kn = (0..self.key.len())
                .map(|i| format!("k{i}"))
                .collect::<Vec<_>>()
                .join(", "),
            h = row_hash(self.sql, self.values),
            b = bucket(self.sql, &row_hash(self.sql, self.key)),
            t = self.table,
        )
    }
}
