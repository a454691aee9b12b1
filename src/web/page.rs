//! The pages, as HTML text: no framework, no script but a 5-second
//! refresh of the dashboard (`<meta http-equiv="refresh">`), no external
//! asset (the style sheet is inline). Every text from state.db or the logs
//! is escaped.

use super::chart::{self, RECORDS};
use super::data::{Status, TableRow};
use super::sys::human;
use crate::cli::report::Report;

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d232b;background:#f4f6f8}\
header{background:#1d2b45;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:baseline}\
header a{color:#cfe0ff;text-decoration:none}header b{font-size:18px}\
main{padding:16px 20px}.cards{display:flex;flex-wrap:wrap;gap:12px}\
.card{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:10px 14px;min-width:220px}\
.card h3{margin:0 0 6px;font-size:13px;text-transform:uppercase;color:#5a6675}\
table{border-collapse:collapse;background:#fff;margin:8px 0}td,th{border:1px solid #dde3ea;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#eef2f6}.ok{color:#2e7d32}.bad{color:#c62828}.num{text-align:right}\
.chart text.axis{font-size:10px;fill:#5a6675}.chart line.base{stroke:#aab4c0}\
.legend span{margin-right:12px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\
pre.log{background:#fff;border:1px solid #dde3ea;padding:8px;overflow-x:auto;font-size:12px}\
nav.filters a{margin-right:10px}.note{color:#5a6675}";

/// A page with the header and navigation.
pub fn layout(title: &str, instance: &str, refresh: bool, body: &str) -> String {
    let meta = if refresh {
        "<meta http-equiv=\"refresh\" content=\"5\">"
    } else {
        ""
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">{meta}<title>{} - ingest {}</title>\
         <style>{STYLE}</style></head><body><header><b>ingest</b><span>{}</span>\
         <a href=\"/\">Dashboard</a><a href=\"/tables\">Tables</a><a href=\"/reports\">Reports</a>\
         <a href=\"/logs\">Logs</a><a href=\"/api/status\">API</a><a href=\"/metrics\">Metrics</a>\
         </header><main>{body}</main></body></html>",
        esc(title),
        esc(instance),
        esc(instance)
    )
}

fn opt(v: &Option<String>) -> String {
    v.as_deref().map(esc).unwrap_or_else(|| "-".into())
}

fn yes(ok: bool) -> &'static str {
    if ok {
        "<span class=\"ok\">&#10003;</span>"
    } else {
        "<span class=\"bad\">&#10007;</span>"
    }
}

/// The dashboard.
pub fn dashboard(
    s: &Status,
    hourly: &[(String, [f64; 4])],
    daily: &[(String, [f64; 4])],
    source_lines: &[String],
    dest_lines: &[String],
    ops: bool,
) -> String {
    let card = |title: &str, c: &super::data::Card, last: &str| {
        format!(
            "<div class=\"card\"><h3>{title}</h3>{}<br>{}:{} &middot; {}<br>{}: {}<br>reachable: {}<br>last error: {}</div>",
            esc(&c.kind),
            esc(&c.host),
            c.port,
            esc(&c.database),
            last,
            opt(&c.last),
            c.reachable.map(yes).unwrap_or("-"),
            opt(&c.last_error)
        )
    };
    let t = &s.tables;
    let current = match &s.current {
        Some(c) => format!(
            "run {} ({}) started {}, {:.0} s ago: {} table(s) done, {} row(s) so far{}",
            c.run_id,
            esc(&c.kind),
            esc(&c.started_at),
            c.elapsed_s,
            c.tables_done,
            c.rows,
            c.last_table
                .as_deref()
                .map(|t| format!(", last: {}", esc(t)))
                .unwrap_or_default()
        ),
        None => "none running".into(),
    };
    let m = &s.machine;
    let free = |v: Option<u64>| v.map(human).unwrap_or_else(|| "-".into());
    let checklist: String = s
        .checklist
        .iter()
        .map(|(what, ok)| format!("{} {}<br>", yes(*ok), esc(what)))
        .collect();
    let lines = |l: &[String]| {
        if l.is_empty() {
            "(none)".to_string()
        } else {
            l.iter().map(|x| esc(x)).collect::<Vec<_>>().join("\n")
        }
    };
    let ops_note = if ops {
        "Operations are open to POST requests that carry the token (see the README)."
    } else {
        "Read-only: set <code>[web] token</code> to allow operations from the page."
    };
    let body = format!(
        "<div class=\"cards\">\
         <div class=\"card\"><h3>Instance</h3>{} &middot; ingest {}<br>now {}<br>position {}</div>\
         {}{}\
         <div class=\"card\"><h3>Tables</h3>selected {} &middot; ready {} &middot; failed {}<br>\
           waiting for sync-struct {} &middot; extracting {}<br>with history {}<br>records in the last 24 h {}</div>\
         <div class=\"card\"><h3>Schedule</h3>{} ({})<br>next run: {}{}</div>\
         <div class=\"card\"><h3>Machine</h3>spool free {}<br>state free {}<br>memory free {}<br>in the spool {}</div>\
         <div class=\"card\"><h3>Checklist</h3>{}</div>\
         </div>\
         <h2>Current run</h2><p>{}</p>\
         <h2>Records transferred, last 24 hours (hourly, UTC)</h2>{}\
         <h2>Records transferred, this month (daily, UTC)</h2>{}\
         <h2>Latest source log lines</h2><pre class=\"log\">{}</pre>\
         <h2>Latest destination log lines</h2><pre class=\"log\">{}</pre>\
         <p class=\"note\">Replication lag {} &middot; last success {} &middot; {}</p>",
        esc(&s.instance),
        s.version,
        esc(&s.now),
        opt(&s.position),
        card("Source", &s.source, "last extract"),
        card("Destination", &s.destination, "last load"),
        t.selected,
        t.ready,
        t.failed,
        t.waiting,
        t.extracting,
        t.with_history,
        t.records_24h,
        if s.schedule.on { "on" } else { "off" },
        esc(&s.schedule.mode),
        opt(&s.schedule.next_run),
        s.schedule
            .why_off
            .as_deref()
            .map(|w| format!("<br><span class=\"bad\">halted: {}</span>", esc(w)))
            .unwrap_or_default(),
        free(m.spool_free),
        free(m.state_free),
        free(m.memory_free),
        human(m.spool_bytes),
        checklist,
        current,
        chart::stacked(hourly, &RECORDS, ""),
        chart::stacked(daily, &RECORDS, ""),
        lines(source_lines),
        lines(dest_lines),
        s.lag_s
            .map(|l| format!("{l:.1} s"))
            .unwrap_or_else(|| "-".into()),
        opt(&s.last_success),
        ops_note,
    );
    layout("Dashboard", &s.instance, true, &body)
}

/// The tables page.
pub fn tables(instance: &str, rows: &[TableRow]) -> String {
    let mut body = String::from(
        "<h2>Tables</h2><table><tr><th>table</th><th>state</th><th>destination</th>\
         <th>rows at full extract</th><th>last change</th><th>last run I / U / D</th>\
         <th>last 24 h I / U / D</th><th>values written as NULL (24 h)</th><th>last error, with the fix</th></tr>",
    );
    for r in rows {
        let cls = if r.state == "ready" { "ok" } else { "bad" };
        body.push_str(&format!(
            "<tr><td>{}</td><td class=\"{cls}\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td class=\"num\">{} / {} / {}</td><td class=\"num\">{} / {} / {}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&r.table),
            esc(&r.state),
            esc(&r.dest),
            r.rows_at_full_extract,
            opt(&r.last_change),
            r.last_run[0],
            r.last_run[1],
            r.last_run[2],
            r.last_24h[0],
            r.last_24h[1],
            r.last_24h[2],
            r.warnings,
            opt(&r.error)
        ));
    }
    body.push_str("</table>");
    layout("Tables", instance, false, &body)
}

/// A report as an HTML table.
pub fn report_table(r: &Report) -> String {
    let mut out = String::from("<table><tr>");
    for h in &r.headers {
        out.push_str(&format!("<th>{}</th>", esc(h)));
    }
    out.push_str("</tr>");
    for row in &r.rows {
        out.push_str("<tr>");
        for c in row {
            out.push_str(&format!("<td>{}</td>", esc(c)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}
