//! `ingest run` and `ingest run --once`: the first run is a full extract,
//! the next ones deltas; `scheduler off` stops scheduled runs; runs of one
//! instance never overlap; a stop request ends `run` with exit 0, and a
//! killed one is taken over; a refused login halts the scheduler.

use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

use crate::common::MyCase;

/// A MariaDB case with table `t` and `[schedule]` as given.
fn case(name: &str, schedule: &str) -> MyCase {
    let c = MyCase::new(name);
    c.write_config(&format!(
        "[[table]]\nname = \"{}.*\"\n\n[schedule]\n{schedule}",
        c.src
    ));
    c.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t VALUES (1, 'one'), (2, 'two');");
    c
}

/// Waits until `ingest status` shows `needle` (a minute at most).
#[cfg(unix)]
fn wait_for_status(c: &MyCase, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let out = c.ok(&["status"]);
        if out.contains(needle) {
            return out;
        }
        // What a `run` in the background said (its stderr, when kept).
        let said = std::fs::read_to_string(c.dir.join("run.stderr")).unwrap_or_default();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {needle:?} in:\n{out}\n`ingest run` said:\n{said}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn run_once_extracts_first_then_follows_with_deltas() {
    let c = case("once", "mode = \"manual\"");
    // The first run extracts, then reads what changed meanwhile.
    let out = c.ok(&["run", "--once"]);
    assert!(
        out.contains("full extract (run 1)") && out.contains("delta (run 2)"),
        "{out}"
    );
    c.assert_same("t", "id");
    c.sql("INSERT INTO t VALUES (3, 'three'); UPDATE t SET v = 'uno' WHERE id = 1;");
    let out = c.ok(&["run", "--once"]);
    assert!(!out.contains("full extract"), "{out}");
    assert!(
        out.contains("delta (run 3): 1 table(s), 2 change(s)"),
        "{out}"
    );
    c.assert_same("t", "id");
    // Off: nothing runs, and that is no error for Task Scheduler.
    c.ok(&["scheduler", "off"]);
    c.sql("INSERT INTO t VALUES (4, 'four');");
    let out = c.ok(&["run", "--once"]);
    assert!(out.contains("scheduler is off"), "{out}");
    let status = c.ok(&["status"]);
    assert!(status.contains("scheduler   off (manual"), "{status}");
    c.ok(&["scheduler", "on"]);
    let out = c.ok(&["run", "--once"]);
    assert!(out.contains("delta (run 4)"), "{out}");
    c.assert_same("t", "id");
}

/// `ingest run` in automatic mode: it extracts, then keeps the destination
/// up to date; a manual `delta` meanwhile is refused (one run at a time);
/// SIGTERM ends it with exit 0.
#[cfg(unix)]
#[test]
fn run_follows_the_schedule_until_terminated() {
    let c = case("forever", "mode = \"automatic\"\nmin_gap = \"1s\"");
    let mut child = c
        .command(&["-v", "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(c.dir.join("run.stderr")).unwrap())
        .spawn()
        .unwrap();
    let status = wait_for_status(&c, "full-extract");
    assert!(
        status.contains("scheduler   on (automatic, min_gap 1s"),
        "{status}"
    );
    c.sql("INSERT INTO t VALUES (3, 'three'); DELETE FROM t WHERE id = 2;");
    let start = Instant::now();
    loop {
        let out = c.ok(&["status"]);
        if out.contains("ins 1") && out.contains("del 1") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the changes did not land:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    c.assert_same("t", "id");
    c.expect(
        &["delta"],
        2,
        &["another ingest run of instance", "is under way"],
    );
    crate::common::terminate(child.id());
    let code = child.wait().unwrap();
    assert_eq!(code.code(), Some(0), "ingest run after SIGTERM: {code:?}");
    // The lock was let go: a run by hand goes.
    c.ok(&["run", "--once"]);
}

/// A killed `ingest run` leaves its lock to the operating system; the next
/// run takes over, says so, and resumes.
#[test]
fn a_killed_run_is_taken_over() {
    let c = case("killed", "mode = \"automatic\"");
    c.kill_at(&["run"], "snapshot-row");
    let out = c.ingest(&["run", "--once", "-v"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("taking over the run lock of process"),
        "{stderr}"
    );
    assert!(
        stderr.contains("resuming the cut-short full extract of"),
        "{stderr}"
    );
    c.assert_same("t", "id");
}

/// A login the source refuses needs a person: the scheduler turns off with
/// the reason, `status` says what to do, and scheduled runs wait for
/// `scheduler on`.
#[test]
fn a_refused_login_halts_the_scheduler() {
    let c = case("halt", "mode = \"manual\"");
    c.ok(&["run", "--once"]);
    let path = c.dir.join("ingest.toml");
    let good = std::fs::read_to_string(&path).unwrap();
    let pw = format!("password = \"{}\"", c.env.my_password);
    std::fs::write(&path, good.replacen(&pw, "password = \"wrong-secret\"", 1)).unwrap();
    c.expect(&["run", "--once"], 3, &["Access denied"]);
    let status = c.ok(&["status"]);
    assert!(
        status.contains("scheduler   off") && status.contains("halted at"),
        "{status}"
    );
    assert!(status.contains("ingest scheduler on"), "{status}");
    assert!(!status.contains("wrong-secret"), "{status}");
    std::fs::write(&path, &good).unwrap();
    let out = c.ok(&["run", "--once"]);
    assert!(out.contains("scheduler is off"), "{out}");
    c.ok(&["scheduler", "on"]);
    c.sql("INSERT INTO t VALUES (3, 'three');");
    let out = c.ok(&["run", "--once"]);
    assert!(out.contains("delta"), "{out}");
    c.assert_same("t", "id");
}

/// A stop request in the middle of a delta: the batch being merged ends,
/// the later ones wait, `run` exits 0; the next run takes them up and the
/// destination equals the source.
#[cfg(unix)]
#[test]
fn a_stop_during_a_delta_ends_after_its_batch() {
    let c = case("stopdelta", "mode = \"automatic\"\nmin_gap = \"1h\"");
    c.source_options("max_batch_changes = 1000");
    c.ok(&["full-extract"]);
    // Three batches' worth of changes, one transaction per 500 rows.
    for k in 0..6 {
        c.sql(&format!(
            "INSERT INTO t SELECT seq, 'x' FROM seq_{}_to_{}",
            10 + k * 500,
            9 + (k + 1) * 500
        ));
    }
    let pid_file = c.dir.join("state").join("run.pid");
    let (ok, stderr) = crate::common::paused(&c, &["run", "-v"], "merged", || {
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        crate::common::terminate(pid.trim().parse().unwrap());
    });
    assert!(ok, "{stderr}");
    assert!(stderr.contains("stop requested"), "{stderr}");
    assert!(stderr.contains("wait for the next run"), "{stderr}");
    let out = c.ok(&["run", "--once"]);
    assert!(out.contains("delta"), "{out}");
    c.assert_same("t", "id");
}

/// Forwards connections on a port of its own to MariaDB, from `after` on:
/// before that the port refuses connections, as a restarting server does.
fn late_proxy(target: u16, after: Duration) -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
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
    port
}

/// A source that refuses connections for a while (restarting) is waited
/// for: the run is tried again with backoff, each try recorded, and lands.
#[test]
fn a_source_that_comes_back_is_waited_for() {
    let c = case("comeback", "mode = \"manual\"\nretry_for = \"2m\"");
    let proxy = late_proxy(c.env.my_port, Duration::from_secs(3));
    let path = c.dir.join("ingest.toml");
    let cfg = std::fs::read_to_string(&path).unwrap();
    // The first `port =` is the source's.
    let cfg = cfg.replacen(
        &format!("port = {}", c.env.my_port),
        &format!("port = {proxy}"),
        1,
    );
    std::fs::write(&path, cfg).unwrap();
    let out = c.ok(&["run", "--once"]);
    assert!(out.contains("full extract (run"), "{out}");
    c.assert_same("t", "id");
    let status = c.ok(&["status"]);
    assert!(
        status.contains("retry") && status.contains("trying again in 5 s"),
        "{status}"
    );
}

/// `rollback --to`: the position goes back to where run 2 started and the
/// changes since are read again; a destination damaged in those rows
/// meanwhile ends equal to the source.
#[test]
fn rollback_replays_from_an_earlier_run() {
    use mysql::prelude::Queryable;
    let c = case("rollback", "mode = \"manual\"");
    c.ok(&["full-extract"]);
    c.sql("INSERT INTO t VALUES (3, 'three'); UPDATE t SET v = 'uno' WHERE id = 1;");
    let out = c.ok(&["delta"]);
    assert!(out.contains("delta (run 2)"), "{out}");
    c.sql("DELETE FROM t WHERE id = 2; INSERT INTO t VALUES (4, 'four');");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
    // The rows changed since run 2 started, damaged at the destination.
    let mut my = crate::common::my_connect(&c.env);
    my.query_drop(format!(
        "UPDATE `{d}`.t SET v = 'bad' WHERE id = 1; DELETE FROM `{d}`.t WHERE id IN (3, 4); \
         INSERT INTO `{d}`.t VALUES (2, 'back')",
        d = c.dst
    ))
    .unwrap();
    let list = c.ok(&["rollback", "--list"]);
    assert!(
        list.contains("#2") && list.contains("delta") && list.contains("possible"),
        "{list}"
    );
    c.expect(
        &["rollback", "--to", "77"],
        2,
        &["run 77 is not a full extract or delta"],
    );
    let out = c.ok(&["rollback", "--to", "2"]);
    assert!(out.contains("rollback and delta"), "{out}");
    c.assert_same("t", "id");
    let status = c.ok(&["status"]);
    assert!(status.contains("rollback"), "{status}");
}

/// PostgreSQL cannot move a logical slot back: `rollback` says so and
/// changes nothing.
#[test]
fn rollback_on_postgresql_is_refused_with_the_reason() {
    let c = crate::common::Case::new("pgrollback");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');");
    c.ok(&["full-extract"]);
    c.sql("INSERT INTO t VALUES (2, 'b');");
    c.ok(&["delta"]);
    c.sql("INSERT INTO t VALUES (3, 'c');");
    c.ok(&["delta"]);
    let list = c.ok(&["rollback", "--list"]);
    assert!(
        list.contains("not possible") && list.contains("cannot move a logical slot back"),
        "{list}"
    );
    c.expect(
        &["rollback", "--to", "2"],
        2,
        &["cannot roll back to run 2", "full-extract"],
    );
    c.sql("INSERT INTO t VALUES (4, 'd');");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
}

/// Runs `during` while another session keeps inserting into `t` and `u`
/// and updating `u` (`exec` runs one statement batch there), from 300 ms
/// before to 300 ms after.
fn while_writing(mut exec: impl FnMut(&str) + Send + 'static, during: impl FnOnce()) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 10;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                exec(&format!(
                    "INSERT INTO t VALUES ({i}, 'w'); UPDATE u SET n = n + 1 WHERE id = {}; \
                     INSERT INTO u VALUES ({}, 0)",
                    i % 2000 + 1,
                    100_000 + i
                ));
                i += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    during();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
}

/// `sync-new-tables` while the source keeps changing: a table selected
/// since gets its full extract, the other's changes go on from its own
/// position, and after the next delta both equal the source (no change
/// lost or doubled across the two positions). `run --once` does the same
/// by itself.
#[test]
fn newly_selected_tables_are_synced_while_changes_go_on() {
    let c = case("newtables", "mode = \"manual\"");
    c.ok(&["full-extract"]);
    c.sql("CREATE TABLE u (id INT PRIMARY KEY, n INT); INSERT INTO u SELECT seq, seq FROM seq_1_to_2000;");
    let (env, db) = (c.env.clone(), c.src.clone());
    let mut my = None;
    while_writing(
        move |sql| {
            use mysql::prelude::Queryable;
            let my = my.get_or_insert_with(|| {
                let mut m = crate::common::my_connect(&env);
                m.query_drop(format!("USE `{db}`")).unwrap();
                m
            });
            my.query_drop(sql).unwrap();
        },
        || {
            let out = c.ok(&["sync-new-tables"]);
            assert!(out.contains("sync-new-tables (run 2): 1 table(s)"), "{out}");
        },
    );
    c.ok(&["delta"]);
    c.assert_same("t", "id");
    c.assert_same("u", "id");
    let out = c.ok(&["sync-new-tables"]);
    assert!(out.contains("no newly selected table"), "{out}");
    // `run --once` syncs a new table by itself before its delta.
    c.sql("CREATE TABLE w (id INT PRIMARY KEY); INSERT INTO w VALUES (1), (2);");
    let out = c.ok(&["run", "--once"]);
    assert!(
        out.contains("sync-new-tables") && out.contains("delta"),
        "{out}"
    );
    c.assert_same("w", "id");
}

/// The same on PostgreSQL: the new table joins the publication, its
/// snapshot and the other table's stream meet without a gap.
#[test]
fn newly_selected_tables_are_synced_on_postgresql() {
    let c = crate::common::Case::new("pgnewtables");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');");
    c.ok(&["full-extract"]);
    c.sql("CREATE TABLE u (id int PRIMARY KEY, n int); INSERT INTO u SELECT g, g FROM generate_series(1, 2000) g;");
    let (env, db) = (c.env.clone(), c.db.clone());
    let mut pg = None;
    while_writing(
        move |sql| {
            let pg = pg.get_or_insert_with(|| crate::common::pg_connect(&env, &db));
            pg.batch_execute(sql).unwrap();
        },
        || {
            let out = c.ok(&["sync-new-tables"]);
            assert!(out.contains("sync-new-tables (run 2): 1 table(s)"), "{out}");
        },
    );
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    c.assert_same("public.u", "u", &["id"]);
}

/// A transaction that wrote to a table before it joined the publication
/// and commits after: its rows are not published (the catalog of their
/// time says so), so the table's snapshot must wait for it to see them.
#[test]
fn a_writer_older_than_the_publication_change_is_waited_for() {
    let c = crate::common::Case::new("pgolder");
    c.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    c.ok(&["full-extract"]);
    c.sql("CREATE TABLE u (id int PRIMARY KEY, v text); INSERT INTO u VALUES (1, 'a');");
    let mut older = crate::common::pg_connect(&c.env, &c.db);
    older
        .batch_execute("BEGIN; INSERT INTO u VALUES (2, 'older');")
        .unwrap();
    let sync = {
        let config = c.config_path();
        std::thread::spawn(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
                .arg("--config")
                .arg(config)
                .args(["sync-new-tables", "-v"])
                .output()
                .unwrap()
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    older.batch_execute("COMMIT").unwrap();
    let out = sync.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waiting for transactions older than the publication change"),
        "{stderr}"
    );
    c.ok(&["delta"]);
    c.assert_same("public.u", "u", &["id"]);
}
