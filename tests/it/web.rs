//! The status page (`ingest serve`), `/api/status`, `/metrics`, the
//! operations behind the token, and `ingest report`, from a state.db filled
//! by a real replication run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Case;

const TOKEN: &str = "a-token-of-twenty-chars";

/// An HTTP/1.0 exchange: (status, body).
fn http(port: u16, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

fn get(port: u16, path: &str) -> String {
    let (status, body) = http(port, "GET", path, "", "");
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port` (30 s at most).
fn listening(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `ingest serve` (or `run`) until dropped.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(c: &Case, port: u16) -> Served {
    let child = c
        .command(&["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    listening(port);
    Served(child)
}

fn runs(c: &Case) -> usize {
    c.ok(&["status"])
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .count()
}

#[test]
fn every_page_and_endpoint_answers_with_the_numbers_of_a_real_run() {
    let c = Case::new("web");
    let port = free_port();
    c.write_config(
        &format!(
            "[web]\nbind = \"127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\n\n[schedule]\nmode = \"manual\"\n\n\
             [[table]]\nname = \"public.*\"\n"
        ),
        "",
    );
    c.sql(
        "CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text);
         INSERT INTO a SELECT g, 'a' FROM generate_series(1, 5) g;
         INSERT INTO b SELECT g, 'b' FROM generate_series(1, 3) g;",
    );
    c.ok(&["full-extract"]);
    c.sql("INSERT INTO a VALUES (6, 'n'), (7, 'n'); UPDATE a SET v = 'u' WHERE id = 1; DELETE FROM b WHERE id = 3;");
    c.ok(&["delta"]);
    let _s = serve(&c, port);

    let api: Value = serde_json::from_str(&get(port, "/api/status")).unwrap();
    assert_eq!(api["instance"], "web");
    assert_eq!(api["tables"]["ready"], 2);
    assert_eq!(api["tables"]["failed"], 0);
    // 8 rows extracted, then 2 inserts, 1 update, 1 delete.
    assert_eq!(api["tables"]["records_24h"], 12);
    assert_eq!(api["source"]["kind"], "PostgreSQL");
    assert_eq!(api["source"]["reachable"], true);
    assert_eq!(api["schedule"]["on"], true);
    assert!(api["current"].is_null());
    assert!(api["lag_s"].as_f64().is_some(), "{api}");
    assert!(api["machine"]["spool_free"].as_u64().is_some_and(|b| b > 0));

    let dash = get(port, "/");
    assert!(dash.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(dash.contains("records in the last 24 h 12"), "{dash}");
    // Hover titles carry the exact numbers of the hour: 8 initial, 2
    // inserts, 1 update, 1 delete.
    assert!(
        dash.contains("initial: 8, inserts: 2, updates: 1, deletes: 1</title>"),
        "{dash}"
    );
    assert!(!dash.contains("<script"), "no script on the page");

    let tables = get(port, "/tables");
    assert!(
        tables.contains("<td>public.a</td><td class=\"ok\">ready</td>"),
        "{tables}"
    );
    assert!(
        tables.contains("<td class=\"num\">2 / 1 / 0</td>"),
        "{tables}"
    );

    let day = &api["now"].as_str().unwrap()[..10];
    let rep = get(port, &format!("/reports?day={day}"));
    assert!(
        rep.contains("<td>full-extract</td>") && rep.contains("<td>delta</td>"),
        "{rep}"
    );
    let month = get(port, &format!("/reports?month={}", &day[..7]));
    assert!(
        month.contains(&format!("<td>{day}</td><td>2</td>")),
        "{month}"
    );
    let logs = get(port, "/logs?filter=source");
    assert!(logs.contains("Logs: source"), "{logs}");
    assert!(get(port, "/logs?filter=other&page=0").contains("ingest::run::"));

    // Prometheus text: HELP and TYPE, then `name{labels} value` lines.
    let metrics = get(port, "/metrics");
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(
            name.chars().next().unwrap().is_ascii_lowercase()
                && (name.ends_with('}') || !name.contains('{')),
            "{line}"
        );
    }
    assert!(
        metrics.contains("ingest_rows_total{table=\"public.a\",op=\"insert\"} 7\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ingest_runs_total{kind=\"delta\",status=\"ok\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("ingest_failed_tables 0\n"));

    // Nothing holds a password or the token.
    for body in [
        &dash,
        &tables,
        &rep,
        &logs,
        &metrics,
        &get(port, "/api/status"),
    ] {
        for secret in [
            c.env.pg_password.as_str(),
            c.env.my_password.as_str(),
            TOKEN,
        ] {
            assert!(!body.contains(secret), "a secret on a page");
        }
    }

    // Errors: unknown paths, bad requests, a huge body: answered, and the
    // server goes on.
    assert_eq!(http(port, "GET", "/nope", "", "").0, 404);
    // Another name for 127.0.0.1 (DNS rebinding): not answered.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /api/status HTTP/1.0\r\nHost: evil.example:{port}\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 421") || answer.starts_with("HTTP/1.1 421"),
        "{answer}"
    );
    assert_eq!(http(port, "DELETE", "/", "", "").0, 405);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"\x00\xffgarbage\r\n\r\n").unwrap();
    drop(s);
    let huge = "x".repeat(8 << 20);
    let _ = std::panic::catch_unwind(|| http(port, "POST", "/ops/delta", "", &huge));
    assert!(get(port, "/").contains("Dashboard"));

    // Operations: without the token or with a wrong one, 403 and nothing
    // runs; with it, a delta starts.
    let before = runs(&c);
    assert_eq!(http(port, "POST", "/ops/delta", "", "").0, 403);
    assert_eq!(
        http(
            port,
            "POST",
            "/ops/delta",
            "X-Ingest-Token: wrong-token-of-20-chars\r\n",
            ""
        )
        .0,
        403
    );
    assert_eq!(
        http(port, "POST", "/ops/scheduler", "", "state=off&token=nope").0,
        403
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs(&c), before);
    assert!(c.ok(&["status"]).contains("scheduler   on"));
    let (status, body) = http(
        port,
        "POST",
        "/ops/scheduler",
        "",
        &format!("state=off&token={TOKEN}"),
    );
    assert_eq!((status, body.trim()), (200, "scheduler off"));
    assert!(c.ok(&["status"]).contains("scheduler   off"));
    c.sql("UPDATE b SET v = 'from the page' WHERE id = 1;");
    let (status, body) = http(
        port,
        "POST",
        "/ops/delta",
        &format!("X-Ingest-Token: {TOKEN}\r\n"),
        "",
    );
    assert_eq!(status, 202, "{body}");
    let start = Instant::now();
    while runs(&c) == before {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no delta from the page"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let start = Instant::now();
    loop {
        if c.ok(&["status"])
            .lines()
            .any(|l| l.contains("delta") && l.contains(" ok "))
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(200));
    }
    c.assert_same("public.b", "b", &["id"]);
}

#[test]
fn reports_on_the_command_line_as_table_csv_and_json() {
    let c = Case::new("report_cli");
    c.write_config(
        "[web]\nenabled = false\n\n[[table]]\nname = \"public.*\"\n",
        "",
    );
    c.sql("CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, 'a' FROM generate_series(1, 4) g;");
    c.ok(&["full-extract"]);
    c.sql("INSERT INTO a VALUES (5, 'n'); UPDATE a SET v = 'u' WHERE id < 3;");
    c.ok(&["delta"]);
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let table = c.ok(&["report", "day", &today]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("run  kind"), "{table}");
    assert_eq!(lines.len(), 3, "{table}");
    let csv = c.ok(&["report", "day", &today, "--format", "csv"]);
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let col = |name: &str| rows[0].iter().position(|h| *h == name).unwrap();
    assert_eq!(rows[1][col("kind")], "full-extract");
    assert_eq!(rows[1][col("initial")], "4");
    assert_eq!(rows[2][col("kind")], "delta");
    assert_eq!(
        (rows[2][col("inserts")], rows[2][col("updates")]),
        ("1", "2")
    );
    assert!(rows[2][col("db delay s")].parse::<f64>().is_ok(), "{csv}");
    let json: Value = serde_json::from_str(&c.ok(&[
        "report", "day", &today, "--format", "json", "--table", "public.a",
    ]))
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["updates"], 2);
    let month: Value =
        serde_json::from_str(&c.ok(&["report", "month", &today[..7], "--format", "json"])).unwrap();
    let d = month
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["day"] == today.as_str())
        .unwrap();
    assert_eq!(
        (
            d["runs"].as_i64(),
            d["initial"].as_i64(),
            d["inserts"].as_i64()
        ),
        (Some(2), Some(4), Some(1))
    );
    c.expect(
        &["report", "day", "2026-13"],
        2,
        &["is not a date YYYY-MM-DD"],
    );
}

/// Under `ingest run` (which holds the instance), an operation from the
/// page is queued in state.db and run between runs.
#[test]
fn operations_reach_a_running_ingest_run() {
    let c = Case::new("web_run");
    let port = free_port();
    c.write_config(
        &format!(
            "[web]\nbind = \"127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\n\n[schedule]\nmode = \"manual\"\n\n\
             [[table]]\nname = \"public.*\"\n"
        ),
        "",
    );
    c.sql("CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a VALUES (1, 'a');");
    c.ok(&["full-extract"]);
    let child = c
        .command(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _run = Served(child);
    listening(port);
    c.sql("INSERT INTO a VALUES (2, 'from the page');");
    let (status, body) = http(
        port,
        "POST",
        "/ops/delta",
        &format!("X-Ingest-Token: {TOKEN}\r\n"),
        "",
    );
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("queued"), "{body}");
    let start = Instant::now();
    while !c
        .ok(&["status"])
        .lines()
        .any(|l| l.contains("delta") && l.contains(" ok "))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the queued delta did not run"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    c.assert_same("public.a", "a", &["id"]);
}
