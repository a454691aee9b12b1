//! COPY's text format, one line into fields (pure).

/// Where one field of a COPY text line is: as it came in the line (no
/// escapes: most fields, passed on without a copy) or unescaped into the
/// side buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyField {
    Null,
    Line(std::ops::Range<usize>),
    Buf(std::ops::Range<usize>),
}

impl CopyField {
    pub fn get<'a>(&self, line: &'a [u8], buf: &'a [u8]) -> Option<&'a [u8]> {
        match self {
            CopyField::Null => None,
            CopyField::Line(r) => Some(&line[r.clone()]),
            CopyField::Buf(r) => Some(&buf[r.clone()]),
        }
    }
}

/// Splits one line of COPY text format (without its newline) into fields:
/// `\N` is NULL, backslash escapes are decoded into `buf`. Both vectors are
/// reused from line to line.
pub fn parse_copy_text(
    line: &[u8],
    buf: &mut Vec<u8>,
    out: &mut Vec<CopyField>,
) -> Result<(), String> {
    out.clear();
    buf.clear();
    let mut start = 0;
    loop {
        let end = line[start..]
            .iter()
            .position(|&b| b == b'\t')
            .map_or(line.len(), |p| start + p);
        let field = &line[start..end];
        if field == b"\\N" {
            out.push(CopyField::Null);
        } else if !field.contains(&b'\\') {
            out.push(CopyField::Line(start..end));
        } else {
            let from = buf.len();
            unescape(field, buf).map_err(|m| format!("field {}: {m}", out.len() + 1))?;
            out.push(CopyField::Buf(from..buf.len()));
        }
        if end == line.len() {
            return Ok(());
        }
        start = end + 1;
    }
}

/// Decodes COPY text escapes of one field, appending to `v`.
fn unescape(field: &[u8], v: &mut Vec<u8>) -> Result<(), String> {
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        if b != b'\\' {
            v.push(b);
            i += 1;
            continue;
        }
        let Some(&e) = field.get(i + 1) else {
            return Err("ends in a lone backslash".into());
        };
        i += 2;
        match e {
            b'b' => v.push(8),
            b'f' => v.push(12),
            b'n' => v.push(b'\n'),
            b'r' => v.push(b'\r'),
            b't' => v.push(b'\t'),
            b'v' => v.push(11),
            b'0'..=b'7' => {
                let mut n = u32::from(e - b'0');
                let mut k = 0;
                while k < 2 && matches!(field.get(i), Some(b'0'..=b'7')) {
                    n = n * 8 + u32::from(field[i] - b'0');
                    i += 1;
                    k += 1;
                }
                v.push(n as u8);
            }
            b'x' => {
                let mut n = 0u32;
                let mut k = 0;
                while k < 2 && field.get(i).is_some_and(u8::is_ascii_hexdigit) {
                    n = n * 16 + (field[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    k += 1;
                }
                v.push(n as u8);
            }
            other => v.push(other),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_fields() {
        let (mut buf, mut out) = (vec![], vec![]);
        let line = b"1\t\\N\ta\\tb\\\\c\\nd\t\t\\x41\\101\tlast";
        parse_copy_text(line, &mut buf, &mut out).unwrap();
        let got: Vec<Option<&[u8]>> = out.iter().map(|f| f.get(line, &buf)).collect();
        assert_eq!(
            got,
            vec![
                Some(&b"1"[..]),
                None,
                Some(&b"a\tb\\c\nd"[..]),
                Some(&b""[..]),
                Some(&b"AA"[..]),
                Some(&b"last"[..]),
            ]
        );
        // Fields without escapes are not copied.
        assert!(matches!(out[0], CopyField::Line(_)));
        assert!(matches!(out[2], CopyField::Buf(_)));
        assert!(parse_copy_text(b"a\\", &mut buf, &mut out)
            .unwrap_err()
            .contains("field 1"));
        parse_copy_text(b"", &mut buf, &mut out).unwrap();
        assert_eq!(out, vec![CopyField::Line(0..0)]);
    }
}
