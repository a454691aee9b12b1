//! The change log: the replication slot, reading it in batches of pgoutput
//! messages (peek, then advance once merged), and completing key changes
//! whose unchanged TOAST values the log does not carry.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};

use super::decode::Decoder;
use super::pgoutput::{self, Datum};
use super::{qi, PgSource};
use crate::change::Incomplete as Deferred;
use crate::error;
use crate::position::Position;
use crate::schema::TableSchema;
use crate::source::{DeltaOutcome, Warnings};
use crate::spool::BatchWriter;
use crate::table::TableId;

/// `X/Y` text of an LSN.
pub fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Rows waiting for unchanged values that are completed at once, and keys
/// a lookup query asks for at once.
const DEFERRED_AT_ONCE: usize = 2_000;
const LOOKUP_KEYS: usize = 500;

/// A row's key values as text.
type KeyTexts = Vec<Vec<u8>>;

/// What one read of a slot takes.
pub(super) struct Peek {
    pub slot: String,
    /// Read up to this LSN (the end of the WAL when the read starts).
    pub upto: u64,
    /// Messages, at most (the read ends at the next transaction's end).
    pub max: u64,
    /// Per table: its changes before this commit LSN are not read.
    pub resume: HashMap<TableId, u64>,
    /// Transactions committed after this LSN are not read.
    pub stop_after: Option<u64>,
    /// Per table: its first changes in its resume transaction, skipped.
    pub skip: HashMap<TableId, u64>,
}

impl PgSource {
    /// The slot's confirmed position, `None` if the slot does not exist.
    pub fn slot_position(&mut self) -> Result<Option<u64>> {
        let slot = self.cfg.slot.clone();
        let rows = self.q(
            "SELECT confirmed_flush_lsn::text, plugin, database FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let plugin: Option<String> = r.get(1);
        let db: Option<String> = r.get(2);
        if plugin.as_deref() != Some("pgoutput")
            || db.as_deref() != Some(self.cfg.database.as_str())
        {
            return Err(error::config(format!(
                "replication slot {slot} exists but is not a pgoutput slot of database {} (plugin {:?}, database {:?}): \
                 choose another [source] slot",
                self.cfg.database, plugin, db
            )));
        }
        let lsn: Option<String> = r.get(0);
        Ok(lsn.as_deref().and_then(parse_lsn))
    }
    /// Creates the slot if missing; returns its position and whether it is new.
    pub fn ensure_slot(&mut self) -> Result<(u64, bool)> {
        if let Some(p) = self.slot_position()? {
            return Ok((p, false));
        }
        let slot = self.cfg.slot.clone();
        let rows = self.q(
            "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
            &[&slot],
        )?;
        let lsn: String = rows[0].get(0);
        log::info!("created replication slot {slot} at {lsn}");
        Ok((
            parse_lsn(&lsn).ok_or_else(|| anyhow!("bad LSN {lsn}"))?,
            true,
        ))
    }
    /// The current end of the WAL.
    pub fn current_lsn(&mut self) -> Result<u64> {
        let s: String = self.q("SELECT pg_current_wal_lsn()::text", &[])?[0].get(0);
        parse_lsn(&s).ok_or_else(|| anyhow!("bad LSN {s}"))
    }
    /// Reads the changes from the slot up to `upto` into the batch, stopping
    /// at the first transaction end after `max` messages; returns the LSN to
    /// advance to once the batch is merged (`None`: nothing read).
    pub(super) fn peek_changes(
        &mut self,
        peek: &Peek,
        tables: &HashMap<TableId, TableSchema>,
        since: &HashMap<TableId, Position>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<DeltaOutcome> {
        let (upto, max) = (peek.upto, peek.max);
        let slot = peek.slot.clone();
        let publication = self.cfg.publication.clone();
        let sql = "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes($1, $2::text::pg_lsn, \
                   $4::int, 'proto_version', '1', 'publication_names', $3)";
        let upto_text = lsn_text(upto);
        let limit = i32::try_from(max).unwrap_or(i32::MAX);
        let params: [&(dyn postgres::types::ToSql + Sync); 4] =
            [&slot, &upto_text, &publication, &limit];
        let since = since
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.lsn()?)))
            .collect();
        let mut dec = Decoder::new(tables, self.types.clone(), since, batch);
        dec.resume = peek.resume.clone();
        dec.upto = peek.stop_after;
        dec.skip = peek.skip.clone();
        // Rows waiting for values the log did not carry are completed in
        // groups on a connection of their own while the slot is read, so
        // that they never pile up in memory.
        let mut lookup: Option<PgSource> = None;
        let mut messages = 0u64;
        {
            let mut rows = self
                .client
                .query_raw(sql, params.iter().copied())
                .map_err(|e| anyhow!("reading slot {slot}: {}", error::pg_message(&e)))?;
            use postgres::fallible_iterator::FallibleIterator;
            while let Some(row) = rows
                .next()
                .map_err(|e| anyhow!("reading slot {slot}: {}", error::pg_message(&e)))?
            {
                messages += 1;
                let lsn: &str = row.get(0);
                let data: &[u8] = row.get(1);
                let msg =
                    pgoutput::parse(data).map_err(|e| anyhow!("slot {slot} at {lsn}: {e}"))?;
                dec.apply(msg, lsn, warnings)?;
                if dec.deferred.len() >= DEFERRED_AT_ONCE {
                    if lookup.is_none() {
                        lookup = Some(PgSource::connect(&self.cfg)?);
                    }
                    if let Some(l) = lookup.as_mut() {
                        let waiting = std::mem::take(&mut dec.deferred);
                        l.fill_unchanged(waiting, &mut dec, warnings)?;
                    }
                }
            }
        }
        let waiting = std::mem::take(&mut dec.deferred);
        self.fill_unchanged(waiting, &mut dec, warnings)?;
        let mut out = dec.finish()?;
        out.more = messages >= max;
        Ok(out)
    }
    /// Key changes whose new rows have unchanged (TOAST) values that the log
    /// does not carry: the values are read from the source by the new keys,
    /// [`LOOKUP_KEYS`] keys a query. Anything newer than a change is in later
    /// changes of the slot, so the destination converges.
    fn fill_unchanged(
        &mut self,
        waiting: Vec<Deferred>,
        dec: &mut Decoder<'_, '_>,
        warnings: &mut Warnings,
    ) -> Result<()> {
        let mut by_table: HashMap<TableId, Vec<Deferred>> = HashMap::new();
        for d in waiting {
            by_table.entry(d.table.clone()).or_default().push(d);
        }
        for (table, rows) in by_table {
            let s = &dec.tables()[&table];
            for chunk in rows.chunks(LOOKUP_KEYS) {
                let found = self.lookup_rows(s, chunk)?;
                for d in chunk {
                    let key = d.key_texts(s);
                    // Gone from the source since: deleted later, and its
                    // delete follows in the slot. Written with NULLs for
                    // the values it lacks, it stood at the destination
                    // with values it never had until that delete.
                    let Some(values) = found.get(&key) else {
                        continue;
                    };
                    let tuple: Vec<Datum<'_>> = d
                        .row
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            if d.unchanged[i] {
                                values[i].as_deref().map_or(Datum::Null, Datum::Text)
                            } else {
                                v.as_deref().map_or(Datum::Null, Datum::Text)
                            }
                        })
                        .collect();
                    dec.complete(d, &tuple, warnings)?;
                }
            }
        }
        Ok(())
    }
    /// The source rows of these keys: key texts → each column's text (only
    /// the columns some row lacks are read; the others stay `None`).
    fn lookup_rows(
        &mut self,
        s: &TableSchema,
        rows: &[Deferred],
    ) -> Result<HashMap<KeyTexts, Vec<Option<Vec<u8>>>>> {
        // Masked columns are never read (they stay NULL).
        let wanted: Vec<usize> = (0..s.columns.len())
            .filter(|&i| !s.columns[i].masked && rows.iter().any(|d| d.unchanged[i]))
            .collect();
        let cols = s
            .key
            .iter()
            .chain(&wanted)
            .map(|&i| {
                // The type's output function, as pgoutput uses: `::text`
                // differs for some types (char(n) drops its padding, inet
                // adds /32, boolean spells true), and keys are matched by
                // their text.
                let c = qi(&s.columns[i].name);
                format!("CASE WHEN {c} IS NULL THEN NULL ELSE format('%s', {c}) END")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let key_cols = s
            .key
            .iter()
            .map(|&k| qi(&s.columns[k].name))
            .collect::<Vec<_>>()
            .join(", ");
        let mut params: Vec<String> = vec![];
        let mut tuples = vec![];
        for d in rows {
            let mut one = vec![];
            for &k in &s.key {
                params.push(
                    String::from_utf8_lossy(d.row[k].as_deref().unwrap_or_default()).into_owned(),
                );
                one.push(format!(
                    "CAST(${}::text AS {})",
                    params.len(),
                    s.columns[k].source_type
                ));
            }
            tuples.push(format!("({})", one.join(", ")));
        }
        let sql = format!(
            "SELECT {cols} FROM {}.{} WHERE ({key_cols}) IN ({})",
            qi(&s.schema),
            qi(&s.name),
            tuples.join(", ")
        );
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let mut out = HashMap::new();
        for r in self.q(&sql, &refs)? {
            let nk = s.key.len();
            let key: Vec<Vec<u8>> = (0..nk)
                .map(|i| {
                    r.get::<_, Option<String>>(i)
                        .unwrap_or_default()
                        .into_bytes()
                })
                .collect();
            let mut values = vec![None; s.columns.len()];
            for (n, &i) in wanted.iter().enumerate() {
                values[i] = r.get::<_, Option<String>>(nk + n).map(String::into_bytes);
            }
            out.insert(key, values);
        }
        Ok(out)
    }
    /// Releases everything up to `lsn` from the slot.
    pub fn advance(&mut self, lsn: u64) -> Result<()> {
        let slot = self.cfg.slot.clone();
        if let Some(cur) = self.slot_position()? {
            if cur >= lsn {
                return Ok(());
            }
        } else {
            bail!("replication slot {slot} is gone: run `ingest full-extract` to start again");
        }
        let t = lsn_text(lsn);
        self.q(
            "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn)",
            &[&slot, &t],
        )?;
        Ok(())
    }
    /// The slot must not be beyond what this instance released: another
    /// instance on the same slot, or a slot dropped and created again, would
    /// otherwise skip changes without a word.
    pub(super) fn check_slot(&mut self, released: Option<u64>) -> Result<()> {
        let Some(released) = released else {
            return Ok(());
        };
        let Some(slot) = self.slot_position()? else {
            // The default slot name changed from `ingest` to one per
            // instance: an instance set up before still has its old slot.
            let db = self.cfg.database.clone();
            let old = self.q(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'ingest' AND database = $1",
                &[&db],
            )?;
            if !old.is_empty() && self.cfg.slot != "ingest" {
                return Err(error::config(format!(
                    "replication slot {} does not exist, but slot ingest of database {} does: before \
                     2026-11-29 it was every instance's default; set slot = \"ingest\" and publication = \
                     \"ingest\" in [source] to go on with it (or drop it and run `ingest full-extract`)",
                    self.cfg.slot, self.cfg.database
                )));
            }
            return Ok(());
        };
        if slot <= released {
            return Ok(());
        }
        Err(error::config(format!(
            "replication slot {} is at {}, beyond {}, the last position this instance released: \
             the changes in between were consumed by someone else (another ingest instance or program \
             using slot {}, or the slot was dropped and created again) and are lost to this instance; \
             give each instance its own slot, then run `ingest full-extract` of every table",
            self.cfg.slot,
            lsn_text(slot),
            lsn_text(released),
            self.cfg.slot
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_roundtrip() {
        assert_eq!(lsn_text(0x1_0000_00AB), "1/AB");
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(parse_lsn("nope"), None);
    }
}
