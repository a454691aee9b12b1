//! `type_change = { col = "@I" }`: the manual's conversions of a column's
//! values on the way (initial and delta loads alike), applied to the spool
//! text the source's own conversion produced (pure).
//!
//! `@I` integer (32-bit), `@L` long (64-bit), `@F` float (double), and
//! `@D(pattern)` date, `@T(pattern)` timestamp with the manual's (Java's)
//! pattern letters: `yyyy` year, `MM` month, `dd` day, `HH` hour (0-23),
//! `mm` minute, `ss` second, `SSS` milliseconds, anything else literal
//! (`'...'` quotes letters). A value that does not convert is an error the
//! caller handles by `on_bad_value`.

/// A value that did not convert under `on_bad_value = "fail"`: the table,
/// column, value and key.
#[derive(Debug)]
pub struct BadValue(pub String);

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadValue {}

/// One column's conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeChange {
    Int,
    Long,
    Float,
    Date(Vec<Part>),
    Timestamp(Vec<Part>),
}

/// A piece of a date pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millis,
    Lit(char),
}

fn pattern(p: &str) -> Result<Vec<Part>, String> {
    let c: Vec<char> = p.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < c.len() {
        let run = c[i..].iter().take_while(|&&x| x == c[i]).count();
        let part = match (c[i], run) {
            ('y', 4) => Part::Year,
            ('M', 2) => Part::Month,
            ('d', 2) => Part::Day,
            ('H', 2) => Part::Hour,
            ('m', 2) => Part::Minute,
            ('s', 2) => Part::Second,
            ('S', 3) => Part::Millis,
            ('\'', _) => {
                let end = c[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .ok_or_else(|| format!("unclosed quote in pattern {p}"))?;
                out.extend(c[i + 1..i + 1 + end].iter().map(|&x| Part::Lit(x)));
                i += end + 2;
                continue;
            }
            (l, n) if l.is_ascii_alphabetic() => {
                return Err(format!(
                    "pattern {p}: {} is not one of yyyy, MM, dd, HH, mm, ss, SSS",
                    l.to_string().repeat(n)
                ))
            }
            (l, _) => {
                out.push(Part::Lit(l));
                i += 1;
                continue;
            }
        };
        out.push(part);
        i += run;
    }
    Ok(out)
}

/// A pattern that names a whole date (yyyy, MM and dd).
fn dated(spec: &str, p: &str) -> Result<Vec<Part>, String> {
    let parts = pattern(p)?;
    for (need, name) in [(Part::Year, "yyyy"), (Part::Month, "MM"), (Part::Day, "dd")] {
        if !parts.contains(&need) {
            return Err(format!("{spec}: the pattern has no {name}"));
        }
    }
    Ok(parts)
}

impl TypeChange {
    /// `@I`, `@L`, `@F`, `@D(yyyyMMdd)`, `@T(yyyy-MM-dd HH:mm:ss)`.
    pub fn parse(spec: &str) -> Result<TypeChange, String> {
        fn inner<'a>(spec: &str, s: &'a str) -> Result<&'a str, String> {
            s.strip_prefix('(')
                .and_then(|x| x.strip_suffix(')'))
                .ok_or_else(|| format!("{spec}: the pattern goes in parentheses"))
        }
        match spec.trim() {
            "@I" => Ok(TypeChange::Int),
            "@L" => Ok(TypeChange::Long),
            "@F" => Ok(TypeChange::Float),
            s if s.starts_with("@D") => Ok(TypeChange::Date(dated(spec, inner(spec, &s[2..])?)?)),
            s if s.starts_with("@T") => {
                Ok(TypeChange::Timestamp(dated(spec, inner(spec, &s[2..])?)?))
            }
            _ => Err(format!(
                "{spec} is not one of @I, @L, @F, @D(pattern), @T(pattern)"
            )),
        }
    }

    /// The destination column type.
    pub fn dest_type(&self) -> &'static str {
        match self {
            TypeChange::Int => "INT",
            TypeChange::Long => "BIGINT",
            TypeChange::Float => "DOUBLE",
            TypeChange::Date(_) => "DATE",
            TypeChange::Timestamp(p) if p.contains(&Part::Millis) => "DATETIME(3)",
            TypeChange::Timestamp(_) => "DATETIME",
        }
    }

    /// A value's spool text converted, or `None` when it does not convert
    /// (dates before `min_year`, which the destination cannot hold,
    /// included).
    pub fn convert(&self, v: &[u8], min_year: u16) -> Option<String> {
        let s = std::str::from_utf8(v).ok()?.trim();
        match self {
            TypeChange::Int => s.parse::<i32>().ok().map(|n| n.to_string()),
            TypeChange::Long => s.parse::<i64>().ok().map(|n| n.to_string()),
            TypeChange::Float => s
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(|f| format!("{f:?}")),
            TypeChange::Date(p) => {
                let t = read(p, s).filter(|t| t[0] >= i64::from(min_year))?;
                Some(format!("{:04}-{:02}-{:02}", t[0], t[1], t[2]))
            }
            TypeChange::Timestamp(p) => {
                let t = read(p, s).filter(|t| t[0] >= i64::from(min_year))?;
                let base = format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    t[0], t[1], t[2], t[3], t[4], t[5]
                );
                Some(if p.contains(&Part::Millis) {
                    format!("{base}.{:03}", t[6])
                } else {
                    base
                })
            }
        }
    }
}

/// Reads `s` by pattern: [year, month, day, hour, minute, second, millis],
/// checked (a real date, hours below 24).
fn read(p: &[Part], s: &str) -> Option<[i64; 7]> {
    let b = s.as_bytes();
    let mut t = [0i64, 1, 1, 0, 0, 0, 0];
    let mut i = 0;
    let num = |i: &mut usize, n: usize| -> Option<i64> {
        let d = b.get(*i..*i + n)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *i += n;
        std::str::from_utf8(d).ok()?.parse().ok()
    };
    for part in p {
        match part {
            Part::Year => t[0] = num(&mut i, 4)?,
            Part::Month => t[1] = num(&mut i, 2)?,
            Part::Day => t[2] = num(&mut i, 2)?,
            Part::Hour => t[3] = num(&mut i, 2)?,
            Part::Minute => t[4] = num(&mut i, 2)?,
            Part::Second => t[5] = num(&mut i, 2)?,
            Part::Millis => t[6] = num(&mut i, 3)?,
            Part::Lit(c) => {
                let mut buf = [0u8; 4];
                let l = c.encode_utf8(&mut buf).as_bytes();
                if b.get(i..i + l.len())? != l {
                    return None;
                }
                i += l.len();
            }
        }
    }
    if i != b.len() {
        return None;
    }
    jiff::civil::Date::new(t[0] as i16, t[1] as i8, t[2] as i8).ok()?;
    if t[0] < 1 || t[3] > 23 || t[4] > 59 || t[5] > 59 {
        return None;
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manual_conversions() {
        let c = |spec: &str, v: &str| TypeChange::parse(spec).unwrap().convert(v.as_bytes(), 0);
        assert_eq!(c("@I", " 42 "), Some("42".into()));
        assert_eq!(c("@I", "-2147483648"), Some("-2147483648".into()));
        assert_eq!(c("@I", "2147483648"), None);
        assert_eq!(c("@I", "12.5"), None);
        assert_eq!(
            c("@L", "9223372036854775807"),
            Some("9223372036854775807".into())
        );
        assert_eq!(c("@F", "1.5e3"), Some("1500.0".into()));
        assert_eq!(c("@F", "NaN"), None);
        assert_eq!(c("@F", "abc"), None);
        assert_eq!(c("@D(yyyyMMdd)", "20240229"), Some("2024-02-29".into()));
        assert_eq!(c("@D(yyyyMMdd)", "20230229"), None);
        assert_eq!(c("@D(dd/MM/yyyy)", "31/12/1999"), Some("1999-12-31".into()));
        assert_eq!(c("@D(yyyyMMdd)", "2024022"), None);
        assert_eq!(
            c("@T(yyyy-MM-dd HH:mm:ss)", "2024-01-02 03:04:05"),
            Some("2024-01-02 03:04:05".into())
        );
        assert_eq!(c("@T(yyyy-MM-dd HH:mm:ss)", "2024-01-02 24:00:00"), None);
        assert_eq!(
            c("@T(yyyyMMdd'T'HHmmss.SSS)", "20240102T030405.678"),
            Some("2024-01-02 03:04:05.678".into())
        );
        assert_eq!(
            TypeChange::parse("@T(yyyy-MM-dd HH:mm:ss.SSS)")
                .unwrap()
                .dest_type(),
            "DATETIME(3)"
        );
        assert!(TypeChange::parse("@X").is_err());
        assert!(TypeChange::parse("@D(yyyy-QQ)").unwrap_err().contains("QQ"));
        assert!(TypeChange::parse("@Dyyyy").is_err());
        assert!(TypeChange::parse("@D(HH)").unwrap_err().contains("no yyyy"));
        // SingleStore holds no date before year 1000.
        let d = TypeChange::parse("@D(yyyyMMdd)").unwrap();
        assert_eq!(d.convert(b"05000101", 1000), None);
        assert_eq!(d.convert(b"10000101", 1000), Some("1000-01-01".into()));
    }
}
