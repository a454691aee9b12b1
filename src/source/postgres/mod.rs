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
    Catalog, ChangeLog, DeltaOutcome, FingerprintChange, LogState, Snapshot, SnapshotRange,
    Warnings,
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
        let mut client = pc.connect(NoTls).map_err(|e| {
            error::connect(format!(
                "source PostgreSQL {}:{} database {} (user {}): {}; check [source] host, port, database, user and password",
                cfg.host,
                cfg.port,
                cfg.database,
                cfg.user,
                error::pg_message(&e)
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
        })
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
        let upto = self.current_lsn()?;
        self.peek_changes(upto, tables, since, batch, warnings, max_changes)
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
