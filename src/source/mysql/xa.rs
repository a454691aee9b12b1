//! XA transactions in the binlog (no I/O).
//!
//! A prepared XA transaction is written to the binlog at `XA PREPARE`:
//! `XA START` (MySQL: a statement; MariaDB: a flag in the GTID event), the
//! rows, `XA END`, then an XA_PREPARE event. Its outcome comes later as a
//! transaction of its own: `XA COMMIT xid` or `XA ROLLBACK xid`. `XA COMMIT
//! ... ONE PHASE` is written whole (MySQL: an XA_PREPARE event marked one
//! phase; MariaDB: an ordinary transaction). Transactions are told apart
//! by their xid: format id, global transaction id and branch qualifier,
//! here as one key `format:gtrid-hex:bqual-hex`.

use std::fmt::Write;

fn key(format: u32, gtrid: &[u8], bqual: &[u8]) -> String {
    let mut k = format!("{format}:");
    for b in gtrid {
        let _ = write!(k, "{b:02x}");
    }
    k.push(':');
    for b in bqual {
        let _ = write!(k, "{b:02x}");
    }
    k
}

/// The xid of a statement the server logs as `<verb> X'6131',X'',1`
/// (`verb`: `XA START`, `XA COMMIT`, `XA ROLLBACK`; a trailing `ONE PHASE`
/// is ignored).
pub fn xid_of_statement(sql: &str, verb: &str) -> Option<String> {
    let sql = sql.trim();
    let head = sql.get(..verb.len())?;
    if !head.eq_ignore_ascii_case(verb) {
        return None;
    }
    let rest = sql[verb.len()..].trim();
    let rest = match rest.len().checked_sub(9) {
        Some(n) if rest[n..].eq_ignore_ascii_case("ONE PHASE") => rest[..n].trim(),
        _ => rest,
    };
    let parts: Vec<&str> = rest.split(',').map(str::trim).collect();
    let hex = |p: &str| -> Option<Vec<u8>> {
        let inner = p.strip_prefix("X'").or_else(|| p.strip_prefix("x'"))?;
        let inner = inner.strip_suffix('\'')?;
        (0..inner.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(inner.get(i..i + 2)?, 16).ok())
            .collect()
    };
    match parts.as_slice() {
        [g, b, f] => Some(key(f.parse().ok()?, &hex(g)?, &hex(b)?)),
        [g, b] => Some(key(1, &hex(g)?, &hex(b)?)),
        [g] => Some(key(1, &hex(g)?, &[])),
        _ => None,
    }
}

/// An XA_PREPARE event's body: whether it commits in one phase, and the
/// xid.
pub fn xid_of_prepare(body: &[u8]) -> Option<(bool, String)> {
    let one_phase = *body.first()? != 0;
    let u32_at = |i: usize| Some(u32::from_le_bytes(body.get(i..i + 4)?.try_into().ok()?));
    let format = u32_at(1)?;
    let g = usize::try_from(u32_at(5)?).ok()?;
    let b = usize::try_from(u32_at(9)?).ok()?;
    let data = body.get(13..13 + g + b)?;
    Some((one_phase, key(format, &data[..g], &data[g..])))
}

/// MariaDB: the xid a GTID event names when its transaction is an XA
/// transaction that is prepared (flag FL_PREPARED_XA), else `None`.
pub fn mariadb_xa_start(body: &[u8]) -> Option<String> {
    const FL_GROUP_COMMIT_ID: u8 = 2;
    const FL_PREPARED_XA: u8 = 64;
    let flags = *body.get(12)?;
    if flags & FL_PREPARED_XA == 0 {
        return None;
    }
    let at = if flags & FL_GROUP_COMMIT_ID != 0 {
        21
    } else {
        13
    };
    let format = u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?);
    let g = usize::from(*body.get(at + 4)?);
    let b = usize::from(*body.get(at + 5)?);
    let data = body.get(at + 6..at + 6 + g + b)?;
    Some(key(format, &data[..g], &data[g..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xids_read_alike_from_statements_and_events() {
        let a1 = "1:6131:";
        assert_eq!(
            xid_of_statement("XA COMMIT X'6131',X'',1", "XA COMMIT").as_deref(),
            Some(a1)
        );
        assert_eq!(
            xid_of_statement("xa commit X'6131',X'',1 ONE PHASE", "XA COMMIT").as_deref(),
            Some(a1)
        );
        assert_eq!(
            xid_of_statement("XA ROLLBACK X'6132',X'62',7", "XA ROLLBACK").as_deref(),
            Some("7:6132:62")
        );
        assert_eq!(
            xid_of_statement("XA COMMIT X'6131',X'',1", "XA ROLLBACK"),
            None
        );
        assert_eq!(xid_of_statement("XA COMMIT 'a1'", "XA COMMIT"), None);
        // MySQL's XA_PREPARE body: one phase, format 1, "a1", no bqual.
        let mut body = vec![0u8];
        body.extend(1u32.to_le_bytes());
        body.extend(2u32.to_le_bytes());
        body.extend(0u32.to_le_bytes());
        body.extend(b"a1");
        assert_eq!(xid_of_prepare(&body), Some((false, a1.to_string())));
        body[0] = 1;
        assert_eq!(xid_of_prepare(&body), Some((true, a1.to_string())));
        assert_eq!(xid_of_prepare(&body[..14]), None);
        // MariaDB's GTID event of `XA START 'a1'` (seq 258, domain 0).
        let mut g = 258u64.to_le_bytes().to_vec();
        g.extend(0u32.to_le_bytes());
        g.push(64);
        g.extend(1u32.to_le_bytes());
        g.extend([2, 0]);
        g.extend(b"a1");
        assert_eq!(mariadb_xa_start(&g).as_deref(), Some(a1));
        g[12] = 0;
        assert_eq!(mariadb_xa_start(&g), None);
    }
}
