//! Test harness: every test gets its own PostgreSQL database, replication
//! slot, destination database and instance folder, named after the test, on
//! the private servers that `scripts/test-env.sh` started (see
//! `scripts/test.sh`). Tests run the `ingest` binary as a user would and
//! compare both sides through the database clients.
//!
//! Tests run in parallel; each case holds a shared lock on the servers for
//! its life, and a test that changes their global state takes it alone
//! first ([`alone`]).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

mod compare;
mod ms;
mod my;
mod pg;

pub use compare::*;
use compare::{insert_keyed, my_value};
pub use ms::*;
pub use my::*;
pub use pg::*;

static SERVERS: std::sync::RwLock<()> = std::sync::RwLock::new(());

thread_local! {
    static ALONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Held by a test that changes the servers' global state: no other test
/// runs meanwhile. Take it before creating the test's case.
pub struct Alone(#[allow(dead_code)] std::sync::RwLockWriteGuard<'static, ()>);

impl Drop for Alone {
    fn drop(&mut self) {
        ALONE.with(|a| a.set(false));
    }
}

pub fn alone() -> Alone {
    let g = SERVERS.write().unwrap_or_else(|p| p.into_inner());
    ALONE.with(|a| a.set(true));
    Alone(g)
}

/// A case's share of the servers (none when its test runs alone).
type Shared = Option<std::sync::RwLockReadGuard<'static, ()>>;

fn shared() -> Shared {
    if ALONE.with(|a| a.get()) {
        None
    } else {
        Some(SERVERS.read().unwrap_or_else(|p| p.into_inner()))
    }
}

#[derive(Clone, Debug)]
pub struct Env {
    pub pg_host: String,
    pub pg_port: u16,
    pub pg_user: String,
    pub pg_password: String,
    pub pg_bin: String,
    pub my_host: String,
    pub my_port: u16,
    pub my_user: String,
    pub my_password: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh (it starts the test databases)")
    })
}

impl Env {
    /// The `[destination]` section: the test MariaDB, every table in
    /// database `dst`.
    pub fn destination_toml(&self, dst: &str) -> String {
        format!(
            r#"[destination]
dialect = "mysql"
host = "{h}"
port = {p}
database = "mysql"
user = "{u}"
password = "{pw}"
schema_for_all_tables = "{dst}"
load_threads = 2
"#,
            h = self.my_host,
            p = self.my_port,
            u = self.my_user,
            pw = self.my_password,
        )
    }
}

pub fn env() -> Env {
    Env {
        pg_host: var("INGEST_PG_HOST"),
        pg_port: var("INGEST_PG_PORT").parse().unwrap(),
        pg_user: var("INGEST_PG_USER"),
        pg_password: var("INGEST_PG_PASSWORD"),
        pg_bin: std::env::var("INGEST_PG_BIN").unwrap_or_default(),
        my_host: var("INGEST_MY_HOST"),
        my_port: var("INGEST_MY_PORT").parse().unwrap(),
        my_user: var("INGEST_MY_USER"),
        my_password: var("INGEST_MY_PASSWORD"),
    }
}

pub fn pg_connect(e: &Env, db: &str) -> postgres::Client {
    let mut c = postgres::Config::new()
        .host(&e.pg_host)
        .port(e.pg_port)
        .user(&e.pg_user)
        .password(&e.pg_password)
        .dbname(db)
        .connect(postgres::NoTls)
        .unwrap_or_else(|err| panic!("connecting to PostgreSQL {db}: {err:?}"));
    c.batch_execute("SET TimeZone = 'UTC'").unwrap();
    c
}

/// Where cases keep their instance folders: inside the private servers'
/// folder (`INGEST_TEST_DIR`), so that two test runs on one machine, each
/// with its servers, never share a case's state.db or spool.
pub fn case_root() -> std::path::PathBuf {
    std::env::var_os("INGEST_TEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

pub fn my_connect(e: &Env) -> mysql::Conn {
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some(e.my_host.clone()))
        .tcp_port(e.my_port)
        .user(Some(e.my_user.clone()))
        .pass(Some(e.my_password.clone()))
        .prefer_socket(false)
        .init(vec!["SET time_zone = '+00:00'", "SET NAMES utf8mb4"]);
    mysql::Conn::new(opts).expect("connecting to MariaDB")
}

/// Runs the `ingest` binary with one instance's configuration.
pub struct Bin {
    pub config: PathBuf,
}

impl Bin {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ingest"));
        c.arg("--config").arg(&self.config).args(args);
        c.env_remove("INGEST_TEST_STALL");
        c.env_remove("INGEST_TEST_PAUSE");
        c
    }

    pub fn ingest(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running ingest")
    }

    /// Runs ingest and asserts exit status 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ingest(args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success(),
            "ingest {args:?} failed ({:?}):\n{stdout}\n{stderr}",
            out.status.code()
        );
        stdout
    }

    /// After the tests' own field-by-field compare found `table` equal:
    /// `ingest verify` must say so too (exit 0, "equal" or "not compared").
    /// Where it cannot run at that moment (exit 2 or 3: a run holds the
    /// lock, a password variable only the run has, a user without rights)
    /// it is not asked; a difference (exit 1) fails the test.
    pub fn verify_agrees(&self, table: &str) {
        let out = self.ingest(&["verify", table]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        match out.status.code() {
            Some(0) => assert!(
                stdout.contains(&format!("{table}: equal"))
                    || stdout.contains(&format!("{table}: not compared")),
                "ingest verify {table}:\n{stdout}"
            ),
            Some(2) | Some(3) => {}
            c => panic!(
                "ingest verify {table} disagrees with the field-by-field compare ({c:?}):\n{stdout}\n{stderr}"
            ),
        }
    }

    /// Runs ingest and asserts its exit status and that stderr holds each
    /// of `needles`; returns stderr.
    pub fn expect(&self, args: &[&str], code: i32, needles: &[&str]) -> String {
        let out = self.ingest(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "ingest {args:?}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "ingest {args:?}: no {n:?} in: {stderr}");
        }
        stderr
    }

    /// Starts ingest with `INGEST_TEST_STALL=point` and returns once it
    /// stands there.
    pub fn stall(&self, args: &[&str], point: &str) -> std::process::Child {
        stall(self.command(args), point)
    }

    /// Starts ingest stalled at `point`, waits until it is there, kills it
    /// with SIGKILL.
    pub fn kill_at(&self, args: &[&str], point: &str) {
        let mut child = self.stall(args, point);
        child.kill().expect("SIGKILL");
        let status = child.wait().unwrap();
        assert!(!status.success(), "killed process reported success");
    }
}

impl std::ops::Deref for Case {
    type Target = Bin;
    fn deref(&self) -> &Bin {
        &self.bin
    }
}

impl std::ops::Deref for MyCase {
    type Target = Bin;
    fn deref(&self) -> &Bin {
        &self.bin
    }
}

/// Sends SIGTERM to process `pid` (a stop request to `ingest run`).
#[cfg(unix)]
pub fn terminate(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM {pid}");
}

/// An outage's start, and a wait until the server is back.
pub type OutageFns<'a> = (Box<dyn Fn() + 'a>, Box<dyn Fn() + 'a>);

/// Runs `args` paused at `point`: once ingest stands there, `meanwhile`
/// runs, then ingest goes on; returns its output (stderr whole).
pub fn paused(bin: &Bin, args: &[&str], point: &str, meanwhile: impl FnOnce()) -> (bool, String) {
    let resume =
        std::env::temp_dir().join(format!("ingest-resume-{}-{}", std::process::id(), point));
    let _ = std::fs::remove_file(&resume);
    let mut cmd = bin.command(args);
    cmd.env("INGEST_TEST_PAUSE", point)
        .env("INGEST_TEST_RESUME", &resume)
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = cmd.spawn().expect("spawning ingest");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        let mut told = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if !told && line.contains("paused at") {
                let _ = tx.send(());
                told = true;
            }
        }
        seen
    });
    let reached = rx.recv_timeout(Duration::from_secs(120)).is_ok();
    if reached {
        meanwhile();
    }
    std::fs::write(&resume, "go").unwrap();
    let status = child.wait().unwrap();
    let seen = reader.join().unwrap();
    let _ = std::fs::remove_file(&resume);
    assert!(reached, "ingest did not reach {point}:\n{seen}");
    (status.success(), seen)
}

/// Starts `cmd` with `INGEST_TEST_STALL=point` and returns once it stands
/// there (it then sleeps until killed).
pub fn stall(mut cmd: Command, point: &str) -> std::process::Child {
    cmd.env("INGEST_TEST_STALL", point)
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = cmd.spawn().expect("spawning ingest");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("stalled at") {
                let _ = tx.send(Ok(()));
                return;
            }
        }
        let _ = tx.send(Err(seen));
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(())) => child,
        Ok(Err(seen)) => {
            let _ = child.wait();
            panic!("ingest ended before reaching {point}:\n{seen}")
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ingest did not reach {point} in 120 s");
        }
    }
}

/// Polls until `f` is true or 30 s passed.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// A TCP proxy to a server that can be taken down: `cut` drops every
/// connection through it and refuses new ones for a while, as a server
/// that stops and restarts does.
pub struct Outage {
    pub port: u16,
    down_until: std::sync::Arc<std::sync::Mutex<std::time::Instant>>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Outage {
    pub fn to(target: u16) -> Outage {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down_until = std::sync::Arc::new(std::sync::Mutex::new(std::time::Instant::now()));
        let open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>> = Default::default();
        let (down, streams) = (down_until.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if std::time::Instant::now() < *down.lock().unwrap() {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                {
                    let mut s = streams.lock().unwrap();
                    s.push(client.try_clone().unwrap());
                    s.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Outage {
            port,
            down_until,
            open,
        }
    }

    /// For `outages::survive`: cut for 3 s; back 3.5 s later.
    pub fn outage(&self) -> OutageFns<'_> {
        (
            Box::new(|| self.cut(3)),
            Box::new(|| std::thread::sleep(Duration::from_millis(3500))),
        )
    }

    /// Every connection through the proxy ends; new ones are refused for
    /// `secs` seconds.
    pub fn cut(&self, secs: u64) {
        *self.down_until.lock().unwrap() = std::time::Instant::now() + Duration::from_secs(secs);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}
