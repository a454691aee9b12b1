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

pub struct Case {
    _shared: Shared,
    pub bin: Bin,
    pub name: String,
    pub env: Env,
    pub dir: PathBuf,
    pub db: String,
}

impl Case {
    /// A fresh source database, slot, destination database and folder.
    pub fn new(name: &str) -> Case {
        let shared = shared();
        let env = env();
        let db = format!("it_{name}");
        let mut admin = pg_connect(&env, "postgres");
        admin
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 OR database = $1",
                &[&db],
            )
            .unwrap();
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
        let mut my = my_connect(&env);
        my.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
            .unwrap();
        let dir = std::env::temp_dir().join(format!("ingest-it-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let c = Case {
            _shared: shared,
            bin: Bin {
                config: dir.join("ingest.toml"),
            },
            name: name.into(),
            env,
            dir,
            db,
        };
        c.write_config("[[table]]\nname = \"public.*\"\n", "");
        c
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("ingest.toml")
    }

    /// Writes ingest.toml with these `[[table]]` entries and extra
    /// `[destination]` lines.
    pub fn write_config(&self, tables: &str, dest_extra: &str) {
        let e = &self.env;
        let text = format!(
            r#"[instance]
name = "{name}"
state_dir = "state"
spool_dir = "spool"

[source]
type = "postgres"
host = "{ph}"
port = {pp}
database = "{db}"
user = "{pu}"
password = "{pw}"
slot = "{db}"
publication = "{db}"

[destination]
type = "singlestore"
dialect = "mysql"
host = "{mh}"
port = {mp}
database = "mysql"
user = "{mu}"
password = "{mw}"
schema_for_all_tables = "{db}"
load_threads = 2
{dest_extra}
{tables}"#,
            name = self.name,
            ph = e.pg_host,
            pp = e.pg_port,
            db = self.db,
            pu = e.pg_user,
            pw = e.pg_password,
            mh = e.my_host,
            mp = e.my_port,
            mu = e.my_user,
            mw = e.my_password,
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    pub fn pg(&self) -> postgres::Client {
        pg_connect(&self.env, &self.db)
    }

    pub fn my(&self) -> mysql::Conn {
        my_connect(&self.env)
    }

    pub fn sql(&self, sql: &str) {
        self.pg()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// Rows of a source table as normalized text, keyed by the key columns.
    pub fn source_rows(&self, table: &str, key: &[&str]) -> BTreeMap<String, Vec<Option<String>>> {
        let mut pg = self.pg();
        let (schema, name) = table.split_once('.').unwrap();
        let cols = pg
            .query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory::text FROM pg_attribute a \
                 JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&schema, &name],
            )
            .unwrap();
        let mut exprs = vec![];
        let mut fams = vec![];
        for r in &cols {
            let n: String = r.get(0);
            let t: String = r.get(1);
            let qn = format!("\"{}\"", n.replace('"', "\"\""));
            let (e, f) = pg_expr(&qn, &t);
            exprs.push(e);
            fams.push(f);
        }
        let keyidx: Vec<usize> = key
            .iter()
            .map(|k| {
                cols.iter()
                    .position(|r| r.get::<_, String>(0) == *k)
                    .expect("key column")
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM \"{}\".\"{}\"",
            exprs.join(", "),
            schema.replace('"', "\"\""),
            name.replace('"', "\"\"")
        );
        let mut out = BTreeMap::new();
        for r in pg.query(&sql, &[]).unwrap() {
            let vals: Vec<Option<String>> = (0..cols.len())
                .map(|i| {
                    r.get::<_, Option<String>>(i)
                        .map(|v| normalize(fams[i], &v))
                })
                .collect();
            insert_keyed(&mut out, &keyidx, vals, "source");
        }
        out
    }

    /// Rows of a destination table, normalized the same way, using the
    /// source's column types to pick the normalization.
    pub fn dest_rows(
        &self,
        table: &str,
        dest_table: &str,
        key: &[&str],
    ) -> BTreeMap<String, Vec<Option<String>>> {
        self.dest_rows_in(&self.db, table, dest_table, key)
    }

    /// [`Case::dest_rows`] of a table in another destination database.
    pub fn dest_rows_in(
        &self,
        dest_db: &str,
        table: &str,
        dest_table: &str,
        key: &[&str],
    ) -> BTreeMap<String, Vec<Option<String>>> {
        let mut pg = self.pg();
        let (schema, name) = table.split_once('.').unwrap();
        let cols: Vec<(String, String)> = pg
            .query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
                 JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&schema, &name],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut exprs = vec![];
        let mut fams = vec![];
        for (n, t) in &cols {
            let qn = format!("`{}`", n.replace('`', "``"));
            let (e, f) = my_expr(&qn, t);
            exprs.push(e);
            fams.push(f);
        }
        let keyidx: Vec<usize> = key
            .iter()
            .map(|k| cols.iter().position(|(n, _)| n == k).unwrap())
            .collect();
        let sql = format!(
            "SELECT {} FROM `{}`.`{}`",
            exprs.join(", "),
            dest_db,
            dest_table.replace('`', "``")
        );
        let mut my = self.my();
        let rows: Vec<mysql::Row> = my.exec(&sql, ()).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let mut out = BTreeMap::new();
        for r in rows {
            let vals: Vec<Option<String>> = (0..cols.len())
                .map(|i| my_value(r.as_ref(i).unwrap()).map(|v| normalize(fams[i], &v)))
                .collect();
            insert_keyed(&mut out, &keyidx, vals, "destination");
        }
        out
    }

    /// Asserts source and destination hold the same rows.
    pub fn assert_same(&self, table: &str, dest_table: &str, key: &[&str]) {
        let src = self.source_rows(table, key);
        let dst = self.dest_rows(table, dest_table, key);
        assert_maps_equal(table, &src, &dst);
    }

    pub fn dest_count(&self, dest_table: &str) -> i64 {
        self.my()
            .query_first(format!(
                "SELECT COUNT(*) FROM `{}`.`{}`",
                self.db, dest_table
            ))
            .unwrap()
            .unwrap()
    }

    pub fn slot_exists(&self) -> bool {
        !pg_connect(&self.env, "postgres")
            .query(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.db],
            )
            .unwrap()
            .is_empty()
    }

    pub fn dest_db_exists(&self) -> bool {
        let n: Option<String> = self
            .my()
            .exec_first(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (&self.db,),
            )
            .unwrap();
        n.is_some()
    }
}

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

type Rows = BTreeMap<String, Vec<Option<String>>>;

/// Files a row under its key (the key columns joined); a key seen twice is a
/// failure on that side.
fn insert_keyed(out: &mut Rows, keyidx: &[usize], vals: Vec<Option<String>>, side: &str) {
    let k = keyidx
        .iter()
        .map(|&i| vals[i].clone().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("|");
    assert!(
        out.insert(k.clone(), vals).is_none(),
        "duplicate key {k} in {side}"
    );
}

pub fn assert_maps_equal(
    table: &str,
    src: &BTreeMap<String, Vec<Option<String>>>,
    dst: &BTreeMap<String, Vec<Option<String>>>,
) {
    let mut diffs = vec![];
    for (k, v) in src {
        match dst.get(k) {
            None => diffs.push(format!("missing at destination: key {k}: {v:?}")),
            Some(d) if d != v => diffs.push(format!(
                "differs: key {k}:\n   source {v:?}\n   dest   {d:?}"
            )),
            _ => {}
        }
    }
    for k in dst.keys() {
        if !src.contains_key(k) {
            diffs.push(format!("extra at destination: key {k}: {:?}", dst[k]));
        }
    }
    assert!(
        diffs.is_empty(),
        "{table}: {} of {} source rows differ ({} at destination):\n{}",
        diffs.len(),
        src.len(),
        dst.len(),
        diffs
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fam {
    Exact,
    Decimal,
    F32,
    F64,
    Time,
    CharN,
}

fn base(t: &str) -> String {
    match (t.find('('), t.find(')')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &t[..a], &t[b + 1..]),
        _ => t.to_string(),
    }
}

/// Source-side SQL giving the destination's text form of a column.
pub fn pg_expr(c: &str, t: &str) -> (String, Fam) {
    match base(t).as_str() {
        "bytea" => (format!("encode({c}, 'hex')"), Fam::Exact),
        "boolean" => (format!("{c}::int::text"), Fam::Exact),
        "timestamp with time zone" => (
            format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"),
            Fam::Exact,
        ),
        "timestamp without time zone" => (
            format!("to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"),
            Fam::Exact,
        ),
        "numeric" | "money" => (format!("{c}::numeric::text"), Fam::Decimal),
        "real" => (format!("{c}::text"), Fam::F32),
        "double precision" => (format!("{c}::text"), Fam::F64),
        "time without time zone" => (format!("{c}::text"), Fam::Time),
        "character" => (format!("{c}::text"), Fam::CharN),
        // format() uses the type's output function, as COPY and pgoutput do
        // (inet's ::text cast adds the mask length; its output does not).
        _ => (
            format!("CASE WHEN {c} IS NULL THEN NULL ELSE format('%s', {c}) END"),
            Fam::Exact,
        ),
    }
}

/// Destination-side SQL for the same column.
pub fn my_expr(c: &str, t: &str) -> (String, Fam) {
    match base(t).as_str() {
        "bytea" => (format!("LOWER(HEX({c}))"), Fam::Exact),
        "timestamp with time zone" | "timestamp without time zone" => (
            format!("DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s.%f')"),
            Fam::Exact,
        ),
        "numeric" | "money" => (format!("CAST({c} AS CHAR)"), Fam::Decimal),
        "real" => (c.to_string(), Fam::F32),
        "double precision" => (c.to_string(), Fam::F64),
        "time without time zone" => (format!("CAST({c} AS CHAR)"), Fam::Time),
        "character" => (c.to_string(), Fam::CharN),
        "date" => (format!("CAST({c} AS CHAR)"), Fam::Exact),
        _ => (c.to_string(), Fam::Exact),
    }
}

fn my_value(v: &mysql::Value) -> Option<String> {
    use mysql::Value::*;
    match v {
        NULL => None,
        Bytes(b) => Some(String::from_utf8(b.clone()).expect("destination text is UTF-8")),
        Int(i) => Some(i.to_string()),
        UInt(u) => Some(u.to_string()),
        Float(f) => Some(format!("{f:?}")),
        Double(d) => Some(format!("{d:?}")),
        other => Some(format!("{other:?}")),
    }
}

pub fn normalize(f: Fam, v: &str) -> String {
    match f {
        Fam::Exact => v.to_string(),
        Fam::Decimal => {
            let mut s = v.to_string();
            if s.contains('.') {
                while s.ends_with('0') {
                    s.pop();
                }
                if s.ends_with('.') {
                    s.pop();
                }
            }
            if s == "-0" {
                s = "0".into();
            }
            s
        }
        Fam::F32 => match v.parse::<f32>() {
            Ok(x) => format!("{x:?}"),
            Err(_) => v.to_string(),
        },
        Fam::F64 => match v.parse::<f64>() {
            Ok(x) => format!("{x:?}"),
            Err(_) => v.to_string(),
        },
        Fam::Time => {
            let (hms, frac) = v.split_once('.').unwrap_or((v, ""));
            format!("{hms}.{frac:0<6}")
        }
        Fam::CharN => v.trim_end_matches(' ').to_string(),
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

/// A MySQL/MariaDB-source case: source database `ms_<name>` and destination
/// `md_<name>` on the test MariaDB (different databases of one server).
pub struct MyCase {
    _shared: Shared,
    pub bin: Bin,
    pub name: String,
    pub env: Env,
    pub dir: PathBuf,
    pub src: String,
    pub dst: String,
}

impl MyCase {
    pub fn new(name: &str) -> MyCase {
        let shared = shared();
        let env = env();
        let src = format!("ms_{name}");
        let dst = format!("md_{name}");
        let mut my = my_connect(&env);
        for db in [&src, &dst] {
            my.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                .unwrap();
        }
        my.query_drop(format!("CREATE DATABASE `{src}`")).unwrap();
        let dir = std::env::temp_dir().join(format!("ingest-it-my-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let c = MyCase {
            _shared: shared,
            bin: Bin {
                config: dir.join("ingest.toml"),
            },
            name: name.into(),
            env,
            dir,
            src,
            dst,
        };
        c.write_config(&format!("[[table]]\nname = \"{}.*\"\n", c.src));
        c
    }

    pub fn write_config(&self, tables: &str) {
        let e = &self.env;
        let text = format!(
            r#"[instance]
name = "my_{name}"
# PostgreSQL cases spool plain files (the default); these, gzip.
spool_compression = "gzip"

[source]
type = "mysql"
host = "{h}"
port = {p}
user = "{u}"
password = "{pw}"

[destination]
dialect = "mysql"
host = "{h}"
port = {p}
database = "mysql"
user = "{u}"
password = "{pw}"
schema_for_all_tables = "{dst}"
load_threads = 2

{tables}"#,
            name = self.name,
            h = e.my_host,
            p = e.my_port,
            u = e.my_user,
            pw = e.my_password,
            dst = self.dst,
        );
        std::fs::write(self.dir.join("ingest.toml"), text).unwrap();
    }

    /// Runs SQL in the source database (sql_mode empty, so that zero dates
    /// and the like can be written).
    pub fn sql(&self, sql: &str) {
        let mut my = my_connect(&self.env);
        my.query_drop(format!("USE `{}`", self.src)).unwrap();
        my.query_drop("SET SESSION sql_mode = ''").unwrap();
        // `query_drop` drops the later result sets of a multi-statement
        // text unread, and with them their errors: walk every set.
        let mut result = my.query_iter(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        while let Some(set) = result.iter() {
            for row in set {
                row.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// Both sides' rows of `table`, every column as the server's own value
    /// (binary protocol: floats as floats, dates as dates), keyed by the
    /// columns named in `key` (comma separated); a key seen twice fails.
    fn rows(&self, db: &str, table: &str, key: &str) -> BTreeMap<String, Vec<mysql::Value>> {
        let mut my = my_connect(&self.env);
        let rows: Vec<mysql::Row> = my
            .exec(format!("SELECT * FROM `{db}`.`{table}`"), ())
            .unwrap_or_else(|e| panic!("reading {db}.{table}: {e}"));
        let mut out = BTreeMap::new();
        for r in rows {
            let cols = r.columns();
            let idx: Vec<usize> = key
                .split(',')
                .map(|k| {
                    cols.iter()
                        .position(|c| c.name_str() == k.trim())
                        .unwrap_or_else(|| panic!("no key column {k} in {db}.{table}"))
                })
                .collect();
            let vals = r.unwrap();
            let k = idx
                .iter()
                .map(|&i| format!("{:?}", vals[i]))
                .collect::<Vec<_>>()
                .join("|");
            assert!(
                out.insert(k.clone(), vals).is_none(),
                "duplicate key {k} in {db}.{table}"
            );
        }
        out
    }

    pub fn assert_same(&self, table: &str, key: &str) {
        let src = self.rows(&self.src, table, key);
        let dst = self.rows(&self.dst, table, key);
        let mut diffs = vec![];
        for (k, v) in &src {
            match dst.get(k) {
                None => diffs.push(format!("missing at destination: {k}: {v:?}")),
                Some(d) if d != v => {
                    diffs.push(format!("differs: {k}:\n   source {v:?}\n   dest   {d:?}"))
                }
                _ => {}
            }
        }
        for k in dst.keys().filter(|k| !src.contains_key(*k)) {
            diffs.push(format!("extra at destination: {k}"));
        }
        assert!(
            diffs.is_empty(),
            "{table}: {} difference(s):\n{}",
            diffs.len(),
            diffs.join("\n")
        );
    }
}
