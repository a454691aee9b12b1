//! Rows of both sides as normalized text, compared by key.

use super::*;

pub(super) type Rows = BTreeMap<String, Vec<Option<String>>>;

/// Files a row under its key (the key columns joined); a key seen twice is a
/// failure on that side.
pub(super) fn insert_keyed(
    out: &mut Rows,
    keyidx: &[usize],
    vals: Vec<Option<String>>,
    side: &str,
) {
    let k = keyidx
        .iter()
        .map(|&i| vals[i].clone().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("|");
    assert!(
        out.insert(k.clone(), vals).is_none(),
        "duplicate key {k} in {side}"
    );
}

pub fn assert_maps_equal(
    table: &str,
    src: &BTreeMap<String, Vec<Option<String>>>,
    dst: &BTreeMap<String, Vec<Option<String>>>,
) {
    let mut diffs = vec![];
    for (k, v) in src {
        match dst.get(k) {
            None => diffs.push(format!("missing at destination: key {k}: {v:?}")),
            Some(d) if d != v => diffs.push(format!(
                "differs: key {k}:\n   source {v:?}\n   dest   {d:?}"
            )),
            _ => {}
        }
    }
    for k in dst.keys() {
        if !src.contains_key(k) {
            diffs.push(format!("extra at destination: key {k}: {:?}", dst[k]));
        }
    }
    assert!(
        diffs.is_empty(),
        "{table}: {} of {} source rows differ ({} at destination):\n{}",
        diffs.len(),
        src.len(),
        dst.len(),
        diffs
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fam {
    Exact,
    Decimal,
    F32,
    F64,
    Time,
    CharN,
}

pub(super) fn base(t: &str) -> String {
    match (t.find('('), t.find(')')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &t[..a], &t[b + 1..]),
        _ => t.to_string(),
    }
}

/// Source-side SQL giving the destination's text form of a column.
pub fn pg_expr(c: &str, t: &str) -> (String, Fam) {
    match base(t).as_str() {
        "bytea" => (format!("encode({c}, 'hex')"), Fam::Exact),
        "boolean" => (format!("{c}::int::text"), Fam::Exact),
        "timestamp with time zone" => (
            format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"),
            Fam::Exact,
        ),
        "timestamp without time zone" => (
            format!("to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"),
            Fam::Exact,
        ),
        "numeric" | "money" => (format!("{c}::numeric::text"), Fam::Decimal),
        "real" => (format!("{c}::text"), Fam::F32),
        "double precision" => (format!("{c}::text"), Fam::F64),
        "time without time zone" => (format!("{c}::text"), Fam::Time),
        "character" => (format!("{c}::text"), Fam::CharN),
        // format() uses the type's output function, as COPY and pgoutput do
        // (inet's ::text cast adds the mask length; its output does not).
        _ => (
            format!("CASE WHEN {c} IS NULL THEN NULL ELSE format('%s', {c}) END"),
            Fam::Exact,
        ),
    }
}

/// Destination-side SQL for the same column.
pub fn my_expr(c: &str, t: &str) -> (String, Fam) {
    match base(t).as_str() {
        "bytea" => (format!("LOWER(HEX({c}))"), Fam::Exact),
        "timestamp with time zone" | "timestamp without time zone" => (
            format!("DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s.%f')"),
            Fam::Exact,
        ),
        "numeric" | "money" => (format!("CAST({c} AS CHAR)"), Fam::Decimal),
        "real" => (c.to_string(), Fam::F32),
        "double precision" => (c.to_string(), Fam::F64),
        "time without time zone" => (format!("CAST({c} AS CHAR)"), Fam::Time),
        "character" => (c.to_string(), Fam::CharN),
        "date" => (format!("CAST({c} AS CHAR)"), Fam::Exact),
        _ => (c.to_string(), Fam::Exact),
    }
}

pub(super) fn my_value(v: &mysql::Value) -> Option<String> {
    use mysql::Value::*;
    match v {
        NULL => None,
        Bytes(b) => Some(String::from_utf8(b.clone()).expect("destination text is UTF-8")),
        Int(i) => Some(i.to_string()),
        UInt(u) => Some(u.to_string()),
        Float(f) => Some(format!("{f:?}")),
        Double(d) => Some(format!("{d:?}")),
        other => Some(format!("{other:?}")),
    }
}

pub fn normalize(f: Fam, v: &str) -> String {
    match f {
        Fam::Exact => v.to_string(),
        Fam::Decimal => {
            let mut s = v.to_string();
            if s.contains('.') {
                while s.ends_with('0') {
                    s.pop();
                }
                if s.ends_with('.') {
                    s.pop();
                }
            }
            if s == "-0" {
                s = "0".into();
            }
            s
        }
        Fam::F32 => match v.parse::<f32>() {
            Ok(x) => format!("{x:?}"),
            Err(_) => v.to_string(),
        },
        Fam::F64 => match v.parse::<f64>() {
            Ok(x) => format!("{x:?}"),
            Err(_) => v.to_string(),
        },
        Fam::Time => {
            let (hms, frac) = v.split_once('.').unwrap_or((v, ""));
            format!("{hms}.{frac:0<6}")
        }
        Fam::CharN => v.trim_end_matches(' ').to_string(),
    }
}
