//! Micro-benchmarks of the hot pure parts, in MB/s (`cargo bench`):
//! the pgoutput decoder, the binlog row decoder (row images of a rows event
//! to spool texts) and the spool writer (plain and gzip); and the spool's
//! own CSV writing and record splitting beside the `csv` crate's.
//! Wall-clock on a small noisy machine: compare runs made together.

use std::time::Instant;

use ingest::config::Compression;
use ingest::schema::{Column, Conv, TableSchema};
use ingest::source::mysql::column::MyCol;
use ingest::source::mysql::rows::{row_texts, RowLayout};
use ingest::source::postgres::pgoutput;
use ingest::spool::{BatchWriter, Manifest, Op};

/// A batch to write into at `root` (`kind`: "full" or "delta").
fn batch(root: &std::path::Path, kind: &str, compression: Compression) -> BatchWriter {
    let m = Manifest {
        batch: "b".into(),
        kind: kind.into(),
        instance: "bench".into(),
        created_at: String::new(),
        from_pos: None,
        to_pos: None,
        table: vec![],
    };
    BatchWriter::create(root, m, compression).unwrap()
}

fn report(name: &str, bytes: usize, items: usize, secs: f64) {
    println!(
        "{name:<28} {:>9.1} MB/s {:>12.0} items/s",
        bytes as f64 / secs / 1e6,
        items as f64 / secs
    );
}

/// pgoutput Insert messages of a 10-column row, as the server sends them.
fn insert_messages(n: usize) -> Vec<Vec<u8>> {
    let values: [&[u8]; 10] = [
        b"123456",
        b"-42",
        b"12345.67",
        b"1.5e+100",
        b"some text with, commas and \"quotes\"",
        b"varchar value",
        b"t",
        b"2024-02-29",
        b"2024-02-29 12:34:56.123456",
        b"\\x00ff10ab",
    ];
    (0..n)
        .map(|_| {
            let mut m = vec![b'I'];
            m.extend_from_slice(&16384u32.to_be_bytes());
            m.push(b'N');
            m.extend_from_slice(&(values.len() as u16).to_be_bytes());
            for v in values {
                m.push(b't');
                m.extend_from_slice(&(v.len() as u32).to_be_bytes());
                m.extend_from_slice(v);
            }
            m
        })
        .collect()
}

/// A pgoutput message: tag, then the fields as given.
fn message(tag: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut m = vec![tag];
    for f in fields {
        m.extend_from_slice(f);
    }
    m
}

/// The whole PostgreSQL change path: pgoutput messages (a Relation, then
/// transactions of 100 changes: inserts, updates, some key changes and
/// deletes) decoded and written as spool lines, as a delta does.
fn bench_pgoutput_to_spool() {
    use std::collections::HashMap;
    let names = ["id", "i", "n", "d", "t", "v", "b", "dt", "ts", "by"];
    // int8, int4, numeric(12,2), float8, text, varchar(64), bool, date, timestamp, bytea
    let types: [(u32, i32); 10] = [
        (20, -1),
        (23, -1),
        (1700, (12 << 16 | 2) + 4),
        (701, -1),
        (25, -1),
        (1043, 64 + 4),
        (16, -1),
        (1082, -1),
        (1114, -1),
        (17, -1),
    ];
    let convs = [
        Conv::Verbatim,
        Conv::Verbatim,
        Conv::Numeric {
            int_digits: 10,
            frac_digits: 2,
        },
        Conv::Float,
        Conv::Verbatim,
        Conv::Verbatim,
        Conv::Bool,
        Conv::Date,
        Conv::Timestamp,
        Conv::Bytea,
    ];
    let schema = TableSchema {
        schema: "public".into(),
        name: "bench".into(),
        dest_db: "d".into(),
        dest_table: "bench".into(),
        columns: (0..10)
            .map(|i| Column {
                name: names[i].into(),
                source_type: String::new(),
                dest_type: String::new(),
                conv: convs[i],
                binary: i == 9,
                toastable: false,
                nullable: i != 0,
                masked: false,
                generated: false,
                type_change: None,
            })
            .collect(),
        key: vec![0],
        min_year: 0,
        filter: None,
        bad_value_fail: false,
        history: None,
        keyless: false,
        hashed_key: vec![],
    };
    let key = ingest::table::TableId::new("public", "bench");
    let tables = HashMap::from([(key.clone(), schema)]);
    let mut rel = vec![];
    rel.extend_from_slice(&16384u32.to_be_bytes());
    rel.extend_from_slice(b"public\0bench\0d");
    rel.extend_from_slice(&10u16.to_be_bytes());
    for (i, n) in names.iter().enumerate() {
        rel.push(u8::from(i == 0));
        rel.extend_from_slice(n.as_bytes());
        rel.push(0);
        rel.extend_from_slice(&types[i].0.to_be_bytes());
        rel.extend_from_slice(&types[i].1.to_be_bytes());
    }
    let tuple = |id: u64, tag: &[u8]| {
        let vals: [Vec<u8>; 10] = [
            id.to_string().into_bytes(),
            b"-42".to_vec(),
            b"12345.67".to_vec(),
            b"1.5e+100".to_vec(),
            [b"some text with, commas and \"quotes\" ".as_slice(), tag].concat(),
            b"varchar value".to_vec(),
            b"t".to_vec(),
            b"2024-02-29".to_vec(),
            b"2024-02-29 12:34:56.123456".to_vec(),
            b"\\x00ff10ab".to_vec(),
        ];
        let mut t = (vals.len() as u16).to_be_bytes().to_vec();
        for v in vals {
            t.push(b't');
            t.extend_from_slice(&(v.len() as u32).to_be_bytes());
            t.extend_from_slice(&v);
        }
        t
    };
    let oid = 16384u32.to_be_bytes();
    let mut msgs: Vec<(String, Vec<u8>)> = vec![("0/10".into(), message(b'R', &[&rel]))];
    let mut lsn = 0x100u64;
    let n_txn = 5_000u64;
    for x in 0..n_txn {
        let begin = [
            &(lsn + 99).to_be_bytes()[..],
            &0i64.to_be_bytes(),
            &(x as u32).to_be_bytes(),
        ]
        .concat();
        msgs.push((format!("0/{lsn:X}"), message(b'B', &[&begin])));
        for i in 0..100u64 {
            let id = x * 100 + i;
            let m = match i % 10 {
                // A key change: old key, new row.
                9 => message(
                    b'U',
                    &[
                        &oid,
                        b"K",
                        &tuple(id + 1_000_000, b""),
                        b"N",
                        &tuple(id, b"new"),
                    ],
                ),
                8 => message(b'D', &[&oid, b"K", &tuple(id, b"")]),
                0..=3 => message(b'I', &[&oid, b"N", &tuple(id, b"")]),
                _ => message(b'U', &[&oid, b"N", &tuple(id, b"upd")]),
            };
            msgs.push((format!("0/{:X}", lsn + i), m));
        }
        let commit = [
            &[0u8][..],
            &(lsn + 99).to_be_bytes(),
            &(lsn + 100).to_be_bytes(),
            &0i64.to_be_bytes(),
        ]
        .concat();
        msgs.push((format!("0/{:X}", lsn + 99), message(b'C', &[&commit])));
        lsn += 100;
    }
    let bytes: usize = msgs.iter().map(|(_, m)| m.len()).sum();
    let root = std::env::temp_dir().join(format!("ingest-bench-pg-{}", std::process::id()));
    let mut batch = batch(&root, "delta", Compression::None);
    let mut warnings = ingest::source::Warnings::default();
    let t = Instant::now();
    let mut dec = ingest::source::postgres::decode::Decoder::new(
        &tables,
        HashMap::from([(key, types.to_vec())]),
        HashMap::new(),
        &mut batch,
    );
    for (lsn, m) in &msgs {
        let msg = pgoutput::parse(m).unwrap();
        dec.apply(msg, lsn, &mut warnings).unwrap();
    }
    let out = dec.finish().unwrap();
    assert_eq!(out.tables[0].rows, n_txn * 110);
    report(
        "pgoutput to spool lines",
        bytes,
        (n_txn * 100) as usize,
        t.elapsed().as_secs_f64(),
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn bench_pgoutput() {
    let msgs = insert_messages(200_000);
    let bytes: usize = msgs.iter().map(Vec::len).sum();
    let t = Instant::now();
    let mut cols = 0usize;
    for m in &msgs {
        if let Ok(pgoutput::Message::Insert { new, .. }) = pgoutput::parse(m) {
            cols += new.len();
        }
    }
    assert_eq!(cols, 2_000_000);
    report(
        "pgoutput decode",
        bytes,
        msgs.len(),
        t.elapsed().as_secs_f64(),
    );
}

/// One binlog row image of a 10-column table, as the server logs it.
fn binlog_image(out: &mut Vec<u8>, i: u32) {
    out.push(0); // null bitmap: nothing NULL
    out.push(0);
    out.extend_from_slice(&i.to_le_bytes()); // INT UNSIGNED
    out.extend_from_slice(&[0xf0, 0xff, 0xff]); // MEDIUMINT -16
    out.extend_from_slice(&[0x80, 0, 0, 0x30, 0x39, 67]); // DECIMAL(12,2) 12345.67
    out.extend_from_slice(&1.5e100f64.to_le_bytes()); // DOUBLE
    let text = b"some text with, commas and \"quotes\"";
    out.push(text.len() as u8); // VARCHAR(100) utf8mb4: 2-byte length
    out.push(0);
    out.extend_from_slice(text);
    out.push(2); // ENUM
                 // DATETIME(6) 2024-02-29 12:34:56.123456
    let ymd = ((2024u64 * 13 + 2) << 5) | 29;
    let hms = (12u64 << 12) | (34 << 6) | 56;
    let packed = ((ymd << 17) | hms) + 0x80_0000_0000;
    out.extend_from_slice(&packed.to_be_bytes()[3..]);
    out.extend_from_slice(&123456u32.to_be_bytes()[1..]);
    // TIMESTAMP(6) 1700000000.123456
    out.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    out.extend_from_slice(&123456u32.to_be_bytes()[1..]);
    out.extend_from_slice(&[4, 0, 255, 16, 171]); // VARBINARY(16)
    out.extend_from_slice(&1.1f32.to_le_bytes()); // FLOAT
}

fn bench_binlog_rows() {
    use mysql_common::constants::ColumnType::*;
    let cols = [
        MyCol::new("a", "int", "int(10) unsigned", None),
        MyCol::new("b", "mediumint", "mediumint(9)", None),
        MyCol::new("c", "decimal", "decimal(12,2)", None),
        MyCol::new("d", "double", "double", None),
        MyCol::new("e", "varchar", "varchar(100)", Some("utf8mb4")),
        MyCol::new("f", "enum", "enum('x','y','z')", None),
        MyCol::new("g", "datetime", "datetime(6)", None),
        MyCol::new("h", "timestamp", "timestamp(6)", None),
        MyCol::new("i", "varbinary", "varbinary(16)", None),
        MyCol::new("j", "float", "float", None),
    ];
    let layout = RowLayout::from_columns(vec![
        (MYSQL_TYPE_LONG, vec![]),
        (MYSQL_TYPE_INT24, vec![]),
        (MYSQL_TYPE_NEWDECIMAL, vec![12, 2]),
        (MYSQL_TYPE_DOUBLE, vec![8]),
        (MYSQL_TYPE_VARCHAR, vec![0x90, 0x01]),
        (MYSQL_TYPE_ENUM, vec![0xf7, 1]),
        (MYSQL_TYPE_DATETIME2, vec![6]),
        (MYSQL_TYPE_TIMESTAMP2, vec![6]),
        (MYSQL_TYPE_VARCHAR, vec![16, 0]),
        (MYSQL_TYPE_FLOAT, vec![4]),
    ]);
    let n = 300_000u32;
    let mut data = Vec::new();
    for i in 0..n {
        binlog_image(&mut data, i);
    }
    let t = Instant::now();
    let mut buf = mysql_common::io::ParseBuf(&data);
    let (mut raw, mut scratch) = (Vec::new(), Vec::new());
    let mut out = 0usize;
    while !buf.0.is_empty() {
        layout.read_image(&mut buf, false, None, &mut raw).unwrap();
        // As the delta reader does: the texts borrow the row's values.
        let mut texts = Vec::with_capacity(cols.len());
        row_texts(&cols, &raw, &mut scratch, &mut texts, |c, why| {
            panic!("{}: {why:?}", c.name)
        })
        .unwrap();
        out += texts
            .iter()
            .flatten()
            .map(|t| t.get(&scratch).len())
            .sum::<usize>();
    }
    assert!(out > n as usize * 100, "{out}");
    report(
        "binlog rows decode+convert",
        data.len(),
        n as usize,
        t.elapsed().as_secs_f64(),
    );
}

/// The 10-column table of the spool benchmarks and a row of it: numbers,
/// a NULL, text with commas and quotes, dates, hex.
fn spool_rows() -> (TableSchema, [Option<&'static [u8]>; 10]) {
    let col = |n: &str| Column {
        name: n.into(),
        source_type: String::new(),
        dest_type: "LONGTEXT".into(),
        conv: Conv::Verbatim,
        binary: false,
        toastable: false,
        nullable: true,
        masked: false,
        generated: false,
        type_change: None,
    };
    let schema = TableSchema {
        schema: "public".into(),
        name: "bench".into(),
        dest_db: "d".into(),
        dest_table: "bench".into(),
        columns: (0..10).map(|i| col(&format!("c{i}"))).collect(),
        key: vec![0],
        min_year: 0,
        filter: None,
        bad_value_fail: false,
        history: None,
        keyless: false,
        hashed_key: vec![],
    };
    let vals: [Option<&[u8]>; 10] = [
        Some(b"123456"),
        Some(b"-42"),
        Some(b"12345.67"),
        None,
        Some(b"some text with, commas and \"quotes\""),
        Some(b"varchar value"),
        Some(b"1"),
        Some(b"2024-02-29"),
        Some(b"2024-02-29 12:34:56.123456"),
        Some(b"00ff10ab"),
    ];
    (schema, vals)
}

fn bench_spool(compression: Compression, name: &str) {
    let (schema, vals) = spool_rows();
    let root = std::env::temp_dir().join(format!("ingest-bench-spool-{}", std::process::id()));
    let mut b = batch(&root, "full", compression);
    let mut w = b.table(&schema).unwrap();
    let raw: usize = vals
        .iter()
        .map(|v| v.map_or(4, |v| v.len() + 3))
        .sum::<usize>()
        + 40;
    let n = 500_000u64;
    let t = Instant::now();
    for i in 0..n {
        w.write(Op::Insert, i, "2024-02-29 12:34:56.000000", &[], vals)
            .unwrap();
    }
    w.finish().unwrap();
    report(
        name,
        raw * n as usize,
        n as usize,
        t.elapsed().as_secs_f64(),
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// The spool's hand-written CSV beside the `csv` crate (a dev-dependency,
/// for this comparison only), on the 10-column rows of `bench_spool`:
/// writing lines (ours writes NULL bare, which `csv` cannot: it writes an
/// empty field there), and reading a file's records back for the loader,
/// which hands each record's bytes on unchanged (`csv` parses the fields,
/// so the loader would have to write them again).
fn bench_csv() {
    let (schema, vals) = spool_rows();
    let root = std::env::temp_dir().join(format!("ingest-bench-csv-{}", std::process::id()));
    let n = 500_000u64;
    let ts = "2024-02-29 12:34:56.000000";
    // Writing: ours (a snapshot file: no key tracking, lines only).
    let mut b = batch(&root, "delta", Compression::None);
    let mut w = b.table_in_parts(&schema, n + 1, |_| Ok(())).unwrap();
    let t = Instant::now();
    for i in 0..n {
        w.write(Op::Insert, i, ts, &[], vals).unwrap();
    }
    let table = w.finish().unwrap();
    let ours_w = t.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(b.dir().join(&table.file)).unwrap().len() as usize;
    report("csv write: spool writer", bytes, n as usize, ours_w);
    // Writing: csv::Writer, the same fields, every one quoted.
    let path = root.join("csv-crate.csv");
    let t = Instant::now();
    {
        let f =
            std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::create(&path).unwrap());
        let mut cw = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::Always)
            .from_writer(f);
        let mut seq = Vec::new();
        for i in 0..n {
            seq.clear();
            seq.extend_from_slice(i.to_string().as_bytes());
            cw.write_field("I").unwrap();
            cw.write_field(&seq).unwrap();
            cw.write_field(ts).unwrap();
            cw.write_field("").unwrap();
            for v in vals {
                cw.write_field(v.unwrap_or_default()).unwrap();
            }
            cw.write_record(None::<&[u8]>).unwrap();
        }
        cw.flush().unwrap();
    }
    report(
        "csv write: csv::Writer",
        bytes,
        n as usize,
        t.elapsed().as_secs_f64(),
    );
    // Reading records for the loader: ours hands the bytes on.
    let t = Instant::now();
    let mut r = ingest::spool::open_table_ops(b.dir(), &table, b"IUD", None).unwrap();
    let mut sink = Vec::with_capacity(bytes);
    std::io::Read::read_to_end(&mut r, &mut sink).unwrap();
    assert_eq!(sink.len(), bytes);
    report(
        "csv read: spool records",
        bytes,
        n as usize,
        t.elapsed().as_secs_f64(),
    );
    // csv::Reader: fields parsed, then written again as the loader needs.
    let file = b.dir().join(&table.file);
    let t = Instant::now();
    let mut cr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&file)
        .unwrap();
    let mut rec = csv::ByteRecord::new();
    let mut rows = 0;
    while cr.read_byte_record(&mut rec).unwrap() {
        rows += 1;
    }
    assert_eq!(rows, n);
    report(
        "csv read: csv::Reader",
        bytes,
        n as usize,
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    let mut cr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&file)
        .unwrap();
    let mut out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::with_capacity(bytes));
    while cr.read_byte_record(&mut rec).unwrap() {
        out.write_byte_record(&rec).unwrap();
    }
    assert!(!out.into_inner().unwrap().is_empty());
    report(
        "csv read+write: csv crate",
        bytes,
        n as usize,
        t.elapsed().as_secs_f64(),
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// `cargo bench --bench decoders [name...]`: the benchmarks whose name
/// contains one of the words (all without).
fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|w| name.contains(w.as_str()));
    println!("micro-benchmarks (MB/s of input text, rows or messages per second)");
    if want("pgoutput") {
        bench_pgoutput();
    }
    if want("spool lines") || want("pgoutput") {
        bench_pgoutput_to_spool();
    }
    if want("binlog") {
        bench_binlog_rows();
    }
    if want("csv") {
        bench_csv();
    }
    if want("spool") {
        bench_spool(Compression::None, "spool writer, plain");
        bench_spool(Compression::Gzip, "spool writer, gzip");
    }
}
