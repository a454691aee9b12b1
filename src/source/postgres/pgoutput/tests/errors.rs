//! Malformed, truncated and mutated messages: an error naming the tag,
//! what was expected and the offset, never a panic.

use super::*;

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
    let begin = hex(fx("X732_BEGIN"));
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
    let rel = hex(fx("X732_REL_T_DEF"));
    let e = err(&rel[..15]);
    assert_eq!(e.offset, 12);
    assert!(e.message.starts_with("Relation ('R'): truncated"), "{e}");
    assert!(e.message.contains("relation name"), "{e}");

    // Insert: tag, oid (1..5), 'N' (5), ncols (6..8), then column 1:
    // 't' (8), len (9..13), "1" (13); column 2: 't' (14), len (15..19),
    // "k1" (19..21).
    let ins = hex(fx("X732_INSERT"));
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
    let upd = hex(fx("X734_UPDATE_OLD_KEY"));
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
    let e = err(&patched(fx("X732_INSERT"), 14, b'x'));
    assert_eq!(e.offset, 14);
    assert!(
        e.message
            .contains("unknown kind 'x' (0x78) for new tuple column 2 of 4"),
        "{e}"
    );
    // Old tuple column 3 of the 'K' update is 'n' at byte 21.
    let upd = hex(fx("X734_UPDATE_OLD_KEY"));
    assert_eq!(upd[21], b'n');
    let e = err(&patched(fx("X734_UPDATE_OLD_KEY"), 21, b'?'));
    assert_eq!(e.offset, 21);
    assert!(e.message.contains("old key tuple column 3 of 4"), "{e}");
}

#[test]
fn bad_tuple_markers() {
    let e = err(&patched(fx("X733_UPDATE_NO_OLD"), 5, b'X'));
    assert_eq!(e.offset, 5);
    assert!(e
        .message
        .contains("expected tuple marker 'K', 'O' or 'N', found 'X'"));
    let e = err(&patched(fx("X732_INSERT"), 5, b'K'));
    assert_eq!(e.offset, 5);
    assert!(e
        .message
        .contains("expected new tuple marker 'N' (0x4e), found 'K'"));
    let e = err(&patched(fx("X737_DELETE_OLD_KEY"), 5, b'N'));
    assert_eq!(e.offset, 5);
    assert!(e
        .message
        .starts_with("Delete ('D'): expected tuple marker 'K' or 'O'"));
}

#[test]
fn trailing_bytes() {
    let mut b = hex(fx("X740_TRUNCATE"));
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
    let e = err(&patched(fx("X732_REL_T_DEF"), 13, 0xff));
    assert_eq!(e.offset, 13);
    assert!(e
        .message
        .contains("invalid UTF-8 in relation name (string starts at byte 12)"));
    let e = err(&patched(fx("X742_ORIGIN"), 9, 0xc3));
    assert_eq!(e.offset, 9);
    assert!(e
        .message
        .starts_with("Origin ('O'): invalid UTF-8 in origin name"));
}

#[test]
fn bad_lengths_and_settings() {
    // Length of column 1 of fx("X732_INSERT") (bytes 9..13) set to -1.
    let mut b = hex(fx("X732_INSERT"));
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
    let e = err(&patched(fx("X732_REL_T_DEF"), 18, b'q'));
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
