//! The canonical text of a value, computed in SQL on either side, so that a
//! source row and the destination row it became hash alike.
//!
//! The canonical form is the destination's text of the value under the
//! README's type mapping, with the forms that differ only in spelling made
//! one: decimals without trailing fraction zeros, floating-point values as
//! their binary significand and exponent (`6755399441055744p-52` for 1.5:
//! from the value, never from a server's printing of it), timestamps
//! with six fraction digits, times as `HH:MM:SS.ffffff`, binary values as
//! lower-case hex. A value the destination cannot hold (NaN, infinity, a
//! year it has not) is NULL on the source side too, as it became.
//!
//! Each row is hashed (MD5 of its canonical values, text with its length,
//! NULL apart) and the hashes' first 60 bits are summed: a sum does not
//! depend on row order, and counts a row held twice twice.

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

/// A double's canonical text from its value, not from how a server prints
/// it (servers pick different shortest digits where two would read back
/// the same, e.g. PostgreSQL `-1.0332704330691379e+17`, MariaDB
/// `-1.033270433069138e17`): `[-]M p E`, the 53-bit integer significand
/// and the power of two, `|v| = M * 2^E`. `v`: a DOUBLE expression.
/// Multiplying by a power of two is exact; the first guess of E (a
/// logarithm) may be one off near a power of two and is put right.
fn float(sql: Sql, v: &str) -> String {
    let (abs, log2, pow, int) = match sql {
        Sql::Postgres => (
            format!("abs({v})"),
            format!("floor(ln(abs({v})) / ln(2::float8))"),
            "power(2::float8, ",
            "::bigint::text",
        ),
        Sql::Mysql { .. } => (
            format!("ABS({v})"),
            format!("FLOOR(LOG2(ABS({v})))"),
            "POW(2, ",
            "",
        ),
    };
    // Below 1 in two steps: 2^(52 - e) alone overflows for subnormals.
    let m0 = format!(
        "(CASE WHEN {log2} < 0 THEN {abs} * {pow}600) * {pow}-548 - {log2}) \
         ELSE {abs} * {pow}52 - {log2}) END)"
    );
    let m = format!(
        "(CASE WHEN {m0} >= {pow}53) THEN {m0} / 2 WHEN {m0} < {pow}52) THEN {m0} * 2 ELSE {m0} END)"
    );
    let e = format!(
        "({log2} - 52 + (CASE WHEN {m0} >= {pow}53) THEN 1 WHEN {m0} < {pow}52) THEN -1 ELSE 0 END))"
    );
    match sql {
        Sql::Postgres => format!(
            "(CASE WHEN {v} = 0 THEN '0' ELSE (CASE WHEN {v} < 0 THEN '-' ELSE '' END) || \
             ({m}){int} || 'p' || ({e})::bigint::text END)"
        ),
        Sql::Mysql { .. } => format!(
            "(CASE WHEN {v} = 0 THEN '0' ELSE CONCAT(CASE WHEN {v} < 0 THEN '-' ELSE '' END, \
             CAST({m} AS UNSIGNED), 'p', CAST({e} AS SIGNED)) END)"
        ),
    }
}

/// Whether a column's canonical text can never hold a `,` or be `N`
/// (numbers, dates, times, hex): then it goes into the row's hash without
/// its length. Decided from the source column, the same for both sides.
pub fn plain(c: &Column, sql: Sql) -> bool {
    match sql {
        Sql::Postgres => match c.conv {
            Conv::Verbatim => matches!(
                base(&c.dest_type).as_str(),
                "smallint" | "int" | "bigint" | "time"
            ),
            _ => true,
        },
        Sql::Mysql { .. } => matches!(
            base(&c.source_type).as_str(),
            "tinyint"
                | "smallint"
                | "mediumint"
                | "int"
                | "integer"
                | "bigint"
                | "year"
                | "bool"
                | "boolean"
                | "decimal"
                | "numeric"
                | "dec"
                | "fixed"
                | "float"
                | "double"
                | "real"
                | "date"
                | "datetime"
                | "timestamp"
                | "time"
                | "binary"
                | "varbinary"
                | "tinyblob"
                | "blob"
                | "mediumblob"
                | "longblob"
                | "bit"
        ),
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
        "float" | "double" | "real" => float(sql, &format!("CAST({q} AS DOUBLE)")),
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
            float(sql, &format!("{q}::float8"))
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

/// One row's hash (32 hex digits) over canonical values: each `(expr,
/// plain)`; a value that is not plain goes in with its length, NULL as `N`.
pub fn row_hash(sql: Sql, values: &[(String, bool)]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|(e, plain)| match (sql, plain) {
            (Sql::Postgres, true) => format!("COALESCE({e}, 'N')"),
            (Sql::Postgres, false) => format!("COALESCE(length({e})::text || ':' || {e}, 'N')"),
            (Sql::Mysql { .. }, true) => format!("IFNULL({e}, 'N')"),
            (Sql::Mysql { .. }, false) => {
                format!("COALESCE(CONCAT(CHAR_LENGTH({e}), ':', {e}), 'N')")
            }
        })
        .collect();
    match sql {
        Sql::Postgres => format!("md5({})", parts.join(" || ',' || ")),
        Sql::Mysql { .. } => format!("MD5(CONCAT({}))", parts.join(", ',', ")),
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
    /// Canonical expressions, each with [`plain`].
    pub values: &'a [(String, bool)],
    pub key: &'a [(String, bool)],
    pub filter: Option<String>,
}

impl Side<'_> {
    /// The canonical values of each row (`c0`.., key `k0`..), in a derived
    /// table so that each is computed once; PostgreSQL's `OFFSET 0` keeps
    /// its planner from pulling the expressions back up (twice each).
    fn canonical(&self) -> String {
        let cols = self
            .values
            .iter()
            .enumerate()
            .map(|(i, (e, _))| format!("{e} AS c{i}"))
            .chain(
                self.key
                    .iter()
                    .enumerate()
                    .map(|(i, (e, _))| format!("{e} AS k{i}")),
            )
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {cols} FROM {}{}{}",
            self.table,
            self.filter
                .as_ref()
                .map(|f| format!(" WHERE {f}"))
                .unwrap_or_default(),
            if self.sql == Sql::Postgres {
                " OFFSET 0"
            } else {
                ""
            }
        )
    }

    fn names(prefix: &str, values: &[(String, bool)]) -> Vec<(String, bool)> {
        values
            .iter()
            .enumerate()
            .map(|(i, (_, plain))| (format!("{prefix}{i}"), *plain))
            .collect()
    }

    fn value_hash(&self) -> String {
        row_hash(self.sql, &Self::names("c", self.values))
    }

    fn key_hash(&self) -> String {
        row_hash(self.sql, &Self::names("k", self.key))
    }

    /// One 60-bit sum: each row's hash is read once (MySQL and MariaDB
    /// merge derived tables and would compute it again per reference).
    fn sums(&self) -> String {
        format!("COUNT(*), COALESCE(SUM({}), 0)", part(self.sql, "h", 1))
    }

    /// Count and checksum of the whole table: one row of three numbers.
    pub fn total(&self) -> String {
        format!(
            "SELECT {} FROM (SELECT {} AS h FROM ({}) r) v",
            self.sums(),
            self.value_hash(),
            self.canonical()
        )
    }

    /// The same per key bucket: rows of bucket, count and checksum.
    pub fn per_bucket(&self) -> String {
        format!(
            "SELECT b, {} FROM (SELECT {} AS h, {} AS b FROM ({}) r) v GROUP BY b",
            self.sums(),
            self.value_hash(),
            bucket(self.sql, &self.key_hash()),
            self.canonical()
        )
    }

    /// The rows of some buckets: their hash and key values.
    pub fn rows_in(&self, buckets: &[u32]) -> String {
        let list = buckets
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let kn = Self::names("k", self.key)
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT h, {kn} FROM (SELECT {h} AS h, {b} AS b, {kn} FROM ({c}) r) v WHERE b IN ({list})",
            h = self.value_hash(),
            b = bucket(self.sql, &self.key_hash()),
            c = self.canonical(),
        )
    }
}
