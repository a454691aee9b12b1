//! Load: a source taking continuous mixed writes (pgbench-style
//! transactions of 1 to 5 inserts, updates and deletes, about 100 a
//! second) while `ingest run`
//! runs deltas back to back (`automatic`, `min_gap = "2s"`) for
//! INGEST_SOAK_SECS (600 by default: ten minutes), on both sources at once.
//! Afterwards the destination equals the source (field by field and by
//! `ingest verify`), and the run's peak RSS
//! (the kernel's VmHWM) stayed under 100 MB; both are printed.

#![cfg(unix)]

use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use crate::common::{my_connect, Bin, Case, MyCase};

fn soak_secs() -> u64 {
    std::env::var("INGEST_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600)
}

/// xorshift: the writers' choices.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// One transaction's statements: 1 to 5 changes over ids 1..=20000.
fn transaction(x: &mut u64, new_id: &mut u64) -> Vec<String> {
    (0..1 + next(x) % 5)
        .map(|_| {
            let id = 1 + next(x) % 20_000;
            match next(x) % 10 {
                0..=5 => format!(
                    "UPDATE acct SET bal = bal + {}, note = 'u{}' WHERE id = {id}",
                    next(x) % 100,
                    next(x) % 1000
                ),
                6 | 7 => {
                    *new_id += 1;
                    format!("INSERT INTO acct VALUES ({}, 0, 'new')", *new_id)
                }
                _ => format!("DELETE FROM acct WHERE id = {id}"),
            }
        })
        .collect()
}

/// `ingest run` for `secs` while `write` runs transactions; returns the
/// peak RSS in kB and the transactions written.
fn soak(
    bin: &Bin,
    dir: &std::path::Path,
    secs: u64,
    mut write: impl FnMut(&[String]),
) -> (u64, u64) {
    let mut child = bin
        .command(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("run.stderr")).unwrap())
        .spawn()
        .unwrap();
    let (mut x, mut new_id, mut done) = (0x2545_f491_4f6c_dd1d_u64, 1_000_000u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        write(&transaction(&mut x, &mut new_id));
        done += 1;
        // About 100 transactions a second: a steady load that leaves the
        // two cores to the tests running beside it.
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let hwm: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("VmHWM");
    crate::common::terminate(child.id());
    let code = child.wait().unwrap();
    let said = std::fs::read_to_string(dir.join("run.stderr")).unwrap_or_default();
    assert_eq!(code.code(), Some(0), "ingest run: {code:?}\n{said}");
    (hwm, done)
}

const SCHEDULE: &str =
    "[schedule]\nmode = \"automatic\"\nmin_gap = \"2s\"\n\n[web]\nenabled = false\n\n";

#[test]
fn postgres_soak() {
    let c = Case::new("soak_pg");
    c.write_config(
        &format!("{SCHEDULE}[[table]]\nname = \"public.acct\"\n"),
        "",
    );
    c.sql(
        "CREATE TABLE acct (id int PRIMARY KEY, bal int, note text);
           INSERT INTO acct SELECT g, 0, 'start' FROM generate_series(1, 20000) g;",
    );
    let mut pg = c.pg();
    let (hwm, txns) = soak(&c, &c.dir, soak_secs(), |stmts| {
        pg.batch_execute(&format!("BEGIN; {}; COMMIT;", stmts.join("; ")))
            .unwrap();
    });
    c.ok(&["delta"]);
    c.assert_same("public.acct", "acct", &["id"]);
    let out = c.ok(&["verify"]);
    assert!(out.contains("public.acct: equal"), "{out}");
    let runs = c.ok(&["status"]);
    eprintln!(
        "soak postgres: {txns} transactions in {} s; peak RSS {} MB",
        soak_secs(),
        hwm / 1024
    );
    assert!(hwm < 100 * 1024, "peak RSS {hwm} kB\n{runs}");
}

#[test]
fn mysql_soak() {
    let c = MyCase::new("soak_my");
    c.write_config(&format!("{SCHEDULE}[[table]]\nname = \"{}.acct\"\n", c.src));
    c.sql(
        "CREATE TABLE acct (id INT PRIMARY KEY, bal INT, note VARCHAR(40));
         INSERT INTO acct SELECT seq, 0, 'start' FROM seq_1_to_20000;",
    );
    let mut my = my_connect(&c.env);
    my.query_drop(format!("USE `{}`", c.src)).unwrap();
    let (hwm, txns) = soak(&c, &c.dir, soak_secs(), |stmts| {
        my.query_drop("START TRANSACTION").unwrap();
        for s in stmts {
            my.query_drop(s).unwrap();
        }
        my.query_drop("COMMIT").unwrap();
    });
    c.ok(&["delta"]);
    c.assert_same("acct", "id");
    let out = c.ok(&["verify"]);
    assert!(out.contains(".acct: equal"), "{out}");
    eprintln!(
        "soak mysql: {txns} transactions in {} s; peak RSS {} MB",
        soak_secs(),
        hwm / 1024
    );
    assert!(hwm < 100 * 1024, "peak RSS {hwm} kB");
}
