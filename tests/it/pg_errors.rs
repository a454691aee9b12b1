//! Bad input and unmet prerequisites: one clear line naming the problem and
//! the fix, exit status 2 (configuration) or 3 (unreachable), and nothing
//! changed at the source or the destination.

use crate::common::Case;
use std::process::Command;

/// Runs `full-extract`, expects `code` and one stderr line holding every
/// needle, then checks that nothing was created anywhere.
fn expect_failure(c: &Case, code: i32, needles: &[&str]) {
    let out = c.ingest(&["full-extract"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.trim().lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    assert!(lines[0].starts_with("ingest: "), "{stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "'{n}' missing in: {stderr}");
    }
    assert!(!c.slot_exists(), "a replication slot was created");
    assert!(!c.dest_db_exists(), "the destination database was created");
    let pubs = c.pg().query("SELECT 1 FROM pg_publication", &[]).unwrap();
    assert!(pubs.is_empty(), "a publication was created");
}

fn edit_config(c: &Case, from: &str, to: &str) {
    let text = std::fs::read_to_string(c.config_path()).unwrap();
    assert!(text.contains(from), "{from} not in config");
    std::fs::write(c.config_path(), text.replacen(from, to, 1)).unwrap();
}

#[test]
fn wrong_passwords_and_unknown_hosts_exit_3() {
    let c = Case::new("err_conn");
    c.sql("CREATE TABLE t (id int PRIMARY KEY)");
    let pw = format!("password = \"{}\"", c.env.pg_password);
    edit_config(&c, &pw, "password = \"wrong\"");
    expect_failure(
        &c,
        3,
        &[
            "source PostgreSQL",
            "password authentication failed",
            "[source]",
        ],
    );
    assert!(!std::fs::read_to_string(
        c.dir.join("state/log").join(
            std::fs::read_dir(c.dir.join("state/log"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .file_name()
        )
    )
    .unwrap()
    .contains(&c.env.pg_password));

    let c = Case::new("err_conn2");
    c.sql("CREATE TABLE t (id int PRIMARY KEY)");
    let text = std::fs::read_to_string(c.config_path()).unwrap();
    let my_pw = format!(
        "password = \"{}\"\nschema_for_all_tables",
        c.env.my_password
    );
    assert!(text.contains(&my_pw));
    std::fs::write(
        c.config_path(),
        text.replace(&my_pw, "password = \"wrong\"\nschema_for_all_tables"),
    )
    .unwrap();
    expect_failure(&c, 3, &["destination", "Access denied", "[destination]"]);

    let c = Case::new("err_conn3");
    c.sql("CREATE TABLE t (id int PRIMARY KEY)");
    edit_config(
        &c,
        &format!("host = \"{}\"", c.env.pg_host),
        "host = \"no-such-host.invalid\"",
    );
    expect_failure(&c, 3, &["no-such-host.invalid"]);
}

#[test]
fn missing_tables_keys_and_privileges_exit_2() {
    let c = Case::new("err_table");
    c.sql("CREATE TABLE t (id int PRIMARY KEY)");
    c.write_config("[[table]]\nname = \"public.nope\"\n", "");
    expect_failure(&c, 2, &["public.nope", "not found"]);

    let c = Case::new("err_nokey");
    c.sql("CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE nokey (a int, b text)");
    expect_failure(&c, 2, &["public.nokey", "no primary key", "key = "]);
    // A configured key without REPLICA IDENTITY FULL is refused too.
    c.write_config(
        "[[table]]\nname = \"public.*\"\n[[table]]\nname = \"public.nokey\"\nkey = [\"a\"]\n",
        "",
    );
    expect_failure(&c, 2, &["REPLICA IDENTITY FULL"]);
    c.write_config(
        "[[table]]\nname = \"public.*\"\n[[table]]\nname = \"public.nokey\"\nkey = [\"zz\"]\n",
        "",
    );
    expect_failure(&c, 2, &["public.nokey", "\"zz\""]);

    let c = Case::new("err_repl");
    c.sql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'norepl') THEN \
         CREATE ROLE norepl LOGIN PASSWORD 'norepl'; END IF; END $$; \
         CREATE TABLE t (id int PRIMARY KEY); GRANT SELECT ON t TO norepl;",
    );
    edit_config(
        &c,
        &format!("user = \"{}\"", c.env.pg_user),
        "user = \"norepl\"",
    );
    edit_config(
        &c,
        &format!("password = \"{}\"", c.env.pg_password),
        "password = \"norepl\"",
    );
    expect_failure(&c, 2, &["norepl", "REPLICATION", "ALTER ROLE"]);

    // Bad configuration: the key is named.
    let c = Case::new("err_cfg");
    edit_config(&c, "load_threads = 2", "load_threads = 0");
    expect_failure(&c, 2, &["destination.load_threads"]);
    edit_config(&c, "load_threads = 0", "load_threads = 2\nbogus = 1");
    expect_failure(&c, 2, &["bogus"]);
}

/// A second PostgreSQL with wal_level = replica, stopped on drop.
struct ReplicaServer {
    dir: std::path::PathBuf,
    bin: String,
    port: u16,
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

fn as_postgres(cmd: &str, args: &[&str]) -> Command {
    let root = running_as_root();
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", cmd]).args(args);
        c
    } else {
        let mut c = Command::new(cmd);
        c.args(args);
        c
    }
}

impl ReplicaServer {
    fn start(bin: &str, port: u16) -> ReplicaServer {
        let dir = std::env::temp_dir().join(format!("ingest-it-replica-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let root = running_as_root();
        if root {
            assert!(Command::new("chown")
                .args(["postgres", dir.to_str().unwrap()])
                .status()
                .unwrap()
                .success());
        }
        let data = dir.join("data");
        let st = as_postgres(
            &format!("{bin}/initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
            ],
        )
        .output()
        .unwrap();
        assert!(
            st.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c wal_level=replica",
            dir.display()
        );
        let log = dir.join("log");
        let st = as_postgres(
            &format!("{bin}/pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        )
        .output()
        .unwrap();
        assert!(
            st.status.success(),
            "pg_ctl: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        ReplicaServer {
            dir,
            bin: bin.into(),
            port,
        }
    }
}

impl Drop for ReplicaServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = as_postgres(
            &format!("{}/pg_ctl", self.bin),
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        )
        .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn wal_level_below_logical_exits_2() {
    let env = crate::common::env();
    assert!(
        !env.pg_bin.is_empty(),
        "INGEST_PG_BIN is not set (scripts/test-env.sh sets it)"
    );
    // A port the system hands out now is free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = ReplicaServer::start(&env.pg_bin, port);
    let c = Case::new("err_wal");
    edit_config(
        &c,
        &format!("port = {}", env.pg_port),
        &format!("port = {}", server.port),
    );
    edit_config(
        &c,
        &format!("database = \"{}\"", c.db),
        "database = \"postgres\"",
    );
    let out = c.ingest(&["full-extract"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("wal_level is 'replica'")
            && stderr.contains("ALTER SYSTEM SET wal_level = logical"),
        "{stderr}"
    );
    assert!(!c.dest_db_exists());
    let mut pg = postgres::Config::new()
        .host("127.0.0.1")
        .port(server.port)
        .user("postgres")
        .dbname("postgres")
        .connect(postgres::NoTls)
        .unwrap();
    assert!(pg
        .query("SELECT 1 FROM pg_publication", &[])
        .unwrap()
        .is_empty());
}

/// A table named in the configuration and dropped at the source stops
/// nothing but itself: `sync-new-tables` still loads a table created
/// since (it exited 2 before, naming the dropped one), and the delta fails
/// the dropped table alone (exit 1) while the others' changes land.
#[test]
fn a_dropped_named_table_stops_only_itself() {
    let c = Case::new("gone_named");
    c.sql(
        "CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY);
         INSERT INTO a VALUES (1, 'x'); INSERT INTO b VALUES (1);",
    );
    c.write_config(
        "[[table]]\nname = \"public.a\"\n[[table]]\nname = \"public.b\"\n[[table]]\nname = \"public.n*\"\n",
        "",
    );
    c.ok(&["full-extract"]);
    c.sql("DROP TABLE b; CREATE TABLE n1 (id int PRIMARY KEY); INSERT INTO n1 VALUES (7); INSERT INTO a VALUES (2, 'y');");
    let out = c.ok(&["sync-new-tables"]);
    assert!(out.contains("1 table(s)"), "{out}");
    c.assert_same("public.n1", "n1", &["id"]);
    c.expect(&["delta"], 1, &["public.b", "not found at the source"]);
    c.assert_same("public.a", "a", &["id"]);
}
