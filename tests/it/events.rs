//! The manual's events: what a full extract and a delta emit, in the
//! events file, to a webhook and to a command; a dead webhook does not
//! hold a run up.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::common::Case;

/// Every event the instance wrote, in order.
fn events(c: &Case) -> Vec<Value> {
    let dir = c.dir.join("state").join("log");
    let mut out = vec![];
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events-")
        })
        .collect();
    files.sort();
    for f in files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            out.push(serde_json::from_str(line).unwrap());
        }
    }
    out
}

/// (type, table or job sub-type) of each event, sorted within runs of
/// table events (tables load in parallel).
fn shape(evs: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut tables: Vec<String> = vec![];
    for e in evs {
        let t = e["type"].as_str().unwrap();
        if t.starts_with("Table") {
            tables.push(format!("{t} {}", e["tabName"].as_str().unwrap()));
        } else {
            tables.sort();
            out.append(&mut tables);
            out.push(format!("{t} {}", e["jobSubType"].as_str().unwrap_or("")));
        }
    }
    tables.sort();
    out.append(&mut tables);
    out
}

/// A webhook receiver: the bodies it was sent.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(vec![]));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let g = g.clone();
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        if h == "\r\n" || h.is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    g.lock().unwrap().push(String::from_utf8(body).unwrap());
                    w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .unwrap();
                }
            });
        }
    });
    (url, got)
}

#[test]
fn a_full_extract_and_a_delta_emit_the_manual_events_with_their_counts() {
    let c = Case::new("events");
    let (url, got) = receiver();
    let piped = c.dir.join("piped.jsonl");
    c.write_config(
        &format!(
            "[notify]\nwebhook_url = \"{url}\"\ncommand = \"cat >> '{}'\"\n\n[[table]]\nname = \"public.*\"\n",
            piped.display()
        ),
        "",
    );
    c.sql(
        "CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text);
         INSERT INTO a SELECT g, 'a' FROM generate_series(1, 5) g;
         INSERT INTO b SELECT g, 'b' FROM generate_series(1, 3) g;",
    );
    c.ok(&["full-extract"]);
    let full = events(&c);
    assert_eq!(
        shape(&full),
        vec![
            "TableExtracted public.a",
            "TableExtracted public.b",
            "TableLoaded public.a",
            "TableLoaded public.b",
            "ExtractCompleted full-extract",
            "LoadCompleted full-extract",
        ]
    );
    let rows: BTreeMap<&str, i64> = full
        .iter()
        .filter(|e| e["type"] == "TableLoaded")
        .map(|e| {
            (
                e["tabName"].as_str().unwrap(),
                e["destInserts"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, BTreeMap::from([("public.a", 5), ("public.b", 3)]));
    for e in &full {
        assert_eq!(e["source"], "events");
        assert_eq!(e["sourceType"], "CDC");
        assert!(e["generated"].as_str().unwrap().starts_with("20"), "{e}");
    }
    let done = full.iter().find(|e| e["type"] == "LoadCompleted").unwrap();
    assert_eq!(
        (done["tableTotals"].as_i64(), done["tableErrors"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(done["success"], "Y");

    c.sql(
        "INSERT INTO a VALUES (6, 'n'), (7, 'n'); UPDATE a SET v = 'u' WHERE id = 1;
         DELETE FROM a WHERE id = 2; UPDATE b SET v = 'u' WHERE id = 3;",
    );
    c.ok(&["delta"]);
    let all = events(&c);
    let delta = &all[full.len()..];
    assert_eq!(
        shape(delta),
        vec![
            "ExtractCompleted delta",
            "TableLoaded public.a",
            "TableLoaded public.b",
            "LoadCompleted delta",
        ]
    );
    let a = delta.iter().find(|e| e["tabName"] == "public.a").unwrap();
    let counts = |e: &Value, side: &str| {
        ["Inserts", "Updates", "Deletes"].map(|k| e[format!("{side}{k}")].as_i64().unwrap())
    };
    assert_eq!(counts(a, "source"), [2, 1, 1]);
    assert_eq!(counts(a, "dest"), [2, 1, 1]);
    let ex = &delta[0];
    assert_eq!(ex["tableTotals"], 2);
    assert_eq!(ex["runId"], delta[3]["runId"]);
    assert!(ex["fromSeq"].is_string() && ex["toSeq"].is_string(), "{ex}");

    // The webhook and the command got the same events (delivered on a
    // thread of their own, finished before the process ends).
    let posted: Vec<Value> = got
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(posted, all);
    let piped: Vec<Value> = std::fs::read_to_string(&piped)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(piped, all);
}

#[test]
fn a_dead_webhook_does_not_hold_a_run_up_and_loses_no_event() {
    let c = Case::new("events_dead");
    // Accepts connections and never answers: each try waits for its
    // timeout (2 s), three tries an event.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let held = Arc::new(Mutex::new(vec![]));
    let h = held.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            h.lock().unwrap().push(s);
        }
    });
    c.write_config(
        &format!("[notify]\nwebhook_url = \"{url}\"\n\n[[table]]\nname = \"public.*\"\n"),
        "",
    );
    c.sql("CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a VALUES (1), (2);");
    let t0 = std::time::Instant::now();
    c.ok(&["full-extract"]);
    // Four events, each waited for up to 3 x 2 s if the run waited for the
    // webhook: it does not (it gives the thread 3 s at the end).
    let took = t0.elapsed();
    assert!(took.as_secs() < 15, "full-extract took {took:?}");
    let types: Vec<String> = events(&c).iter().map(|e| e["type"].to_string()).collect();
    assert_eq!(types.len(), 4, "{types:?}");
}
