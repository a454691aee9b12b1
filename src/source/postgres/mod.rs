//! PostgreSQL source: catalog, prerequisites, slot and publication, COPY
//! snapshots and pgoutput deltas read in batch mode.
//!
//! Deltas use `pg_logical_slot_peek_binary_changes` over an ordinary
//! connection (no replication protocol): peek is repeatable, so a batch that
//! is lost before it is durable is simply read again. The slot is advanced
//! only by [`PgSource::advance`], after the batch is merged.
//!
//! Every value travels in PostgreSQL's text form (COPY text format for
//! snapshots, pgoutput text tuples for deltas) and is converted by one
//! function ([`crate::schema::convert`]), so both paths give the same spool
//! text. The session runs with `TimeZone = UTC`, ISO dates and hex bytea.

mod catalog;
mod copy_text;
pub mod decode;
pub mod pgoutput;
mod slot;
mod snapshot;
mod tls;
mod types;

pub use catalog::{partition_change, resolve_key, Identity};
pub use copy_text::parse_copy_text;
pub use slot::{lsn_text, parse_lsn};
pub use types::map_type;

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use postgres::{Client, NoTls};

use crate::config::{Config, PostgresSource};
use crate::error;
use crate::position::Position;
use crate::schema::TableSchema;
use crate::source::{
    Catalog, CatchUp, ChangeLog, DeltaOutcome, Fill, FingerprintChange, LogState, Snapshot,
    SnapshotRange, Warnings,
};
use crate::spool::{BatchWriter, TableWriter};
use crate::table::TableId;

pub struct PgSource {
    client: Client,
    cfg: PostgresSource,
    /// `server_version_num`, e.g. 150004.
    version: i32,
    /// Column type oid and modifier per described table, to notice
    /// structure changes in Relation messages.
    types: HashMap<TableId, Vec<(u32, i32)>>,
    /// relfilenode per described table: a rewrite (ALTER TYPE, VACUUM
    /// FULL) changes it.
    files: HashMap<TableId, i64>,
}

/// Double-quotes a PostgreSQL identifier.
pub fn qi(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl PgSource {
    pub fn connect(cfg: &PostgresSource) -> Result<PgSource> {
        let mut pc = postgres::Config::new();
        pc.host(&cfg.host)
            .port(cfg.port)
            .dbname(&cfg.database)
            .user(&cfg.user)
            .password(&cfg.password)
            .application_name("ingest")
            .connect_timeout(std::time::Duration::from_secs(15));
        let connected = match tls::connector(cfg.tls, cfg.tls_ca.as_deref())? {
            None => pc.connect(NoTls),
            Some(tls) => pc.ssl_mode(postgres::config::SslMode::Require).connect(tls),
        };
        let mut client = connected.map_err(|e| {
            let msg = error::pg_message(&e);
            let tls = cfg.tls != crate::config::Tls::Disable
                && (msg.contains("certificate") || msg.contains("TLS") || msg.contains("ssl"));
            error::connect(format!(
                "source PostgreSQL {}:{} database {} (user {}): {}{msg}; check [source] {}",
                cfg.host,
                cfg.port,
                cfg.database,
                cfg.user,
                if tls { "TLS: " } else { "" },
                if tls {
                    "tls and tls_ca (the server's certificate must chain to tls_ca or a public root and name the host)"
                } else {
                    "host, port, database, user and password"
                }
            ))
        })?;
        client
            .batch_execute(
                "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
                 SET bytea_output = 'hex'; SET extra_float_digits = 3; SET lc_monetary = 'C'",
            )
            .map_err(|e| anyhow!("setting up the source session: {}", error::pg_message(&e)))?;
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .map_err(|e| anyhow!("reading the source version: {}", error::pg_message(&e)))?
            .get(0);
        Ok(PgSource {
            client,
            cfg: cfg.clone(),
            version,
            types: HashMap::new(),
            files: HashMap::new(),
        })
    }
    /// The copy of the slot that keeps the changes of tables waiting for
    /// sync-struct.
    fn hold_slot(&self) -> String {
        hold_slot_name(&self.cfg.slot)
    }
    pub(super) fn q(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>> {
        self.client
            .query(sql, params)
            .map_err(|e| anyhow!("{}: {}", error::pg_message(&e), first_line(sql)))
    }
}

/// `<slot>_hold`, within PostgreSQL's 63 bytes for a name (a long slot
/// name is cut and told apart by a checksum of the whole).
fn hold_slot_name(slot: &str) -> String {
    let name = format!("{slot}_hold");
    if name.len() <= 63 {
        return name;
    }
    let mut crc = flate2::Crc::new();
    crc.update(slot.as_bytes());
    let cut: String = slot
        .chars()
        .scan(0, |n, c| {
            *n += c.len_utf8();
            (*n <= 44).then_some(c)
        })
        .collect();
    format!("{cut}_{:08x}_hold", crc.sum())
}

/// The tables, for messages.
fn names(tables: &HashMap<TableId, TableSchema>) -> String {
    let mut n: Vec<String> = tables.keys().map(TableId::to_string).collect();
    n.sort();
    n.join(", ")
}

impl Catalog for PgSource {
    fn kind(&self) -> &'static str {
        "PostgreSQL"
    }
    fn database(&self) -> &str {
        &self.cfg.database
    }
    fn check(&mut self) -> Result<String> {
        self.check_prerequisites()
    }
    fn list_tables(&mut self) -> Result<Vec<TableId>> {
        self.all_tables()
    }
    fn describe(&mut self, cfg: &Config, table: &TableId) -> Result<TableSchema> {
        self.describe_table(cfg, &table.schema, &table.name)
    }
    fn fingerprint(&mut self, s: &TableSchema) -> Result<Option<String>> {
        self.partition_fingerprint(s)
    }
    fn fingerprint_change(&self, saved: &str, now: &str) -> FingerprintChange {
        partition_change(saved, now)
    }
    /// Type oids and modifiers (what Relation messages are compared
    /// with), and the relfilenode.
    fn shape_extra(&self, s: &TableSchema) -> serde_json::Value {
        let id = TableId::new(s.schema.clone(), s.name.clone());
        serde_json::json!({"types": self.types.get(&id), "relfilenode": self.files.get(&id)})
    }
    fn restore_shape(&mut self, s: &TableSchema, extra: &serde_json::Value) -> Result<()> {
        let types: Vec<(u32, i32)> = serde_json::from_value(extra["types"].clone())
            .map_err(|e| anyhow!("the kept shape of {}: {e}", s.source_name()))?;
        self.types
            .insert(TableId::new(s.schema.clone(), s.name.clone()), types);
        Ok(())
    }
    fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let msgs = self
            .client
            .simple_query(sql)
            .map_err(|e| anyhow!("{}", error::pg_message(&e)))?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect())
    }
    fn check_filter(&mut self, s: &TableSchema) -> Result<()> {
        let table = format!("{}.{}", qi(&s.schema), qi(&s.name));
        crate::source::check_where(s, &table, |sql| {
            self.client
                .batch_execute(sql)
                .map_err(|e| error::pg_message(&e))
        })
    }
    /// attnums: kept by a rename, new for an added column.
    fn column_ids(&mut self, s: &TableSchema) -> Result<Option<Vec<(String, i64)>>> {
        let rows = self.q(
            "SELECT a.attname::text, a.attnum::int8 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&s.schema, &s.name],
        )?;
        Ok(Some(rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }
    /// A column added with a constant default keeps it as the value of the
    /// rows that were there (`attmissingval`, until a rewrite of the table
    /// writes it into them); one without a default gave them NULL; any
    /// other default was computed per row. After a rewrite since the
    /// destination got its structure, a missing `attmissingval` says
    /// nothing (the default may have been dropped since).
    fn added_fill(
        &mut self,
        s: &TableSchema,
        col: usize,
        _ddl: &[String],
        kept: Option<&serde_json::Value>,
    ) -> Result<Fill> {
        let name = &s.columns[col].name;
        let id = TableId::new(s.schema.clone(), s.name.clone());
        let then = kept.and_then(|k| k["relfilenode"].as_i64());
        let rewritten = then.is_none() || then != self.files.get(&id).copied();
        let rows = self.q(
            "SELECT a.atthasmissing, (a.attmissingval::text::text[])[1], pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3",
            &[&s.schema, &s.name, name],
        )?;
        let Some(r) = rows.first() else {
            return Ok(Fill::Unknown(format!("column {name} is not at the source")));
        };
        let missing: bool = r.get(0);
        let value: Option<String> = r.get(1);
        let default: Option<String> = r.get(2);
        Ok(match (missing, value, default) {
            (true, Some(v), _) => match s.convert(col, v.as_bytes()) {
                Ok(t) => Fill::Value(String::from_utf8_lossy(&t).into_owned()),
                Err(why) => Fill::Unknown(format!("its value {v} {}", why.describe())),
            },
            (true, None, _) => Fill::Null,
            (false, _, _) if rewritten => Fill::Unknown(
                "the table was rewritten (ALTER TYPE, VACUUM FULL, CLUSTER) since the destination \
                 got its structure, which leaves no trace of the value the rows there got"
                    .into(),
            ),
            (false, _, None) => Fill::Null,
            (false, _, Some(expr)) => Fill::Unknown(format!(
                "its default {expr} was computed for each row when it was added (or set after)"
            )),
        })
    }
}

impl Snapshot for PgSource {
    fn snapshot(
        &mut self,
        s: &TableSchema,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        self.copy_table(s, None, w, ts, warnings)
    }
    /// Block ranges of one exported snapshot: every range sees the same
    /// rows, so a row that moves during the extract is read exactly once.
    fn split_snapshot(
        &mut self,
        s: &TableSchema,
        n: usize,
        min_bytes: u64,
    ) -> Result<Option<Vec<Box<dyn SnapshotRange>>>> {
        self.split_ranges(s, n, min_bytes)
    }
}

impl ChangeLog for PgSource {
    /// Publication and slot: the slot keeps every change from its position on.
    fn prepare_full(&mut self, tables: &[TableId]) -> Result<(Position, bool)> {
        self.ensure_publication(tables)?;
        let (pos, created) = self.ensure_slot()?;
        Ok((Position::Lsn(pos), created))
    }
    fn current_position(&mut self) -> Result<Position> {
        Ok(Position::Lsn(self.current_lsn()?))
    }
    /// The slot's position: the slot, not state.db, is where deltas start.
    fn start_position(&mut self, _committed: Option<&Position>) -> Result<Option<Position>> {
        Ok(self.slot_position()?.map(Position::Lsn))
    }
    fn check_position(&mut self, released: Option<&Position>) -> Result<()> {
        self.check_slot(released.and_then(Position::lsn))
    }
    /// A logical slot only moves forward: PostgreSQL has thrown away what
    /// is before its confirmed position.
    fn rewind_check(&mut self, to: &Position) -> Result<Option<String>> {
        let (Some(to), Some(slot)) = (to.lsn(), self.slot_position()?) else {
            return Ok(Some(format!("slot {} does not exist", self.cfg.slot)));
        };
        if to >= slot {
            return Ok(None);
        }
        Ok(Some(format!(
            "slot {} has confirmed up to {}, and PostgreSQL cannot move a logical slot back: the \
             changes before it are gone (a slot kept back on purpose could hold them; ingest keeps \
             none); reload with `ingest full-extract` instead",
            self.cfg.slot,
            Position::Lsn(slot)
        )))
    }
    fn unreadable(&mut self, table: &TableId) -> Result<Option<String>> {
        if self.published(&table.schema, &table.name)? {
            return Ok(None);
        }
        Ok(Some(format!(
            "not in publication {}: its changes are not read; run `ingest full-extract {table}`",
            self.cfg.publication
        )))
    }
    fn changes(
        &mut self,
        _from: &Position,
        tables: &HashMap<TableId, TableSchema>,
        since: &HashMap<TableId, Position>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
        max_changes: u64,
    ) -> Result<DeltaOutcome> {
        let peek = slot::Peek {
            slot: self.cfg.slot.clone(),
            upto: self.current_lsn()?,
            max: max_changes,
            resume: HashMap::new(),
            stop_after: None,
            skip: HashMap::new(),
        };
        self.peek_changes(&peek, tables, since, batch, warnings)
    }
    /// Keeps the slot's changes for tables waiting for sync-struct: a copy
    /// of the slot, made while it still holds them, stays where it is.
    fn hold(&mut self) -> Result<()> {
        let hold = self.hold_slot();
        let exists = !self
            .q(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                &[&hold],
            )?
            .is_empty();
        if !exists {
            let slot = self.cfg.slot.clone();
            self.q(
                "SELECT pg_copy_logical_replication_slot($1, $2)",
                &[&slot, &hold],
            )
            .map_err(|e| {
                anyhow!("copying slot {slot} to {hold}, to keep the changes of tables waiting for sync-struct: {e:#}")
            })?;
            log::warn!(
                "replication slot {hold} keeps the changes of tables waiting for `ingest sync-struct` \
                 (PostgreSQL keeps the WAL from here on until they are synced or extracted)"
            );
        }
        Ok(())
    }
    fn drop_hold(&mut self) -> Result<()> {
        let hold = self.hold_slot();
        let rows = self.q(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
            &[&hold],
        )?;
        if !rows.is_empty() {
            log::info!("dropped replication slot {hold}: no table waits for sync-struct");
        }
        Ok(())
    }
    fn catch_up(
        &mut self,
        c: &CatchUp,
        tables: &HashMap<TableId, TableSchema>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<DeltaOutcome> {
        let hold = self.hold_slot();
        let lsn = |p: &Position| {
            p.lsn()
                .ok_or_else(|| anyhow!("{p} is not a PostgreSQL position"))
        };
        let Some(held) = self
            .q(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
                &[&hold],
            )?
            .first()
            .and_then(|r| r.get::<_, Option<String>>(0))
            .and_then(|t| parse_lsn(&t))
        else {
            return Err(error::config(format!(
                "replication slot {hold}, which keeps the changes of tables waiting for sync-struct, \
                 does not exist: their changes since they stopped are gone; run `ingest full-extract` \
                 of {}",
                names(tables)
            )));
        };
        let mut resume = HashMap::new();
        for (t, p) in &c.resume {
            let p = lsn(p)?;
            if p < held {
                return Err(error::config(format!(
                    "{t}'s changes stopped at {}, before slot {hold} (at {}): they are gone; \
                     run `ingest full-extract {t}`",
                    lsn_text(p),
                    lsn_text(held)
                )));
            }
            resume.insert(t.clone(), p);
        }
        let upto = lsn(&c.upto)?;
        // Read to the WAL's end; transactions after `upto` are skipped.
        let peek = slot::Peek {
            slot: hold,
            upto: self.current_lsn()?,
            max: u64::MAX,
            resume,
            stop_after: Some(upto),
            skip: c.skip.clone(),
        };
        let mut out = self.peek_changes(&peek, tables, &c.resume, batch, warnings)?;
        out.more = false;
        Ok(out)
    }
    fn release(&mut self, to: &Position) -> Result<()> {
        let lsn = to
            .lsn()
            .ok_or_else(|| anyhow!("{to} is not a PostgreSQL position"))?;
        self.advance(lsn)
    }
    fn log_state(&mut self) -> Result<LogState> {
        Ok(LogState::Slot {
            name: self.cfg.slot.clone(),
            at: self.slot_position()?.map(lsn_text),
        })
    }
}

fn first_line(sql: &str) -> &str {
    sql.lines().next().unwrap_or(sql)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hold_slot_names_fit_postgres() {
        assert_eq!(super::hold_slot_name("ingest_demo"), "ingest_demo_hold");
        let long = "s".repeat(63);
        let h = super::hold_slot_name(&long);
        assert!(h.len() <= 63 && h.ends_with("_hold"), "{h}");
        assert_ne!(h, super::hold_slot_name(&"s".repeat(62)));
    }
}
