//! GTID positions of MySQL and MariaDB, as text and as sets, without I/O.
//!
//! MariaDB's GTID position lists, per replication domain, the last
//! transaction: `0-1-42,1-2-7` (domain-server-sequence). MySQL's GTID set
//! lists, per server UUID, the transaction numbers executed, as ranges:
//! `3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7`; MySQL 8.4's tagged GTIDs
//! add ranges under a tag: `3e11...9562:1-5:nightly:1-3`. A delta follows the GTID
//! events it reads and saves the set where it stops, next to `file:pos`, so
//! that the next delta can tell the binlog it reads from is still the one
//! it stopped in (not reset by RESET MASTER, not another server's).

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GtidSet {
    /// Domain → (server id, sequence number of its last transaction).
    MariaDb(BTreeMap<u32, (u32, u64)>),
    /// (server UUID lower case with dashes, tag lower case or empty) →
    /// sorted, disjoint, inclusive ranges of transaction numbers.
    Mysql(BTreeMap<(String, String), Vec<(u64, u64)>>),
}

impl GtidSet {
    /// Parses a GTID position (`mariadb`) or set; `None` for text in
    /// another form (not followed then).
    pub fn parse(text: &str, mariadb: bool) -> Option<GtidSet> {
        let parts = text.split(',').map(str::trim).filter(|p| !p.is_empty());
        if mariadb {
            let mut m = BTreeMap::new();
            for p in parts {
                let mut it = p.splitn(3, '-');
                let domain = it.next()?.parse().ok()?;
                let server = it.next()?.parse().ok()?;
                let seq = it.next()?.parse().ok()?;
                m.insert(domain, (server, seq));
            }
            return Some(GtidSet::MariaDb(m));
        }
        let mut m: BTreeMap<(String, String), Vec<(u64, u64)>> = BTreeMap::new();
        for p in parts {
            let mut it = p.split(':');
            let uuid = it.next()?.to_ascii_lowercase();
            if uuid.len() != 36 {
                return None;
            }
            let mut tag = String::new();
            for r in it {
                // A tag starts with a letter or `_`; the ranges after it are
                // its own.
                if r.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    tag = r.to_ascii_lowercase();
                    continue;
                }
                let (a, b) = match r.split_once('-') {
                    Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                    None => {
                        let n = r.parse().ok()?;
                        (n, n)
                    }
                };
                for n in [a, b] {
                    if n == 0 {
                        return None;
                    }
                }
                insert_range(m.entry((uuid.clone(), tag.clone())).or_default(), a, b);
            }
        }
        Some(GtidSet::Mysql(m))
    }

    /// A MariaDB transaction `domain-server-seq` was committed.
    pub fn add_mariadb(&mut self, domain: u32, server: u32, seq: u64) {
        if let GtidSet::MariaDb(m) = self {
            m.insert(domain, (server, seq));
        }
    }

    /// A MySQL transaction `uuid[:tag]:gno` was committed (`tag` empty
    /// for an untagged GTID).
    pub fn add_mysql(&mut self, sid: &[u8; 16], tag: &str, gno: u64) {
        self.add_mysql_range(sid, tag, gno, gno);
    }

    /// MySQL transactions `uuid[:tag]:a-b` (inclusive).
    pub fn add_mysql_range(&mut self, sid: &[u8; 16], tag: &str, a: u64, b: u64) {
        if let GtidSet::Mysql(m) = self {
            let uuid = super::values::uuid_text(sid);
            let key = (uuid, tag.to_ascii_lowercase());
            insert_range(m.entry(key).or_default(), a, b);
        }
    }
}

/// Adds `[a, b]` to sorted disjoint ranges, merging neighbours.
fn insert_range(ranges: &mut Vec<(u64, u64)>, a: u64, b: u64) {
    let (a, b) = (a.min(b), a.max(b));
    ranges.push((a, b));
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for &(x, y) in ranges.iter() {
        match out.last_mut() {
            Some(last) if x <= last.1.saturating_add(1) => last.1 = last.1.max(y),
            _ => out.push((x, y)),
        }
    }
    *ranges = out;
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtidSet::MariaDb(m) => {
                let parts: Vec<String> =
                    m.iter().map(|(d, (s, n))| format!("{d}-{s}-{n}")).collect();
                f.write_str(&parts.join(","))
            }
            GtidSet::Mysql(m) => {
                // One part per UUID: its untagged ranges, then each tag's.
                let mut parts: Vec<String> = vec![];
                let mut last: Option<&str> = None;
                for ((uuid, tag), ranges) in m.iter().filter(|(_, r)| !r.is_empty()) {
                    if last != Some(uuid.as_str()) {
                        parts.push(uuid.clone());
                        last = Some(uuid);
                    }
                    let s = parts.last_mut().expect("pushed above");
                    if !tag.is_empty() {
                        s.push(':');
                        s.push_str(tag);
                    }
                    for (a, b) in ranges {
                        if a == b {
                            s.push_str(&format!(":{a}"));
                        } else {
                            s.push_str(&format!(":{a}-{b}"));
                        }
                    }
                }
                f.write_str(&parts.join(","))
            }
        }
    }
}

/// A 32-bit binlog offset (an event header's `log_pos`) widened to 64 bits
/// next to `prev`, the last offset known in the same file: files may grow
/// past 4 GiB (one large transaction), where the header's field wraps. Only
/// a drop of more than 2 GiB is a wrap (no event is that large); a smaller
/// one is an event sent out of place (the FORMAT_DESCRIPTION event a dump
/// starts with), taken as it says.
pub fn widen(prev: u64, low: u32) -> u64 {
    let high = prev & !0xffff_ffff;
    let prev_low = prev & 0xffff_ffff;
    let low = u64::from(low);
    if low < prev_low && prev_low - low > 1 << 31 {
        high + (1 << 32) + low
    } else {
        high + low
    }
}

/// The body of a MariaDB GTID event: (sequence number, domain); the server
/// id is the event header's.
pub fn mariadb_gtid_event(body: &[u8]) -> Option<(u64, u32)> {
    let seq = u64::from_le_bytes(body.get(..8)?.try_into().ok()?);
    let domain = u32::from_le_bytes(body.get(8..12)?.try_into().ok()?);
    Some((seq, domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_positions() {
        let mut g = GtidSet::parse("0-1-42,1-2-7", true).unwrap();
        g.add_mariadb(0, 1, 43);
        g.add_mariadb(5, 3, 1);
        assert_eq!(g.to_string(), "0-1-43,1-2-7,5-3-1");
        assert_eq!(GtidSet::parse("", true).unwrap().to_string(), "");
        assert_eq!(GtidSet::parse("0-1", true), None);
        assert_eq!(
            mariadb_gtid_event(&[0xc8, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x29]),
            Some((10440, 0))
        );
    }

    #[test]
    fn mysql_sets() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let mut g = GtidSet::parse(&format!("{}:1-5:7", u.to_uppercase()), false).unwrap();
        let sid: [u8; 16] = [
            0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42,
            0x95, 0x62,
        ];
        g.add_mysql(&sid, "", 6);
        assert_eq!(g.to_string(), format!("{u}:1-7"));
        g.add_mysql(&sid, "", 9);
        assert_eq!(g.to_string(), format!("{u}:1-7:9"));
        // MySQL 8.4 tags: their own ranges after the untagged ones.
        let mut g = GtidSet::parse(&format!("{u}:1-5:Nightly:1-2:4,{u}:b_tag:3"), false).unwrap();
        assert_eq!(g.to_string(), format!("{u}:1-5:b_tag:3:nightly:1-2:4"));
        g.add_mysql(&sid, "nightly", 3);
        g.add_mysql(&sid, "", 6);
        assert_eq!(g.to_string(), format!("{u}:1-6:b_tag:3:nightly:1-4"));
        assert_eq!(GtidSet::parse(&format!("{u}:tag:0"), false), None);
        assert_eq!(GtidSet::parse("3e11fa47:1", false), None);
    }

    #[test]
    fn offsets_past_4_gib() {
        assert_eq!(widen(4, 120), 120);
        assert_eq!(widen(0xffff_ff00, 0x10), 0x1_0000_0010);
        assert_eq!(widen(0x1_0000_0010, 0x20), 0x1_0000_0020);
        assert_eq!(widen(5_000_000_000, 705_032_800), 5_000_000_096);
        // An event out of place (a dump's first FORMAT_DESCRIPTION): no wrap.
        assert_eq!(widen(31_000_000, 256), 256);
    }
}
