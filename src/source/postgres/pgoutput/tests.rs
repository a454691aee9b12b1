//! Tests of the pgoutput decoder on bytes captured from PostgreSQL 15.

use super::*;

// Fixtures: tests/fixtures/pgoutput/pg15-stream-{1,2}.txt, bytes captured
// from PostgreSQL 15.18 (how: at the top of each file), one message per
// line in stream order: `lsn xid name hex`.

/// One captured message: (lsn, xid, name, hex).
type Captured = (&'static str, u32, &'static str, &'static str);

fn captured(text: &'static str) -> Vec<Captured> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 4, "fixture line {l}");
            (f[0], f[1].parse().expect("xid"), f[2], f[3])
        })
        .collect()
}

fn stream_1() -> Vec<Captured> {
    captured(include_str!(
        "../../../../tests/fixtures/pgoutput/pg15-stream-1.txt"
    ))
}

fn stream_2() -> Vec<Captured> {
    captured(include_str!(
        "../../../../tests/fixtures/pgoutput/pg15-stream-2.txt"
    ))
}

/// The hex of the captured message named `name`.
fn fx(name: &str) -> &'static str {
    stream_1()
        .into_iter()
        .chain(stream_2())
        .find(|m| m.2 == name)
        .unwrap_or_else(|| panic!("no captured message {name}"))
        .3
}

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
    stream_1().into_iter().chain(stream_2()).map(|m| m.3)
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
fn frame(stream: &[Captured]) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut open: Option<(Lsn, i64, u32)> = None;
    for &(row_lsn, row_xid, _, h) in stream {
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
    let txs = frame(&stream_1());
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
    assert!(stream_1().iter().all(|&(_, xid, _, _)| xid != 735));
    for (_, _, _, h) in stream_1() {
        let bytes = hex(h);
        if let Message::Insert { new, .. } = parse(&bytes).unwrap() {
            assert!(!new.contains(&t("rolledback")) && !new.contains(&t("99")));
        }
    }
}

#[test]
fn stream_2_shape() {
    let txs = frame(&stream_2());
    let got: Vec<(u32, &str)> = txs.iter().map(|(x, s)| (*x, s.as_str())).collect();
    assert_eq!(got, [(742, "BORIC"), (0, "M"), (743, "BMYRIC")]);
}

#[test]
fn begin_and_commit() {
    let b = hex(fx("X732_BEGIN"));
    assert_eq!(
        parse(&b).unwrap(),
        Message::Begin {
            final_lsn: 0x0192_d178,
            commit_ts: 0x0003_040c_aa8f_65e9,
            xid: 732
        }
    );
    let c = hex(fx("X732_COMMIT"));
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
    let b = hex(fx("X732_TYPE_MOOD"));
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
    let b = hex(fx("X732_REL_T_DEF"));
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
    let b = hex(fx("X736_REL_T_FULL"));
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
    let b = hex(fx("X738_REL_T_TOAST"));
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
    let b = hex(fx("X732_INSERT"));
    assert_eq!(
        parse(&b).unwrap(),
        Message::Insert {
            rel: T_DEF,
            new: vec![t("1"), t("k1"), t("happy"), Datum::Null]
        }
    );
    let b = hex(fx("X736_INSERT"));
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
    let b = hex(fx("X733_UPDATE_NO_OLD"));
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
    let b = hex(fx("X734_UPDATE_OLD_KEY"));
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
    let b = hex(fx("X736_UPDATE_OLD_FULL"));
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
    let b = hex(fx("X737_DELETE_OLD_KEY"));
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
    let b = hex(fx("X737_DELETE_OLD_FULL"));
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
    let b = hex(fx("X738_INSERT_BIG"));
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
    let b = hex(fx("X739_UPDATE_UNCHANGED_TOAST"));
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
    let b = hex(fx("X740_TRUNCATE"));
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
    let b = hex(fx("X742_ORIGIN"));
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
    let b = hex(fx("NONTX_MESSAGE"));
    assert_eq!(
        parse(&b).unwrap(),
        Message::Logical {
            transactional: false,
            lsn: lsn("0/19320E0"),
            prefix: "ingest.test",
            content: b"non-tx payload"
        }
    );
    let b = hex(fx("X743_MESSAGE"));
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
    let b = hex(fx("X742_INSERT_BINARY"));
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
    let b = hex(fx("X743_INSERT_BINARY"));
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
