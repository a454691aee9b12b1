//! Tests of the MySQL value conversions.

use super::*;

/// The value's text, asserting that both conversions agree.
fn t(c: &MyCol, v: Value) -> Result<Option<String>, Unrepresentable> {
    let text = value_text(c, &v, Origin::Binlog)
        .map(|o| o.map(|b| String::from_utf8(b.into_owned()).unwrap()));
    let mut scratch = b"earlier values".to_vec();
    let into = value_into(c, &v, Origin::Binlog, &mut scratch)
        .map(|o| o.map(|x| String::from_utf8(x.get(&scratch).to_vec()).unwrap()));
    assert_eq!(text, into, "{v:?} as {}", c.column_type);
    text
}

#[test]
fn common_types_are_formatted_into_the_scratch_buffer() {
    let cases = [
        (
            col("bigint", "bigint(20)"),
            Value::Int(i64::MIN),
            "-9223372036854775808",
        ),
        (
            col("int", "int(10) unsigned"),
            Value::UInt(4294967295),
            "4294967295",
        ),
        (col("double", "double"), Value::Double(1.5e100), "1.5e100"),
        (
            col("date", "date"),
            Value::Date(2024, 2, 29, 0, 0, 0, 0),
            "2024-02-29",
        ),
        (
            col("datetime", "datetime(6)"),
            Value::Date(1, 1, 1, 23, 59, 59, 5),
            "0001-01-01 23:59:59.000005",
        ),
    ];
    for (c, v, want) in cases {
        let mut scratch = vec![];
        let got = value_into(&c, &v, Origin::Snapshot, &mut scratch).unwrap();
        assert!(matches!(got, Some(Text::Scratch(_))), "{v:?}");
        assert_eq!(got.unwrap().get(&scratch), want.as_bytes());
        assert_eq!(t(&c, v), Ok(Some(want.to_string())));
    }
    // Text passes through borrowed.
    let v = Value::Bytes(b"abc".to_vec());
    let got = value_into(
        &col("varchar", "varchar(5)"),
        &v,
        Origin::Snapshot,
        &mut vec![],
    );
    assert_eq!(got, Ok(Some(Text::Row(b"abc"))));
}
fn col(dt: &str, ct: &str) -> MyCol {
    MyCol::new("c", dt, ct, None)
}

#[test]
fn mariadb_network_types_read_as_their_text() {
    let hexb = |h: &str| -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    };
    let text = |dt: &str, h: &str| {
        let b = hexb(h);
        let v = bytes_text(&col(dt, dt), &b, Origin::Binlog)
            .unwrap()
            .unwrap();
        String::from_utf8(v.into_owned()).unwrap()
    };
    assert_eq!(
        text("uuid", "6ccd780cbaba102695645b8c656024db"),
        "6ccd780c-baba-1026-9564-5b8c656024db"
    );
    // Trailing zero bytes are dropped in row events, as for BINARY.
    assert_eq!(text("uuid", "01"), "01000000-0000-0000-0000-000000000000");
    assert_eq!(text("inet4", ""), "0.0.0.0");
    assert_eq!(text("inet4", "01020304"), "1.2.3.4");
    for (h, want) in [
        ("20010db8000000000000ff0000428329", "2001:db8::ff00:42:8329"),
        ("00000000000000000000ffff01020304", "::ffff:1.2.3.4"),
        ("00000000000000000000000001020304", "::1.2.3.4"),
        ("", "::"),
        ("00000000000000000000000000000001", "::1"),
        ("00010000000100010001000100010001", "1::1:1:1:1:1:1"),
        ("00010000000000010000000000000001", "1:0:0:1::1"),
        ("20010db8000000000000000000000000", "2001:db8::"),
        (
            "fe800000000000000202b3fffe1e8329",
            "fe80::202:b3ff:fe1e:8329",
        ),
    ] {
        assert_eq!(text("inet6", h), want, "{h}");
    }
    assert_eq!(col("uuid", "uuid").dest_type(), "CHAR(36)");
}

#[test]
fn binlog_quirks_are_corrected() {
    assert_eq!(
        t(&col("tinyint", "tinyint(3) unsigned"), Value::Int(-1)),
        Ok(Some("255".into()))
    );
    assert_eq!(
        t(&col("bigint", "bigint(20) unsigned"), Value::Int(-1)),
        Ok(Some("18446744073709551615".into()))
    );
    assert_eq!(
        t(&col("mediumint", "mediumint(9)"), Value::Int(0xff_ffff)),
        Ok(Some("-1".into()))
    );
    assert_eq!(
        t(&col("mediumint", "mediumint(9)"), Value::Int(-8_388_608)),
        Ok(Some("-8388608".into()))
    );
    assert_eq!(
        t(&col("mediumint", "mediumint(8) unsigned"), Value::Int(-1)),
        Ok(Some("16777215".into()))
    );
    assert_eq!(
        t(&col("year", "year(4)"), Value::Int(1900)),
        Ok(Some("0000".into()))
    );
    assert_eq!(
        t(&col("year", "year(4)"), Value::Int(2155)),
        Ok(Some("2155".into()))
    );
    let e = col("enum", "enum('a','b''c','😀')");
    assert_eq!(e.labels, vec!["a", "b'c", "😀"]);
    assert_eq!(t(&e, Value::Int(2)), Ok(Some("b'c".into())));
    assert_eq!(t(&e, Value::Int(0)), Ok(Some("".into())));
    // `''` a member: it and the error value read the same, so the index
    // is written (and the load sets it).
    let blank = col("enum", "enum('','x')");
    assert_eq!(t(&blank, Value::Int(0)), Ok(Some("0".into())));
    assert_eq!(t(&blank, Value::Int(1)), Ok(Some("1".into())));
    assert_eq!(t(&blank, Value::UInt(2)), Ok(Some("2".into())));
    assert_eq!(
        crate::schema::enum_error_text("enum('','x')"),
        Some(&b"0"[..])
    );
    assert_eq!(crate::schema::enum_error_text("ENUM('a')"), Some(&b""[..]));
    assert_eq!(crate::schema::enum_error_text("set('','x')"), None);
    assert_eq!(crate::schema::enum_error_text("varchar(5)"), None);
    let label_a = Value::Bytes(b"a".to_vec());
    let snap = value_text(&e, &label_a, Origin::Snapshot).unwrap();
    assert_eq!(snap.as_deref(), Some(&b"a"[..]));
    let s = col("set", "set('x','y','z')");
    assert_eq!(t(&s, Value::Int(5)), Ok(Some("x,z".into())));
    assert_eq!(t(&s, Value::Int(0)), Ok(Some("".into())));
    assert_eq!(t(&s, Value::Bytes(vec![6])), Ok(Some("y,z".into())));
    assert_eq!(
        t(&col("year", "year(4)"), Value::UInt(1900)),
        Ok(Some("0000".into()))
    );
    let ts = col("timestamp", "timestamp(6)");
    assert_eq!(
        t(&ts, Value::Bytes(b"1700000000.000123".to_vec())),
        Ok(Some("2023-11-14 22:13:20.000123".into()))
    );
    assert_eq!(
        t(&ts, Value::Bytes(b"0".to_vec())),
        Ok(Some("0000-00-00 00:00:00.000000".into()))
    );
    assert_eq!(
        t(&ts, Value::Date(2023, 1, 2, 3, 4, 5, 6)),
        Ok(Some("2023-01-02 03:04:05.000006".into()))
    );
    assert_eq!(
        t(&col("binary", "binary(4)"), Value::Bytes(vec![1])),
        Ok(Some("01000000".into()))
    );
    assert_eq!(
        t(&col("char", "char(5)"), Value::Bytes(b"ab  ".to_vec())),
        Ok(Some("ab".into()))
    );
    assert_eq!(
        t(&col("bit", "bit(12)"), Value::Int(0xabc)),
        Ok(Some("0abc".into()))
    );
    assert_eq!(
        t(&col("bit", "bit(12)"), Value::Bytes(vec![0x0a, 0xbc])),
        Ok(Some("0abc".into()))
    );
    assert_eq!(
        t(&col("time", "time(6)"), Value::Time(true, 1, 2, 3, 4, 5)),
        Ok(Some("-26:03:04.000005".into()))
    );
    assert_eq!(
        t(
            &col("time", "time(2)"),
            Value::Time(true, 26, 0, 63, 62, 16_277_216)
        ),
        Err(Unrepresentable::Malformed)
    );
    assert_eq!(
        t(&col("float", "float"), Value::Float(f32::MAX)),
        Ok(Some("3.4028234663852886e38".into()))
    );
    assert_eq!(
        t(&col("double", "double"), Value::Double(-1e-300)),
        Ok(Some("-1e-300".into()))
    );
    assert_eq!(
        t(&col("date", "date"), Value::Date(0, 0, 0, 0, 0, 0, 0)),
        Ok(Some("0000-00-00".into()))
    );
    let l = MyCol::new("c", "varchar", "varchar(10)", Some("latin1"));
    assert_eq!(
        t(&l, Value::Bytes(vec![b'a', 0xe9, 0x80])),
        Ok(Some("aé€".into()))
    );
    let e = MyCol::new("c", "varchar", "varchar(10)", Some("keybcs2"))
        .text_encoding()
        .unwrap_err();
    assert!(
        e.contains("character set keybcs2") && e.contains("cp1251"),
        "{e}"
    );
}

#[test]
fn row_event_text_is_decoded_from_its_character_set() {
    let text = |cs: &str, ty: &str, b: &[u8]| {
        let c = MyCol::new("c", ty, &format!("{ty}(10)"), Some(cs));
        bytes_text(&c, b, Origin::Binlog)
            .map(|t| String::from_utf8(t.unwrap().into_owned()).unwrap())
    };
    assert_eq!(
        text("cp1251", "varchar", &[0xcf, 0xf0, 0xe8]),
        Ok("При".into())
    );
    assert_eq!(
        text("sjis", "varchar", &[0x83, 0x65, 0x83, 0x58]),
        Ok("テス".into())
    );
    assert_eq!(text("cp932", "varchar", &[0x81, 0x60]), Ok("～".into()));
    assert_eq!(text("gbk", "varchar", &[0xd6, 0xd0]), Ok("中".into()));
    // GB18030 (MySQL 8 only): four-byte sequences reach every code point.
    assert_eq!(
        text(
            "gb18030",
            "varchar",
            &[0x94, 0x39, 0xfc, 0x36, 0xd6, 0xd0, 0xa2, 0xe3]
        ),
        Ok("😀中€".into())
    );
    // UTF-16 (big-endian), a surrogate pair; UTF-16LE; UTF-32.
    assert_eq!(
        text("utf16", "varchar", &[0xd8, 0x3d, 0xde, 0x00, 0x00, 0x41]),
        Ok("😀A".into())
    );
    assert_eq!(text("utf16le", "varchar", &[0x41, 0x00]), Ok("A".into()));
    assert_eq!(
        text("utf32", "varchar", &[0, 1, 0xf6, 0x00]),
        Ok("😀".into())
    );
    // CHAR's padding is trimmed after decoding: in UTF-16 a space is two bytes.
    assert_eq!(
        text("utf16", "char", &[0x00, 0x61, 0x00, 0x20, 0x00, 0x20]),
        Ok("a".into())
    );
    // Bytes that are no text in their set are refused, never replaced.
    assert_eq!(
        text("sjis", "varchar", &[0x81]),
        Err(Unrepresentable::BadEncoding)
    );
    assert_eq!(
        text("utf16", "varchar", &[0xd8, 0x00]),
        Err(Unrepresentable::BadEncoding)
    );
    assert_eq!(
        text("utf32", "varchar", &[0, 0x11, 0, 0]),
        Err(Unrepresentable::BadEncoding)
    );
    assert_eq!(
        text("utf8mb4", "varchar", &[0x61, 0xff]),
        Err(Unrepresentable::BadEncoding)
    );
    assert_eq!(
        text("utf8mb4", "varchar", "é😀".as_bytes()),
        Ok("é😀".into())
    );
    // Snapshots arrive in UTF-8 already.
    let c = MyCol::new("c", "varchar", "varchar(10)", Some("cp1251"));
    assert_eq!(
        bytes_text(&c, "При".as_bytes(), Origin::Snapshot)
            .unwrap()
            .unwrap()
            .as_ref(),
        "При".as_bytes()
    );
}
