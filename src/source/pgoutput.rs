//! Pure decoder for the messages of PostgreSQL's built-in `pgoutput` logical
//! decoding plugin, protocol version 1.
//!
//! Each call to [`parse`] decodes exactly one message: one row of the `data`
//! (`bytea`) column returned by
//! `pg_logical_slot_peek_binary_changes(slot, NULL, NULL, 'proto_version', '1',
//! 'publication_names', pub)` (or `..._get_binary_changes`, or the payload of an
//! `XLogData` frame on a streaming replication connection). The decoder does no
//! I/O, keeps no state between messages and never panics: every malformed,
//! truncated or over-long input yields a [`DecodeError`] naming the message
//! tag, what was expected and the byte offset (from the start of the message)
//! where decoding stopped. Column values ([`Datum`]) and the few short strings
//! that need no ownership borrow from the input, so decoding a row allocates
//! only its `Vec<Datum>`. Mapping tuple columns to table columns (via the
//! [`Relation`] message seen earlier with the same OID) is up to the caller.
//!
//! Only the message kinds of protocol version 1 are accepted: the streaming
//! (`S`, `E`, `c`, `A`, protocol 2+) and two-phase (`b`, `P`, `K`, `r`, `p`,
//! protocol 3+) messages are reported as errors. `M` messages appear only when
//! the slot is read with `'messages', 'true'`, and `b` column values only with
//! `'binary', 'true'`.
//!
//! # Wire layout (protocol version 1)
//!
//! All integers are big-endian (network order); `Int8` is one byte. `String`
//! is NUL-terminated UTF-8 (the database encoding; this decoder requires
//! UTF-8). `LSN` is an `Int64` WAL position. Timestamps are `Int64`
//! microseconds since 2000-01-01 00:00:00 UTC (see [`PG_EPOCH_UNIX_MICROS`]).
//! Offsets are from the start of the message, tag included.
//!
//! ```text
//! B  Begin        Byte1 'B'
//!                 LSN    final_lsn    LSN of the transaction's commit record
//!                 Int64  commit_ts
//!                 Int32  xid
//! C  Commit       Byte1 'C'
//!                 Int8   flags        currently always 0
//!                 LSN    commit_lsn   (= Begin.final_lsn)
//!                 LSN    end_lsn      end of the commit record
//!                 Int64  commit_ts
//! O  Origin       Byte1 'O'           sent after B when the transaction was
//!                 LSN    lsn          replayed with a replication origin: the
//!                 String name         origin's commit LSN and origin name
//! R  Relation     Byte1 'R'           sent before the first change of a table
//!                 Int32  oid          in a decoding session, and again after
//!                 String namespace    its definition changes; namespace is ""
//!                 String name         for pg_catalog
//!                 Int8   replica_identity  'd' default, 'n' nothing,
//!                                          'f' full, 'i' index
//!                 Int16  ncols
//!                 ncols times:
//!                   Int8   flags      1 = part of the replica identity key
//!                                     (every column under FULL)
//!                   String name
//!                   Int32  type_oid
//!                   Int32  type_mod   atttypmod, -1 if none
//! Y  Type         Byte1 'Y'           sent before R for each column whose
//!                 Int32  oid          type is not built in (enum, domain,
//!                 String namespace    composite, extension types, ...)
//!                 String name
//! I  Insert       Byte1 'I'
//!                 Int32  relation oid
//!                 Byte1 'N'           followed by TupleData (new row)
//! U  Update       Byte1 'U'
//!                 Int32  relation oid
//!                 optional: Byte1 'K' + TupleData (old replica identity key,
//!                             non-key columns 'n'; sent when the key changed)
//!                        or Byte1 'O' + TupleData (whole old row, FULL)
//!                 Byte1 'N'           followed by TupleData (new row)
//! D  Delete       Byte1 'D'
//!                 Int32  relation oid
//!                 Byte1 'K' or 'O'    followed by TupleData (as for Update)
//! T  Truncate     Byte1 'T'
//!                 Int32  nrels
//!                 Int8   options      bit 1 = CASCADE, bit 2 = RESTART IDENTITY
//!                 nrels times: Int32 relation oid
//! M  Message      Byte1 'M'           pg_logical_emit_message(); only with
//!                 Int8   flags        'messages' 'true'; 1 = transactional
//!                 LSN    lsn          (non-transactional ones arrive outside
//!                 String prefix       any B/C pair)
//!                 Int32  length
//!                 Byte[length] content
//!
//! TupleData       Int16  ncols        then ncols times one of:
//!                   Byte1 'n'                       NULL
//!                   Byte1 'u'                       unchanged TOAST value
//!                                                   (value not sent)
//!                   Byte1 't' Int32 len Byte[len]   text output format
//!                   Byte1 'b' Int32 len Byte[len]   binary send format
//! ```

use std::fmt;

/// A WAL position (`pg_lsn`), as the 64-bit integer PostgreSQL prints as
/// `high/low` in hex.
pub type Lsn = u64;

/// Microseconds from the Unix epoch to the PostgreSQL epoch (2000-01-01 UTC):
/// add this to a `commit_ts` to get Unix microseconds.
pub const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// One decoded `pgoutput` message. Borrows from the input buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    /// `B`: start of a transaction.
    Begin {
        final_lsn: Lsn,
        /// Microseconds since 2000-01-01 UTC, as sent.
        commit_ts: i64,
        xid: u32,
    },
    /// `C`: end of a transaction.
    Commit {
        flags: u8,
        commit_lsn: Lsn,
        end_lsn: Lsn,
        commit_ts: i64,
    },
    /// `O`: the transaction was replayed from a replication origin.
    Origin { lsn: Lsn, name: &'a str },
    /// `R`: table definition.
    Relation(Relation),
    /// `Y`: non-built-in data type used by a column of the next `R`.
    Type {
        oid: u32,
        namespace: String,
        name: String,
    },
    /// `I`: inserted row.
    Insert { rel: u32, new: Vec<Datum<'a>> },
    /// `U`: updated row; `old` is present only when the key changed
    /// ([`OldKind::Key`]) or the table is `REPLICA IDENTITY FULL`
    /// ([`OldKind::Full`]).
    Update {
        rel: u32,
        old: Option<(OldKind, Vec<Datum<'a>>)>,
        new: Vec<Datum<'a>>,
    },
    /// `D`: deleted row, identified by its key or (FULL) its whole old value.
    Delete {
        rel: u32,
        old: (OldKind, Vec<Datum<'a>>),
    },
    /// `T`: truncated tables.
    Truncate {
        /// 1 = CASCADE, 2 = RESTART IDENTITY.
        options: u8,
        rels: Vec<u32>,
    },
    /// `M`: logical decoding message (`pg_logical_emit_message`).
    Logical {
        transactional: bool,
        lsn: Lsn,
        prefix: &'a str,
        content: &'a [u8],
    },
}

impl Message<'_> {
    /// The message's tag byte on the wire (`b'B'`, `b'C'`, ...).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn tag(&self) -> u8 {
        match self {
            Message::Begin { .. } => b'B',
            Message::Commit { .. } => b'C',
            Message::Origin { .. } => b'O',
            Message::Relation(_) => b'R',
            Message::Type { .. } => b'Y',
            Message::Insert { .. } => b'I',
            Message::Update { .. } => b'U',
            Message::Delete { .. } => b'D',
            Message::Truncate { .. } => b'T',
            Message::Logical { .. } => b'M',
        }
    }
}

/// Table definition from an `R` message.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub oid: u32,
    /// Schema name; empty for `pg_catalog`.
    pub namespace: String,
    pub name: String,
    /// `b'd'` default (primary key), `b'n'` nothing, `b'f'` full,
    /// `b'i'` index.
    pub replica_identity: u8,
    pub columns: Vec<RelColumn>,
}

/// One column of a [`Relation`].
#[derive(Debug, Clone, PartialEq)]
pub struct RelColumn {
    /// Part of the replica identity (`flags & 1`); true for every column of a
    /// `REPLICA IDENTITY FULL` table.
    pub key: bool,
    pub name: String,
    pub type_oid: u32,
    /// `atttypmod`; -1 when the type has no modifier.
    pub type_mod: i32,
}

/// Which old tuple an `U`/`D` message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKind {
    /// `K`: only the replica identity columns are set, the others are
    /// [`Datum::Null`].
    Key,
    /// `O`: the whole old row (`REPLICA IDENTITY FULL`).
    Full,
}

/// One column value of a tuple. Borrows from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datum<'a> {
    /// `n`: SQL NULL.
    Null,
    /// `u`: unchanged TOASTed value; the value was not sent and the old one
    /// still applies.
    Unchanged,
    /// `t`: value in the type's text output format.
    Text(&'a [u8]),
    /// `b`: value in the type's binary send format.
    Binary(&'a [u8]),
}

impl<'a> Datum<'a> {
    /// The value's bytes for `Text` and `Binary`, `None` otherwise.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Datum::Text(b) | Datum::Binary(b) => Some(b),
            Datum::Null | Datum::Unchanged => None,
        }
    }
}

/// A message that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset from the start of the message where decoding stopped.
    pub offset: usize,
    /// What went wrong, starting with the message kind and tag.
    pub message: String,
    /// The first (up to 16) bytes of the message, for the `Display` output.
    pub head: Vec<u8>,
}

impl DecodeError {
    fn new(data: &[u8], offset: usize, message: String) -> Self {
        DecodeError {
            offset,
            message,
            head: data.iter().take(16).copied().collect(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pgoutput: {} at byte {} of message starting ",
            self.message, self.offset
        )?;
        if self.head.is_empty() {
            return f.write_str("(empty)");
        }
        for b in &self.head {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one `pgoutput` (protocol version 1) message. The whole input must
/// be one message: trailing bytes are an error.
pub fn parse(data: &[u8]) -> Result<Message<'_>, DecodeError> {
    let Some(&tag) = data.first() else {
        return Err(DecodeError::new(
            data,
            0,
            "truncated: empty message, expected a 1-byte message tag".to_string(),
        ));
    };
    let mut r = Reader {
        data,
        pos: 1,
        ctx: tag_name(tag),
    };
    let msg = match tag {
        b'B' => Message::Begin {
            final_lsn: r.u64("final LSN")?,
            commit_ts: r.i64("commit timestamp")?,
            xid: r.u32("xid")?,
        },
        b'C' => Message::Commit {
            flags: r.u8("flags")?,
            commit_lsn: r.u64("commit LSN")?,
            end_lsn: r.u64("end LSN")?,
            commit_ts: r.i64("commit timestamp")?,
        },
        b'O' => Message::Origin {
            lsn: r.u64("origin LSN")?,
            name: r.cstr("origin name")?,
        },
        b'R' => Message::Relation(r.relation()?),
        b'Y' => Message::Type {
            oid: r.u32("type OID")?,
            namespace: r.cstr("type namespace")?.to_owned(),
            name: r.cstr("type name")?.to_owned(),
        },
        b'I' => {
            let rel = r.u32("relation OID")?;
            r.expect_byte(b'N', "new tuple marker")?;
            Message::Insert {
                rel,
                new: r.tuple("new tuple")?,
            }
        }
        b'U' => {
            let rel = r.u32("relation OID")?;
            let at = r.pos;
            let old = match r.u8("tuple marker 'K', 'O' or 'N'")? {
                b'N' => None,
                b'K' => Some((OldKind::Key, r.tuple("old key tuple")?)),
                b'O' => Some((OldKind::Full, r.tuple("old full tuple")?)),
                other => {
                    return Err(r.error(
                        at,
                        format_args!(
                            "expected tuple marker 'K', 'O' or 'N', found {}",
                            ShowByte(other)
                        ),
                    ))
                }
            };
            if old.is_some() {
                r.expect_byte(b'N', "new tuple marker")?;
            }
            Message::Update {
                rel,
                old,
                new: r.tuple("new tuple")?,
            }
        }
        b'D' => {
            let rel = r.u32("relation OID")?;
            let at = r.pos;
            let old = match r.u8("tuple marker 'K' or 'O'")? {
                b'K' => (OldKind::Key, r.tuple("old key tuple")?),
                b'O' => (OldKind::Full, r.tuple("old full tuple")?),
                other => {
                    return Err(r.error(
                        at,
                        format_args!(
                            "expected tuple marker 'K' or 'O', found {}",
                            ShowByte(other)
                        ),
                    ))
                }
            };
            Message::Delete { rel, old }
        }
        b'T' => {
            let n = r.u32("relation count")?;
            let options = r.u8("options")?;
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            let mut rels = Vec::with_capacity(n.min(r.remaining() / 4));
            for i in 0..n {
                rels.push(r.u32(format_args!("OID of relation {} of {n}", i + 1))?);
            }
            Message::Truncate { options, rels }
        }
        b'M' => {
            let flags = r.u8("flags")?;
            let lsn = r.u64("message LSN")?;
            let prefix = r.cstr("message prefix")?;
            let len = r.len("content length")?;
            Message::Logical {
                transactional: flags & 1 != 0,
                lsn,
                prefix,
                content: r.bytes(len, "content")?,
            }
        }
        b'S' | b'E' | b'c' | b'A' => {
            return Err(r.error(
                0,
                "streaming message: needs proto_version >= 2 with 'streaming' on; \
                 this decoder supports protocol version 1 only",
            ))
        }
        b'b' | b'P' | b'K' | b'r' | b'p' => {
            return Err(r.error(
                0,
                "two-phase commit message: needs proto_version >= 3 with 'two_phase' on; \
                 this decoder supports protocol version 1 only",
            ))
        }
        other => {
            return Err(r.error(
                0,
                format_args!(
                    "unknown message tag {}; expected one of B C O R Y I U D T M",
                    ShowByte(other)
                ),
            ))
        }
    };
    r.finish()?;
    Ok(msg)
}

fn tag_name(tag: u8) -> &'static str {
    match tag {
        b'B' => "Begin ('B')",
        b'C' => "Commit ('C')",
        b'O' => "Origin ('O')",
        b'R' => "Relation ('R')",
        b'Y' => "Type ('Y')",
        b'I' => "Insert ('I')",
        b'U' => "Update ('U')",
        b'D' => "Delete ('D')",
        b'T' => "Truncate ('T')",
        b'M' => "Message ('M')",
        b'S' => "Stream Start ('S')",
        b'E' => "Stream Stop ('E')",
        b'c' => "Stream Commit ('c')",
        b'A' => "Stream Abort ('A')",
        b'b' => "Begin Prepare ('b')",
        b'P' => "Prepare ('P')",
        b'K' => "Commit Prepared ('K')",
        b'r' => "Rollback Prepared ('r')",
        b'p' => "Stream Prepare ('p')",
        _ => "message",
    }
}

/// Formats a byte as `'x' (0x78)` when printable, else `0x07`.
struct ShowByte(u8);

impl fmt::Display for ShowByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}' (0x{:02x})", char::from(self.0), self.0)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

/// Bounds-checked cursor over one message.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Message kind and tag, prefixed to every error.
    ctx: &'static str,
}

impl<'a> Reader<'a> {
    fn error(&self, offset: usize, detail: impl fmt::Display) -> DecodeError {
        DecodeError::new(self.data, offset, format!("{}: {detail}", self.ctx))
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn bytes(&mut self, n: usize, what: impl fmt::Display) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        match start
            .checked_add(n)
            .and_then(|end| Some((end, self.data.get(start..end)?)))
        {
            Some((end, s)) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(self.error(
                start,
                format_args!(
                    "truncated: expected {n} byte(s) of {what}, but only {} remain",
                    self.remaining()
                ),
            )),
        }
    }

    fn array<const N: usize>(&mut self, what: impl fmt::Display) -> Result<[u8; N], DecodeError> {
        let start = self.pos;
        let s = self.bytes(N, &what)?;
        <[u8; N]>::try_from(s).map_err(|_| self.error(start, format_args!("bad width of {what}")))
    }

    fn u8(&mut self, what: impl fmt::Display) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    fn u16(&mut self, what: impl fmt::Display) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: impl fmt::Display) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: impl fmt::Display) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: impl fmt::Display) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: impl fmt::Display) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// An `Int32` byte count, which must not be negative.
    fn len(&mut self, what: impl fmt::Display) -> Result<usize, DecodeError> {
        let start = self.pos;
        let n = self.i32(&what)?;
        usize::try_from(n).map_err(|_| self.error(start, format_args!("{what} is negative ({n})")))
    }

    /// A byte that must equal `want`.
    fn expect_byte(&mut self, want: u8, what: &str) -> Result<(), DecodeError> {
        let start = self.pos;
        let got = self.u8(format_args!("{what} {}", ShowByte(want)))?;
        if got == want {
            Ok(())
        } else {
            Err(self.error(
                start,
                format_args!(
                    "expected {what} {}, found {}",
                    ShowByte(want),
                    ShowByte(got)
                ),
            ))
        }
    }

    /// A NUL-terminated UTF-8 string, borrowed without its terminator.
    fn cstr(&mut self, what: impl fmt::Display) -> Result<&'a str, DecodeError> {
        let start = self.pos;
        let rest = self.data.get(start..).unwrap_or_default();
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return Err(self.error(
                start,
                format_args!(
                    "truncated: expected NUL-terminated {what}, but the remaining {} byte(s) \
                     have no NUL",
                    rest.len()
                ),
            ));
        };
        let raw = rest.get(..nul).unwrap_or_default();
        match std::str::from_utf8(raw) {
            Ok(s) => {
                self.pos = start + nul + 1;
                Ok(s)
            }
            Err(e) => Err(self.error(
                start + e.valid_up_to(),
                format_args!("invalid UTF-8 in {what} (string starts at byte {start})"),
            )),
        }
    }

    /// TupleData: `Int16` column count, then one tagged value per column.
    fn tuple(&mut self, which: &str) -> Result<Vec<Datum<'a>>, DecodeError> {
        let n = usize::from(self.u16(format_args!("{which} column count"))?);
        // Every column takes at least one byte: do not trust `n` for capacity.
        let mut cols = Vec::with_capacity(n.min(self.remaining()));
        for i in 1..=n {
            let at = self.pos;
            let kind = self.u8(format_args!("{which} column {i} of {n} kind"))?;
            cols.push(match kind {
                b'n' => Datum::Null,
                b'u' => Datum::Unchanged,
                b't' | b'b' => {
                    let len = self.len(format_args!("length of {which} column {i} of {n}"))?;
                    let v = self.bytes(len, format_args!("{which} column {i} of {n} value"))?;
                    if kind == b't' {
                        Datum::Text(v)
                    } else {
                        Datum::Binary(v)
                    }
                }
                other => {
                    return Err(self.error(
                        at,
                        format_args!(
                            "unknown kind {} for {which} column {i} of {n}; \
                             expected 'n', 'u', 't' or 'b'",
                            ShowByte(other)
                        ),
                    ))
                }
            });
        }
        Ok(cols)
    }

    fn relation(&mut self) -> Result<Relation, DecodeError> {
        let oid = self.u32("relation OID")?;
        let namespace = self.cstr("namespace")?.to_owned();
        let name = self.cstr("relation name")?.to_owned();
        let at = self.pos;
        let replica_identity = self.u8("replica identity setting")?;
        if !matches!(replica_identity, b'd' | b'n' | b'f' | b'i') {
            return Err(self.error(
                at,
                format_args!(
                    "unknown replica identity setting {}; expected 'd', 'n', 'f' or 'i'",
                    ShowByte(replica_identity)
                ),
            ));
        }
        let n = usize::from(self.u16("column count")?);
        // A column takes at least 10 bytes (flags, "\0", type OID, typmod).
        let mut columns = Vec::with_capacity(n.min(self.remaining() / 10));
        for i in 1..=n {
            let flags = self.u8(format_args!("flags of column {i} of {n}"))?;
            let name = self
                .cstr(format_args!("name of column {i} of {n}"))?
                .to_owned();
            columns.push(RelColumn {
                key: flags & 1 != 0,
                name,
                type_oid: self.u32(format_args!("type OID of column {i} of {n}"))?,
                type_mod: self.i32(format_args!("type modifier of column {i} of {n}"))?,
            });
        }
        Ok(Relation {
            oid,
            namespace,
            name,
            replica_identity,
            columns,
        })
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.error(
                self.pos,
                format_args!("{n} unexpected trailing byte(s) after the end of the message"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fixtures: bytes captured from PostgreSQL 15.18 (wal_level=logical), one
    // `(lsn, xid, encode(data, 'hex'))` row per message, in stream order.
    //
    // Setup, in a scratch database:
    //   CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');                 -- oid 16386
    //   CREATE TABLE t_def (a int, b text, feeling mood, note text,
    //                       PRIMARY KEY (a, b));                          -- oid 16393
    //   CREATE TABLE t_full (id int, name varchar(20), val numeric(10,2));
    //   ALTER TABLE t_full REPLICA IDENTITY FULL;                         -- oid 16400
    //   CREATE TABLE t_toast (id int PRIMARY KEY, big text, n int);       -- oid 16403
    //   CREATE PUBLICATION capub FOR TABLE t_def, t_full, t_toast;
    //   SELECT pg_create_logical_replication_slot('cap', 'pgoutput');
    //
    // STREAM_1 statements (autocommit unless BEGIN/COMMIT shown), then
    //   SELECT lsn, xid, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes(
    //     'cap', NULL, NULL, 'proto_version', '1', 'publication_names', 'capub');
    //   732: INSERT INTO t_def VALUES (1, 'k1', 'happy', NULL);
    //   733: UPDATE t_def SET note = 'n2' WHERE a = 1;       -- U, no old tuple
    //   734: UPDATE t_def SET b = 'k2' WHERE a = 1;          -- U with 'K'
    //   735: BEGIN; INSERT INTO t_def VALUES (99, 'rolledback', 'sad', 'never');
    //        ROLLBACK;
    //        -- xid 735 is absent from the capture: pgoutput only emits
    //        -- committed transactions (checked by `stream_1_shape`).
    //   736: BEGIN; INSERT INTO t_full VALUES (7, 'seven', 1.50);
    //        UPDATE t_full SET val = 2.25 WHERE id = 7; COMMIT;  -- U with 'O'
    //   737: BEGIN; DELETE FROM t_def WHERE a = 1;            -- D with 'K'
    //        DELETE FROM t_full WHERE id = 7; COMMIT;         -- D with 'O'
    //   738: INSERT INTO t_toast VALUES (1, (SELECT string_agg(md5(random()::text), '')
    //        FROM generate_series(1, 400)), 1);               -- 12800 bytes, TOASTed
    //   739: UPDATE t_toast SET n = 2 WHERE id = 1;          -- big is 'u'
    //   740: TRUNCATE t_full, t_toast RESTART IDENTITY CASCADE;
    //        (TRUNCATE invalidates both relations, so their R messages are re-sent.)
    //
    // STREAM_2, after pg_replication_slot_advance('cap', pg_current_wal_lsn()):
    //   SELECT pg_replication_origin_create('upstream_a');
    //   SELECT pg_replication_origin_session_setup('upstream_a');
    //   742: BEGIN; SELECT pg_replication_origin_xact_setup('0/ABCDEF12', now());
    //        INSERT INTO t_full VALUES (8, 'eight', NULL); COMMIT;
    //   SELECT pg_replication_origin_session_reset();
    //   SELECT pg_logical_emit_message(false, 'ingest.test', 'non-tx payload');
    //   743: BEGIN; SELECT pg_logical_emit_message(true, 'ingest.tx', '\x00ff10'::bytea);
    //        INSERT INTO t_def VALUES (-5, 'bin', 'ok', 'x'); COMMIT;
    // captured with the extra options 'messages', 'true', 'binary', 'true'.
    const X732_BEGIN: &str = "42000000000192d1780003040caa8f65e9000002dc";
    const X732_TYPE_MOOD: &str = "59000040027075626c6963006d6f6f6400";
    const X732_REL_T_DEF: &str = "\
        52000040097075626c696300745f6465660064000401610000000017ffffffff01620000000019ffffffff00\
        6665656c696e670000004002ffffffff006e6f74650000000019ffffffff";
    const X732_INSERT: &str = "49000040094e000474000000013174000000026b31740000000568617070796e";
    const X732_COMMIT: &str = "4300000000000192d178000000000192d1a80003040caa8f65e9";
    const X733_BEGIN: &str = "42000000000192d2000003040caa8f68d7000002dd";
    const X733_UPDATE_NO_OLD: &str = "\
        55000040094e000474000000013174000000026b317400000005686170707974000000026e32";
    const X733_COMMIT: &str = "4300000000000192d200000000000192d2300003040caa8f68d7";
    const X734_BEGIN: &str = "42000000000192d2d00003040caa8f69a2000002de";
    const X734_UPDATE_OLD_KEY: &str = "\
        55000040094b000474000000013174000000026b316e6e4e000474000000013174000000026b327400000005\
        686170707974000000026e32";
    const X734_COMMIT: &str = "4300000000000192d2d0000000000192d3000003040caa8f69a2";
    const X736_BEGIN: &str = "42000000000192d4800003040caa8f6d85000002e0";
    const X736_REL_T_FULL: &str = "\
        52000040107075626c696300745f66756c6c006600030169640000000017ffffffff016e616d650000000413\
        000000180176616c00000006a4000a0006";
    const X736_INSERT: &str = "49000040104e00037400000001377400000005736576656e7400000004312e3530";
    const X736_UPDATE_OLD_FULL: &str = "\
        55000040104f00037400000001377400000005736576656e7400000004312e35304e00037400000001377400\
        000005736576656e7400000004322e3235";
    const X736_COMMIT: &str = "4300000000000192d480000000000192d4b00003040caa8f6d85";
    const X737_BEGIN: &str = "42000000000192d5480003040caa8f6f05000002e1";
    const X737_DELETE_OLD_KEY: &str = "44000040094b000474000000013174000000026b326e6e";
    const X737_DELETE_OLD_FULL: &str = "\
        44000040104f00037400000001377400000005736576656e7400000004322e3235";
    const X737_COMMIT: &str = "4300000000000192d548000000000192d5780003040caa8f6f05";
    const X738_BEGIN: &str = "420000000001930ca00003040caa8f765b000002e2";
    const X738_REL_T_TOAST: &str = "\
        52000040137075626c696300745f746f617374006400030169640000000017ffffffff006269670000000019\
        ffffffff006e0000000017ffffffff";
    const X738_INSERT_BIG: &str = "\
        49000040134e0003740000000131740000320061373230623366613437633639663662333832393463383936\
        3836356139313462343436306132393639666231373037356237383437373334346134316261316662336632\
        3037393264373365396464343432396631626332303162323830313131383737333165393363373133393666\
        3064356537653061306662646162326137636365336462303230643938656333343563353237316464373162\
        6463663737646332663030303834643661623836313565373732393832343536393233393137623938303337\
        3762306165383231383566623733393565383731656161366462386237373366363533393232316630326631\
        6461333339623365303465366630646339316161373834343239663938323566626232373138653830373137\
        6337353361323065613233373763333233303234653337323235393966376136656566336264653466393563\
        6632366132303631346262363430613339636231333465326533346338366162646264353166396437346639\
        3839373661373536396636633165376631633834336562323633663463363366653233643335666261626565\
        6131373461303733313638383738333161313162306633636431613736363361363637343630656233326562\
        6430353034643638353539616435366561343736343939396339326439336235306532373534363638306464\
        6663653164646365383061363663383939376162663033343261633965653761356134303337343830386638\
        3233653263616439656363646532323235373830623366383736343838643732616531326336333764663764\
        3964326234353436643630306333376534613234633132303137663166313937306362643437653030626439\
        6438323161343932653962316534353164396535353863336332653630383533356133303337653966376230\
        6231653333396166343635336639353634353963303861393834373161323865356663333365333632313832\
        3239373633373331363262356561373633386436623865646631306563376439396435373465366535383639\
        3362663161663831646464623633653437396561313264656136383132306331343066383132383837306532\
        6339316166323263356633636666633864636433633838373736353465306237636138643466636565343932\
        3665623735363931643136666535613236396631363839653639613666336431323264363363303936363038\
        3337613134383931363536303932643233343330393362653236376464366233653238646631643266643564\
        6338363938623835386238666137656138363739393531363361366162656565366639633135643434623838\
        6666306265303161326533323137626234646361333332373966653439393963346236313236643065303161\
        3730636364646234396365363063333263323131303737393033313835393466653261393935373038643434\
        3762313761313434353236353934343464343832326563303662393731663964346535383265653563623038\
        6330616561656661663134353864656630333932353134343335373664333933663762393764303435396136\
        3735353934323466643431346634653238373339393565396536303734653564306634326137396234386634\
        3130366635616534653738653063343430626633353430313062656137313936386630366263316166383130\
        3863633261356132363862613433646334653737306262656237633934663237333736343932363866326537\
        6365383666303837396263613765353461353136643131326566336633633463636564653739613565396339\
        6338316162646537306136646462666562303339616536346330643431636565393432643839393635643537\
        3431666664616666623632383661396237323335353761356562376436346236373865643566626562663534\
        6535353335623236343461633165373865306230376430363531353932643266633366626665333266376333\
        6338643864396638663638343765383937373837313764636563383736353663646665613436323933393739\
        3934383665323964626430616466376466376139656439633930663231666261383562656538343635323831\
        6333623730363332363836333135366634303630303634623962346337613833306261633264323032313761\
        6463386235626236303761326635343937333432383032383734303137626536326539353862353633343034\
        6330323962323630303432633832333138353332613665353862643366313431376435376230356530656362\
        6631613034306231373235383766653236643236356161666230386132396632666263633333386633653661\
        3562326433383534376536666635643832313161336365383163363538366532626235346537643332346461\
        3066343630666431626431653131636639373566633130383632636635303837333539366637313636613761\
        3664323566373062376436376239663164303966376630363765663237613838623565643439613166646137\
        3634386230316364316432326566323366643236666163653534616163653134323439623765663638353737\
        6466393561366338346436396531343336356230306635656233663764356134306666306535656337366137\
        3930643266393963666661323137613339383663613364663666623733663839643034653936336530376439\
        3034316263313432663162376636613032343065646330306139383530326234373435326263326261626436\
        3335376432663538363662396135313639616638356537336263356232353333316331313534396462323535\
        6638323261336233656434633733353931393836306233353662613338316237316239326366386430343533\
        3763323266373031646365613765643734643162306166316638383530333534333065333630653861663132\
        6638353037663062363565363734393862313139613963336531336638373066613632346533313232326632\
        3933636130633837303662353066313534616637336534386163323863393936653136643335363866326164\
        6236346630303861646262356631613837613233653564303861353539663738303331333661326361386339\
        3864646365313966383930306461663562656134383737656531636533396234356265613731326566643666\
        6539626665383334663032303364623733633639333063623738376236373032326139633934663862316439\
        6532383562393738393833653962613732623432356130366438303264343663656663306364323230386263\
        6566666236643231643165346262393339633139353665663365376464643332623138613037656130356166\
        3564643465666363363934623732623930316164636531666533653139663563383066666132383239613262\
        3563643833623033363764316331376132633733343832376230363233396633643536383962393861383031\
        3065386435383864373162623637316461343362303733613339313663333064383765313530366232623130\
        6633663864383736396430633166376664376364313938336665333566343638613035383537343136656639\
        6431343533626533323563396635663562633164643465643562616363303761636233323462313739353464\
        3665336364393731323333663436626334643833393436626233623365333832643031666431636530323164\
        3061383764386166363161373731623162323938393230326235663035396161633839343266663234326165\
        3332643033343830396330616533353437623634343166653632366630346464366466356262393362323866\
        6437373363363932396635656366626233346636613639626636646231616537353330353732306537663335\
        6231383637303931336433646132376533313938316336323764313439636534356238636434373030316437\
        3931623665326536646335336335323162323436343665333739343564396636383831616339316636613337\
        3766326265313464366236396638666261623766396363303364393230363735303034643233353634306530\
        3365396633346532336437613439626530336564636463346434396532393764646237386536363164386630\
        3633396239386563386664396230393462366231323566353661643066353162636632643634616631666338\
        3732306665616231656362336366343566343835643733636566313866303361623563643732656533346139\
        6237343864323037363036643164343534613363396539376161346137613237613038396565396139326466\
        6265636236333337386433383965616466326461396163333030646565663266363536636362653037643561\
        3934303063613365386134306432313762313630306132346232643737396232313930393034653333633038\
        6234333937616139376633313166333763306334393733376635623434626535613332393834616232666439\
        3962653330366665653366376232386331313630356134633239653132636638313963653031396131666136\
        6161363334626133353235323433626265636237386336636130633031303963613663643566333038343830\
        3761313363393136616261326265653464633533613033646164343362323532353665323931393930623734\
        6563613234653864313962303063376565393633653632363762616136353338376336306138663436323139\
        6336616234333733333738363839616665656665333937656535343635616531396536623465386537613933\
        6338303762303136363661323764326430626462376534393234346236353337313131626163333361626463\
        6338626335333837356233643730393238633437363861616333383936633066383763316537346361356533\
        6665653831666465666230633965396130343134313238333435663663366337633963386134663561636139\
        6437313165376137633738306233393561653465333731663739303835643764636162656532373966613066\
        3161343064656539653432386639323039343863313264336539376438393737363966653663346163373533\
        3839646539336631313531646237313430616364643864333462323465633966313166343461353066333538\
        6463333439663330613839623339306363623430383465633931366662613831343764313563663132336666\
        6133343137353633363263386139643034303166393964653337623765373139636238636338346162326631\
        6634653538646463643333393262636232383138653735373435343064383939636561656238323935306337\
        6139383433323230363462373839616566643163656137613833616163326435313138653536373166303263\
        6337616136636432653237613431666139383438313262323433363536326133383833633761336330333664\
        6431623764313636346664303462373361383665373661363738653832386466363232306232316235626463\
        3535646162303436333364653632643365386333333131656631613532353562666330643735356131313730\
        6131373534643334383336633336376333303937623531323566373238383038346164383363653065323337\
        3662356430653361333531363134376439346362343466646536346539656566646666386130353632313533\
        3835656465653735343938313934636665373536393563333936303337366365393332366231613565653230\
        3037656339306636623765363063623534636334353331396432666631646537306461383034393634363964\
        6539323762393137613234633061316433643161313737613166613632633362383765356665643833323365\
        3236636635313838363538366431616639613836623065636461376164346466313730363966336665323466\
        6333343936316661663761373733333739656535653433336338616264633437393662613131326332613066\
        3834663762316630383532613233346539383539346466353937373330623965306266663565656334306236\
        3735366635333537623639663064653162343939376334343666633633623965396135366135643966353432\
        6336613466623033326264336436633336666336643262323961613764326535313135363230363861653431\
        6330313435636163366633626166366561353833613437363564373262383664336566376361303632373363\
        3734653962643137343635393465346161353663613530363462643833633562313339353365373061656537\
        6234313430613930313637646561353932646637653538396664616166313735616264366639666633636634\
        6661633939386338636135386438623263316131333336333139353061336233646331336432336131313665\
        6262353363663635363532313366386466623961613036363635366534316262636639643639396336333033\
        6236313063336661633139623062393566346333326330356631663938336537316662646331323037373862\
        3666663963656563623037643164643134643137656538653133343637363937626434656363653033376566\
        3031366531366430333633386239633938323435646664613361386137323462626339613666633630616466\
        3730386461613533626138646539346133623963346534333965363431383631636432626632333161313761\
        3165633663383435646130653664303865303066376264303563373639386437623532636630336333653235\
        3862373737636162376663656361303933653336613138636633373530653030333364633861343632336563\
        3836613338666561376161643362393338326161353232313331316430343235623633316534346265346134\
        3231666334643361323338353437343637343831656632653539396537626436393232333865353061666538\
        3465393665663639396566656331343338626630623537356331626164336662383161643238373961623735\
        3837626335616336353032373161666161383834616666386336643565396361623033353433323662373563\
        3936343234393862393934656664623037323165633031366536306566333565303932366161656532393234\
        6438396563613466346138363661393632363966636439303731663134393430333631663930316164366534\
        3265306531336537363962303039313161663163663433373535656263383830626365386361323433323666\
        6464386636613463343337346133343837616130386535333763616635373863376133656339383933376432\
        6166636433333961393737393332303330376332343837313435393236613034356236626635643534383662\
        3434353230313831653635643462356438643433646362656465623464356166346364353237373733663261\
        6266656630373734616336656365383536393263356365303264643639393636653333396638333762396265\
        6330393133336161656262636462346138336338643635306135373433666466366661356230393866303335\
        3634643235376336666234306261343334623564306466326433376335623430633433643632306436663130\
        6138613561363037643566336665333434623935303530376131643161333837303164613238343331356439\
        6563346230623263323338393337396336316435333763366638373265656438316165343937333862323335\
        6130373231633561643132323264323832336337353165386462393434363132316637653732323731303132\
        6164666662303465313036386434393136643837373032383165613366353533383133306562393634353563\
        3835373532346665366632636562326538343234616232346662633637643038313836333838616131393932\
        6130373639653762373134356434306265623533353935396431326566613537306633393063636330613230\
        6666386637623934393138306435646537633161636263613832616565633163363730356437326134323163\
        6433306639643066643935666337663633643530346663653266396164386138323236363638613064323437\
        3661393235393633346264373836643766303933643338353233336664373935626537346263373431323637\
        6664636535383963363131323530393538616131343932663039613962393635343663356236636466323030\
        3862313766303135356137393534623137393633353238626530343361623137336364643730656434653864\
        3365643164356330396239393165633061663064346263373537333562363431393635316366633732326463\
        6630353330306666376666393035626239346130343463336336633034353465343737306335376134613637\
        3962376162346437643036346633303030333137663436623530343436373564633535613135636531383161\
        3733303562623231393966373863646566363234616630366230316264343339313164306565656630393862\
        3864333137353963663961316565663838613066373762633335363666613338626532663131316530323630\
        3033383964653664303137343563336430306332333435323338306431363732363037376338613866386233\
        3561623932333161316231616563363631396636636464386539613664666430633330306566613635353237\
        6566383963313164336539366235313036626338626265326462376363613839373332656262623536613965\
        3066623435373538353561373361333864653264393438653538363736343462393061323931656633366536\
        3532623733663030343231663937346436633933363435393464393765643337616361623266613436313666\
        3833393737383530346135336266353238323562323430313661376230326339383938633665663161633664\
        6535633834303039363331336534353665363863373661333432383439396561353235636330353432346232\
        6533303465313963363264323236383564306262306463663761626163323139383064386661666232313831\
        6234383736643766343135316233623236306562633632363138393331633334363436626339333431333130\
        6564313966363666646237616635336362636231643963666639613930633236316333613263333263616537\
        6463633439353765313437303934383032633833323031653539636134626662386238316664306434313763\
        3962326166383431333838623436336532303761653965343331353834656235323731656331393539383337\
        3235616462383836323333663832626338353363316465633937313861373666653964646633373735313330\
        3239383838653639346131306332663062666262656336363334633634323262613539333530626564396438\
        6131393433616635663736386235316230343733626432653662313638633663326363646237326463376463\
        3234333431313934643538386433656331653639386134366237343736333937346634623664333963663661\
        3564643634323265616333623466366235386435636439386239333738336234303134376165393739356630\
        3732363837643965646366643033666463316666303630353034316466346332613437646331313437666231\
        3162666431613161373238326335643633366335653761663732646536643431346438366631386463396361\
        6439396237626631383330313666623863613130653962303736343264363764393562333162326462633261\
        6633353132326431316639393437383033383537386265663835363839316239313566396463353765626430\
        3964383938633163386230323334653265336231636535383134336336333236393331633638616161306235\
        3063363264646164393731383431616431336565653130663534343831363437363235323131633564383435\
        3263303237323038343837643136666237303664653364663838343439646536353536643736656532353139\
        6463353535333764613764393830376234636166366632346364393133386264303261353461313962643664\
        3062396165363535363338636533303732356162313232326563646138376331363035313836613931346664\
        3338316534653761363438306463343232303962343839653665653163636134373737643466353861313261\
        6164366663363939323062653038636466613061646439646462346230333764343231656664313337306363\
        3036396534336636613839383133356164663232346338333464313862616564393034393238666536653763\
        3466386130323832633831656434666465346230393661613531333834353637363361613133646435306239\
        6330363236363232653937363363663734663633393734656431646466653231383265353163353264396465\
        3862373862346564363937633663613039653865383839633432363734393030383836343634646531326661\
        6436636437346538613730646136633636373339323236623136666539313636646633366235373336396537\
        3932343166323463336263353935313863343265636162643538343064653934316363353466636539613834\
        3263393736653139373162393632303930313733356433393166343439326262313439333932643965303236\
        6462323331333035373035626532653766323262656533643966643861616463373966323535653563303831\
        3763336232626634666235633232396166663734313631333630323931346134303732363564643834353734\
        3863636361306333663630363761313938633538303563323738313663663066646337336231313831303032\
        3564353766633236316638613137656465383939333037646337616236383836396630363139623630623832\
        3535646234353965656532363730656561313663316136633564393234313465333265613931616566346231\
        6465396539313732646634393337346639623561663766363038663837336364326233333361373539353832\
        3262656530333836663063303530663435633334346162333034366332346561333662373063343962383137\
        6363313438316432663364386535666262336261386637306234393266353136656539373439373534613236\
        3263336164343233353133313938306237323062616434333036303134656633396139326437656533336165\
        3761393339613834316437386162353933376637613333373364383463363361646430393963376461623666\
        3733663563613839323333343234376465313531363130613437323038366233616230366165636136393831\
        3431313463343935616634663230656634653633363465643739356431643432616565613634643764346362\
        6135393839326633626430623832656536376437623262613830653836303839303239663337643739346635\
        6661383962663934633235303932666465303532616133343338666530393663653536653164323034633936\
        6330663665313232373039303239376662313838666562613166613864623033356263643135336535306233\
        3532656238623265663763633035366665383836653330356531343339396638646530613631353737616265\
        6138333530626630666462326339636531363730393262626331356339323833636438663932353634653265\
        6434336463383364666633306465316133646465323939653262653435633964653331383736333464666234\
        3962653262366336376637333733656661373532333035393038313636643838616663643333336133333839\
        3432616330396634316236343966643763353331653064356265613661356238316365303437316363636134\
        3334303064366362366530623663333431363439643233386338666361326238383937393364633533323935\
        3136373861616632653866356633656663636134626162383236353838303339323563666562363938363563\
        6565653330353563393237343164643262363333386264303035666638393736356633663537376534613935\
        6166646638366164646336303463613436333162633031333932383036316439343235326131373562666163\
        3239373465363862663032663461636637366566646339653632373365663863636632393365313833346663\
        6161643836393439373531313336626631633866336565363265613831393932393436666131393330646637\
        3134633964373862626139353634376261656264343135663137643638663932356265333633363264343766\
        3064653262633139353831653439393533303934643637613366343263366235316338613939343064313162\
        3062656665613134366562313666326438366535383132386466346334373734303239383665353066623638\
        3839366238396331356237353633316133386634306363313637383032663633353235373036366231393234\
        3361663136346534393330336363633830663833386133643434366136396637646333636630373031323664\
        3634616436656166363738386162306539313136363439363331653864336539336438656463386231623366\
        6462383061346539373661613464316437653738633565343435616438636361636665386536613436616433\
        6138646136333666656139616266353361336266656566323361303664616561633361356233663566376466\
        6666633533316330616439383537393265333336353630663730363762626165386363623566663033633961\
        6335353735323134323930363331663962373430356334353266363038393437393034653463323039363132\
        3861356436313866376336393665636430383266373332643635663164326435643131396339373634343338\
        3530316239623339663361336565343066393466356239336161656465363232643564393438356564663763\
        3766386134326230616466313338333830616263643466306537373638643462333134333437313831633232\
        6430346538353262333837663662393534366235363530386630316132396266363663373834623638613961\
        6364626462306138363437343864613039636530626235383163363636653737353130626534643364666661\
        6235376431303932653838633865383339303130643638656665333731353164613534393036643861633462\
        6531626231626636373435366630316334646231303333346165343832666363633961626635323538353832\
        6231656438646466383237643230636434626162616665353138336163316237346232363331626639363037\
        3562393832386633303336663739363532623634666535373631393738303639613630623665353961323435\
        3138353934613565353435373339666661653161323537643233383936343433633338383238643337616461\
        3432613565616132383332316535656465343639373539316361663562656465383330323265356562393462\
        3534666539346261346165383139373138363563303539303438646533313764376362303836343666323533\
        3938366565376537383737383064636630663465373963303763613934613166373665393337336464373233\
        3938613961663634373532333364643062323933666462336235393166633166356532346261646533643336\
        3632323635336162663836363836656132303365326664333834663965303964333431356563343931646533\
        6363386631656430613332313238386133623937346461646332363633353562336131633636316162613662\
        6331633238373432313635373863363833653663313961333762636335396362653035643938633431613763\
        6530633838656634613331303631663934613363636261303832336139616665336263633865393031343232\
        3736333161623830653565373434333538626634383939623132363464373337363539643564313733396130\
        3635346236363338323338343863393965346332373030343637386563343430663932383563613737616532\
        6366383465303439343433346466393233353239636264346235343835626338663232643761343064643730\
        6530623562623139396532343134643635646566383264356662353539643765366637663065383138343434\
        3839346139663530613166306136366461346266356539343037376166323238333034613961326231623432\
        6231306533356465346233653430666538376630393337353330373838306464653165363935386532623632\
        6164666264333066366231656531626366366234303262303463313264333632326664316231343533623266\
        3136353630303661313565393762666361336363306366343461316562646339323732383634633262366630\
        3639373761623666373066386539383264666234363839326239666561626232363566376237396338373763\
        3366646636306464313632393130333631626538316266376337396364373236383164303561323266326131\
        6531643634336161646531616534326131303936366138356663656566376334646464656337376635666433\
        6533363331663664333563373462656161313265653731376537306433363562366632633066353063333930\
        3631636636643765356262363861303239663564366636373736383361333265313466616261353462316532\
        6666373761313838666364383761326361323032663038623238316661386530363139353863306264646136\
        3739343562333734633133353537323466653463633635646339393932376366356435623965353634663834\
        3461353765623432653362633163376339393330333637323733653334366534363235363534376634363635\
        3238643462353530643366643362393434356363376562396564386665396237303961633331343938326432\
        6430636564386233666362333639653966353236306134306233353366366665633838646138656665393034\
        3534666133623564653933303034306564386234666138323939336631366633636335316537633261396264\
        6632333439316166616638383462623237636330393838663435363865363361303537306466633931346566\
        3062626661346566616363363461666432646436333438663536623566346566633830323263353666633336\
        6463633635333837616231633066313062633737396234666332386365376638343665313935636230643765\
        6438643738393538363038656264356665663936633461343662643036396632636165633239643233363462\
        6563306666323862326338333038633334306463663334323365376633323336613064643063316334303934\
        3836393437623838336332356438643838646361353031393331613039643462336166373934623963336334\
        6331313730306663393366386266633139393430623462306238343661373662663432326434333539626462\
        6165396139393263343265343761363135336664383964656637623035633837616462333937313338643930\
        6361373739643235346230363634663331636333663965323530323564353461616461313330323464323533\
        3031366638363831633731336130636237316334316239373638623733333031326265616265306234383338\
        3237653032376537623961333161633734663232656132323266613433373030633366386231626337303938\
        3161616635396134646362663263616337363232363337333436376230303764623030343530346366376363\
        6530326633333833623739346134373537663663643234323134646636353636323163613838316361376536\
        6437653766343263333064376164383333383030356462313065306231333437346438376239306331613336\
        3233396466656264663034303565386633396334663365666463363865343565666533393038363036356330\
        6433336339633666333166356136633863386563653563346239366437643361353136623861323630363966\
        3035313263373239356630366132656466373638643565626364323939316361383765636434653438643133\
        3761333766623039633430303566376461393236396363306530653564373664373934346630626537303939\
        3362396232383065616466336463303463326362623364373932373237636366346365663965396431316664\
        3864343033633832346462663666333230343665393936643433343263373030306161323435346138383465\
        6336663137333962616233323962313639646535633839623665346563396163306137323839303632363163\
        6661373666363566353535303337303838323462663063383330323933303439663461313433313064613762\
        6536643833356634336665616338396438383762643862306138633839646137313162316533356465333263\
        6336343631303439356133383239363934646139653131313137303465616330646664323763363836386164\
        6630376130383231343666343966373130666135323336376631666230313936373462623432666631393230\
        6634663363323163323334633438623165376235616136616439343465636438363762346536643930633937\
        6463393530633736653562643937313737386362636566366432613135326661393239333066336437646466\
        3230316530343463353265363631303661663938363330643633333863326666663163336535396537656638\
        6264393438323665656366383834663234636365353231643135646261353833616661306330663634386661\
        6439623031393461383931636666656332306263303733323639613764653865366166353033313365616162\
        6563363566396562666364623364383461376561356435633833353734326133373632383266373233643330\
        3961323161383330353536366265353466623166396565626635383166346632356131303733663266343336\
        6234643361393935343437386534383933323966646137313365333234633533656634393632396561313462\
        3164623837343032396662663837366166363866356234333336343065366465313234363065623333393261\
        6134343732333564383037386634373766643930616366666664363432633063333365303239373565636563\
        6533313037313931343430303764613537356464386139643737613334626531623762383832313934613534\
        6139656463383930346534386339393735303631346231333431646538383261666137323236336135323831\
        3834393535373466663533353163376361383436336638386334333631353563356433376333613130393737\
        3966666136353231613534613239656330336330393862316132623566636362613731333237353130396438\
        346532363733666436366463613066740000000131";
    const X738_COMMIT: &str = "43000000000001930ca00000000001930cd00003040caa8f765b";
    const X739_BEGIN: &str = "420000000001930d680003040caa8f77d5000002e3";
    const X739_UPDATE_UNCHANGED_TOAST: &str = "55000040134e000374000000013175740000000132";
    const X739_COMMIT: &str = "43000000000001930d680000000001930d980003040caa8f77d5";
    const X740_BEGIN: &str = "420000000001931ba00003040caa8f7bf4000002e4";
    const X740_TRUNCATE: &str = "5400000002030000401000004013";
    const X740_COMMIT: &str = "43000000000001931ba00000000001931d480003040caa8f7bf4";
    const STREAM_1: &[(&str, u32, &str)] = &[
        ("0/192D090", 732, X732_BEGIN),
        ("0/192D090", 732, X732_TYPE_MOOD),
        ("0/192D090", 732, X732_REL_T_DEF),
        ("0/192D090", 732, X732_INSERT),
        ("0/192D1A8", 732, X732_COMMIT),
        ("0/192D1A8", 733, X733_BEGIN),
        ("0/192D1A8", 733, X733_UPDATE_NO_OLD),
        ("0/192D230", 733, X733_COMMIT),
        ("0/192D230", 734, X734_BEGIN),
        ("0/192D230", 734, X734_UPDATE_OLD_KEY),
        ("0/192D300", 734, X734_COMMIT),
        ("0/192D3C8", 736, X736_BEGIN),
        ("0/192D3C8", 736, X736_REL_T_FULL),
        ("0/192D3C8", 736, X736_INSERT),
        ("0/192D410", 736, X736_UPDATE_OLD_FULL),
        ("0/192D4B0", 736, X736_COMMIT),
        ("0/192D4B0", 737, X737_BEGIN),
        ("0/192D4B0", 737, X737_DELETE_OLD_KEY),
        ("0/192D4F8", 737, X737_DELETE_OLD_FULL),
        ("0/192D578", 737, X737_COMMIT),
        ("0/1930BA8", 738, X738_BEGIN),
        ("0/1930BA8", 738, X738_REL_T_TOAST),
        ("0/1930BA8", 738, X738_INSERT_BIG),
        ("0/1930CD0", 738, X738_COMMIT),
        ("0/1930D08", 739, X739_BEGIN),
        ("0/1930D08", 739, X739_UPDATE_UNCHANGED_TOAST),
        ("0/1930D98", 739, X739_COMMIT),
        ("0/1931B70", 740, X740_BEGIN),
        ("0/1931B70", 740, X736_REL_T_FULL),
        ("0/1931B70", 740, X738_REL_T_TOAST),
        ("0/1931B70", 740, X740_TRUNCATE),
        ("0/1931D48", 740, X740_COMMIT),
    ];
    const X742_BEGIN: &str = "4200000000019320480003040cab493b21000002e6";
    const X742_ORIGIN: &str = "4f00000000abcdef12757073747265616d5f6100";
    const X742_INSERT_BINARY: &str = "49000040104e0003620000000400000008620000000565696768746e";
    const X742_COMMIT: &str = "4300000000000193204800000000019320900003040cab493b21";
    const NONTX_MESSAGE: &str = "\
        4d0000000000019320e0696e676573742e74657374000000000e6e6f6e2d7478207061796c6f6164";
    const X743_BEGIN: &str = "4200000000019321a80003040cab494325000002e7";
    const X743_MESSAGE: &str = "4d010000000001932120696e676573742e7478000000000300ff10";
    const X743_INSERT_BINARY: &str = "\
        49000040094e00046200000004fffffffb620000000362696e62000000026f6b620000000178";
    const X743_COMMIT: &str = "430000000000019321a800000000019321d80003040cab494325";
    const STREAM_2: &[(&str, u32, &str)] = &[
        ("0/1931FE8", 742, X742_BEGIN),
        ("0/1931FE8", 742, X742_ORIGIN),
        ("0/1931FE8", 742, X736_REL_T_FULL),
        ("0/1931FE8", 742, X742_INSERT_BINARY),
        ("0/1932090", 742, X742_COMMIT),
        ("0/19320E0", 0, NONTX_MESSAGE),
        ("0/1932120", 743, X743_BEGIN),
        ("0/1932120", 743, X743_MESSAGE),
        ("0/1932120", 743, X732_TYPE_MOOD),
        ("0/1932120", 743, X732_REL_T_DEF),
        ("0/1932120", 743, X743_INSERT_BINARY),
        ("0/19321D8", 743, X743_COMMIT),
    ];

    const T_DEF: u32 = 16393;
    const T_FULL: u32 = 16400;
    const T_TOAST: u32 = 16403;
    const MOOD: u32 = 16386;
    const INT4: u32 = 23;
    const TEXT: u32 = 25;
    const VARCHAR: u32 = 1043;
    const NUMERIC: u32 = 1700;

    fn hex(s: &str) -> Vec<u8> {
        assert_eq!(s.len() % 2, 0, "odd hex length");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    fn lsn(s: &str) -> Lsn {
        let (hi, lo) = s.split_once('/').expect("lsn has '/'");
        (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap()
    }

    fn all_fixtures() -> impl Iterator<Item = &'static str> {
        STREAM_1.iter().chain(STREAM_2).map(|&(_, _, h)| h)
    }

    fn t(s: &str) -> Datum<'_> {
        Datum::Text(s.as_bytes())
    }

    fn col(key: bool, name: &str, type_oid: u32, type_mod: i32) -> RelColumn {
        RelColumn {
            key,
            name: name.to_string(),
            type_oid,
            type_mod,
        }
    }

    /// Checks transaction framing for a captured stream and returns, per
    /// transaction, its xid and the tags of its messages ("BRIC").
    fn frame(stream: &[(&str, u32, &str)]) -> Vec<(u32, String)> {
        let mut out: Vec<(u32, String)> = Vec::new();
        let mut open: Option<(Lsn, i64, u32)> = None;
        for &(row_lsn, row_xid, h) in stream {
            let bytes = hex(h);
            let m = parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
            match m {
                Message::Begin {
                    final_lsn,
                    commit_ts,
                    xid,
                } => {
                    assert!(open.is_none(), "nested Begin");
                    assert_eq!(xid, row_xid);
                    open = Some((final_lsn, commit_ts, xid));
                    out.push((xid, String::new()));
                }
                Message::Commit {
                    flags,
                    commit_lsn,
                    end_lsn,
                    commit_ts,
                } => {
                    let (final_lsn, begin_ts, _) = open.take().expect("Commit without Begin");
                    assert_eq!(flags, 0);
                    assert_eq!(commit_lsn, final_lsn);
                    assert_eq!(commit_ts, begin_ts);
                    assert!(end_lsn > commit_lsn);
                    // The row's lsn column for a commit is the commit's end LSN.
                    assert_eq!(end_lsn, lsn(row_lsn));
                }
                Message::Logical {
                    transactional: false,
                    ..
                } => {
                    assert!(open.is_none());
                    assert_eq!(row_xid, 0);
                    out.push((0, String::new()));
                }
                _ => assert!(open.is_some(), "change outside a transaction"),
            }
            out.last_mut()
                .expect("a transaction")
                .1
                .push(char::from(m.tag()));
        }
        assert!(open.is_none(), "unterminated transaction");
        out
    }

    #[test]
    fn stream_1_shape() {
        let txs = frame(STREAM_1);
        let expect = [
            (732, "BYRIC"),
            (733, "BUC"),
            (734, "BUC"),
            (736, "BRIUC"),
            (737, "BDDC"),
            (738, "BRIC"),
            (739, "BUC"),
            (740, "BRRTC"),
        ];
        let got: Vec<(u32, &str)> = txs.iter().map(|(x, s)| (*x, s.as_str())).collect();
        assert_eq!(got, expect);
        // The rolled-back transaction (xid 735, inserting a = 99, b = 'rolledback')
        // left no trace: no xid, no value.
        assert!(STREAM_1.iter().all(|&(_, xid, _)| xid != 735));
        for (_, _, h) in STREAM_1 {
            let bytes = hex(h);
            if let Message::Insert { new, .. } = parse(&bytes).unwrap() {
                assert!(!new.contains(&t("rolledback")) && !new.contains(&t("99")));
            }
        }
    }

    #[test]
    fn stream_2_shape() {
        let txs = frame(STREAM_2);
        let got: Vec<(u32, &str)> = txs.iter().map(|(x, s)| (*x, s.as_str())).collect();
        assert_eq!(got, [(742, "BORIC"), (0, "M"), (743, "BMYRIC")]);
    }

    #[test]
    fn begin_and_commit() {
        let b = hex(X732_BEGIN);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Begin {
                final_lsn: 0x0192_d178,
                commit_ts: 0x0003_040c_aa8f_65e9,
                xid: 732
            }
        );
        let c = hex(X732_COMMIT);
        assert_eq!(
            parse(&c).unwrap(),
            Message::Commit {
                flags: 0,
                commit_lsn: 0x0192_d178,
                end_lsn: 0x0192_d1a8,
                commit_ts: 0x0003_040c_aa8f_65e9
            }
        );
        // Microseconds since 2000-01-01: somewhere between 2020 and 2100.
        let unix_secs = (0x0003_040c_aa8f_65e9 + PG_EPOCH_UNIX_MICROS) / 1_000_000;
        assert!((1_577_836_800..4_102_444_800).contains(&unix_secs));
    }

    #[test]
    fn type_message_for_enum() {
        let b = hex(X732_TYPE_MOOD);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Type {
                oid: MOOD,
                namespace: "public".into(),
                name: "mood".into()
            }
        );
    }

    #[test]
    fn relation_default_identity_composite_key() {
        let b = hex(X732_REL_T_DEF);
        let Message::Relation(r) = parse(&b).unwrap() else {
            panic!("not a relation")
        };
        assert_eq!(r.oid, T_DEF);
        assert_eq!(r.namespace, "public");
        assert_eq!(r.name, "t_def");
        assert_eq!(r.replica_identity, b'd');
        assert_eq!(
            r.columns,
            [
                col(true, "a", INT4, -1),
                col(true, "b", TEXT, -1),
                col(false, "feeling", MOOD, -1),
                col(false, "note", TEXT, -1),
            ]
        );
    }

    #[test]
    fn relation_full_identity_with_typmods() {
        let b = hex(X736_REL_T_FULL);
        let Message::Relation(r) = parse(&b).unwrap() else {
            panic!("not a relation")
        };
        assert_eq!((r.oid, r.name.as_str()), (T_FULL, "t_full"));
        assert_eq!(r.replica_identity, b'f');
        // Under FULL every column is flagged as key. varchar(20) has typmod
        // 20 + 4; numeric(10,2) has ((10 << 16) | 2) + 4.
        assert_eq!(
            r.columns,
            [
                col(true, "id", INT4, -1),
                col(true, "name", VARCHAR, 24),
                col(true, "val", NUMERIC, ((10 << 16) | 2) + 4),
            ]
        );
    }

    #[test]
    fn relation_toast_table() {
        let b = hex(X738_REL_T_TOAST);
        let Message::Relation(r) = parse(&b).unwrap() else {
            panic!("not a relation")
        };
        assert_eq!((r.oid, r.replica_identity), (T_TOAST, b'd'));
        assert_eq!(
            r.columns,
            [
                col(true, "id", INT4, -1),
                col(false, "big", TEXT, -1),
                col(false, "n", INT4, -1),
            ]
        );
    }

    #[test]
    fn insert_with_enum_and_null() {
        let b = hex(X732_INSERT);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Insert {
                rel: T_DEF,
                new: vec![t("1"), t("k1"), t("happy"), Datum::Null]
            }
        );
        let b = hex(X736_INSERT);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Insert {
                rel: T_FULL,
                new: vec![t("7"), t("seven"), t("1.50")]
            }
        );
    }

    #[test]
    fn update_without_old_tuple() {
        let b = hex(X733_UPDATE_NO_OLD);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Update {
                rel: T_DEF,
                old: None,
                new: vec![t("1"), t("k1"), t("happy"), t("n2")]
            }
        );
    }

    #[test]
    fn update_with_old_key() {
        let b = hex(X734_UPDATE_OLD_KEY);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Update {
                rel: T_DEF,
                // Only the key columns of the old row; the rest are 'n'.
                old: Some((
                    OldKind::Key,
                    vec![t("1"), t("k1"), Datum::Null, Datum::Null]
                )),
                new: vec![t("1"), t("k2"), t("happy"), t("n2")]
            }
        );
    }

    #[test]
    fn update_with_old_full_row() {
        let b = hex(X736_UPDATE_OLD_FULL);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Update {
                rel: T_FULL,
                old: Some((OldKind::Full, vec![t("7"), t("seven"), t("1.50")])),
                new: vec![t("7"), t("seven"), t("2.25")]
            }
        );
    }

    #[test]
    fn delete_with_old_key_and_full_row() {
        let b = hex(X737_DELETE_OLD_KEY);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Delete {
                rel: T_DEF,
                old: (
                    OldKind::Key,
                    vec![t("1"), t("k2"), Datum::Null, Datum::Null]
                )
            }
        );
        let b = hex(X737_DELETE_OLD_FULL);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Delete {
                rel: T_FULL,
                old: (OldKind::Full, vec![t("7"), t("seven"), t("2.25")])
            }
        );
    }

    #[test]
    fn insert_of_large_toasted_value() {
        let b = hex(X738_INSERT_BIG);
        let Message::Insert { rel, new } = parse(&b).unwrap() else {
            panic!("not an insert")
        };
        assert_eq!(rel, T_TOAST);
        assert_eq!(new.len(), 3);
        assert_eq!((new[0], new[2]), (t("1"), t("1")));
        let Datum::Text(big) = new[1] else {
            panic!("big is not text")
        };
        assert_eq!(big.len(), 400 * 32);
        assert!(big.iter().all(u8::is_ascii_hexdigit));
        // Borrowed from the input, not copied.
        assert!(b.as_ptr_range().contains(&big.as_ptr()));
    }

    #[test]
    fn update_with_unchanged_toast_value() {
        let b = hex(X739_UPDATE_UNCHANGED_TOAST);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Update {
                rel: T_TOAST,
                old: None,
                new: vec![t("1"), Datum::Unchanged, t("2")]
            }
        );
        assert_eq!(Datum::Unchanged.bytes(), None);
    }

    #[test]
    fn truncate_of_two_tables() {
        let b = hex(X740_TRUNCATE);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Truncate {
                options: 1 | 2, // CASCADE | RESTART IDENTITY
                rels: vec![T_FULL, T_TOAST]
            }
        );
    }

    #[test]
    fn origin() {
        let b = hex(X742_ORIGIN);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Origin {
                lsn: lsn("0/ABCDEF12"),
                name: "upstream_a"
            }
        );
    }

    #[test]
    fn logical_decoding_messages() {
        let b = hex(NONTX_MESSAGE);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Logical {
                transactional: false,
                lsn: lsn("0/19320E0"),
                prefix: "ingest.test",
                content: b"non-tx payload"
            }
        );
        let b = hex(X743_MESSAGE);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Logical {
                transactional: true,
                lsn: lsn("0/1932120"),
                prefix: "ingest.tx",
                content: &[0x00, 0xff, 0x10]
            }
        );
    }

    #[test]
    fn binary_format_values() {
        let b = hex(X742_INSERT_BINARY);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Insert {
                rel: T_FULL,
                new: vec![
                    Datum::Binary(&8i32.to_be_bytes()),
                    Datum::Binary(b"eight"),
                    Datum::Null
                ]
            }
        );
        let b = hex(X743_INSERT_BINARY);
        assert_eq!(
            parse(&b).unwrap(),
            Message::Insert {
                rel: T_DEF,
                new: vec![
                    Datum::Binary(&(-5i32).to_be_bytes()),
                    Datum::Binary(b"bin"),
                    Datum::Binary(b"ok"), // enum_send sends the label
                    Datum::Binary(b"x"),
                ]
            }
        );
    }

    // ---- errors ----

    fn err(bytes: &[u8]) -> DecodeError {
        match parse(bytes) {
            Ok(m) => panic!("expected an error, decoded {m:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn every_proper_prefix_is_a_truncation_error() {
        for h in all_fixtures() {
            let full = hex(h);
            for cut in 0..full.len() {
                let e = err(&full[..cut]);
                assert!(e.offset <= cut, "{e} (cut at {cut})");
                assert!(e.message.contains("truncated"), "{e} (cut at {cut})");
            }
        }
    }

    #[test]
    fn truncation_offsets() {
        let begin = hex(X732_BEGIN);
        let e = err(&begin[..5]);
        assert_eq!(e.offset, 1);
        assert_eq!(
            e.message,
            "Begin ('B'): truncated: expected 8 byte(s) of final LSN, but only 4 remain"
        );
        assert_eq!(
            e.to_string(),
            "pgoutput: Begin ('B'): truncated: expected 8 byte(s) of final LSN, \
             but only 4 remain at byte 1 of message starting 4200000000"
        );
        let e = err(&begin[..20]);
        assert_eq!(e.offset, 17);
        assert!(e.message.contains("xid"), "{e}");

        // Relation: tag, oid (1..5), "public\0" (5..12), "t_def\0" from 12.
        let rel = hex(X732_REL_T_DEF);
        let e = err(&rel[..15]);
        assert_eq!(e.offset, 12);
        assert!(e.message.starts_with("Relation ('R'): truncated"), "{e}");
        assert!(e.message.contains("relation name"), "{e}");

        // Insert: tag, oid (1..5), 'N' (5), ncols (6..8), then column 1:
        // 't' (8), len (9..13), "1" (13); column 2: 't' (14), len (15..19),
        // "k1" (19..21).
        let ins = hex(X732_INSERT);
        let e = err(&ins[..16]);
        assert_eq!(e.offset, 15);
        assert!(
            e.message.contains("length of new tuple column 2 of 4"),
            "{e}"
        );
        let e = err(&ins[..20]);
        assert_eq!(e.offset, 19);
        assert!(e
            .message
            .contains("expected 2 byte(s) of new tuple column 2 of 4 value"));
        assert!(e.to_string().ends_with("49000040094e00047400000001317400"));

        // Update with 'K': tag, oid, 'K' (5), old tuple (6..23), 'N' at 23.
        // Cut right after the old key tuple.
        let upd = hex(X734_UPDATE_OLD_KEY);
        assert_eq!(upd[23], b'N');
        let e = err(&upd[..23]);
        assert_eq!(e.offset, 23);
        assert!(e.message.contains("new tuple marker 'N'"), "{e}");

        let e = err(&[]);
        assert_eq!(e.offset, 0);
        assert!(e.to_string().ends_with("starting (empty)"), "{e}");
    }

    #[test]
    fn unknown_tags() {
        let e = err(b"Z\x00\x00");
        assert_eq!(e.offset, 0);
        assert!(e.message.contains("unknown message tag 'Z' (0x5a)"), "{e}");
        let e = err(&[0x00]);
        assert!(e.message.contains("unknown message tag 0x00"), "{e}");
        // Protocol 2 stream start: recognised, but rejected.
        let e = err(b"S\x00\x00\x02\xdc\x01");
        assert_eq!(e.offset, 0);
        assert!(e.message.starts_with("Stream Start ('S')"), "{e}");
        assert!(e.message.contains("proto_version >= 2"), "{e}");
    }

    fn patched(h: &str, at: usize, byte: u8) -> Vec<u8> {
        let mut b = hex(h);
        b[at] = byte;
        b
    }

    #[test]
    fn unknown_tuple_kind() {
        let e = err(&patched(X732_INSERT, 14, b'x'));
        assert_eq!(e.offset, 14);
        assert!(
            e.message
                .contains("unknown kind 'x' (0x78) for new tuple column 2 of 4"),
            "{e}"
        );
        // Old tuple column 3 of the 'K' update is 'n' at byte 21.
        let upd = hex(X734_UPDATE_OLD_KEY);
        assert_eq!(upd[21], b'n');
        let e = err(&patched(X734_UPDATE_OLD_KEY, 21, b'?'));
        assert_eq!(e.offset, 21);
        assert!(e.message.contains("old key tuple column 3 of 4"), "{e}");
    }

    #[test]
    fn bad_tuple_markers() {
        let e = err(&patched(X733_UPDATE_NO_OLD, 5, b'X'));
        assert_eq!(e.offset, 5);
        assert!(e
            .message
            .contains("expected tuple marker 'K', 'O' or 'N', found 'X'"));
        let e = err(&patched(X732_INSERT, 5, b'K'));
        assert_eq!(e.offset, 5);
        assert!(e
            .message
            .contains("expected new tuple marker 'N' (0x4e), found 'K'"));
        let e = err(&patched(X737_DELETE_OLD_KEY, 5, b'N'));
        assert_eq!(e.offset, 5);
        assert!(e
            .message
            .starts_with("Delete ('D'): expected tuple marker 'K' or 'O'"));
    }

    #[test]
    fn trailing_bytes() {
        let mut b = hex(X740_TRUNCATE);
        let len = b.len();
        b.extend_from_slice(&[0, 0]);
        let e = err(&b);
        assert_eq!(e.offset, len);
        assert!(e
            .message
            .starts_with("Truncate ('T'): 2 unexpected trailing"));
    }

    #[test]
    fn invalid_utf8_in_names() {
        // "t_def" starts at byte 12; break its '_'.
        let e = err(&patched(X732_REL_T_DEF, 13, 0xff));
        assert_eq!(e.offset, 13);
        assert!(e
            .message
            .contains("invalid UTF-8 in relation name (string starts at byte 12)"));
        let e = err(&patched(X742_ORIGIN, 9, 0xc3));
        assert_eq!(e.offset, 9);
        assert!(e
            .message
            .starts_with("Origin ('O'): invalid UTF-8 in origin name"));
    }

    #[test]
    fn bad_lengths_and_settings() {
        // Length of column 1 of X732_INSERT (bytes 9..13) set to -1.
        let mut b = hex(X732_INSERT);
        b[9..13].copy_from_slice(&(-1i32).to_be_bytes());
        let e = err(&b);
        assert_eq!(e.offset, 9);
        assert!(e
            .message
            .contains("length of new tuple column 1 of 4 is negative (-1)"));
        // Length far beyond the message.
        b[9..13].copy_from_slice(&i32::MAX.to_be_bytes());
        let e = err(&b);
        assert_eq!(e.offset, 13);
        assert!(e.message.contains("truncated: expected 2147483647 byte(s)"));
        // Replica identity byte of t_def ("t_def\0" ends at 18).
        let e = err(&patched(X732_REL_T_DEF, 18, b'q'));
        assert_eq!(e.offset, 18);
        assert!(e.message.contains("unknown replica identity setting 'q'"));
        // Huge counts must not allocate up front or panic.
        let e = err(b"T\xff\xff\xff\xff\x00");
        assert_eq!(e.offset, 6);
        let e = err(b"I\x00\x00\x40\x09N\xff\xff");
        assert_eq!(e.offset, 8);
    }

    #[test]
    fn mutated_fixtures_never_panic() {
        for h in all_fixtures().filter(|h| h.len() < 400) {
            let orig = hex(h);
            for at in 0..orig.len() {
                for v in [0x00, 0x01, 0x7f, 0x80, 0xff, b'n', b'u', b't', b'N', b'K'] {
                    let mut b = orig.clone();
                    b[at] = v;
                    if let Err(e) = parse(&b) {
                        assert!(e.offset <= b.len(), "{e}");
                    }
                }
            }
        }
    }
}
