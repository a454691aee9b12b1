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

mod reader;

use reader::{Reader, ShowByte};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

#[cfg(test)]
mod tests;
