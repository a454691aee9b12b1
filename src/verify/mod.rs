//! `ingest verify`: is the destination the source? Per table, the row count
//! and an order-independent checksum of every row's canonical values
//! ([`canon`]), computed by each server in one aggregate query, so no table
//! passes through ingest; `--rows` narrows a difference down to keys by
//! comparing the same sums per key bucket and reading only the rows of the
//! buckets that differ. Nothing is changed anywhere, and no lock is taken:
//! it runs beside `ingest run`.

pub mod canon;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::config::{Config, Source};
use crate::dest::{sql::q, Dest};
use crate::meta::Meta;
use crate::schema::TableSchema;
use crate::source as sources;
use crate::table::TableId;
use canon::{Side, Sql};

/// `ingest verify`'s arguments.
pub struct Options {
    /// Names or globs among the selected tables (none: all).
    pub tables: Vec<String>,
    /// List the keys that differ.
    pub rows: bool,
    /// At most this many keys listed per table.
    pub limit: usize,
    /// A condition both sides' rows are limited to (`--where`).
    pub filter: Option<String>,
}

/// Rows of differing buckets read at most per table and side for `--rows`.
const ROWS_READ: u64 = 200_000;

enum Verdict {
    Equal { rows: u64, notes: Vec<String> },
    Differs(Vec<String>),
    NotCompared(String),
}

/// What the two sides' queries need, built once per table.
struct Plan {
    src_table: String,
    dst_table: String,
    src_values: Vec<(String, bool)>,
    dst_values: Vec<(String, bool)>,
    src_key: Vec<(String, bool)>,
    dst_key: Vec<(String, bool)>,
    key_names: Vec<String>,
    dst_filter: Option<String>,
    /// Columns left out, and why.
    skipped: Vec<String>,
}

pub fn verify(cfg: &Config, meta: &Meta, o: &Options, out: &mut impl Write) -> Result<()> {
    if let Some(f) = &o.filter {
        if f.contains(';') || f.trim().is_empty() {
            return Err(crate::error::config(format!(
                "--where {f:?}: one condition on key columns, without `;`"
            )));
        }
    }
    let src_sql = match cfg.source {
        Source::Postgres(_) => Sql::Postgres,
        Source::Mysql(_) => Sql::Mysql { convert_text: true },
        Source::SqlServer(_) => {
            return Err(crate::error::config(
                "ingest verify does not compare SQL Server sources yet (its checksum queries \
                 are written for PostgreSQL and MySQL/MariaDB)",
            ))
        }
    };
    let mut src = crate::run::source(cfg)?;
    let (mut names, missing) = sources::selected_and_missing(src.as_mut(), cfg)?;
    sources::narrow(&mut names, &o.tables)?;
    // A configured table the source lacks is named, and the others compared.
    let missing: Vec<String> = missing
        .into_iter()
        .filter(|m| sources::wanted(&o.tables, m))
        .collect();
    let mut dest = Dest::connect(&cfg.destination)?;
    let mut differ = vec![];
    let mut skipped = 0;
    for id in &names {
        let t0 = Instant::now();
        let verdict = table(cfg, meta, src.as_mut(), &mut dest, id, o, src_sql)
            .unwrap_or_else(|e| Verdict::Differs(vec![format!("cannot compare: {e:#}")]));
        let secs = t0.elapsed().as_secs_f64();
        match verdict {
            Verdict::Equal { rows, notes } => {
                writeln!(out, "{id}: equal, {rows} rows ({secs:.1} s)")?;
                for l in notes {
                    writeln!(out, "  {l}")?;
                }
            }
            Verdict::Differs(lines) => {
                writeln!(out, "{id}: DIFFERS ({secs:.1} s)")?;
                for l in lines {
                    writeln!(out, "  {l}")?;
                }
                differ.push(id.to_string());
            }
            Verdict::NotCompared(why) => {
                writeln!(out, "{id}: not compared: {why}")?;
                skipped += 1;
            }
        }
    }
    for m in &missing {
        writeln!(
            out,
            "{m}: DIFFERS\n  not found at the source (or not readable by its user): not compared"
        )?;
        differ.push(m.clone());
    }
    let compared = names.len() + missing.len() - skipped;
    if differ.is_empty() {
        writeln!(
            out,
            "verify: {compared} table(s) equal{}",
            if skipped > 0 {
                format!(", {skipped} not compared")
            } else {
                String::new()
            }
        )?;
        Ok(())
    } else {
        // Each side is read in one statement (a consistent state of each
        // server), so a run merging meanwhile only means "not caught up".
        let busy = if crate::instance::run_under_way(cfg) {
            " (a run of this instance is under way: changes it has not merged yet show as \
             differences; run verify again when it has finished)"
        } else {
            ""
        };
        Err(anyhow!(
            "verify: {} of {compared} table(s) differ: {}{busy}",
            differ.len(),
            differ.join(", ")
        ))
    }
}

fn table(
    cfg: &Config,
    meta: &Meta,
    src: &mut dyn sources::Source,
    dest: &mut Dest,
    id: &TableId,
    o: &Options,
    src_sql: Sql,
) -> Result<Verdict> {
    let rule = cfg.rule_for(&id.schema, &id.name);
    if rule.is_some_and(|r| r.skip_initial) {
        return Ok(Verdict::NotCompared(
            "skip_initial (the destination holds only the rows changed since its start)".into(),
        ));
    }
    let s = crate::run::describe(src, cfg, id)?;
    if let Some(w) = &s.filter {
        return Ok(Verdict::NotCompared(format!(
            "where = {w:?} (its initial extract was filtered, its deltas are not)"
        )));
    }
    if meta.table_state(&id.to_string())?.is_none() {
        return Ok(Verdict::Differs(vec![
            "never loaded by this instance: run `ingest full-extract` (or `sync-new-tables`)"
                .into(),
        ]));
    }
    let dcols = dest.columns(&s)?;
    if dcols.is_empty() {
        return Ok(Verdict::Differs(vec![format!(
            "{} does not exist at the destination",
            s.dest_name()
        )]));
    }
    let p = match plan(&s, &dcols, src_sql, cfg, o)? {
        Ok(p) => p,
        Err(missing) => return Ok(Verdict::Differs(missing)),
    };
    let src_side = Side {
        sql: src_sql,
        table: &p.src_table,
        values: &p.src_values,
        key: &p.src_key,
        filter: o.filter.clone(),
    };
    let dst_side = Side {
        sql: Sql::Mysql {
            convert_text: false,
        },
        table: &p.dst_table,
        values: &p.dst_values,
        key: &p.dst_key,
        filter: p.dst_filter.clone(),
    };
    // With --rows the per-bucket sums are read at once (their totals are
    // the table's), so that a difference does not cost a second pass.
    let (a, b, per_bucket) = if o.rows {
        let (a, b) = both(src, dest, &src_side.per_bucket(), &dst_side.per_bucket());
        let (a, b) = (buckets(a?), buckets(b?));
        (totals(&a), totals(&b), Some((a, b)))
    } else {
        let (a, b) = both(src, dest, &src_side.total(), &dst_side.total());
        (one_row(a, "source")?, one_row(b, "destination")?, None)
    };
    let mut notes: Vec<String> = p.skipped.clone();
    if a == b {
        let rows = a[0].parse().unwrap_or(0);
        return Ok(Verdict::Equal { rows, notes });
    }
    let mut lines = vec![format!(
        "source {} rows, destination {} rows{}",
        a[0],
        b[0],
        if a[0] == b[0] { ", values differ" } else { "" }
    )];
    match per_bucket {
        Some((sa, sb)) => lines.extend(keys(
            src,
            dest,
            (&src_side, &sa),
            (&dst_side, &sb),
            &p.key_names,
            o.limit,
        )?),
        None => lines.push("`--rows` lists the keys that differ".into()),
    }
    lines.append(&mut notes);
    Ok(Verdict::Differs(lines))
}

/// A table's count and sum from its buckets' (as `total` would give).
fn totals(b: &Buckets) -> Vec<String> {
    let mut n = 0u128;
    let mut sum = 0u128;
    for v in b.values() {
        n += v.first().and_then(|c| c.parse::<u128>().ok()).unwrap_or(0);
        sum += v.get(1).and_then(|c| c.parse::<u128>().ok()).unwrap_or(0);
    }
    vec![n.to_string(), sum.to_string()]
}

/// The columns compared and their expressions on both sides; `Err` with
/// the lines that say why the table cannot be compared (columns the
/// destination lacks).
fn plan(
    s: &TableSchema,
    dcols: &[crate::dest::alter::DestCol],
    src_sql: Sql,
    cfg: &Config,
    o: &Options,
) -> Result<std::result::Result<Plan, Vec<String>>> {
    let min_year = cfg.destination.dialect.min_year();
    let src_quote = |c: &str| match src_sql {
        Sql::Postgres => crate::source::postgres::qi(c),
        Sql::Mysql { .. } => q(c),
    };
    let dst_sql = Sql::Mysql {
        convert_text: false,
    };
    let mut p = Plan {
        src_table: format!("{}.{}", src_quote(&s.schema), src_quote(&s.name)),
        dst_table: format!("{}.{}", q(&s.dest_db), q(&s.dest_table)),
        src_values: vec![],
        dst_values: vec![],
        src_key: vec![],
        dst_key: vec![],
        key_names: vec![],
        dst_filter: None,
        skipped: vec![],
    };
    let mut missing = vec![];
    let exprs = |i: usize| -> Option<((String, bool), (String, bool))> {
        let c = &s.columns[i];
        let d = dcols
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(&c.name))?;
        let sq = src_quote(&c.name);
        let src = match src_sql {
            Sql::Postgres => canon::postgres(&sq, c, min_year),
            Sql::Mysql { .. } => canon::mysql(&sq, &c.source_type, src_sql, min_year),
        };
        let plain = canon::plain(c, src_sql);
        Some((
            (src, plain),
            (canon::mysql(&q(&d.name), &d.column_type, dst_sql, 0), plain),
        ))
    };
    for (i, c) in s.columns.iter().enumerate() {
        let why = if c.masked {
            Some("masked")
        } else if c.type_change.is_some() {
            Some("type_change")
        } else {
            None
        };
        if let Some(why) = why {
            p.skipped
                .push(format!("column {} not compared ({why})", c.name));
            continue;
        }
        match exprs(i) {
            Some((a, b)) => {
                p.src_values.push(a);
                p.dst_values.push(b);
            }
            None => missing.push(c.name.clone()),
        }
    }
    if !missing.is_empty() {
        return Ok(Err(vec![format!(
            "the destination has no column {} (a structure change waits for `ingest sync-struct`?)",
            missing.join(", ")
        )]));
    }
    for &k in &s.key {
        if let Some((a, b)) = exprs(k) {
            p.src_key.push(a);
            p.dst_key.push(b);
            p.key_names.push(s.columns[k].name.clone());
        }
    }
    let mut conds = vec![];
    if let Some(h) = &s.history {
        // The current versions are the rows the source has.
        conds.push(format!(
            "{} = '{}' AND ({} IS NULL OR {} <> 'D')",
            q(&h.end),
            h.open_end,
            q(&h.op),
            q(&h.op)
        ));
    }
    if let Some(f) = &o.filter {
        conds.push(format!("({f})"));
    }
    if !conds.is_empty() {
        p.dst_filter = Some(conds.join(" AND "));
    }
    Ok(Ok(p))
}

type Rows = Result<Vec<Vec<Option<String>>>>;

/// Runs the source's and the destination's query at the same time (each
/// server scans its own table).
fn both(src: &mut dyn sources::Source, dest: &mut Dest, a: &str, b: &str) -> (Rows, Rows) {
    std::thread::scope(|sc| {
        let h = sc.spawn(|| crate::dest::text_rows(dest.conn(), b));
        let ra = src.query_text(a);
        let rb = h
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the destination's query panicked")));
        (ra, rb)
    })
}

fn one_row(r: Rows, side: &str) -> Result<Vec<String>> {
    let rows = r.map_err(|e| anyhow!("{side}: {e:#}"))?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("{side}: the checksum query returned no row"))?;
    Ok(row.into_iter().map(Option::unwrap_or_default).collect())
}

/// Per bucket: count and the two sums.
type Buckets = BTreeMap<u32, Vec<String>>;

fn buckets(rows: Vec<Vec<Option<String>>>) -> Buckets {
    rows.into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter().map(Option::unwrap_or_default);
            let b = it.next()?.parse().ok()?;
            Some((b, it.collect()))
        })
        .collect()
}

/// The keys that differ, at most `limit`, read from the buckets whose sums
/// (`sa`, `sb`) differ (at most [`ROWS_READ`] rows a side).
fn keys(
    src: &mut dyn sources::Source,
    dest: &mut Dest,
    (a, sa): (&Side, &Buckets),
    (b, sb): (&Side, &Buckets),
    names: &[String],
    limit: usize,
) -> Result<Vec<String>> {
    let count = |m: &Buckets, k: &u32| -> u64 {
        m.get(k)
            .and_then(|v| v.first())
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    let differing: Vec<u32> = sa
        .keys()
        .chain(sb.keys())
        .copied()
        .collect::<std::collections::BTreeSet<u32>>()
        .into_iter()
        .filter(|k| sa.get(k) != sb.get(k))
        .collect();
    let mut picked = vec![];
    let mut read = 0;
    for k in &differing {
        let n = count(sa, k).max(count(sb, k));
        if !picked.is_empty() && read + n > ROWS_READ {
            break;
        }
        read += n;
        picked.push(*k);
    }
    if picked.is_empty() {
        return Ok(vec![]);
    }
    let rows_of = |rows: Vec<Vec<Option<String>>>| {
        let mut m: BTreeMap<Vec<Option<String>>, Vec<String>> = BTreeMap::new();
        for r in rows {
            let mut it = r.into_iter();
            let h = it.next().flatten().unwrap_or_default();
            m.entry(it.collect()).or_default().push(h);
        }
        for v in m.values_mut() {
            v.sort();
        }
        m
    };
    let (ra, rb) = both(src, dest, &a.rows_in(&picked), &b.rows_in(&picked));
    let (ra, rb) = (rows_of(ra?), rows_of(rb?));
    let show = |k: &[Option<String>]| {
        names
            .iter()
            .zip(k)
            .map(|(n, v)| match v {
                None => format!("{n}=NULL"),
                Some(v) if v.chars().count() > 60 => {
                    format!("{n}={}...", v.chars().take(60).collect::<String>())
                }
                Some(v) => format!("{n}={v}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = vec![];
    for (k, ha) in &ra {
        match rb.get(k) {
            None => out.push(format!("missing at destination: {}", show(k))),
            Some(hb) if hb.len() != ha.len() => out.push(format!(
                "{}: source has {} row(s), destination {}",
                show(k),
                ha.len(),
                hb.len()
            )),
            Some(hb) if hb != ha => out.push(format!("values differ: {}", show(k))),
            _ => {}
        }
    }
    for k in rb.keys().filter(|k| !ra.contains_key(*k)) {
        out.push(format!("extra at destination: {}", show(k)));
    }
    let total = out.len();
    out.truncate(limit);
    if total > limit {
        out.push(format!("... {} more", total - limit));
    }
    if picked.len() < differing.len() {
        out.push(format!(
            "(read {} of {} differing key buckets: more keys may differ)",
            picked.len(),
            differing.len()
        ));
    }
    Ok(out)
}
