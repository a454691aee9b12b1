//! The commands a user runs besides full-extract and delta: init, check,
//! tables, status; and secrets never appear in logs, state or spool.

use crate::common::Case;

#[test]
fn init_writes_an_example_once() {
    let dir = std::env::temp_dir().join(format!("ingest-it-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
            .current_dir(&dir)
            .arg("init")
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success());
    let text = std::fs::read_to_string(dir.join("ingest.toml")).unwrap();
    assert!(text.contains("[instance]") && text.contains("[[table]]"));
    // Never overwrites.
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    // The example is a valid configuration: `status` gets past parsing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .current_dir(&dir)
        .arg("status")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(none yet)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_tables_and_status_report_what_happened() {
    let c = Case::new("cli");
    c.write_config("[[table]]\nname = \"public.o*\"\n", "");
    c.sql(
        "CREATE TABLE orders (id int PRIMARY KEY, v text);
         CREATE TABLE other (id int PRIMARY KEY);
         CREATE TABLE skipped (id int PRIMARY KEY);
         INSERT INTO orders SELECT g, 'v' FROM generate_series(1, 10) g;",
    );
    let out = c.ok(&["check"]);
    assert!(
        out.contains("public.orders ->") && out.contains("public.other ->"),
        "{out}"
    );
    assert!(!out.contains("public.skipped"), "{out}");
    assert!(
        out.contains("2 table(s) selected; all checks passed"),
        "{out}"
    );

    let out = c.ok(&["tables"]);
    assert!(out.contains("* public.orders"), "{out}");
    assert!(out.contains("  public.skipped"), "{out}");
    assert!(out.contains("3 table(s), 2 selected"), "{out}");

    c.ok(&["full-extract"]);
    c.sql("UPDATE orders SET v = 'w' WHERE id <= 3; DELETE FROM orders WHERE id = 10; INSERT INTO orders VALUES (11, 'x');");
    let out = c.ok(&["delta"]);
    assert!(out.contains("1 table(s), 5 change(s)"), "{out}");
    let out = c.ok(&["tables"]);
    assert!(out.contains("* public.orders  [ready]"), "{out}");

    let st = c.ok(&["status"]);
    assert!(st.contains("delta         ok"), "{st}");
    assert!(st.contains("full-extract  ok"), "{st}");
    let line = st
        .lines()
        .find(|l| l.trim_start().starts_with("public.orders") && l.contains("ins"))
        .unwrap();
    assert!(
        line.contains("ins 1") && line.contains("upd 3") && line.contains("del 1"),
        "{line}"
    );
    assert!(st.contains("public.other"), "{st}");
    // The position shown is the slot's confirmed position.
    let slot: String = c
        .pg()
        .query_one(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&c.db],
        )
        .unwrap()
        .get(0);
    assert!(
        st.starts_with(&format!("position    {slot}")),
        "{st}\nslot at {slot}"
    );
}

#[test]
fn passwords_never_appear_in_logs_state_or_spool() {
    let c = Case::new("secrets");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');");
    c.ok(&["full-extract"]);
    c.sql("INSERT INTO t VALUES (2, 'b');");
    c.ok(&["delta"]);
    // A failing run too: wrong destination password.
    let text = std::fs::read_to_string(c.config_path()).unwrap();
    let bad = text.replace(
        &format!(
            "password = \"{}\"\nschema_for_all_tables",
            c.env.my_password
        ),
        "password = \"s3cret-wrong\"\nschema_for_all_tables",
    );
    std::fs::write(c.config_path(), bad).unwrap();
    let out = c.ingest(&["delta"]);
    assert_eq!(out.status.code(), Some(3));
    let mut seen = String::from_utf8_lossy(&out.stderr).to_string();
    for dir in ["state", "state/log", "spool"] {
        for e in std::fs::read_dir(c.dir.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                seen.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
            }
        }
    }
    assert!(seen.contains("Access denied"), "the failure was not logged");
    for pw in [
        c.env.pg_password.as_str(),
        c.env.my_password.as_str(),
        "s3cret-wrong",
    ] {
        assert!(
            !seen.contains(pw),
            "password {pw} found in logs, state or spool"
        );
    }
}

#[test]
fn a_second_run_of_the_same_instance_is_refused_while_one_is_under_way() {
    let c = Case::new("lock");
    c.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    c.ok(&["full-extract"]);
    c.sql("INSERT INTO t VALUES (2);");
    let mut first = c.stall(&["delta"], "recorded");
    let out = c.ingest(&["delta"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another ingest run of instance lock is under way"),
        "{stderr}"
    );
    // status reads while a run is under way.
    c.ok(&["status"]);
    first.kill().unwrap();
    first.wait().unwrap();
    // The lock died with the process.
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
}

/// `ingest sql` prints what would be sent, runs nothing; the statements it
/// prints for the target are the ones the full extract then runs.
#[test]
fn sql_prints_the_statements_and_runs_nothing() {
    let c = Case::new("cli_sql");
    c.write_config("[[table]]\nname = \"public.o*\"\n", "");
    c.sql(
        "CREATE TABLE orders (id int PRIMARY KEY, v text, b bytea);
         CREATE TABLE other (k text PRIMARY KEY);",
    );
    let out = c.ok(&["sql", "public.orders"]);
    let db = c.db.clone();
    for want in [
        format!("-- public.orders -> {db}.orders (dialect mysql, collation utf8mb4_nopad_bin)"),
        format!("CREATE DATABASE IF NOT EXISTS `{db}`;"),
        format!("CREATE TABLE IF NOT EXISTS `{db}`.`orders__ingest_new` ("),
        format!(
            "LOAD DATA LOCAL INFILE '001_{db}.orders.csv' INTO TABLE `{db}`.`orders__ingest_new`"
        ),
        "SET `b` = UNHEX(@b2);".to_string(),
        format!("RENAME TABLE `{db}`.`orders` TO `{db}`.`orders__ingest_old`"),
        "-- merge, unchanged (TOAST) values to fill".to_string(),
    ] {
        assert!(out.contains(&want), "no {want:?} in:\n{out}");
    }
    assert!(!out.contains("public.other"), "{out}");
    // Nothing was created at the destination.
    assert!(!c.dest_db_exists());
    // Every selected table without names; a name that selects nothing
    // is refused.
    let all = c.ok(&["sql"]);
    assert!(all.contains("-- public.other ->"), "{all}");
    c.expect(
        &["sql", "public.nope"],
        2,
        &["public.nope matches no selected table"],
    );
    // The DDL printed is the DDL run.
    c.ok(&["full-extract", "public.orders"]);
    let mut my = c.my();
    let (_, created): (String, String) = mysql::prelude::Queryable::query_first(
        &mut my,
        format!("SHOW CREATE TABLE `{db}`.`orders`"),
    )
    .unwrap()
    .unwrap();
    for col in ["`id` int(11) NOT NULL", "`v` longtext", "`b` longblob"] {
        assert!(created.contains(col), "{created}");
    }
    assert!(
        out.contains("`id` INT NOT NULL,\n  `v` LONGTEXT NULL,\n  `b` LONGBLOB NULL"),
        "{out}"
    );
}

/// With `dialect = "singlestore"` `check` runs the SingleStore probe and
/// prints a line per assumption. Against MariaDB (no SingleStore can run
/// here) the probe runs to its end, says what it could not verify, fails
/// `check` (exit 2) and leaves no scratch table.
#[test]
fn check_probes_a_singlestore_destination() {
    let c = Case::new("cli_probe");
    c.write_config("[[table]]\nname = \"public.t\"\n", "");
    let path = c.config_path();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("dialect = \"mysql\"", "dialect = \"singlestore\"");
    std::fs::write(&path, text).unwrap();
    c.sql("CREATE TABLE t (id int PRIMARY KEY);");
    let out = c.ingest(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let probe = ingest::dest::probe::sections(ingest::dest::probe::PROBE_SQL);
    assert_eq!(probe.len(), 17);
    for name in probe.iter().map(|s| s.name.as_str()) {
        assert!(
            stdout.contains(&format!("singlestore {name}: ")),
            "{name}: {stdout}"
        );
    }
    assert!(
        stdout.contains("singlestore version: unknown: ERROR 1193")
            && stdout.contains("memsql_version"),
        "{stdout}"
    );
    // What MariaDB does answer is judged too.
    for name in [
        "last_change",
        "history_windows",
        "row_hash",
        "correlated_max",
        "verify_functions",
    ] {
        assert!(
            stdout.contains(&format!("singlestore {name}: ok")),
            "{name}: {stdout}"
        );
    }
    assert!(stdout.contains("singlestore cleanup: ok"), "{stdout}");
    assert!(
        stderr.contains("does not behave as the singlestore dialect needs")
            && stderr.contains("sql/singlestore_probe.sql"),
        "{stderr}"
    );
    let mut my = c.my();
    let left: Option<String> = mysql::prelude::Queryable::query_first(
        &mut my,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_NAME LIKE '\\_\\_ingest\\_probe%'",
    )
    .unwrap();
    assert_eq!(left, None);
}

/// Passwords given as `password_file`, `enc:` (from `ingest encrypt`) and
/// `password_env` reach the servers; wrong ones fail naming the server
/// (exit 3), a missing key names the key (exit 2); and no clear password,
/// right or wrong, is in any file the instance wrote, nor in its output.
#[test]
fn passwords_in_each_form_reach_the_servers_and_nowhere_else() {
    let c = Case::new("secret_forms");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');");
    let plain = std::fs::read_to_string(c.config_path()).unwrap();
    let pg_line = format!("password = \"{}\"\nslot", c.env.pg_password);
    let my_line = format!(
        "password = \"{}\"\nschema_for_all_tables",
        c.env.my_password
    );
    assert!(plain.contains(&pg_line) && plain.contains(&my_line));
    let mut seen = String::new();
    let encrypt = |clear: &str, seen: &mut String| -> String {
        let mut child = c
            .command(&["encrypt"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{clear}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let sealed = encrypt(&c.env.my_password, &mut seen);
    assert!(sealed.starts_with("enc:") && !sealed.contains(&c.env.my_password));
    let pw_file = c.dir.join("pg.pw");
    std::fs::write(&pw_file, format!("{}\n", c.env.pg_password)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let write = |pg: &str, my: &str| {
        let text = plain
            .replace(&pg_line, &format!("{pg}\nslot"))
            .replace(&my_line, &format!("{my}\nschema_for_all_tables"));
        std::fs::write(c.config_path(), text).unwrap();
    };
    write(
        "password_file = \"pg.pw\"",
        &format!("password = \"{sealed}\""),
    );
    let run =
        |args: &[&str], env: Option<(&str, &str)>, seen: &mut String| -> std::process::Output {
            let mut cmd = c.command(args);
            if let Some((k, v)) = env {
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            seen.push_str(&String::from_utf8_lossy(&out.stdout));
            seen.push_str(&String::from_utf8_lossy(&out.stderr));
            out
        };
    let out = run(&["full-extract"], None, &mut seen);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("pg.pw can be read by other users (mode 644)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The source's password from the environment.
    write(
        "password_env = \"IT_SOURCE_PW\"",
        &format!("password = \"{sealed}\""),
    );
    c.sql("INSERT INTO t VALUES (2, 'b');");
    let out = run(
        &["delta"],
        Some(("IT_SOURCE_PW", &c.env.pg_password)),
        &mut seen,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.assert_same("public.t", "t", &["id"]);
    // Wrong passwords in each form: the login fails (exit 3).
    let wrong_sealed = encrypt("wrong-sealed-pw-1", &mut seen);
    write(
        "password_file = \"pg.pw\"",
        &format!("password = \"{wrong_sealed}\""),
    );
    let out = run(&["delta"], None, &mut seen);
    assert_eq!(out.status.code(), Some(3));
    std::fs::write(&pw_file, "wrong-file-pw-2\n").unwrap();
    write(
        "password_file = \"pg.pw\"",
        &format!("password = \"{sealed}\""),
    );
    assert_eq!(run(&["delta"], None, &mut seen).status.code(), Some(3));
    write(
        "password_env = \"IT_SOURCE_PW\"",
        &format!("password = \"{sealed}\""),
    );
    let out = run(
        &["delta"],
        Some(("IT_SOURCE_PW", "wrong-env-pw-3")),
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(3));
    // Without the key, an enc: value names its key (exit 2).
    write(
        "password_file = \"pg.pw\"",
        &format!("password = \"{sealed}\""),
    );
    std::fs::write(&pw_file, format!("{}\n", c.env.pg_password)).unwrap();
    std::fs::rename(c.dir.join("state/secret.key"), c.dir.join("key.moved")).unwrap();
    let out = run(&["check"], None, &mut seen);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("destination.password: it is encrypted, and there is no key"),
        "{stderr}"
    );
    // What reads state.db only needs no password.
    assert!(run(&["status"], None, &mut seen).status.success());
    // INGEST_KEY stands in for the file.
    let key = std::fs::read_to_string(c.dir.join("key.moved")).unwrap();
    let out = run(&["check"], Some(("INGEST_KEY", key.trim())), &mut seen);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every file the instance wrote (not the password file and the moved
    // key), recursively.
    fn walk(dir: &std::path::Path, skip: &[&std::path::Path], into: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if skip.contains(&p.as_path()) {
                continue;
            }
            if p.is_dir() {
                walk(&p, skip, into);
            } else {
                into.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
            }
        }
    }
    let moved = c.dir.join("key.moved");
    walk(&c.dir, &[pw_file.as_path(), moved.as_path()], &mut seen);
    assert!(seen.contains("password authentication failed") || seen.contains("Access denied"));
    for pw in [
        c.env.pg_password.as_str(),
        c.env.my_password.as_str(),
        "wrong-sealed-pw-1",
        "wrong-file-pw-2",
        "wrong-env-pw-3",
    ] {
        assert!(
            !seen.contains(pw),
            "password {pw} found in the instance's files or output"
        );
    }
}
