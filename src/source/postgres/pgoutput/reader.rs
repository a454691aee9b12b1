//! A bounds-checked cursor over one `pgoutput` message: every read names
//! what it expected and where it stopped.

use std::fmt;

use super::*;

/// Formats a byte as `'x' (0x78)` when printable, else `0x07`.
pub(super) struct ShowByte(pub(super) u8);

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
pub(super) struct Reader<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    /// Message kind and tag, prefixed to every error.
    pub(super) ctx: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn error(&self, offset: usize, detail: impl fmt::Display) -> DecodeError {
        DecodeError::new(self.data, offset, format!("{}: {detail}", self.ctx))
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(super) fn bytes(
        &mut self,
        n: usize,
        what: impl fmt::Display,
    ) -> Result<&'a [u8], DecodeError> {
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

    pub(super) fn array<const N: usize>(
        &mut self,
        what: impl fmt::Display,
    ) -> Result<[u8; N], DecodeError> {
        let start = self.pos;
        let s = self.bytes(N, &what)?;
        <[u8; N]>::try_from(s).map_err(|_| self.error(start, format_args!("bad width of {what}")))
    }

    pub(super) fn u8(&mut self, what: impl fmt::Display) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    pub(super) fn u16(&mut self, what: impl fmt::Display) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(super) fn u32(&mut self, what: impl fmt::Display) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(super) fn i32(&mut self, what: impl fmt::Display) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub(super) fn u64(&mut self, what: impl fmt::Display) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    pub(super) fn i64(&mut self, what: impl fmt::Display) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// An `Int32` byte count, which must not be negative.
    pub(super) fn len(&mut self, what: impl fmt::Display) -> Result<usize, DecodeError> {
        let start = self.pos;
        let n = self.i32(&what)?;
        usize::try_from(n).map_err(|_| self.error(start, format_args!("{what} is negative ({n})")))
    }

    /// A byte that must equal `want`.
    pub(super) fn expect_byte(&mut self, want: u8, what: &str) -> Result<(), DecodeError> {
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
    pub(super) fn cstr(&mut self, what: impl fmt::Display) -> Result<&'a str, DecodeError> {
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
    pub(super) fn tuple(&mut self, which: &str) -> Result<Vec<Datum<'a>>, DecodeError> {
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

    pub(super) fn relation(&mut self) -> Result<Relation, DecodeError> {
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

    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.error(
                self.pos,
                format_args!("{n} unexpected trailing byte(s) after the end of the message"),
            )),
        }
    }
}
