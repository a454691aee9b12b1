//! The line format of a table file: operation codes and quoted values.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    pub(super) fn code(self) -> &'static [u8] {
        match self {
            Op::Insert => b"\"I\"",
            Op::Update => b"\"U\"",
            Op::Delete => b"\"D\"",
        }
    }
}

/// Appends the decimal digits of `n` (no allocation, unlike `to_string`).
pub fn push_decimal(line: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    line.extend_from_slice(&digits[i..]);
}

/// Appends `v` to `line` as a quoted CSV field.
pub fn push_quoted(line: &mut Vec<u8>, v: &[u8]) {
    line.push(b'"');
    let mut rest = v;
    while let Some(p) = rest.iter().position(|&b| b == b'"') {
        line.extend_from_slice(&rest[..=p]);
        line.push(b'"');
        rest = &rest[p + 1..];
    }
    line.extend_from_slice(rest);
    line.push(b'"');
}
