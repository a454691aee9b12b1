//! Snapshots: `COPY ... TO STDOUT` of a table, whole or in block ranges of
//! one exported snapshot read on connections of their own.

use std::io::{BufRead, BufReader};

use anyhow::{anyhow, bail, Context, Result};

use super::copy_text::parse_copy_text;
use super::{qi, PgSource};
use crate::error;
use crate::schema::TableSchema;
use crate::source::{SnapshotRange, Warnings};
use crate::spool::{Op, TableWriter};

/// A block range of a table, in a snapshot imported from the coordinator.
struct PgRange {
    src: PgSource,
    schema: TableSchema,
    blocks: (i64, Option<i64>),
}

impl SnapshotRange for PgRange {
    fn describe(&self) -> String {
        match self.blocks {
            (lo, Some(hi)) => format!("blocks {lo}..{hi}"),
            (lo, None) => format!("blocks {lo}.."),
        }
    }

    fn read(
        self: Box<Self>,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        let PgRange {
            mut src,
            schema,
            blocks,
        } = *self;
        let n = src.copy_table(&schema, Some(blocks), w, ts, warnings)?;
        src.client
            .batch_execute("COMMIT")
            .map_err(|e| anyhow!("ending the snapshot: {}", error::pg_message(&e)))?;
        Ok(n)
    }
}

impl PgSource {
    /// Streams the table (or the block range `blocks`) through `COPY ... TO
    /// STDOUT` into the spool file.
    pub(super) fn copy_table(
        &mut self,
        s: &TableSchema,
        blocks: Option<(i64, Option<i64>)>,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        // Masked columns are never read.
        let cols = s
            .columns
            .iter()
            .map(|c| {
                if c.masked {
                    format!("NULL AS {}", qi(&c.name))
                } else {
                    qi(&c.name)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        // A partitioned table's rows live in its partitions; an ordinary
        // table's inheritance children are tables of their own (ONLY).
        let (kind, _, _) = self.relation(s)?;
        let only = if kind == "p" { "" } else { "ONLY " };
        // TID range scans (PostgreSQL 14+) read just the blocks asked for.
        let mut conds = vec![];
        match blocks {
            None => {}
            Some((lo, None)) => conds.push(format!("ctid >= '({lo},0)'::tid")),
            Some((lo, Some(hi))) => conds.push(format!(
                "ctid >= '({lo},0)'::tid AND ctid < '({hi},0)'::tid"
            )),
        }
        // `where`: the initial extract's rows.
        if let Some(f) = &s.filter {
            conds.push(format!("({f})"));
        }
        let range = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "COPY (SELECT {cols} FROM {only}{}.{}{range}) TO STDOUT",
            qi(&s.schema),
            qi(&s.name)
        );
        let reader = self
            .client
            .copy_out(&sql)
            .map_err(|e| anyhow!("snapshot of {}: {}", s.source_name(), error::pg_message(&e)))?;
        let mut reader = BufReader::with_capacity(256 * 1024, reader);
        let mut line = Vec::with_capacity(4096);
        let mut fields = Vec::with_capacity(s.columns.len());
        let mut unescaped = Vec::with_capacity(1024);
        let mut n = 0u64;
        let table = s.source_name();
        loop {
            line.clear();
            let got = reader
                .read_until(b'\n', &mut line)
                .with_context(|| format!("reading COPY of {table} at row {}", n + 1))?;
            if got == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            parse_copy_text(&line, &mut unescaped, &mut fields)
                .map_err(|m| anyhow!("COPY of {table}, row {}: {m}", n + 1))?;
            if fields.len() != s.columns.len() {
                bail!(
                    "COPY of {table}, row {}: {} fields for {} columns",
                    n + 1,
                    fields.len(),
                    s.columns.len()
                );
            }
            let mut vals: Vec<Option<std::borrow::Cow<[u8]>>> = Vec::with_capacity(fields.len());
            for (i, f) in fields.iter().enumerate() {
                vals.push(match f.get(&line, &unescaped) {
                    None => None,
                    Some(text) => {
                        warnings.or_null(s.convert(i, text).map(Some), &table, &s.columns[i].name)
                    }
                });
            }
            warnings.keyed(|| {
                crate::source::key_text(s, |k| {
                    fields[k]
                        .get(&line, &unescaped)
                        .map(|t| String::from_utf8_lossy(t).into_owned())
                })
            });
            n += 1;
            w.write(Op::Insert, n, ts, &[], vals.iter().map(|v| v.as_deref()))?;
            if n == 1 {
                crate::fault::point("snapshot-row");
            }
        }
        Ok(n)
    }
    /// Block ranges of one exported snapshot: every range sees the same
    /// rows, so a row that moves during the extract is read exactly once.
    pub(super) fn split_ranges(
        &mut self,
        s: &TableSchema,
        n: usize,
        min_bytes: u64,
    ) -> Result<Option<Vec<Box<dyn SnapshotRange>>>> {
        if n < 2 || self.version < 140000 {
            return Ok(None);
        }
        let (kind, blocks, bytes) = self.relation(s)?;
        if kind != "r" || blocks < 2 || (bytes as u64) < min_bytes {
            return Ok(None);
        }
        self.client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(|e| anyhow!("snapshot of {}: {}", s.source_name(), error::pg_message(&e)))?;
        let opened = (|| -> Result<Vec<Box<dyn SnapshotRange>>> {
            let id: String = self.q("SELECT pg_export_snapshot()", &[])?[0].get(0);
            let points = crate::source::split_points(0, i128::from(blocks) - 1, n);
            let mut out: Vec<Box<dyn SnapshotRange>> = vec![];
            for i in 0..=points.len() {
                let lo = if i == 0 { 0 } else { points[i - 1] as i64 };
                let hi = points.get(i).map(|&p| p as i64);
                let mut conn = PgSource::connect(&self.cfg)?;
                conn.client
                    .batch_execute(&format!(
                        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{id}'"
                    ))
                    .map_err(|e| anyhow!("importing snapshot {id}: {}", error::pg_message(&e)))?;
                out.push(Box::new(PgRange {
                    src: conn,
                    schema: s.clone(),
                    blocks: (lo, hi),
                }));
            }
            Ok(out)
        })();
        // The ranges hold the snapshot now; the exporting transaction may end.
        let _ = self.client.batch_execute("COMMIT");
        opened.map(Some)
    }
}
