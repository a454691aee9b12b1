//! The status page: the manual's Dashboard, Tables, Reports and Logs, plus
//! `/api/status` (the dashboard as JSON) and `/metrics` (Prometheus text),
//! served by the binary itself on one thread (`tiny_http`), from state.db,
//! the configuration and the log files only. `ingest serve` serves it
//! alone; `ingest run` on a thread beside its runs (`[web] enabled`).
//!
//! Operations (delta, a table's full extract, sync-new-tables, scheduler
//! on/off) are POSTs that must carry `[web] token` (header `X-Ingest-Token`
//! or form field `token`); without a configured token every POST is
//! refused (403) and the page says it is read-only. An operation starts
//! `ingest <command>` as a process of its own, so the instance lock keeps
//! it from overlapping a run. No page, answer or metric holds a password
//! or the token.

mod chart;
mod data;
pub mod page;
pub mod sys;

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::config::Config;
use crate::meta::Meta;

/// Bodies of POST requests are read up to this many bytes.
const MAX_BODY: u64 = 64 * 1024;
/// Lines of a logs page.
const LOG_PAGE: usize = 200;
/// Bytes read from the end of each log file.
const LOG_TAIL: u64 = 2 << 20;

/// `ingest serve`: serves the page until the process is stopped.
pub fn serve(cfg: &Config) -> Result<()> {
    let server = bind(cfg)?;
    log::info!("status page on http://{}/", cfg.web.bind);
    println!("status page on http://{}/ (Ctrl-C stops it)", cfg.web.bind);
    run(cfg, &server)
}

/// `ingest run`: serves the page on a thread of its own, when enabled; a
/// port in use is a warning, not the end of the runs.
pub fn spawn(cfg: &Config) {
    if !cfg.web.enabled {
        return;
    }
    let server = match bind(cfg) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("status page: {e:#}; runs go on without it");
            return;
        }
    };
    log::info!("status page on http://{}/", cfg.web.bind);
    let cfg = cfg.clone();
    std::thread::spawn(move || {
        if let Err(e) = run(&cfg, &server) {
            log::warn!("status page stopped: {e:#}");
        }
    });
}

fn bind(cfg: &Config) -> Result<Server> {
    Server::http(&cfg.web.bind).map_err(|e| {
        crate::error::config(format!(
            "web.bind {}: cannot listen there ({e}); choose another address or port",
            cfg.web.bind
        ))
    })
}

fn run(cfg: &Config, server: &Server) -> Result<()> {
    // A connection of its own: reads never wait for a run's writes.
    let meta = Meta::open(&cfg.state_db())?;
    for mut req in server.incoming_requests() {
        let resp = match handle(cfg, &meta, &mut req) {
            Ok(r) => r,
            Err(e) => text(500, &format!("error: {e:#}")),
        };
        let _ = req.respond(resp);
    }
    Ok(())
}

type Resp = Response<std::io::Cursor<Vec<u8>>>;

fn with_type(body: String, status: u16, content_type: &str) -> Resp {
    let h = Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()).expect("header");
    Response::from_string(body)
        .with_status_code(status)
        .with_header(h)
}

fn text(status: u16, body: &str) -> Resp {
    with_type(format!("{body}\n"), status, "text/plain; charset=utf-8")
}

fn html(body: String) -> Resp {
    with_type(body, 200, "text/html; charset=utf-8")
}

/// `a=1&b=x%20y` → pairs, decoded.
fn query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(v)) => {
                out.push(v);
                i += 2;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Bound to a loopback address, the page answers only requests for a
/// loopback name: a web page elsewhere that points its own name at
/// 127.0.0.1 (DNS rebinding) cannot read it through a visitor's browser.
fn host_allowed(bind: &str, host: Option<&str>) -> bool {
    let loopback = bind
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback());
    if !loopback {
        return true;
    }
    let Some(host) = host else { return false };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

fn handle(cfg: &Config, meta: &Meta, req: &mut Request) -> Result<Resp> {
    let host = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str().to_string());
    if !host_allowed(&cfg.web.bind, host.as_deref()) {
        return Ok(text(421, "this page answers for localhost only"));
    }
    let url = req.url().to_string();
    let (path, q) = url.split_once('?').unwrap_or((&url, ""));
    let q = query(q);
    let method = req.method().clone();
    Ok(match (&method, path) {
        (Method::Get, "/") => html(dashboard(cfg, meta)?),
        (Method::Get, "/tables") => html(page::tables(&cfg.instance.name, &data::tables(meta)?)),
        (Method::Get, "/reports") => html(reports(cfg, meta, &q)?),
        (Method::Get, "/logs") => html(logs(cfg, &q)?),
        (Method::Get, "/api/status") => with_type(
            serde_json::to_string_pretty(&data::status(cfg, meta)?)?,
            200,
            "application/json",
        ),
        (Method::Get, "/metrics") => with_type(
            metrics(cfg, meta)?,
            200,
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (Method::Post, p) if p.starts_with("/ops/") => operation(cfg, meta, req, &p[5..])?,
        (Method::Get, _) | (Method::Post, _) => text(404, "not found"),
        _ => text(405, "method not allowed"),
    })
}

fn dashboard(cfg: &Config, meta: &Meta) -> Result<String> {
    let s = data::status(cfg, meta)?;
    let as_f = |v: Vec<(String, [i64; 4])>| -> Vec<(String, [f64; 4])> {
        v.into_iter()
            .map(|(k, a)| (k, a.map(|x| x as f64)))
            .collect()
    };
    // Every hour of the last 24 and every day of the month, also empty ones.
    let hours: Vec<String> = (0..24)
        .rev()
        .map(|h| data::ago(h)[..13].to_string())
        .collect();
    let got = meta.transferred(&format!("{}:00", &data::ago(23)[..13]), 13)?;
    let hourly = as_f(fill(&hours, got))
        .into_iter()
        .map(|(k, v)| (format!("{}h", &k[11..13]), v))
        .collect::<Vec<_>>();
    let month = crate::clock::now()[..7].to_string();
    let today: u32 = crate::clock::now()[8..10].parse().unwrap_or(1);
    let days: Vec<String> = (1..=today).map(|d| format!("{month}-{d:02}")).collect();
    let got = meta.transferred(&format!("{month}-01"), 10)?;
    let daily = as_f(fill(&days, got))
        .into_iter()
        .map(|(k, v)| (k[8..10].to_string(), v))
        .collect::<Vec<_>>();
    let lines = read_log(cfg)?;
    let last = |f: Filter| -> Vec<String> {
        let mut l: Vec<String> = lines.iter().filter(|x| f.keeps(x)).cloned().collect();
        l.drain(..l.len().saturating_sub(5));
        l
    };
    Ok(page::dashboard(
        &s,
        &hourly,
        &daily,
        &last(Filter::Source),
        &last(Filter::Destination),
        cfg.web.token.is_some(),
    ))
}

/// `keys` in order, each with its values from `got` (zeros when none).
fn fill(keys: &[String], got: Vec<(String, [i64; 4])>) -> Vec<(String, [i64; 4])> {
    keys.iter()
        .map(|k| {
            let v = got
                .iter()
                .find(|(g, _)| g == k)
                .map(|(_, v)| *v)
                .unwrap_or_default();
            (k.clone(), v)
        })
        .collect()
}

fn reports(cfg: &Config, meta: &Meta, q: &[(String, String)]) -> Result<String> {
    use crate::cli::report::{day_rows, month_rows};
    let now = crate::clock::now();
    let day = param(q, "day").unwrap_or("");
    let month = param(q, "month").unwrap_or(&now[..7]);
    let mut body = String::from(
        "<h2>Reports</h2><form method=\"get\">Month <input name=\"month\" placeholder=\"YYYY-MM\"> \
         or day <input name=\"day\" placeholder=\"YYYY-MM-DD\"> <button>Show</button></form>",
    );
    if crate::cli::report::is_date(day, 10) {
        let rows = meta.day_report(day, param(q, "table"))?;
        let perf: Vec<(String, [f64; 4])> = rows
            .iter()
            .map(|r| {
                (
                    format!("run {}", r.run_id),
                    [
                        r.db_delay_s.unwrap_or(0.0).max(0.0),
                        r.extract_s.unwrap_or(0.0).max(0.0),
                        r.load_wait_s.unwrap_or(0.0).max(0.0),
                        r.load_s.unwrap_or(0.0).max(0.0),
                    ],
                )
            })
            .collect();
        body.push_str(&format!(
            "<h3>Day {} (UTC), per run</h3>{}<h3>Performance (seconds)</h3>{}",
            page::esc(day),
            page::report_table(&day_rows(&rows)),
            chart::stacked(&perf, &PERF, " s")
        ));
    } else if crate::cli::report::is_date(month, 7) {
        let rows = meta.month_report(month)?;
        let records: Vec<(String, [f64; 4])> = rows
            .iter()
            .map(|r| {
                let v = [r.initial, r.inserts, r.updates, r.deletes];
                (r.day[8..].to_string(), v.map(|x| x as f64))
            })
            .collect();
        let perf: Vec<(String, [f64; 4])> = rows
            .iter()
            .map(|r| {
                (
                    r.day[8..].to_string(),
                    [
                        r.db_delay_s.unwrap_or(0.0).max(0.0),
                        r.extract_s,
                        r.load_wait_s,
                        r.load_s,
                    ],
                )
            })
            .collect();
        let links: String = rows
            .iter()
            .map(|r| format!("<a href=\"/reports?day={0}\">{0}</a> ", page::esc(&r.day)))
            .collect();
        body.push_str(&format!(
            "<h3>Month {} (UTC), per day</h3>{}<p>Days: {links}</p><h3>Records</h3>{}\
             <h3>Performance (seconds; DB delay is the day's longest)</h3>{}",
            page::esc(month),
            page::report_table(&month_rows(&rows)),
            chart::stacked(&records, &chart::RECORDS, ""),
            chart::stacked(&perf, &PERF, " s")
        ));
    } else {
        body.push_str("<p class=\"bad\">dates are YYYY-MM-DD, months YYYY-MM</p>");
    }
    Ok(page::layout("Reports", &cfg.instance.name, false, &body))
}

/// The performance report's parts.
const PERF: [(&str, &str); 4] = [
    ("DB delay", "#8a6bd1"),
    ("extract", "#3b6fd8"),
    ("load wait", "#e0b320"),
    ("load", "#2e9d4a"),
];

/// What the logs page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    All,
    Source,
    Destination,
    Other,
    Errors,
}

impl Filter {
    fn parse(s: Option<&str>) -> Filter {
        match s {
            Some("source") => Filter::Source,
            Some("destination") => Filter::Destination,
            Some("other") => Filter::Other,
            Some("errors") => Filter::Errors,
            _ => Filter::All,
        }
    }
    /// By the module that logged the line.
    fn keeps(self, line: &str) -> bool {
        let source = line.contains("] ingest::source");
        let dest = [
            "] ingest::dest",
            "] ingest::run::load",
            "] ingest::run::outcome",
        ]
        .iter()
        .any(|t| line.contains(t));
        match self {
            Filter::All => true,
            Filter::Source => source,
            Filter::Destination => dest,
            Filter::Other => !source && !dest,
            Filter::Errors => line.contains("[ERROR]"),
        }
    }
}

/// The lines of this month's and last month's log files, oldest first.
fn read_log(cfg: &Config) -> Result<Vec<String>> {
    let dir = cfg.log_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("ingest-") && n.ends_with(".log"))
        .collect();
    names.sort();
    let mut lines = vec![];
    for n in names.iter().rev().take(2).rev() {
        lines.extend(read_lines(&dir.join(n))?);
    }
    Ok(lines)
}

/// The lines of the last [`LOG_TAIL`] bytes of a log file (the page reads
/// no more on each refresh, however long the month's log grew).
fn read_lines(p: &Path) -> Result<Vec<String>> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
    let len = f.metadata()?.len();
    let from = len.saturating_sub(LOG_TAIL);
    f.seek(SeekFrom::Start(from))?;
    let mut bytes = vec![];
    f.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if from > 0 && !lines.is_empty() {
        // The first line was cut.
        lines.remove(0);
    }
    Ok(lines)
}

fn logs(cfg: &Config, q: &[(String, String)]) -> Result<String> {
    let f = Filter::parse(param(q, "filter"));
    let mut lines: Vec<String> = read_log(cfg)?.into_iter().filter(|l| f.keeps(l)).collect();
    lines.reverse();
    let pages = lines.len().div_ceil(LOG_PAGE).max(1);
    let page_no: usize = param(q, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0usize)
        .min(pages - 1);
    let shown: Vec<String> = lines
        .iter()
        .skip(page_no * LOG_PAGE)
        .take(LOG_PAGE)
        .map(|l| page::esc(l))
        .collect();
    let name = |f: Filter| format!("{f:?}").to_lowercase();
    let filters: String = [
        Filter::All,
        Filter::Source,
        Filter::Destination,
        Filter::Other,
        Filter::Errors,
    ]
    .iter()
    .map(|&x| format!("<a href=\"/logs?filter={0}\">{0}</a>", name(x)))
    .collect();
    let nav = |p: usize, label: &str| {
        format!("<a href=\"/logs?filter={}&page={p}\">{label}</a>", name(f))
    };
    let mut pager = String::new();
    if page_no > 0 {
        pager.push_str(&nav(page_no - 1, "newer"));
    }
    if page_no + 1 < pages {
        pager.push_str(&nav(page_no + 1, " older"));
    }
    let body = format!(
        "<h2>Logs: {} (newest first, page {} of {pages}; the last 2 MiB of each file)</h2><nav class=\"filters\">{filters}</nav>\
         <pre class=\"log\">{}</pre><p>{pager}</p>",
        name(f),
        page_no + 1,
        shown.join("\n")
    );
    Ok(page::layout("Logs", &cfg.instance.name, false, &body))
}

/// Prometheus text: runs, rows, durations, lag, failed tables, spool.
fn metrics(cfg: &Config, meta: &Meta) -> Result<String> {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in samples {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    let label = |pairs: &[(&str, &str)]| {
        let inner: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                format!("{k}=\"{v}\"")
            })
            .collect();
        format!("{{{}}}", inner.join(","))
    };
    let runs: Vec<(String, String, i64)> = meta.read(|c| {
        let mut st = c.prepare(
            "SELECT kind, status, COUNT(*) FROM runs WHERE status <> 'running' GROUP BY kind, status",
        )?;
        let r = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        r.collect()
    })?;
    family(
        "ingest_runs_total",
        "counter",
        "Finished runs recorded in state.db, by kind and status.",
        runs.iter()
            .map(|(k, s, n)| (label(&[("kind", k), ("status", s)]), *n as f64))
            .collect(),
    );
    let rows: Vec<(String, [i64; 3])> = meta.read(|c| {
        let mut st = c.prepare(
            "SELECT table_name, SUM(inserts), SUM(updates), SUM(deletes) FROM run_tables \
             WHERE status = 'loaded' GROUP BY table_name",
        )?;
        let r = st.query_map([], |r| Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?])))?;
        r.collect()
    })?;
    let mut samples = vec![];
    for (t, v) in &rows {
        for (op, n) in ["insert", "update", "delete"].iter().zip(v) {
            samples.push((label(&[("table", t), ("op", op)]), *n as f64));
        }
    }
    family(
        "ingest_rows_total",
        "counter",
        "Rows written to the destination (full extracts as inserts), by table and operation.",
        samples,
    );
    let last: Vec<(String, f64, f64, f64, f64)> = meta.read(|c| {
        let mut st = c.prepare(
            "SELECT kind, \
               (julianday(finished_at) - julianday(started_at)) * 86400.0, \
               COALESCE((julianday(extracted_at) - julianday(started_at)) * 86400.0, 0), \
               COALESCE((julianday(finished_at) - julianday(COALESCE(load_started_at, extracted_at, started_at))) * 86400.0, 0), \
               COALESCE((julianday(started_at) - julianday(first_commit_at)) * 86400.0, 0) \
             FROM runs r WHERE finished_at IS NOT NULL AND kind NOT IN ('retry', 'halt') \
               AND id = (SELECT MAX(id) FROM runs x WHERE x.kind = r.kind AND x.finished_at IS NOT NULL)",
        )?;
        let r = st.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        r.collect()
    })?;
    let mut samples = vec![];
    for (k, total, ex, ld, delay) in &last {
        for (phase, v) in [
            ("total", total),
            ("extract", ex),
            ("load", ld),
            ("db_delay", delay),
        ] {
            samples.push((
                label(&[("kind", k), ("phase", phase)]),
                (v * 1000.0).round() / 1000.0,
            ));
        }
    }
    family(
        "ingest_last_run_seconds",
        "gauge",
        "The last finished run of each kind: its duration and phases.",
        samples,
    );
    let s = data::status(cfg, meta)?;
    family(
        "ingest_replication_lag_seconds",
        "gauge",
        "From the last source commit applied to now.",
        s.lag_s.map(|l| (String::new(), l)).into_iter().collect(),
    );
    let success = meta.read(|c| {
        c.query_row(
            "SELECT (julianday(MAX(finished_at)) - 2440587.5) * 86400.0 FROM runs WHERE status = 'ok'",
            [],
            |r| r.get::<_, Option<f64>>(0),
        )
    })?;
    family(
        "ingest_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last run that ended ok.",
        success
            .map(|v| (String::new(), v.round()))
            .into_iter()
            .collect(),
    );
    family(
        "ingest_failed_tables",
        "gauge",
        "Tables failed (including those waiting for sync-struct).",
        vec![(String::new(), (s.tables.failed + s.tables.waiting) as f64)],
    );
    family(
        "ingest_spool_bytes",
        "gauge",
        "Bytes in the spool folder.",
        vec![(String::new(), s.machine.spool_bytes as f64)],
    );
    family(
        "ingest_scheduler_on",
        "gauge",
        "1 while scheduled runs are on.",
        vec![(String::new(), if s.schedule.on { 1.0 } else { 0.0 })],
    );
    Ok(out)
}

/// Compares without stopping at the first difference.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn operation(cfg: &Config, meta: &Meta, req: &mut Request, op: &str) -> Result<Resp> {
    let Some(token) = &cfg.web.token else {
        return Ok(text(403, "read-only: set [web] token to allow operations"));
    };
    let mut body = String::new();
    let _ = req.as_reader().take(MAX_BODY).read_to_string(&mut body);
    let form = query(&body);
    let header = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("X-Ingest-Token"))
        .map(|h| h.value.as_str().to_string());
    let given = header.or_else(|| param(&form, "token").map(str::to_string));
    if !given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
        return Ok(text(403, "forbidden: a wrong or missing token"));
    }
    let args: Vec<String> = match op {
        "delta" => vec!["delta".into()],
        "sync-new-tables" => vec!["sync-new-tables".into()],
        "full-extract" => match param(&form, "table") {
            Some(t) if !t.is_empty() && !t.starts_with('-') && !t.chars().any(char::is_control) => {
                vec!["full-extract".into(), t.to_string()]
            }
            _ => return Ok(text(400, "full-extract needs a table (form field table)")),
        },
        "scheduler" => {
            return Ok(match param(&form, "state") {
                Some(s @ ("on" | "off")) => {
                    meta.set_scheduler(s == "on", None)?;
                    log::info!("scheduler {s} (from the status page)");
                    text(200, &format!("scheduler {s}"))
                }
                _ => text(400, "scheduler needs state=on or state=off"),
            })
        }
        _ => return Ok(text(404, "no such operation")),
    };
    // A run holds the instance (`ingest run`, or a command under way): the
    // operation waits in state.db for `ingest run` to take it between runs.
    match crate::instance::lock(cfg) {
        Ok(free) => drop(free),
        Err(_) => {
            meta.set_request(&args.join(" "))?;
            log::info!("queued `ingest {}` from the status page", args.join(" "));
            return Ok(text(
                202,
                &format!(
                    "queued `ingest {}`: a run holds the instance; `ingest run` takes it between runs",
                    args.join(" ")
                ),
            ));
        }
    }
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .arg("-c")
        .arg(&cfg.path)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    // Reaped when it ends; its outcome is in state.db and the log.
    std::thread::spawn(move || child.wait());
    log::info!(
        "started `ingest {}` (process {pid}) from the status page",
        args.join(" ")
    );
    Ok(text(
        202,
        &format!(
            "started `ingest {}` (process {pid}); its outcome shows on the dashboard",
            args.join(" ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_reach_a_loopback_page() {
        let b = "127.0.0.1:8081";
        assert!(host_allowed(b, Some("127.0.0.1:8081")));
        assert!(host_allowed(b, Some("localhost:8081")));
        assert!(host_allowed(b, Some("[::1]:8081")));
        assert!(!host_allowed(b, Some("evil.example:8081")));
        assert!(!host_allowed(b, None));
        assert!(host_allowed("0.0.0.0:8081", Some("ingest.corp:8081")));
    }

    #[test]
    fn queries_decode_and_secrets_compare() {
        assert_eq!(
            query("a=1&b=x%20y+z&c"),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x y z".to_string()),
                ("c".to_string(), String::new())
            ]
        );
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(Filter::Source.keeps("2026 [INFO] ingest::source::postgres::slot: x"));
        assert!(!Filter::Source.keeps("2026 [INFO] ingest::run::delta: x"));
        assert!(Filter::Other.keeps("2026 [INFO] ingest::run::delta: x"));
        assert!(Filter::Errors.keeps("2026 [ERROR] ingest::run::delta: x"));
    }
}
