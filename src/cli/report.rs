//! `ingest report day|month`: the manual's reports from state.db, as an
//! aligned table, CSV or JSON. The status page shows the same rows.

use anyhow::Result;

use crate::meta::{DayRow, Meta, MonthRow};

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "table" => Some(Format::Table),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// A report: its column names and rows of text.
pub struct Report {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

pub const DAY_HEADERS: [&str; 20] = [
    "run",
    "kind",
    "batch",
    "extract start",
    "extract end",
    "extract s",
    "load start",
    "load end",
    "load s",
    "tables",
    "loaded",
    "failed",
    "initial",
    "inserts",
    "updates",
    "deletes",
    "status",
    "total s",
    "db delay s",
    "load wait s",
];

pub fn day_rows(rows: &[DayRow]) -> Report {
    Report {
        headers: DAY_HEADERS.to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.run_id.to_string(),
                    r.kind.clone(),
                    opt(&r.batch_id),
                    r.extract_start.clone(),
                    opt(&r.extract_end),
                    opt(&r.extract_s),
                    opt(&r.load_start),
                    opt(&r.load_end),
                    opt(&r.load_s),
                    r.tables.to_string(),
                    r.loaded.to_string(),
                    r.failed.to_string(),
                    r.initial.to_string(),
                    r.inserts.to_string(),
                    r.updates.to_string(),
                    r.deletes.to_string(),
                    r.status.clone(),
                    opt(&r.total_s),
                    opt(&r.db_delay_s),
                    opt(&r.load_wait_s),
                ]
            })
            .collect(),
    }
}

pub const MONTH_HEADERS: [&str; 12] = [
    "day",
    "runs",
    "failed runs",
    "initial",
    "inserts",
    "updates",
    "deletes",
    "extract s",
    "load s",
    "total s",
    "max db delay s",
    "load wait s",
];

pub fn month_rows(rows: &[MonthRow]) -> Report {
    Report {
        headers: MONTH_HEADERS.to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.day.clone(),
                    r.runs.to_string(),
                    r.failed_runs.to_string(),
                    r.initial.to_string(),
                    r.inserts.to_string(),
                    r.updates.to_string(),
                    r.deletes.to_string(),
                    format!("{:.3}", r.extract_s),
                    format!("{:.3}", r.load_s),
                    format!("{:.3}", r.total_s),
                    opt(&r.db_delay_s),
                    format!("{:.3}", r.load_wait_s),
                ]
            })
            .collect(),
    }
}

/// An aligned table or CSV (RFC 4180 quoting).
pub fn render(r: &Report, f: Format) -> String {
    let mut out = String::new();
    match f {
        Format::Csv => {
            let field = |s: &str| {
                if s.contains([',', '"', '\n']) {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.to_string()
                }
            };
            let line = |cells: Vec<String>| cells.join(",") + "\n";
            out.push_str(&line(r.headers.iter().map(|h| field(h)).collect()));
            for row in &r.rows {
                out.push_str(&line(row.iter().map(|c| field(c)).collect()));
            }
        }
        Format::Table | Format::Json => {
            let widths: Vec<usize> = (0..r.headers.len())
                .map(|i| {
                    r.rows
                        .iter()
                        .map(|row| row[i].chars().count())
                        .chain([r.headers[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<&str>| {
                let padded: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                padded.join("  ").trim_end().to_string() + "\n"
            };
            out.push_str(&line(r.headers.clone()));
            for row in &r.rows {
                out.push_str(&line(row.iter().map(String::as_str).collect()));
            }
        }
    }
    out
}

/// `ingest report day DATE [--table T]`.
pub fn day(
    meta: &Meta,
    date: &str,
    table: Option<&str>,
    f: Format,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    check_date(date, 10, "YYYY-MM-DD")?;
    let rows = meta.day_report(date, table)?;
    match f {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
        _ => write!(out, "{}", render(&day_rows(&rows), f))?,
    }
    Ok(())
}

/// `ingest report month YYYY-MM`.
pub fn month(meta: &Meta, month: &str, f: Format, out: &mut dyn std::io::Write) -> Result<()> {
    check_date(month, 7, "YYYY-MM")?;
    let rows = meta.month_report(month)?;
    match f {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
        _ => write!(out, "{}", render(&month_rows(&rows), f))?,
    }
    Ok(())
}

/// Whether `s` is a date `YYYY-MM-DD` (`len` 10) or month `YYYY-MM` (7).
pub fn is_date(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

fn check_date(s: &str, len: usize, shape: &str) -> Result<()> {
    if !is_date(s, len) {
        return Err(crate::error::config(format!("{s} is not a date {shape}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_csv_quotes() {
        let r = Report {
            headers: vec!["a", "long name"],
            rows: vec![vec!["1".into(), "x, \"y\"".into()]],
        };
        assert_eq!(render(&r, Format::Table), "a  long name\n1  x, \"y\"\n");
        assert_eq!(render(&r, Format::Csv), "a,long name\n1,\"x, \"\"y\"\"\"\n");
        assert!(check_date("2026-11-24", 10, "").is_ok());
        assert!(check_date("2026-1-24", 10, "").is_err());
        assert!(check_date("2026-11", 7, "").is_ok());
    }
}
