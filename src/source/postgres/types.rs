//! PostgreSQL types → destination types and value conversions (pure).

use crate::schema::Conv;

/// Destination type and conversion for a PostgreSQL column, from
/// `format_type()` text, the type's `typtype` and `typcategory`.
pub fn map_type(format: &str, typtype: u8, category: u8) -> (String, Conv, bool) {
    // "numeric(12,2)", "timestamp(3) with time zone": drop the (args) to get the base name.
    let (base, args) = match (format.find('('), format.find(')')) {
        (Some(a), Some(b)) if a < b => (
            format!("{}{}", &format[..a], &format[b + 1..]),
            &format[a + 1..b],
        ),
        _ => (format.to_string(), ""),
    };
    let nums: Vec<i32> = args
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let v = |t: &str| (t.to_string(), Conv::Verbatim, false);
    if category == b'A' {
        return v("LONGTEXT");
    }
    if typtype == b'e' {
        return v("VARCHAR(64)");
    }
    match base.trim() {
        "smallint" => v("SMALLINT"),
        "integer" => v("INT"),
        "bigint" => v("BIGINT"),
        "oid" => v("BIGINT"),
        "real" => ("FLOAT".into(), Conv::Float4, false),
        "double precision" => ("DOUBLE".into(), Conv::Float, false),
        "numeric" => numeric_type(&nums),
        "money" => ("DECIMAL(19,2)".into(), Conv::Money, false),
        "boolean" => ("BOOLEAN".into(), Conv::Bool, false),
        "text" | "name" | "xml" | "citext" => v("LONGTEXT"),
        "character varying" => match nums.first() {
            Some(n) if *n <= 16_000 => v(&format!("VARCHAR({n})")),
            _ => v("LONGTEXT"),
        },
        "character" | "bpchar" => match nums.first() {
            Some(n) if *n <= 255 => v(&format!("CHAR({n})")),
            Some(n) if *n <= 16_000 => v(&format!("VARCHAR({n})")),
            _ => v("LONGTEXT"),
        },
        "\"char\"" => v("CHAR(1)"),
        "bytea" => ("LONGBLOB".into(), Conv::Bytea, true),
        "date" => ("DATE".into(), Conv::Date, false),
        "time without time zone" => v("TIME(6)"),
        "time with time zone" => v("VARCHAR(32)"),
        "timestamp without time zone" => ("DATETIME(6)".into(), Conv::Timestamp, false),
        "timestamp with time zone" => ("DATETIME(6)".into(), Conv::TimestampTz, false),
        "interval" => v("VARCHAR(100)"),
        "uuid" => v("CHAR(36)"),
        "json" => v("LONGTEXT"),
        "jsonb" => v("JSON"),
        "inet" | "cidr" => v("VARCHAR(43)"),
        "macaddr" | "macaddr8" => v("VARCHAR(23)"),
        _ => v("LONGTEXT"),
    }
}

/// DECIMAL for `numeric(p,s)`: scale above precision (values below 1) and
/// negative scale (rounded to tens, hundreds...) are allowed by PostgreSQL 15.
fn numeric_type(nums: &[i32]) -> (String, Conv, bool) {
    let dec = |p: i32, s: i32| {
        (
            format!("DECIMAL({p},{s})"),
            Conv::Numeric {
                int_digits: (p - s) as u8,
                frac_digits: s as u8,
            },
            false,
        )
    };
    match *nums {
        [p, s] if (0..=p).contains(&s) && p <= 65 && s <= 30 => dec(p, s),
        [p, s] if s < 0 && p - s <= 65 => dec(p - s, 0),
        [p, s] if s > p && s <= 30 => dec(s, s),
        [p] if (1..=65).contains(&p) => dec(p, 0),
        _ => dec(65, 30),
    }
}

/// Types whose values PostgreSQL may store out of line (TOAST) and then send
/// as "unchanged" in an update.
pub(super) fn toastable(typlen: i16) -> bool {
    typlen == -1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_mapping() {
        assert_eq!(map_type("numeric(38,10)", b'b', b'N').0, "DECIMAL(38,10)");
        assert_eq!(map_type("numeric", b'b', b'N').0, "DECIMAL(65,30)");
        assert_eq!(map_type("numeric(70,2)", b'b', b'N').0, "DECIMAL(65,30)");
        assert_eq!(map_type("numeric(5,-2)", b'b', b'N').0, "DECIMAL(7,0)");
        assert_eq!(map_type("numeric(3,5)", b'b', b'N').0, "DECIMAL(5,5)");
        assert_eq!(map_type("numeric(10)", b'b', b'N').0, "DECIMAL(10,0)");
        assert_eq!(
            map_type("character varying(20)", b'b', b'S').0,
            "VARCHAR(20)"
        );
        assert_eq!(map_type("integer[]", b'b', b'A').0, "LONGTEXT");
        assert_eq!(map_type("mood", b'e', b'E').0, "VARCHAR(64)");
        assert_eq!(
            map_type("timestamp(3) with time zone", b'b', b'D').1,
            Conv::TimestampTz
        );
        assert!(map_type("bytea", b'b', b'U').2);
    }
}
