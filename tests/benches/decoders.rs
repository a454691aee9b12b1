//! Micro-benchmarks of the hot pure parts, in MB/s (`cargo bench`):
//! the pgoutput decoder, MySQL value conversion (what ingest adds on top of
//! `mysql_common`'s row parser) and the spool writer (plain and gzip).
//! Wall-clock on a small noisy machine: compare runs made together.

use std::time::Instant;

use ingest::config::Compression;
use ingest::schema::{Column, Conv, TableSchema};
use ingest::source::binlog::{value_into, MyCol, Origin};
use ingest::source::pgoutput;
use ingest::spool::{BatchWriter, Manifest, Op};

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

fn bench_mysql_values() {
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
    let row = [
        mysql::Value::Int(-5),
        mysql::Value::Int(0xff_fff0),
        mysql::Value::Bytes(b"12345.67".to_vec()),
        mysql::Value::Double(1.5e100),
        mysql::Value::Bytes(b"some text with, commas and \"quotes\"".to_vec()),
        mysql::Value::Int(2),
        mysql::Value::Date(2024, 2, 29, 12, 34, 56, 123456),
        mysql::Value::Bytes(b"1700000000.123456".to_vec()),
        mysql::Value::Bytes(vec![0, 255, 16, 171]),
        mysql::Value::Float(1.1),
    ];
    let n = 300_000;
    let t = Instant::now();
    let mut out = 0usize;
    let mut scratch = Vec::with_capacity(1024);
    for _ in 0..n {
        scratch.clear();
        for (c, v) in cols.iter().zip(&row) {
            if let Ok(Some(text)) = value_into(c, v, Origin::Binlog, &mut scratch) {
                out += text.get(&scratch).len();
            }
        }
    }
    report("mysql value conversion", out, n, t.elapsed().as_secs_f64());
}

fn bench_spool(compression: Compression, name: &str) {
    let col = |n: &str| Column {
        name: n.into(),
        source_type: String::new(),
        dest_type: "LONGTEXT".into(),
        conv: Conv::Verbatim,
        binary: false,
        toastable: false,
        nullable: true,
    };
    let schema = TableSchema {
        schema: "public".into(),
        name: "bench".into(),
        dest_db: "d".into(),
        dest_table: "bench".into(),
        columns: (0..10).map(|i| col(&format!("c{i}"))).collect(),
        key: vec![0],
    };
    let root = std::env::temp_dir().join(format!("ingest-bench-spool-{}", std::process::id()));
    let m = Manifest {
        batch: "b".into(),
        kind: "full".into(),
        instance: "bench".into(),
        created_at: String::new(),
        from_pos: None,
        to_pos: None,
        table: vec![],
    };
    let mut b = BatchWriter::create(&root, m, compression).unwrap();
    let mut w = b.table(&schema).unwrap();
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

fn main() {
    println!("micro-benchmarks (MB/s of input text, rows or messages per second)");
    bench_pgoutput();
    bench_mysql_values();
    bench_spool(Compression::None, "spool writer, plain");
    bench_spool(Compression::Gzip, "spool writer, gzip");
}
