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

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};

use anyhow::{anyhow, bail, Context, Result};
use postgres::{Client, NoTls};

use super::pgoutput::{self, Datum};
use super::{DeltaOutcome, FingerprintChange, SnapshotRange, Source, Warnings};

mod decode;

use crate::config::{Config, PostgresSource};
use crate::error;
use crate::schema::{convert, Column, Conv, TableSchema};
use crate::spool::{BatchWriter, Op, TableWriter};
pub use decode::parse_copy_text;
use decode::{Decoder, Deferred};

pub struct PgSource {
    client: Client,
    cfg: PostgresSource,
    /// `server_version_num`, e.g. 150004.
    version: i32,
    /// Column type oid and modifier per described table, to notice
    /// structure changes in Relation messages.
    types: HashMap<(String, String), Vec<(u32, i32)>>,
}

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

/// `X/Y` text of an LSN.
pub fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Double-quotes a PostgreSQL identifier.
pub fn qi(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Destination type and conversion for a PostgreSQL column, from
/// `format_type()` text, the type's `typtype` and `typcategory`.
pub fn map_type(format: &str, typtype: u8, category: u8) -> (String, Conv, bool) {
    // "numeric(12,2)", "timestamp(3) with time zone": drop the (args) to get the base name.
    let (base, args) = match (format.find('('), format.find(')')) {
        (Some(a), Some(b)) if a < b => (
            format!("{}{}", &format[..a], &format[b + 1..]),
            &format[a + 1..b],
        ),
        _ => (format.to_string(), ""),
    };
    let nums: Vec<i32> = args
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let v = |t: &str| (t.to_string(), Conv::Verbatim, false);
    if category == b'A' {
        return v("LONGTEXT");
    }
    if typtype == b'e' {
        return v("VARCHAR(64)");
    }
    match base.trim() {
        "smallint" => v("SMALLINT"),
        "integer" => v("INT"),
        "bigint" => v("BIGINT"),
        "oid" => v("BIGINT"),
        "real" => ("FLOAT".into(), Conv::Float4, false),
        "double precision" => ("DOUBLE".into(), Conv::Float, false),
        "numeric" => numeric_type(&nums),
        "money" => ("DECIMAL(19,2)".into(), Conv::Money, false),
        "boolean" => ("BOOLEAN".into(), Conv::Bool, false),
        "text" | "name" | "xml" | "citext" => v("LONGTEXT"),
        "character varying" => match nums.first() {
            Some(n) if *n <= 16_000 => v(&format!("VARCHAR({n})")),
            _ => v("LONGTEXT"),
        },
        "character" | "bpchar" => match nums.first() {
            Some(n) if *n <= 255 => v(&format!("CHAR({n})")),
            Some(n) if *n <= 16_000 => v(&format!("VARCHAR({n})")),
            _ => v("LONGTEXT"),
        },
        "\"char\"" => v("CHAR(1)"),
        "bytea" => ("LONGBLOB".into(), Conv::Bytea, true),
        "date" => ("DATE".into(), Conv::Date, false),
        "time without time zone" => v("TIME(6)"),
        "time with time zone" => v("VARCHAR(32)"),
        "timestamp without time zone" => ("DATETIME(6)".into(), Conv::Timestamp, false),
        "timestamp with time zone" => ("DATETIME(6)".into(), Conv::TimestampTz, false),
        "interval" => v("VARCHAR(100)"),
        "uuid" => v("CHAR(36)"),
        "json" => v("LONGTEXT"),
        "jsonb" => v("JSON"),
        "inet" | "cidr" => v("VARCHAR(43)"),
        "macaddr" | "macaddr8" => v("VARCHAR(23)"),
        _ => v("LONGTEXT"),
    }
}

/// DECIMAL for `numeric(p,s)`: scale above precision (values below 1) and
/// negative scale (rounded to tens, hundreds...) are allowed by PostgreSQL 15.
fn numeric_type(nums: &[i32]) -> (String, Conv, bool) {
    let dec = |p: i32, s: i32| {
        (
            format!("DECIMAL({p},{s})"),
            Conv::Numeric {
                int_digits: (p - s) as u8,
                frac_digits: s as u8,
            },
            false,
        )
    };
    match *nums {
        [p, s] if (0..=p).contains(&s) && p <= 65 && s <= 30 => dec(p, s),
        [p, s] if s < 0 && p - s <= 65 => dec(p - s, 0),
        [p, s] if s > p && s <= 30 => dec(s, s),
        [p] if (1..=65).contains(&p) => dec(p, 0),
        _ => dec(65, 30),
    }
}

/// Compares two partition fingerprints (lines `oid name relfilenode`).
pub fn partition_change(saved: &str, now: &str) -> FingerprintChange {
    let parse = |t: &str| -> Vec<(String, String, String)> {
        t.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                // oid, name (which may hold spaces), relfilenode
                let (oid, rest) = l.split_once(' ').unwrap_or((l, ""));
                let (name, file) = rest.rsplit_once(' ').unwrap_or((rest, ""));
                (oid.to_string(), name.to_string(), file.to_string())
            })
            .collect()
    };
    let (a, b) = (parse(saved), parse(now));
    let names = |v: &[(String, String, String)], other: &[(String, String, String)]| {
        v.iter()
            .filter(|p| !other.iter().any(|o| o.0 == p.0))
            .map(|p| p.1.clone())
            .collect::<Vec<_>>()
    };
    let (gone, came) = (names(&a, &b), names(&b, &a));
    if !gone.is_empty() || !came.is_empty() {
        let mut what = vec![];
        if !gone.is_empty() {
            what.push(format!(
                "partition(s) {} detached or dropped",
                gone.join(", ")
            ));
        }
        if !came.is_empty() {
            what.push(format!(
                "partition(s) {} attached or created",
                came.join(", ")
            ));
        }
        return FingerprintChange::Changed(format!(
            "{} since its full extract; neither is published, so the destination may hold rows \
             the source no longer has, or lack rows it has",
            what.join(" and ")
        ));
    }
    let rewritten: Vec<String> = a
        .iter()
        .filter(|p| b.iter().any(|o| o.0 == p.0 && o.2 != p.2))
        .map(|p| p.1.clone())
        .collect();
    if rewritten.is_empty() {
        FingerprintChange::Same
    } else {
        FingerprintChange::Rewritten(format!(
            "partition(s) {} truncated or rewritten since the last delta (TRUNCATE, VACUUM FULL, CLUSTER); \
             a TRUNCATE of a single partition is not published, so the destination may still hold its rows",
            rewritten.join(", ")
        ))
    }
}

/// What a table's catalog says about its keys.
pub struct Identity<'a> {
    pub table: (&'a str, &'a str),
    pub columns: &'a [&'a str],
    /// Primary key columns, in key order.
    pub primary: Vec<usize>,
    /// Columns of the `REPLICA IDENTITY USING INDEX` index, in index order.
    pub index: Vec<usize>,
    /// `relreplident`: `d` default (primary key), `i` index, `f` full, `n` nothing.
    pub setting: u8,
}

/// The key ingest merges a table by. Deletes and key changes carry the old
/// values of the replica identity's columns only, so the key must be those
/// columns (the primary key under DEFAULT, the index's columns under USING
/// INDEX), unless the identity is FULL, where any configured key works.
/// NOTHING is refused: adding such a table to the publication would make
/// the source application's own UPDATEs and DELETEs fail.
pub fn resolve_key(t: &Identity<'_>, configured: Option<&[String]>) -> Result<Vec<usize>> {
    let name = format!("{}.{}", t.table.0, t.table.1);
    let alter = format!("ALTER TABLE {}.{}", qi(t.table.0), qi(t.table.1));
    if t.setting == b'n' {
        return Err(error::config(format!(
            "table {name} has REPLICA IDENTITY NOTHING: in a publication its UPDATEs and DELETEs would \
             fail at the source; run {alter} REPLICA IDENTITY DEFAULT (with a primary key) or FULL"
        )));
    }
    let (identity, what) = match t.setting {
        b'i' => (&t.index, "its replica identity index"),
        _ => (&t.primary, "its primary key"),
    };
    let Some(names) = configured else {
        if identity.is_empty() {
            return Err(error::config(format!(
                "table {name} has no primary key: add `key = [\"col\", ...]` to its [[table]] entry \
                 (and run {alter} REPLICA IDENTITY FULL)"
            )));
        }
        return Ok(identity.clone());
    };
    let mut key = vec![];
    for n in names {
        match t.columns.iter().position(|c| c == n) {
            Some(i) => key.push(i),
            None => {
                return Err(error::config(format!(
                    "table {name}: key column \"{n}\" does not exist (columns: {})",
                    t.columns.join(", ")
                )))
            }
        }
    }
    if t.setting != b'f' && key != *identity {
        let why = if identity.is_empty() {
            "has no primary key".to_string()
        } else {
            format!("is keyed by other columns than {what}")
        };
        return Err(error::config(format!(
            "table {name} {why}: deletes and updates carry the old key only with \
             {alter} REPLICA IDENTITY FULL"
        )));
    }
    Ok(key)
}

/// Rows waiting for unchanged values that are completed at once, and keys
/// a lookup query asks for at once.
const DEFERRED_AT_ONCE: usize = 2_000;
const LOOKUP_KEYS: usize = 500;

/// A row's key values as text.
type KeyTexts = Vec<Vec<u8>>;

/// A deferred row's key values as text, to find its row in a lookup.
fn key_texts(s: &TableSchema, row: &[Option<Vec<u8>>]) -> KeyTexts {
    s.key
        .iter()
        .map(|&k| row[k].clone().unwrap_or_default())
        .collect()
}

/// Types whose values PostgreSQL may store out of line (TOAST) and then send
/// as "unchanged" in an update.
fn toastable(typlen: i16) -> bool {
    typlen == -1
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

    fn q(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>> {
        self.client
            .query(sql, params)
            .map_err(|e| anyhow!("{}: {}", error::pg_message(&e), first_line(sql)))
    }

    /// Checks what deltas need; returns the server version.
    fn check_prerequisites(&mut self) -> Result<String> {
        let row = &self.q(
            "SELECT current_setting('server_version'), current_setting('wal_level'), \
                    r.rolreplication OR r.rolsuper, current_setting('max_replication_slots')::int \
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )?[0];
        let (version, wal_level, repl, _slots): (String, String, bool, i32) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if wal_level != "logical" {
            return Err(error::config(format!(
                "source wal_level is '{wal_level}', deltas need 'logical': run ALTER SYSTEM SET wal_level = logical \
                 and restart PostgreSQL"
            )));
        }
        if !repl {
            return Err(error::config(format!(
                "source user {} has no REPLICATION privilege: run ALTER ROLE {} WITH REPLICATION",
                self.cfg.user,
                qi(&self.cfg.user)
            )));
        }
        Ok(version)
    }

    /// All user tables (ordinary and partitioned) as (schema, table).
    fn all_tables(&mut self) -> Result<Vec<(String, String)>> {
        let rows = self.q(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
             ORDER BY 1, 2",
            &[],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Columns, key and destination of one table.
    fn describe_table(&mut self, cfg: &Config, schema: &str, table: &str) -> Result<TableSchema> {
        let rows = self.q(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typtype::text, t.typcategory::text, \
                    t.typlen, a.attnotnull, \
                    COALESCE(a.attnum = ANY(i.indkey), false), \
                    COALESCE(array_position(i.indkey::int2[], a.attnum), 0), c.relreplident::text, \
                    a.atttypid, a.atttypmod, \
                    COALESCE(a.attnum = ANY(ri.indkey), false), \
                    COALESCE(array_position(ri.indkey::int2[], a.attnum), 0) \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
             LEFT JOIN pg_index ri ON ri.indrelid = c.oid AND ri.indisreplident \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
               AND a.attgenerated = '' \
             ORDER BY a.attnum",
            &[&schema, &table],
        )?;
        let name = format!("{schema}.{table}");
        if rows.is_empty() {
            return Err(error::config(format!(
                "table {name} not found in source database {}",
                self.cfg.database
            )));
        }
        let mut columns = vec![];
        let mut pk: Vec<(i32, usize)> = vec![];
        let mut replident: Vec<(i32, usize)> = vec![];
        let mut identity = String::new();
        let mut type_ids = vec![];
        for (i, r) in rows.iter().enumerate() {
            let typtype: String = r.get(2);
            let cat: String = r.get(3);
            let format: String = r.get(1);
            let (dest_type, conv, binary) = map_type(
                &format,
                typtype.bytes().next().unwrap_or(b'b'),
                cat.bytes().next().unwrap_or(b'U'),
            );
            columns.push(Column {
                name: r.get(0),
                source_type: format,
                dest_type,
                conv,
                binary,
                toastable: toastable(r.get(4)),
                nullable: !r.get::<_, bool>(5),
            });
            if r.get::<_, bool>(6) {
                pk.push((r.get(7), i));
            }
            identity = r.get(8);
            type_ids.push((r.get::<_, u32>(9), r.get::<_, i32>(10)));
            // int2vector subscripts start at 0: membership is asked apart.
            if r.get::<_, bool>(11) {
                replident.push((r.get(12), i));
            }
        }
        pk.sort();
        replident.sort();
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let key = resolve_key(
            &Identity {
                table: (schema, table),
                columns: &names,
                primary: pk.iter().map(|&(_, i)| i).collect(),
                index: replident.iter().map(|&(_, i)| i).collect(),
                setting: identity.bytes().next().unwrap_or(b'd'),
            },
            cfg.rule_for(schema, table).and_then(|r| r.key.as_deref()),
        )?;
        crate::schema::key_not_null(&name, &columns, &key)?;
        let (dest_db, dest_table) = cfg.dest_name(&self.cfg.database, schema, table);
        self.types
            .insert((schema.to_string(), table.to_string()), type_ids);
        Ok(TableSchema {
            schema: schema.into(),
            name: table.into(),
            dest_db,
            dest_table,
            columns,
            key,
        })
    }

    /// Makes sure the publication exists and holds these tables.
    pub fn ensure_publication(&mut self, tables: &[(String, String)]) -> Result<()> {
        let pubname = self.cfg.publication.clone();
        let exists = !self
            .q(
                "SELECT 1 FROM pg_publication WHERE pubname = $1",
                &[&pubname],
            )?
            .is_empty();
        let list = |ts: &[&(String, String)]| {
            ts.iter()
                .map(|(s, t)| format!("{}.{}", qi(s), qi(t)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !exists {
            let all: Vec<&(String, String)> = tables.iter().collect();
            // Partitioned tables publish their changes under their own name.
            let sql = format!(
                "CREATE PUBLICATION {} FOR TABLE {} WITH (publish_via_partition_root = true)",
                qi(&pubname),
                list(&all)
            );
            self.client
                .batch_execute(&sql)
                .map_err(|e| anyhow!("{}: {sql}", error::pg_message(&e)))?;
            log::info!(
                "created publication {pubname} for {} table(s)",
                tables.len()
            );
            return Ok(());
        }
        let via_root: bool = self.q(
            "SELECT pubviaroot FROM pg_publication WHERE pubname = $1",
            &[&pubname],
        )?[0]
            .get(0);
        if !via_root {
            let sql = format!(
                "ALTER PUBLICATION {} SET (publish_via_partition_root = true)",
                qi(&pubname)
            );
            self.client
                .batch_execute(&sql)
                .map_err(|e| anyhow!("{}: {sql}", error::pg_message(&e)))?;
            log::info!("publication {pubname}: set publish_via_partition_root = true");
        }
        let mut have = HashSet::new();
        for (s, t) in tables {
            if self.published(s, t)? {
                have.insert((s.clone(), t.clone()));
            }
        }
        let missing: Vec<&(String, String)> =
            tables.iter().filter(|t| !have.contains(*t)).collect();
        if !missing.is_empty() {
            let sql = format!(
                "ALTER PUBLICATION {} ADD TABLE {}",
                qi(&pubname),
                list(&missing)
            );
            self.client
                .batch_execute(&sql)
                .map_err(|e| anyhow!("{}: {sql}", error::pg_message(&e)))?;
            log::info!("added {} table(s) to publication {pubname}", missing.len());
        }
        Ok(())
    }

    /// Whether the publication publishes this table's changes.
    pub fn published(&mut self, schema: &str, table: &str) -> Result<bool> {
        let pubname = self.cfg.publication.clone();
        // Direct membership, a schema in the publication (PG 15), or all tables;
        // pg_publication_tables would list partitions instead of their root.
        let schemas = if self.version >= 150000 {
            " OR EXISTS (SELECT 1 FROM pg_catalog.pg_publication_namespace pn \
               WHERE pn.pnpubid = p.oid AND pn.pnnspid = n.oid)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT 1 FROM pg_publication p \
             JOIN pg_class c ON true JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE p.pubname = $1 AND n.nspname = $2 AND c.relname = $3 AND (p.puballtables \
                OR EXISTS (SELECT 1 FROM pg_publication_rel r WHERE r.prpubid = p.oid AND r.prrelid = c.oid){schemas})"
        );
        let rows = self.q(&sql, &[&pubname, &schema, &table])?;
        Ok(!rows.is_empty())
    }

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

    /// The table's kind (`r` table, `p` partitioned, ...), its size in
    /// blocks and in bytes.
    fn relation(&mut self, s: &TableSchema) -> Result<(String, i64, i64)> {
        let rows = self.q(
            "SELECT c.relkind::text, pg_relation_size(c.oid) / current_setting('block_size')::bigint, \
             pg_relation_size(c.oid) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&s.schema, &s.name],
        )?;
        Ok(rows
            .first()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .unwrap_or_default())
    }

    /// Streams the table (or the block range `blocks`) through `COPY ... TO
    /// STDOUT` into the spool file.
    fn copy_table(
        &mut self,
        s: &TableSchema,
        blocks: Option<(i64, Option<i64>)>,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        let cols = s
            .columns
            .iter()
            .map(|c| qi(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        // A partitioned table's rows live in its partitions; an ordinary
        // table's inheritance children are tables of their own (ONLY).
        let (kind, _, _) = self.relation(s)?;
        let only = if kind == "p" { "" } else { "ONLY " };
        // TID range scans (PostgreSQL 14+) read just the blocks asked for.
        let range = match blocks {
            None => String::new(),
            Some((lo, None)) => format!(" WHERE ctid >= '({lo},0)'::tid"),
            Some((lo, Some(hi))) => {
                format!(" WHERE ctid >= '({lo},0)'::tid AND ctid < '({hi},0)'::tid")
            }
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
                    Some(text) => warnings.or_null(
                        convert(s.columns[i].conv, text).map(Some),
                        &table,
                        &s.columns[i].name,
                    ),
                });
            }
            n += 1;
            w.write(Op::Insert, n, ts, &[], vals.iter().map(|v| v.as_deref()))?;
            if n == 1 {
                crate::fault::point("snapshot-row");
            }
        }
        Ok(n)
    }

    /// The current end of the WAL.
    pub fn current_lsn(&mut self) -> Result<u64> {
        let s: String = self.q("SELECT pg_current_wal_lsn()::text", &[])?[0].get(0);
        parse_lsn(&s).ok_or_else(|| anyhow!("bad LSN {s}"))
    }

    /// Reads the changes from the slot up to `upto` into the batch, stopping
    /// at the first transaction end after `max` messages; returns the LSN to
    /// advance to once the batch is merged (`None`: nothing read).
    fn peek_changes(
        &mut self,
        upto: u64,
        tables: &HashMap<(String, String), TableSchema>,
        since: &HashMap<(String, String), String>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
        max: u64,
    ) -> Result<DeltaOutcome> {
        let slot = self.cfg.slot.clone();
        let publication = self.cfg.publication.clone();
        let sql = "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes($1, $2::text::pg_lsn, \
                   $4::int, 'proto_version', '1', 'publication_names', $3)";
        let upto_text = lsn_text(upto);
        let limit = i32::try_from(max).unwrap_or(i32::MAX);
        let params: [&(dyn postgres::types::ToSql + Sync); 4] =
            [&slot, &upto_text, &publication, &limit];
        let since = since
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), parse_lsn(v)?)))
            .collect();
        let mut dec = Decoder::new(tables, self.types.clone(), since);
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
                dec.apply(msg, lsn, batch, warnings)?;
                if dec.deferred.len() >= DEFERRED_AT_ONCE {
                    if lookup.is_none() {
                        lookup = Some(PgSource::connect(&self.cfg)?);
                    }
                    if let Some(l) = lookup.as_mut() {
                        let waiting = std::mem::take(&mut dec.deferred);
                        l.fill_unchanged(waiting, &mut dec, batch, warnings)?;
                    }
                }
            }
        }
        let waiting = std::mem::take(&mut dec.deferred);
        self.fill_unchanged(waiting, &mut dec, batch, warnings)?;
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
        dec: &mut Decoder<'_>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<()> {
        // The stream may be in the middle of a transaction: its time stays.
        let ts = std::mem::take(&mut dec.ts);
        let r = self.fill_waiting(waiting, dec, batch, warnings);
        dec.ts = ts;
        r
    }

    fn fill_waiting(
        &mut self,
        waiting: Vec<Deferred>,
        dec: &mut Decoder<'_>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<()> {
        let mut by_table: HashMap<(String, String), Vec<Deferred>> = HashMap::new();
        for d in waiting {
            by_table.entry(d.table.clone()).or_default().push(d);
        }
        for (table, rows) in by_table {
            let s = &dec.tables[&table];
            for chunk in rows.chunks(LOOKUP_KEYS) {
                let found = self.lookup_rows(s, chunk)?;
                for d in chunk {
                    let key = key_texts(s, &d.row);
                    let values = found.get(&key);
                    let tuple: Vec<Datum<'_>> = d
                        .row
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            if d.unchanged[i] {
                                values
                                    .and_then(|vals| vals[i].as_deref())
                                    .map_or(Datum::Null, Datum::Text)
                            } else {
                                v.as_deref().map_or(Datum::Null, Datum::Text)
                            }
                        })
                        .collect();
                    dec.ts = d.ts.clone();
                    dec.emit(&table, Op::Insert, d.seq, &tuple, batch, warnings)?;
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
        let wanted: Vec<usize> = (0..s.columns.len())
            .filter(|&i| rows.iter().any(|d| d.unchanged[i]))
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
}

impl Source for PgSource {
    fn kind(&self) -> &'static str {
        "PostgreSQL"
    }

    fn database(&self) -> &str {
        &self.cfg.database
    }

    fn check(&mut self) -> Result<String> {
        self.check_prerequisites()
    }

    fn list_tables(&mut self) -> Result<Vec<(String, String)>> {
        self.all_tables()
    }

    fn describe(&mut self, cfg: &Config, schema: &str, table: &str) -> Result<TableSchema> {
        self.describe_table(cfg, schema, table)
    }

    /// Publication and slot: the slot keeps every change from its position on.
    fn prepare_full(&mut self, tables: &[(String, String)]) -> Result<(String, bool)> {
        self.ensure_publication(tables)?;
        let (pos, created) = self.ensure_slot()?;
        Ok((lsn_text(pos), created))
    }

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
            let points = super::split_points(0, i128::from(blocks) - 1, n);
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

    /// The slot's position: the slot, not state.db, is where deltas start.
    fn start_position(&mut self, _committed: Option<&str>) -> Result<Option<String>> {
        Ok(self.slot_position()?.map(lsn_text))
    }

    /// The slot must not be beyond what this instance released: another
    /// instance on the same slot, or a slot dropped and created again, would
    /// otherwise skip changes without a word.
    fn check_position(&mut self, released: Option<&str>) -> Result<()> {
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
        let Some(released_lsn) = parse_lsn(released.split_whitespace().next().unwrap_or("")) else {
            return Ok(());
        };
        if slot <= released_lsn {
            return Ok(());
        }
        Err(error::config(format!(
            "replication slot {} is at {}, beyond {released}, the last position this instance released: \
             the changes in between were consumed by someone else (another ingest instance or program \
             using slot {}, or the slot was dropped and created again) and are lost to this instance; \
             give each instance its own slot, then run `ingest full-extract` of every table",
            self.cfg.slot,
            lsn_text(slot),
            self.cfg.slot
        )))
    }

    /// A partitioned table's leaf partitions, each as `oid name relfilenode`:
    /// a partition attached, detached or dropped changes the list, and a
    /// TRUNCATE of one partition (never published under
    /// `publish_via_partition_root`) gives it a new file.
    fn fingerprint(&mut self, s: &TableSchema) -> Result<Option<String>> {
        let (kind, _, _) = self.relation(s)?;
        if kind != "p" {
            return Ok(None);
        }
        let rows = self.q(
            "SELECT c.oid::bigint, c.oid::regclass::text, c.relfilenode::bigint \
             FROM pg_partition_tree(format('%I.%I', $1::text, $2::text)::regclass) pt \
             JOIN pg_class c ON c.oid = pt.relid WHERE pt.isleaf ORDER BY 1",
            &[&s.schema, &s.name],
        )?;
        Ok(Some(
            rows.iter()
                .map(|r| {
                    format!(
                        "{} {} {}",
                        r.get::<_, i64>(0),
                        r.get::<_, String>(1),
                        r.get::<_, i64>(2)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ))
    }

    fn fingerprint_change(&self, saved: &str, now: &str) -> FingerprintChange {
        partition_change(saved, now)
    }

    fn unreadable(&mut self, schema: &str, table: &str) -> Result<Option<String>> {
        if self.published(schema, table)? {
            return Ok(None);
        }
        Ok(Some(format!(
            "not in publication {}: its changes are not read; run `ingest full-extract {schema}.{table}`",
            self.cfg.publication
        )))
    }

    fn changes(
        &mut self,
        _from: &str,
        tables: &HashMap<(String, String), TableSchema>,
        since: &HashMap<(String, String), String>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
        max_changes: u64,
    ) -> Result<DeltaOutcome> {
        let upto = self.current_lsn()?;
        self.peek_changes(upto, tables, since, batch, warnings, max_changes)
    }

    fn current_position(&mut self) -> Result<String> {
        Ok(lsn_text(self.current_lsn()?))
    }

    fn release(&mut self, to: &str) -> Result<()> {
        let lsn = parse_lsn(to).ok_or_else(|| anyhow!("bad LSN {to}"))?;
        self.advance(lsn)
    }

    fn position_line(&mut self) -> Result<String> {
        Ok(match self.slot_position()? {
            Some(p) => format!("slot {} exists at {}", self.cfg.slot, lsn_text(p)),
            None => format!(
                "slot {} not created yet (full-extract creates it)",
                self.cfg.slot
            ),
        })
    }
}

fn first_line(sql: &str) -> &str {
    sql.lines().next().unwrap_or(sql)
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

    #[test]
    fn copy_text_fields() {
        let (mut buf, mut out) = (vec![], vec![]);
        let line = b"1\t\\N\ta\\tb\\\\c\\nd\t\t\\x41\\101\tlast";
        parse_copy_text(line, &mut buf, &mut out).unwrap();
        let got: Vec<Option<&[u8]>> = out.iter().map(|f| f.get(line, &buf)).collect();
        assert_eq!(
            got,
            vec![
                Some(&b"1"[..]),
                None,
                Some(&b"a\tb\\c\nd"[..]),
                Some(&b""[..]),
                Some(&b"AA"[..]),
                Some(&b"last"[..]),
            ]
        );
        // Fields without escapes are not copied.
        assert!(matches!(out[0], decode::CopyField::Line(_)));
        assert!(matches!(out[2], decode::CopyField::Buf(_)));
        assert!(parse_copy_text(b"a\\", &mut buf, &mut out)
            .unwrap_err()
            .contains("field 1"));
        parse_copy_text(b"", &mut buf, &mut out).unwrap();
        assert_eq!(out, vec![decode::CopyField::Line(0..0)]);
    }

    #[test]
    fn partition_changes() {
        let saved = "16400 public.p_eu 16400\n16405 public.p_us 16405";
        assert_eq!(partition_change(saved, saved), FingerprintChange::Same);
        let truncated = "16400 public.p_eu 16410\n16405 public.p_us 16405";
        assert!(
            matches!(partition_change(saved, truncated), FingerprintChange::Rewritten(w) if w.contains("public.p_eu"))
        );
        let detached = "16405 public.p_us 16405";
        assert!(
            matches!(partition_change(saved, detached), FingerprintChange::Changed(w) if w.contains("p_eu detached"))
        );
        let attached = format!("{saved}\n16420 public.p_asia 16420");
        // A name with spaces, renamed: not a rewrite.
        assert_eq!(
            partition_change("1 public.\"p eu\" 5", "1 public.\"p europe\" 5"),
            FingerprintChange::Same
        );
        assert!(
            matches!(partition_change(saved, &attached), FingerprintChange::Changed(w) if w.contains("p_asia attached"))
        );
    }

    #[test]
    fn keys_follow_the_replica_identity() {
        let cols = ["id", "code", "v"];
        let t = |setting, primary: Vec<usize>, index: Vec<usize>| Identity {
            table: ("public", "t"),
            columns: &cols,
            primary,
            index,
            setting,
        };
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            resolve_key(&t(b'd', vec![0], vec![]), None).unwrap(),
            vec![0]
        );
        // USING INDEX: the index's columns, with or without a primary key.
        assert_eq!(
            resolve_key(&t(b'i', vec![], vec![1]), None).unwrap(),
            vec![1]
        );
        assert_eq!(
            resolve_key(&t(b'i', vec![0], vec![1]), None).unwrap(),
            vec![1]
        );
        assert_eq!(
            resolve_key(&t(b'i', vec![], vec![1]), Some(&own(&["code"]))).unwrap(),
            vec![1]
        );
        let e = resolve_key(&t(b'i', vec![0], vec![1]), Some(&own(&["id"]))).unwrap_err();
        assert!(e.to_string().contains("replica identity index"), "{e}");
        // FULL takes any configured key; DEFAULT only the primary key.
        assert_eq!(
            resolve_key(&t(b'f', vec![], vec![]), Some(&own(&["v", "id"]))).unwrap(),
            vec![2, 0]
        );
        assert!(resolve_key(&t(b'd', vec![0], vec![]), Some(&own(&["v"]))).is_err());
        assert!(resolve_key(&t(b'd', vec![], vec![]), None)
            .unwrap_err()
            .to_string()
            .contains("no primary key"));
        let e = resolve_key(&t(b'n', vec![0], vec![]), None).unwrap_err();
        assert!(e.to_string().contains("REPLICA IDENTITY NOTHING"), "{e}");
        assert!(resolve_key(&t(b'f', vec![0], vec![]), Some(&own(&["nope"]))).is_err());
    }

    #[test]
    fn type_mapping() {
        assert_eq!(map_type("numeric(38,10)", b'b', b'N').0, "DECIMAL(38,10)");
        assert_eq!(map_type("numeric", b'b', b'N').0, "DECIMAL(65,30)");
        assert_eq!(map_type("numeric(70,2)", b'b', b'N').0, "DECIMAL(65,30)");
        assert_eq!(map_type("numeric(5,-2)", b'b', b'N').0, "DECIMAL(7,0)");
        assert_eq!(map_type("numeric(3,5)", b'b', b'N').0, "DECIMAL(5,5)");
        assert_eq!(map_type("numeric(10)", b'b', b'N').0, "DECIMAL(10,0)");
        assert_eq!(
            map_type("character varying(20)", b'b', b'S').0,
            "VARCHAR(20)"
        );
        assert_eq!(map_type("integer[]", b'b', b'A').0, "LONGTEXT");
        assert_eq!(map_type("mood", b'e', b'E').0, "VARCHAR(64)");
        assert_eq!(
            map_type("timestamp(3) with time zone", b'b', b'D').1,
            Conv::TimestampTz
        );
        assert!(map_type("bytea", b'b', b'U').2);
    }
}
