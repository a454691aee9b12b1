//! Source positions, typed: where a change log was read up to.
//!
//! state.db, MANIFESTs and runs keep positions as the source's own text
//! (PostgreSQL LSN `16/B374D848`, binlog `binlog.000012:4567` with an
//! optional ` gtid=<set>`); this type parses that text so positions can be
//! compared. A position released to state.db never moves backwards.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// PostgreSQL WAL location.
    Lsn(u64),
    /// MySQL/MariaDB binlog file and byte offset, with the GTID set (or
    /// MariaDB GTID position) there where the server has GTIDs.
    Binlog {
        file: String,
        pos: u64,
        gtid: Option<String>,
    },
    /// SQL Server: the Change Tracking version (`ct=1042`) and the CDC LSN
    /// (`lsn=0x0000002B000001E00004`) the deltas read up to, each only
    /// where tables are read that way, and per table read by a timestamp
    /// column the newest value read (`ts[dbo.orders]=2024-05-01%2010:00:00.1234567`;
    /// `-`: the table was empty).
    SqlServer {
        ct: Option<u64>,
        lsn: Option<[u8; 10]>,
        ts: std::collections::BTreeMap<String, String>,
    },
}

impl Position {
    /// Parses the text form; `None` if it is neither an LSN nor `file:pos`.
    pub fn parse(s: &str) -> Option<Position> {
        if s.starts_with("ct=") || s.starts_with("lsn=") || s.starts_with("ts[") {
            return parse_sqlserver(s);
        }
        let mut words = s.split_whitespace();
        let head = words.next()?;
        if let Some((hi, lo)) = head.split_once('/') {
            let hi = u64::from_str_radix(hi, 16).ok()?;
            let lo = u64::from_str_radix(lo, 16).ok()?;
            if hi > u64::from(u32::MAX) || lo > u64::from(u32::MAX) {
                return None;
            }
            return Some(Position::Lsn((hi << 32) | lo));
        }
        let (file, pos) = head.rsplit_once(':')?;
        if file.is_empty() {
            return None;
        }
        // `gtid=` with nothing after it: GTIDs followed, none yet.
        let gtid = words
            .find_map(|w| w.strip_prefix("gtid="))
            .map(str::to_string);
        Some(Position::Binlog {
            file: file.to_string(),
            pos: pos.parse().ok()?,
            gtid,
        })
    }

    /// Parses a position kept as text (state.db, a MANIFEST); the error
    /// names where it was kept.
    pub fn stored(text: &str, kept: &str) -> anyhow::Result<Position> {
        Position::parse(text).ok_or_else(|| {
            anyhow::anyhow!(
                "{kept} holds '{text}', which is not a position (an LSN or file:offset)"
            )
        })
    }

    /// The WAL location, for PostgreSQL positions.
    pub fn lsn(&self) -> Option<u64> {
        match self {
            Position::Lsn(l) => Some(*l),
            _ => None,
        }
    }

    /// The binlog file and offset, for binlog positions.
    pub fn binlog(&self) -> Option<(&str, u64)> {
        match self {
            Position::Binlog { file, pos, .. } => Some((file, *pos)),
            _ => None,
        }
    }
}

/// `ct=N`, `lsn=0x<20 hex digits>`, or both, space-separated; `ct=-`:
/// neither (every table read whole on each run).
fn parse_sqlserver(s: &str) -> Option<Position> {
    let (mut ct, mut lsn, mut ts) = (None, None, std::collections::BTreeMap::new());
    for w in s.split_whitespace() {
        if w == "ct=-" {
            // Tables read whole on every run only: no version kept.
        } else if let Some(v) = w.strip_prefix("ct=") {
            ct = Some(v.parse().ok()?);
        } else if let Some(v) = w.strip_prefix("lsn=") {
            lsn = Some(parse_lsn(v)?);
        } else if let Some(rest) = w.strip_prefix("ts[") {
            let (table, value) = rest.split_once("]=")?;
            ts.insert(unescape(table)?, unescape(value)?);
        } else {
            return None;
        }
    }
    Some(Position::SqlServer { ct, lsn, ts })
}

/// `%XX` for the characters that separate a position's words and parts.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '%' | ' ' | '=' | '[' | ']') || c.is_control() {
            for b in c.to_string().bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape(v: &str) -> Option<String> {
    let mut bytes = vec![];
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            bytes.push(u8::from_str_radix(v.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

/// Two newest values of a timestamp column (numbers as numbers, the
/// fixed-width date and hex forms as text).
fn cmp_watermark(a: &str, b: &str) -> Ordering {
    match (a.parse::<i128>(), b.parse::<i128>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// The later of two newest values of a table's timestamp column (`-`: none).
pub fn later_watermark<'a>(a: Option<&'a str>, b: Option<&'a str>) -> Option<&'a str> {
    match (a.filter(|v| *v != "-"), b.filter(|v| *v != "-")) {
        (Some(x), Some(y)) => Some(if cmp_watermark(x, y).is_lt() { y } else { x }),
        (Some(x), None) => Some(x),
        (None, Some(y)) => Some(y),
        (None, None) => a.or(b),
    }
}

/// A CDC LSN as SQL Server prints it: `0x` and 20 hex digits.
pub fn parse_lsn(v: &str) -> Option<[u8; 10]> {
    let hex = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X"))?;
    if hex.len() != 20 {
        return None;
    }
    let mut out = [0u8; 10];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `0x` and 20 upper-case hex digits, as SQL Server prints an LSN.
pub fn lsn_text(lsn: &[u8; 10]) -> String {
    let mut s = String::from("0x");
    for b in lsn {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Lsn(l) => write!(f, "{:X}/{:X}", l >> 32, l & 0xffff_ffff),
            Position::Binlog { file, pos, gtid } => {
                write!(f, "{file}:{pos}")?;
                if let Some(g) = gtid {
                    write!(f, " gtid={g}")?;
                }
                Ok(())
            }
            Position::SqlServer { ct, lsn, ts } => {
                let mut words = vec![];
                if let Some(v) = ct {
                    words.push(format!("ct={v}"));
                }
                if let Some(l) = lsn {
                    words.push(format!("lsn={}", lsn_text(l)));
                }
                for (t, v) in ts {
                    words.push(format!("ts[{}]={}", escape(t), escape(v)));
                }
                if words.is_empty() {
                    words.push("ct=-".into());
                }
                write!(f, "{}", words.join(" "))
            }
        }
    }
}

/// Binlog files order by their sequence number (`.999999` comes before
/// `.1000000`, where the fixed width runs out), else by name.
pub fn cmp_binlog_files(a: &str, b: &str) -> Ordering {
    fn seq(n: &str) -> Option<(&str, u64)> {
        let (stem, num) = n.rsplit_once('.')?;
        Some((stem, num.parse().ok()?))
    }
    match (seq(a), seq(b)) {
        (Some((sa, na)), Some((sb, nb))) if sa == sb => na.cmp(&nb),
        _ => a.cmp(b),
    }
}

/// Positions of one kind order along their log (the GTID set does not take
/// part); positions of different kinds do not compare.
impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Position) -> Option<Ordering> {
        match (self, other) {
            (Position::Lsn(a), Position::Lsn(b)) => Some(a.cmp(b)),
            (
                Position::Binlog {
                    file: fa, pos: pa, ..
                },
                Position::Binlog {
                    file: fb, pos: pb, ..
                },
            ) => {
                // Files of another base name (log_bin renamed, or another
                // server) are on no common line.
                let stem = |f: &str| f.rsplit_once('.').map_or(f, |(s, _)| s).to_string();
                (stem(fa) == stem(fb)).then(|| cmp_binlog_files(fa, fb).then(pa.cmp(pb)))
            }
            // Each part along its own log; they must agree (a part that one
            // side lacks takes no part).
            (
                Position::SqlServer {
                    ct: ca,
                    lsn: la,
                    ts: ta,
                },
                Position::SqlServer {
                    ct: cb,
                    lsn: lb,
                    ts: tb,
                },
            ) => {
                let mut parts = vec![
                    ca.zip(*cb).map(|(a, b)| a.cmp(&b)),
                    la.zip(*lb).map(|(a, b)| a.cmp(&b)),
                ];
                for (t, a) in ta {
                    if let Some(b) = tb.get(t) {
                        parts.push(Some(match (a.as_str(), b.as_str()) {
                            ("-", "-") => Ordering::Equal,
                            ("-", _) => Ordering::Less,
                            (_, "-") => Ordering::Greater,
                            (a, b) => cmp_watermark(a, b),
                        }));
                    }
                }
                let mut out = Ordering::Equal;
                for o in parts.into_iter().flatten() {
                    match (out, o) {
                        (_, Ordering::Equal) => {}
                        (Ordering::Equal, o) => out = o,
                        (a, b) if a == b => {}
                        _ => return None,
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }
}

/// Whether `a` lies before `b` on one log; `false` when they do not compare.
pub fn before(a: &Position, b: &Position) -> bool {
    matches!(a.partial_cmp(b), Some(Ordering::Less))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for text in [
            "16/B374D848",
            "0/0",
            "binlog.000012:4567",
            "b.000001:4 gtid=0-1-42,1-2-7",
        ] {
            assert_eq!(Position::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Position::parse("1/AB"), Some(Position::Lsn(0x1_0000_00AB)));
        assert_eq!(
            Position::parse("binlog.000012:5000000000")
                .unwrap()
                .binlog(),
            Some(("binlog.000012", 5_000_000_000))
        );
        assert_eq!(Position::parse("nope"), None);
        assert_eq!(Position::parse(":4"), None);
        assert_eq!(Position::parse("1G/0"), None);
        for text in [
            "ct=1042",
            "lsn=0x0000002B000001E00004",
            "ct=7 lsn=0x0000002B000001E00004",
        ] {
            assert_eq!(Position::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            Position::parse("lsn=0x0000002b000001e00004")
                .unwrap()
                .to_string(),
            "lsn=0x0000002B000001E00004"
        );
        assert_eq!(Position::parse("ct=x"), None);
        assert_eq!(Position::parse("lsn=0x00"), None);
    }

    #[test]
    fn sqlserver_positions_order_by_each_part() {
        let p = |s| Position::parse(s).unwrap();
        assert!(p("ts[a.b]=9") < p("ts[a.b]=10"));
        assert!(p("ts[a.b]=-") < p("ts[a.b]=1"));
        assert!(
            p("ts[a.b]=2024-05-01%2010:00:00.1234567") < p("ts[a.b]=2024-05-01%2010:00:00.1234568")
        );
        assert_eq!(later_watermark(Some("9"), Some("10")), Some("10"));
        assert_eq!(later_watermark(Some("-"), Some("10")), Some("10"));
        assert_eq!(later_watermark(Some("-"), None), Some("-"));
        assert_eq!(later_watermark(None, None), None);
        assert!(p("ct=5") < p("ct=6"));
        assert!(p("lsn=0x0000002B000001780004") < p("lsn=0x0000002B000001E00004"));
        assert!(p("ct=5 lsn=0x0000002B000001780004") < p("ct=5 lsn=0x0000002B000001E00004"));
        assert_eq!(
            p("ct=5 lsn=0x0000002B000001780004").partial_cmp(&p("ct=6 lsn=0x0000002A000001780004")),
            None
        );
        assert!(!before(&p("ct=6"), &p("ct=6")));
        assert!(!before(&p("ct=6"), &p("ct=6 lsn=0x0000002B000001780004")));
    }

    #[test]
    fn order_along_the_log() {
        let p = |s| Position::parse(s).unwrap();
        assert!(p("0/FF") < p("1/0"));
        assert!(p("binlog.000002:900") < p("binlog.000010:4"));
        assert!(p("binlog.000002:4") < p("binlog.000002:5 gtid=0-1-9"));
        assert!(p("binlog.999999:900") < p("binlog.1000000:4"));
        assert_eq!(p("0/1").partial_cmp(&p("b.1:4")), None);
        // log_bin renamed: positions of other base names do not compare,
        // so the position moves on.
        assert_eq!(
            p("mysql-bin.000009:4").partial_cmp(&p("binlog.000001:4")),
            None
        );
        // A committed position is replaced unless the new one is before it.
        assert!(!before(&p("binlog.000001:4"), &p("mysql-bin.000009:500")));
        assert!(!before(&p("b.000003:10"), &p("b.000003:10")));
        assert!(before(&p("b.000003:10"), &p("b.000004:4")));
        assert!(before(&p("b.000002:900"), &p("b.000003:10 gtid=0-1-5")));
        assert!(!before(&p("0/1"), &p("b.000003:10")));
    }
}
