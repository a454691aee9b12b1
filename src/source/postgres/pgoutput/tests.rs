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

mod errors;
