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
}

impl Position {
    /// Parses the text form; `None` if it is neither an LSN nor `file:pos`.
    pub fn parse(s: &str) -> Option<Position> {
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
            Position::Binlog { .. } => None,
        }
    }

    /// The binlog file and offset, for binlog positions.
    pub fn binlog(&self) -> Option<(&str, u64)> {
        match self {
            Position::Binlog { file, pos, .. } => Some((file, *pos)),
            Position::Lsn(_) => None,
        }
    }
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
