//! Real outages: servers of the test's own (`scripts/test-env.sh spare`)
//! are stopped (a fast shutdown: every session cut) and started again on
//! the same port while ingest stands at a step: the PostgreSQL source and
//! the MariaDB source during a full extract's snapshot and a delta's read,
//! the destination during a full extract's load and a delta's merge. Each
//! run rides it out or fails cleanly; the next run converges, which
//! `ingest verify` checks (count and checksum of every value on both
//! servers), and one more delta finds nothing to do.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use mysql::prelude::Queryable;

use crate::common::{Bin, OutageFns};
use crate::outages::survive;

const PW: &str = "ingest-test-pw";

/// A server of this test only.
struct Spare {
    kind: &'static str,
    dir: PathBuf,
    port: u16,
    up: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn script(args: &[&str]) -> String {
    let out =
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-env.sh"))
            .args(args)
            .output()
            .expect("running scripts/test-env.sh");
    assert!(
        out.status.success(),
        "test-env.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Spare {
    fn start(kind: &'static str, name: &str) -> Spare {
        let root = std::env::var("INGEST_TEST_DIR")
            .expect("INGEST_TEST_DIR: run the tests through scripts/test.sh");
        let dir = PathBuf::from(root).join(format!("spare-{name}"));
        let port = script(&["spare", kind, dir.to_str().unwrap()])
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("the spare server's port");
        Spare {
            kind,
            dir,
            port,
            up: Mutex::new(None),
        }
    }

    fn updown(&self, what: &str) {
        script(&[what, self.kind, self.dir.to_str().unwrap()]);
    }

    /// Down now, up again 3 s later (on a thread: ingest goes on meanwhile
    /// and meets the server gone); the second waits until it is up.
    fn outage(&self) -> OutageFns<'_> {
        (
            Box::new(|| {
                self.updown("down");
                let (kind, dir) = (self.kind, self.dir.clone());
                *self.up.lock().unwrap() = Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(3));
                    script(&["up", kind, dir.to_str().unwrap()]);
                }));
            }),
            Box::new(|| {
                if let Some(h) = self.up.lock().unwrap().take() {
                    h.join().expect("starting the server again");
                }
            }),
        )
    }

    fn my(&self) -> mysql::Conn {
        mysql::Conn::new(
            mysql::OptsBuilder::new()
                .ip_or_hostname(Some("127.0.0.1"))
                .tcp_port(self.port)
                .user(Some("ingest"))
                .pass(Some(PW))
                .prefer_socket(false),
        )
        .expect("connecting to the spare MariaDB")
    }

    fn pg(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres password={PW} dbname={db}",
                self.port
            ),
            postgres::NoTls,
        )
        .expect("connecting to the spare PostgreSQL")
    }
}

impl Drop for Spare {
    /// Stopped (its folder goes with the test environment's).
    fn drop(&mut self) {
        if let Some(h) = self.up.lock().unwrap().take() {
            let _ = h.join();
        }
        let _ =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-env.sh"))
                .args(["down", self.kind, self.dir.to_str().unwrap()])
                .output();
    }
}

fn instance(name: &str, source: &str, dest_port: u16) -> Bin {
    let dir = crate::common::case_root().join(format!("ingest-it-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("ingest.toml");
    std::fs::write(
        &config,
        format!(
            "[instance]\nname = \"{name}\"\n\n[source]\n{source}\n\n[destination]\ndialect = \"mysql\"\n\
             host = \"127.0.0.1\"\nport = {dest_port}\ndatabase = \"mysql\"\nuser = \"ingest\"\n\
             password = \"{PW}\"\nschema_for_all_tables = \"{name}\"\n\n[[table]]\nname = \"*.t\"\n"
        ),
    )
    .unwrap();
    Bin { config }
}

/// `verify` says every table is equal.
fn verified(bin: &Bin) -> impl Fn() + '_ {
    move || {
        let out = bin.ok(&["verify"]);
        assert!(out.contains("verify: 1 table(s) equal"), "{out}");
    }
}

#[test]
fn servers_stopped_and_started_again_mid_run() {
    let pg = Spare::start("pg", "restart-pg");
    let my = Spare::start("my", "restart-my");
    let dest = Spare::start("my", "restart-dest");

    // PostgreSQL source.
    pg.pg("postgres")
        .batch_execute("CREATE DATABASE rs")
        .unwrap();
    let pg_sql = |sql: &str| pg.pg("rs").batch_execute(sql).unwrap();
    pg_sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 3000) g;");
    let a = instance(
        "restart_pg",
        &format!(
            "type = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"rs\"\nuser = \"postgres\"\npassword = \"{PW}\"",
            pg.port
        ),
        dest.port,
    );
    survive(
        &a,
        pg.outage(),
        &["full-extract"],
        "snapshot-row",
        &verified(&a),
    );
    pg_sql("UPDATE t SET v = 'a' WHERE id <= 100; DELETE FROM t WHERE id > 2900; INSERT INTO t VALUES (5000, 'n');");
    survive(&a, pg.outage(), &["delta"], "delta-row", &verified(&a));
    pg_sql("UPDATE t SET v = 'b' WHERE id <= 200; DELETE FROM t WHERE id BETWEEN 2800 AND 2850;");
    survive(&a, dest.outage(), &["delta"], "mid-merge", &verified(&a));
    pg_sql("INSERT INTO t VALUES (6000, 'x');");
    survive(
        &a,
        dest.outage(),
        &["full-extract"],
        "staged",
        &verified(&a),
    );
    // The slot still holds the insert from before that full extract.
    a.ok(&["delta"]);
    verified(&a)();
    let out = a.ok(&["delta"]);
    assert!(out.contains("0 change(s)"), "{out}");

    // MariaDB source.
    let my_sql = |sql: &str| my.my().query_drop(sql).unwrap();
    my_sql("CREATE DATABASE rs");
    my_sql("CREATE TABLE rs.t (id INT PRIMARY KEY, v VARCHAR(20))");
    my_sql("INSERT INTO rs.t SELECT seq, CONCAT('v', seq) FROM rs.seq_1_to_3000");
    let b = instance(
        "restart_my",
        &format!(
            "type = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"ingest\"\npassword = \"{PW}\"",
            my.port
        ),
        dest.port,
    );
    survive(
        &b,
        my.outage(),
        &["full-extract"],
        "snapshot-row",
        &verified(&b),
    );
    my_sql("UPDATE rs.t SET v = 'a' WHERE id <= 100");
    my_sql("DELETE FROM rs.t WHERE id > 2900");
    my_sql("INSERT INTO rs.t VALUES (5000, 'n')");
    survive(&b, my.outage(), &["delta"], "delta-row", &verified(&b));
    my_sql("UPDATE rs.t SET v = 'b' WHERE id <= 200");
    survive(&b, dest.outage(), &["delta"], "mid-merge", &verified(&b));
    let out = b.ok(&["delta"]);
    assert!(out.contains("0 change(s)"), "{out}");
}
