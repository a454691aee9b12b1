//! SQL Server source over ODBC: catalog and prerequisites, full extracts,
//! and deltas by Change Tracking, Change Data Capture, or the whole table
//! again (`extract_type`, per table).
//!
//! The position is the Change Tracking version and the CDC LSN the deltas
//! read up to (`ct=1042 lsn=0x...`), each kept where tables are read that
//! way; both are the database's, so one position serves every table. A
//! full extract records them before its snapshot; a table whose snapshot
//! started later reads its changes from where its own snapshot started.
//!
//! - Change Tracking: each delta is one SNAPSHOT transaction that reads the
//!   current version and, per table, `CHANGETABLE(CHANGES t, v)` joined to
//!   the table: net changes per key since `v`, with the row as it is now.
//! - CDC: `cdc.fn_cdc_get_all_changes_<instance>` between the LSN after
//!   the saved one and `sys.fn_cdc_get_max_lsn()`, in commit order.
//! - full: the table is read whole and replaces the destination's rows.

pub(crate) mod bcp;
mod cdc;
mod ct;
pub mod fetch;
pub mod odbc;
mod stamps;
pub mod types;

use std::collections::HashMap;

use anyhow::{anyhow, Context, Result};
use odbc_api::{Connection, IntoParameter};

use crate::change::{AsIs, Cell, ChangeSink};
use crate::config::{Config, ExtractType, SqlServerSource};
use crate::error;
use crate::position::Position;
use crate::schema::TableSchema;
use crate::source::{
    Catalog, CatchUp, ChangeLog, DeltaOutcome, Fill, LogState, Snapshot, SnapshotRange, Warnings,
};
use crate::spool::{BatchWriter, Op, TableWriter};
use crate::table::TableId;
use fetch::Texts;
use types::{qi, MsCol};

pub struct MsSource {
    conn: Connection<'static>,
    cfg: SqlServerSource,
    /// The whole configuration: each table's extract type.
    config: Config,
    /// Catalog description of each described table.
    cols: HashMap<TableId, Vec<MsCol>>,
    /// bcp, once looked for (`Some(None)`: not used).
    bcp: Option<Option<BcpJob>>,
    /// Each table's columns as its last description found them in the
    /// catalog (a delta describes every table just before reading).
    catalog: HashMap<TableId, Vec<CatalogColumn>>,
}

/// A column as `sys.columns` and `sys.types` describe it.
#[derive(Clone)]
struct CatalogColumn {
    name: String,
    type_name: String,
    max_length: i32,
    precision: u8,
    scale: u8,
    nullable: bool,
}

impl CatalogColumn {
    /// What a structure change changes: name, type, bytes, precision, scale.
    fn shape(&self) -> (&str, &str, i32, u8, u8) {
        (
            &self.name,
            &self.type_name,
            self.max_length,
            self.precision,
            self.scale,
        )
    }
}

/// `[schema].[table]`.
fn qname(schema: &str, table: &str) -> String {
    format!("{}.{}", qi(schema), qi(table))
}

impl MsSource {
    pub fn connect(cfg: &SqlServerSource, config: &Config) -> Result<MsSource> {
        let conn = odbc::connect(cfg)?;
        Ok(MsSource {
            conn,
            cfg: cfg.clone(),
            config: config.clone(),
            cols: HashMap::new(),
            bcp: None,
            catalog: HashMap::new(),
        })
    }

    /// How the table's changes are read.
    fn extract_type(&self, id: &TableId) -> ExtractType {
        self.config
            .extract_type_for(&id.schema, &id.name)
            .unwrap_or(self.cfg.extract_type)
    }

    /// Whether a `[[table]]` entry reads its tables by `t` (its own
    /// `extract_type`, else the source's): the source-wide version or LSN
    /// is read only then.
    fn uses(&self, t: ExtractType) -> bool {
        self.config
            .tables
            .iter()
            .any(|r| r.extract_type.unwrap_or(self.cfg.extract_type) == t)
    }

    fn described(&self, s: &TableSchema) -> Result<Vec<MsCol>> {
        self.cols
            .get(&s.id())
            .cloned()
            .ok_or_else(|| anyhow!("{} was not described", s.source_name()))
    }

    /// The SELECT list reading the table's columns (alias `a.` when given),
    /// masked columns as NULL.
    fn select_list(cols: &[MsCol], s: &TableSchema, alias: &str) -> String {
        cols.iter()
            .enumerate()
            .map(|(i, c)| {
                if s.columns.get(i).is_some_and(|x| x.masked) {
                    "NULL".to_string()
                } else {
                    types::select_expr(c, &format!("{alias}{}", qi(&c.name)))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The fetch description of a masked column: NULL text.
    fn fetched(cols: &[MsCol], s: &TableSchema) -> Vec<MsCol> {
        cols.iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                if s.columns.get(i).is_some_and(|x| x.masked) {
                    c.kind = types::Kind::Text { max: Some(1) };
                }
                c
            })
            .collect()
    }

    /// How full extracts run bcp, where they do (`bcp`, `bcp_path`).
    fn bcp_job(&mut self) -> Option<BcpJob> {
        if self.bcp.is_none() {
            self.bcp = Some(bcp::program(&self.cfg).map(|program| BcpJob {
                program,
                cfg: self.cfg.clone(),
                dir: self.config.instance.spool_dir.join("bcp"),
            }));
        }
        self.bcp.clone().flatten()
    }

    /// The CT version and CDC LSN now, for the extract types in use.
    fn now(&mut self) -> Result<Position> {
        let ct = if self.uses(ExtractType::ChangeTracking) {
            Some(ct::current_version(&self.conn)?)
        } else {
            None
        };
        let lsn = if self.uses(ExtractType::Cdc) {
            Some(cdc::max_lsn(&self.conn)?)
        } else {
            None
        };
        Ok(Position::SqlServer {
            ct,
            lsn,
            ts: Default::default(),
        })
    }
}

/// Reads the rows of `sql` (a SELECT of the table's columns) into the
/// table's spool file as inserts.
#[allow(clippy::too_many_arguments)]
fn read_into(
    conn: &Connection<'_>,
    sql: &str,
    params: impl odbc_api::ParameterCollectionRef,
    cols: &[MsCol],
    s: &TableSchema,
    w: &mut TableWriter,
    ts: &str,
    warnings: &mut Warnings,
) -> Result<u64> {
    let what = format!("snapshot of {}", s.source_name());
    let mut texts = Texts::of(s, warnings);
    let mut n = 0u64;
    fetch::select(conn, sql, params, cols, &mut texts, &what, |vals, texts| {
        n += 1;
        snapshot_row(w, n, ts, s, vals, texts)
    })
}

/// One row of a snapshot into the table's spool file (`n`: its number).
fn snapshot_row(
    w: &mut TableWriter,
    n: u64,
    ts: &str,
    s: &TableSchema,
    vals: &[Option<&[u8]>],
    texts: &mut Texts<'_>,
) -> Result<()> {
    w.write(Op::Insert, n, ts, &[], vals.iter().copied())?;
    texts.warnings.keyed(|| key_of(s, vals));
    if n == 1 {
        crate::fault::point("snapshot-row");
    }
    Ok(())
}

/// `id=5` of a row of spool texts (binary keys as their hex).
fn key_of(s: &TableSchema, vals: &[Option<&[u8]>]) -> String {
    crate::source::key_text(s, |k| {
        vals.get(k)
            .copied()
            .flatten()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    })
}

/// A row of spool texts as the change sink's cells.
fn cells<'a>(vals: &'a [Option<&'a [u8]>]) -> Vec<Cell<'a>> {
    vals.iter()
        .map(|v| v.map_or(Cell::Null, Cell::Value))
        .collect()
}

impl Catalog for MsSource {
    fn kind(&self) -> &'static str {
        "SQL Server"
    }
    fn database(&self) -> &str {
        &self.cfg.database
    }
    fn check(&mut self) -> Result<String> {
        self.check_prerequisites()
    }
    fn list_tables(&mut self) -> Result<Vec<TableId>> {
        let rows = odbc::text_rows(
            &self.conn,
            "SELECT s.name, t.name FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id \
             WHERE t.is_ms_shipped = 0 AND s.name <> N'cdc' ORDER BY s.name, t.name",
            (),
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match &r[..] {
                [Some(s), Some(t)] => Some(TableId::new(s.clone(), t.clone())),
                _ => None,
            })
            .collect())
    }
    fn describe(&mut self, cfg: &Config, table: &TableId) -> Result<TableSchema> {
        self.describe_table(cfg, table)
    }
    fn shape_extra(&self, s: &TableSchema) -> serde_json::Value {
        serde_json::to_value(self.cols.get(&s.id())).unwrap_or_default()
    }
    fn restore_shape(&mut self, s: &TableSchema, extra: &serde_json::Value) -> Result<()> {
        let cols: Vec<MsCol> = serde_json::from_value(extra.clone())
            .map_err(|e| anyhow!("the kept shape of {}: {e}", s.source_name()))?;
        self.cols.insert(s.id(), cols);
        Ok(())
    }
    /// What the rows there when column `col` was added hold in it: NULL
    /// for a nullable column without a default, its default for a NOT NULL
    /// column with a literal default (SQL Server fills them then); a
    /// nullable column with a default holds it only if it was added `WITH
    /// VALUES`, which the catalog does not tell.
    fn added_fill(
        &mut self,
        s: &TableSchema,
        col: usize,
        _ddl: &[String],
        _kept: Option<&serde_json::Value>,
    ) -> Result<Fill> {
        let name = &s.columns[col].name;
        let q = qname(&s.schema, &s.name);
        let rows = odbc::text_rows(
            &self.conn,
            "SELECT CAST(c.is_nullable AS int), dc.definition FROM sys.columns AS c \
             LEFT JOIN sys.default_constraints AS dc ON dc.object_id = c.default_object_id \
             WHERE c.object_id = OBJECT_ID(?) AND c.name = ?",
            (
                &q.as_str().into_parameter(),
                &name.as_str().into_parameter(),
            ),
        )?;
        let Some(r) = rows.first() else {
            return Ok(Fill::Unknown(format!("column {name} is not at the source")));
        };
        let nullable = r.first().cloned().flatten().as_deref() == Some("1");
        let default = r.get(1).cloned().flatten();
        Ok(match (nullable, default) {
            (true, None) => Fill::Null,
            (true, Some(d)) => Fill::Unknown(format!(
                "it has the default {d}, which the rows there hold only if it was added WITH VALUES"
            )),
            (false, Some(d)) => match types::default_literal(&d) {
                Some(v) => Fill::Value(v),
                None => Fill::Unknown(format!("its default {d} is an expression")),
            },
            (false, None) => Fill::Unknown("it is NOT NULL without a default".into()),
        })
    }
    fn check_filter(&mut self, s: &TableSchema) -> Result<()> {
        let Some(f) = &s.filter else { return Ok(()) };
        let sql = format!(
            "SELECT TOP (0) 1 FROM {} WHERE ({f})",
            qname(&s.schema, &s.name)
        );
        odbc::run(&self.conn, &sql).map_err(|e| {
            error::config(format!("table {}: where = \"{f}\": {e:#}", s.source_name()))
        })
    }
}

impl MsSource {
    /// The table's columns as the catalog has them now: name, type, bytes,
    /// precision, scale, nullable (an empty list: no such table).
    fn catalog_columns(&self, id: &TableId) -> Result<Vec<CatalogColumn>> {
        let name = id.to_string();
        let q = qname(&id.schema, &id.name);
        let rows = odbc::text_rows(
            &self.conn,
            "SELECT c.name, CASE WHEN t.is_user_defined = 0 THEN t.name ELSE TYPE_NAME(t.system_type_id) END, \
             c.max_length, c.precision, c.scale, c.is_nullable \
             FROM sys.columns AS c JOIN sys.types AS t ON t.user_type_id = c.user_type_id \
             WHERE c.object_id = OBJECT_ID(?) ORDER BY c.column_id",
            &q.as_str().into_parameter(),
        )?;
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                let text = |j: usize| r.get(j).cloned().flatten().unwrap_or_default();
                let num = |j: usize| -> Result<i64> {
                    text(j).trim().parse::<i64>().map_err(|_| {
                        anyhow!(
                            "table {name}: the catalog's column {} of row {} is '{}'",
                            j + 1,
                            i + 1,
                            text(j)
                        )
                    })
                };
                Ok(CatalogColumn {
                    name: text(0),
                    type_name: text(1).to_ascii_lowercase(),
                    max_length: num(2)? as i32,
                    precision: num(3)?.clamp(0, 255) as u8,
                    scale: num(4)?.clamp(0, 255) as u8,
                    nullable: matches!(text(5).as_str(), "1" | "true"),
                })
            })
            .collect()
    }

    /// How the table's columns now differ from those it was loaded with
    /// (added, dropped, retyped), if they do.
    fn shape_change(&self, s: &TableSchema) -> Result<Option<String>> {
        let kept = self.described(s)?;
        let now = match self.catalog.get(&s.id()) {
            Some(c) => c.clone(),
            None => self.catalog_columns(&s.id())?,
        };
        let show = |c: &[(&str, &str, i32, u8, u8)]| {
            c.iter()
                .map(|(n, t, l, p, sc)| format!("{n} {t}({l},{p},{sc})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let a: Vec<_> = kept.iter().map(MsCol::shape).collect();
        let b: Vec<_> = now.iter().map(CatalogColumn::shape).collect();
        Ok((a != b).then(|| format!("columns were {}; now {}", show(&a), show(&b))))
    }

    fn describe_table(&mut self, cfg: &Config, id: &TableId) -> Result<TableSchema> {
        let name = id.to_string();
        let q = qname(&id.schema, &id.name);
        let rows = self.catalog_columns(id)?;
        if rows.is_empty() {
            return Err(error::config(format!(
                "table {name} not found at the source"
            )));
        }
        let rule = cfg.rule_for(&id.schema, &id.name);
        let masked = |c: &str| rule.is_some_and(|r| r.mask.iter().any(|m| m == c));
        let mut mscols = vec![];
        let mut columns = vec![];
        for r in &rows {
            let made = types::column(
                &r.name,
                &r.type_name,
                r.max_length,
                r.precision,
                r.scale,
                r.nullable,
            );
            let (mut ms, col) = match made {
                Ok(x) => x,
                // A masked column is never read: any type will do; the
                // catalog's is kept (structure changes compare it).
                Err(_) if masked(&r.name) => {
                    let (mut ms, col) = types::column(&r.name, "nvarchar", 2, 0, 0, r.nullable)
                        .map_err(|m| anyhow!("table {name}: {m}"))?;
                    ms.type_name = r.type_name.clone();
                    (ms, col)
                }
                Err(m) => return Err(error::config(format!("table {name}: {m}"))),
            };
            ms.name = r.name.clone();
            ms.max_length = r.max_length;
            ms.precision = r.precision;
            ms.scale = r.scale;
            mscols.push(ms);
            columns.push(col);
        }
        let pk = odbc::text_rows(
            &self.conn,
            "SELECT c.name FROM sys.indexes AS i \
             JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id \
             JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id \
             WHERE i.object_id = OBJECT_ID(?) AND i.is_primary_key = 1 ORDER BY ic.key_ordinal",
            &q.as_str().into_parameter(),
        )?;
        let pk: Vec<String> = pk
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect();
        let (key, keyless) = crate::schema::resolve_key(&name, rule, &columns, pk)?;
        let (dest_db, dest_table) = cfg.dest_name(&self.cfg.database, &id.schema, &id.name);
        let stamped = cfg.extract_type_for(&id.schema, &id.name) == Some(ExtractType::Timestamps);
        let mut s = TableSchema {
            schema: id.schema.clone(),
            name: id.name.clone(),
            dest_db,
            dest_table,
            columns,
            key,
            min_year: cfg.destination.dialect.min_year(),
            filter: None,
            bad_value_fail: false,
            history: None,
            keyless,
            hashed_key: vec![],
        };
        crate::schema::apply_rule(&mut s, rule)?;
        crate::schema::apply_history(&mut s, cfg.history_for(&id.schema, &id.name))?;
        if stamped {
            let tc = rule.and_then(|r| r.timestamp_column.as_deref());
            stamps::column(&mscols, &s, tc).map_err(|e| error::config(format!("{e:#}")))?;
        }
        self.cols.insert(id.clone(), mscols);
        self.catalog.insert(id.clone(), rows);
        Ok(s)
    }

    /// The manual's verification queries for the extract types in use:
    /// every missing prerequisite named with the statement that fixes it.
    fn check_prerequisites(&mut self) -> Result<String> {
        let version = odbc::text_rows(&self.conn, "SELECT @@VERSION", ())?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
            .unwrap_or_default();
        let version = version.lines().next().unwrap_or("").trim().to_string();
        let db = self.cfg.database.clone();
        let mut missing: Vec<String> = vec![];
        let updateability = odbc::text_rows(
            &self.conn,
            "SELECT CAST(DATABASEPROPERTYEX(DB_NAME(), 'Updateability') AS nvarchar(20))",
            (),
        )?;
        if updateability
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .is_some_and(|u| u != "READ_WRITE")
        {
            missing.push(format!(
                "database {db} is read-only here (a readable secondary?): point ingest at the \
                 primary replica"
            ));
        }
        let config = self.config.clone();
        let names = crate::source::selected(self, &config)?;
        let user = self.cfg.user.clone();
        if self.uses(ExtractType::ChangeTracking) {
            missing.extend(ct::check(
                &self.conn,
                &db,
                &user,
                &self.tables_of(&names, ExtractType::ChangeTracking),
            )?);
        }
        if self.uses(ExtractType::Cdc) {
            missing.extend(cdc::check(
                &self.conn,
                &db,
                &user,
                &self.tables_of(&names, ExtractType::Cdc),
            )?);
        }
        if !missing.is_empty() {
            return Err(error::config(format!(
                "SQL Server {}:{} database {db} is not ready:\n  - {}",
                self.cfg.host,
                self.cfg.port,
                missing.join("\n  - ")
            )));
        }
        Ok(version)
    }

    fn tables_of(&self, names: &[TableId], t: ExtractType) -> Vec<TableId> {
        names
            .iter()
            .filter(|id| self.extract_type(id) == t)
            .cloned()
            .collect()
    }
}

/// Where and how a full extract runs `bcp`.
#[derive(Clone)]
struct BcpJob {
    program: std::path::PathBuf,
    cfg: SqlServerSource,
    /// Its output files (in the spool folder).
    dir: std::path::PathBuf,
}

impl BcpJob {
    /// Extracts the rows of the table matching `cond` (SQL conditions)
    /// through bcp into the spool file.
    fn read(
        &self,
        cols: &[MsCol],
        s: &TableSchema,
        cond: &[String],
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        static FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let masked: Vec<bool> = s.columns.iter().map(|c| c.masked).collect();
        let mut sql = format!(
            "SELECT {} FROM {}",
            bcp::select_list(cols, &masked),
            qname(&s.schema, &s.name)
        );
        if !cond.is_empty() {
            sql.push_str(&format!(" WHERE {}", cond.join(" AND ")));
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = self.dir.join(format!("{}-{n}.bcp", std::process::id()));
        let table = s.source_name();
        let what = format!("bcp extract of {table}");
        let result = (|| {
            let copied = bcp::run(&self.program, &self.cfg, &sql, &file, &self.dir)?;
            let input = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let mut texts = Texts::of(s, warnings);
            let fetched = MsSource::fetched(cols, s);
            let mut n = 0u64;
            let input = std::io::BufReader::new(input);
            let read = bcp::parse(input, &fetched, &mut texts, &what, |vals, texts| {
                n += 1;
                snapshot_row(w, n, ts, s, vals, texts)
            })?;
            if read != copied {
                anyhow::bail!("{what}: bcp copied {copied} rows, its file holds {read}");
            }
            Ok(read)
        })();
        let _ = std::fs::remove_file(&file);
        result
    }
}

impl Snapshot for MsSource {
    fn snapshot(
        &mut self,
        s: &TableSchema,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        let cols = self.described(s)?;
        if let Some(job) = self.bcp_job() {
            let cond: Vec<String> = s.filter.iter().map(|f| format!("({f})")).collect();
            return job.read(&cols, s, &cond, w, ts, warnings);
        }
        let filter = s
            .filter
            .as_ref()
            .map(|f| format!(" WHERE ({f})"))
            .unwrap_or_default();
        let sql = format!(
            "SELECT {} FROM {}{filter}",
            Self::select_list(&cols, s, ""),
            qname(&s.schema, &s.name)
        );
        read_into(
            &self.conn,
            &sql,
            (),
            &Self::fetched(&cols, s),
            s,
            w,
            ts,
            warnings,
        )
    }
    /// Ranges of a single integer key, split evenly between its minimum and
    /// maximum, each read on its own connection.
    fn split_snapshot(
        &mut self,
        s: &TableSchema,
        n: usize,
        min_bytes: u64,
    ) -> Result<Option<Vec<Box<dyn SnapshotRange>>>> {
        let cols = self.described(s)?;
        let [k] = s.key[..] else { return Ok(None) };
        if n < 2
            || s.keyless
            || !matches!(
                cols[k].kind,
                types::Kind::I16 | types::Kind::I32 | types::Kind::I64 | types::Kind::U8
            )
        {
            return Ok(None);
        }
        let q = qname(&s.schema, &s.name);
        let bytes = odbc::scalar_i64(
            &self.conn,
            "SELECT CAST(SUM(a.used_pages) * 8192 AS bigint) FROM sys.partitions AS p \
             JOIN sys.allocation_units AS a ON a.container_id = p.partition_id WHERE p.object_id = OBJECT_ID(?)",
            &q.as_str().into_parameter(),
        )?
        .unwrap_or(0);
        if (bytes.max(0) as u64) < min_bytes {
            return Ok(None);
        }
        let key = qi(&s.columns[k].name);
        let lo = odbc::scalar_i64(
            &self.conn,
            &format!("SELECT CAST(MIN({key}) AS bigint) FROM {q}"),
            (),
        )?;
        let hi = odbc::scalar_i64(
            &self.conn,
            &format!("SELECT CAST(MAX({key}) AS bigint) FROM {q}"),
            (),
        )?;
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(None);
        };
        let points = crate::source::split_points(i128::from(lo), i128::from(hi), n);
        if points.is_empty() {
            return Ok(None);
        }
        let mut out: Vec<Box<dyn SnapshotRange>> = vec![];
        for i in 0..=points.len() {
            let lo = (i > 0).then(|| points[i - 1] as i64);
            let hi = points.get(i).map(|&p| p as i64);
            let bcp = self.bcp_job();
            out.push(Box::new(MsRange {
                conn: if bcp.is_none() {
                    Some(odbc::connect(&self.cfg)?)
                } else {
                    None
                },
                bcp,
                cols: cols.clone(),
                schema: s.clone(),
                lo,
                hi,
            }));
        }
        Ok(Some(out))
    }
}

/// A key range of a table, read on its own connection: `lo <= key < hi`
/// (open where `None`), the bounds sent as parameters.
struct MsRange {
    /// ODBC, or bcp (bounds in the statement).
    conn: Option<Connection<'static>>,
    bcp: Option<BcpJob>,
    cols: Vec<MsCol>,
    schema: TableSchema,
    lo: Option<i64>,
    hi: Option<i64>,
}

impl SnapshotRange for MsRange {
    fn describe(&self) -> String {
        let key = &self.schema.columns[self.schema.key[0]].name;
        match (self.lo, self.hi) {
            (Some(l), Some(h)) => format!("{l} <= {key} < {h}"),
            (Some(l), None) => format!("{key} >= {l}"),
            (None, Some(h)) => format!("{key} < {h}"),
            (None, None) => "all".into(),
        }
    }
    fn read(
        self: Box<Self>,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        let s = &self.schema;
        let key = qi(&s.columns[s.key[0]].name);
        if let Some(job) = &self.bcp {
            let mut cond = vec![];
            if let Some(l) = self.lo {
                cond.push(format!("{key} >= {l}"));
            }
            if let Some(h) = self.hi {
                cond.push(format!("{key} < {h}"));
            }
            if let Some(f) = &s.filter {
                cond.push(format!("({f})"));
            }
            return job.read(&self.cols, s, &cond, w, ts, warnings);
        }
        let Some(conn) = &self.conn else {
            anyhow::bail!("a key range without a connection");
        };
        let mut cond = vec![];
        if self.lo.is_some() {
            cond.push(format!("{key} >= ?"));
        }
        if self.hi.is_some() {
            cond.push(format!("{key} < ?"));
        }
        if let Some(f) = &s.filter {
            cond.push(format!("({f})"));
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE {}",
            MsSource::select_list(&self.cols, s, ""),
            qname(&s.schema, &s.name),
            cond.join(" AND ")
        );
        let fetched = MsSource::fetched(&self.cols, s);
        match (self.lo, self.hi) {
            (Some(l), Some(h)) => read_into(conn, &sql, (&l, &h), &fetched, s, w, ts, warnings),
            (Some(l), None) => read_into(conn, &sql, &l, &fetched, s, w, ts, warnings),
            (None, Some(h)) => read_into(conn, &sql, &h, &fetched, s, w, ts, warnings),
            (None, None) => read_into(conn, &sql, (), &fetched, s, w, ts, warnings),
        }
    }
}

impl ChangeLog for MsSource {
    /// CT versions and CDC LSNs are kept by the server: the position is
    /// where they stand now.
    fn prepare_full(&mut self, _tables: &[TableId]) -> Result<(Position, bool)> {
        Ok((self.now()?, false))
    }
    fn current_position(&mut self) -> Result<Position> {
        self.now()
    }
    /// With the newest value of the table's timestamp column, for a table
    /// read by timestamps.
    fn table_position(&mut self, s: &TableSchema) -> Result<Position> {
        let mut p = self.now()?;
        if self.extract_type(&s.id()) == ExtractType::Timestamps {
            let cols = self.described(s)?;
            let rule = self.config.rule_for(&s.schema, &s.name);
            let tc = stamps::column(&cols, s, rule.and_then(|r| r.timestamp_column.as_deref()))?;
            let v = stamps::newest(&self.conn, s, &cols[tc])?;
            if let Position::SqlServer { ts, .. } = &mut p {
                ts.insert(s.source_name(), v);
            }
        }
        Ok(p)
    }
    fn start_position(&mut self, committed: Option<&Position>) -> Result<Option<Position>> {
        Ok(committed.cloned())
    }
    fn unreadable(&mut self, _table: &TableId) -> Result<Option<String>> {
        Ok(None)
    }
    fn changes(
        &mut self,
        from: &Position,
        tables: &HashMap<TableId, TableSchema>,
        since: &HashMap<TableId, Position>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
        _max_changes: u64,
    ) -> Result<DeltaOutcome> {
        let Position::SqlServer {
            ct: from_ct,
            lsn: from_lsn,
            ts: from_ts,
        } = from
        else {
            anyhow::bail!("{from} is not a SQL Server position (ct=..., lsn=...)");
        };
        let mut sink = ChangeSink::new(tables, batch);
        // Change Tracking, full and timestamps reads have no commit times:
        // their changes carry the time they were read.
        let now = crate::clock::format_micros(crate::clock::now_micros());
        let mut ids: Vec<&TableId> = tables.keys().collect();
        ids.sort();
        // A table whose columns changed is not read in the old shape: its
        // changes from here on wait for sync-struct.
        let at = from.to_string();
        let mut changed = vec![];
        for id in &ids {
            if let Some(what) = self.shape_change(&tables[*id])? {
                sink.shape_changed(id, false, &at, &what, &at, None);
                changed.push((*id).clone());
            }
        }
        ids.retain(|id| !changed.contains(id));
        let of = |t: ExtractType| -> Vec<TableId> {
            ids.iter()
                .filter(|id| self.extract_type(id) == t)
                .map(|id| (*id).clone())
                .collect()
        };
        let (ct_tables, cdc_tables, full_tables, ts_tables) = (
            of(ExtractType::ChangeTracking),
            of(ExtractType::Cdc),
            of(ExtractType::Full),
            of(ExtractType::Timestamps),
        );
        let mut transactions = 0u64;
        let mut to_ct = *from_ct;
        if !ct_tables.is_empty() {
            let Some(v) = from_ct else {
                anyhow::bail!(
                    "the position {from} has no Change Tracking version, and tables are read by \
                     Change Tracking: run full-extract"
                );
            };
            sink.set_ts(now.clone());
            let r = ct::read(self, *v, None, &ct_tables, since, &mut sink, warnings)?;
            to_ct = Some(r);
            transactions += 1;
        }
        let mut to_lsn = *from_lsn;
        if !cdc_tables.is_empty() {
            let Some(l) = from_lsn else {
                anyhow::bail!(
                    "the position {from} has no CDC LSN, and tables are read by CDC: run full-extract"
                );
            };
            let (to, n) = cdc::read(self, *l, None, &cdc_tables, since, &mut sink, warnings)?;
            to_lsn = Some(to);
            transactions += n;
        }
        if !full_tables.is_empty() || !ts_tables.is_empty() {
            sink.set_ts(now.clone());
        }
        for id in &full_tables {
            self.reread(id, &mut sink, warnings)?;
            transactions += 1;
        }
        let to_ts = if ts_tables.is_empty() {
            from_ts.clone()
        } else {
            transactions += 1;
            stamps::read(self, &ts_tables, from_ts, since, &mut sink, warnings)?
        };
        let commits = sink.commits();
        let (out, changed) = sink.finish()?;
        let to = Position::SqlServer {
            ct: to_ct,
            lsn: to_lsn,
            ts: to_ts,
        };
        let to_pos = (to != *from || !out.is_empty()).then_some(to);
        Ok(DeltaOutcome {
            tables: out,
            to_pos,
            changed,
            transactions,
            more: false,
            commits,
        })
    }
    /// After sync-struct: each table's changes from where they stopped up
    /// to the deltas' position, read as a delta reads them (Change
    /// Tracking bounded by the version, CDC by the LSN; a `full` table
    /// whole; a `timestamps` table from its newest value then, read again
    /// by the next delta, which changes nothing).
    fn catch_up(
        &mut self,
        c: &CatchUp,
        tables: &HashMap<TableId, TableSchema>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<DeltaOutcome> {
        let Position::SqlServer {
            ct: up_ct,
            lsn: up_lsn,
            ..
        } = &c.upto
        else {
            anyhow::bail!("{} is not a SQL Server position", c.upto);
        };
        let mut sink = ChangeSink::new(tables, batch);
        sink.set_ts(crate::clock::format_micros(crate::clock::now_micros()));
        let mut ids: Vec<&TableId> = tables.keys().collect();
        ids.sort();
        let none = HashMap::new();
        let mut transactions = 0;
        for id in ids {
            let Some(Position::SqlServer { ct, lsn, ts }) = c.resume.get(id) else {
                anyhow::bail!("{id}: no SQL Server position to read its changes from");
            };
            let one = std::slice::from_ref(id);
            let missing = || anyhow!("{id}: the position {} lacks its part", c.upto);
            match self.extract_type(id) {
                ExtractType::ChangeTracking => {
                    let (Some(v), Some(u)) = (ct, up_ct) else {
                        return Err(missing());
                    };
                    ct::read(self, *v, Some(*u), one, &none, &mut sink, warnings)?;
                    transactions += 1;
                }
                ExtractType::Cdc => {
                    let (Some(l), Some(u)) = (lsn, up_lsn) else {
                        return Err(missing());
                    };
                    transactions +=
                        cdc::read(self, *l, Some(*u), one, &none, &mut sink, warnings)?.1;
                }
                ExtractType::Full => self.reread(id, &mut sink, warnings)?,
                ExtractType::Timestamps => {
                    stamps::read(self, one, ts, &none, &mut sink, warnings)?;
                }
            }
        }
        let commits = sink.commits();
        let (out, changed) = sink.finish()?;
        Ok(DeltaOutcome {
            tables: out,
            to_pos: None,
            changed,
            transactions,
            more: false,
            commits,
        })
    }
    /// Nothing to release: the server keeps versions and LSNs for its
    /// retention period.
    fn release(&mut self, _to: &Position) -> Result<()> {
        Ok(())
    }
    fn rewind_check(&mut self, to: &Position) -> Result<Option<String>> {
        let Position::SqlServer { ct, .. } = to else {
            return Ok(Some(format!("{to} is not a SQL Server position")));
        };
        if let Some(v) = ct {
            let min = ct::min_valid_database(&self.conn)?;
            if min.is_some_and(|m| *v < m) {
                return Ok(Some(format!(
                    "Change Tracking version {v} is older than the oldest the database keeps"
                )));
            }
        }
        // CDC: each table's window is checked against its instance's
        // oldest LSN when the delta reads it.
        Ok(None)
    }
    fn log_state(&mut self) -> Result<LogState> {
        let at = self.now()?;
        Ok(LogState::Version { at: at.to_string() })
    }
}

impl MsSource {
    /// A `full` table in a delta: its rows replace the destination's.
    fn reread(
        &mut self,
        id: &TableId,
        sink: &mut ChangeSink<'_, '_>,
        warnings: &mut Warnings,
    ) -> Result<()> {
        let s = sink.tables()[id].clone();
        let cols = self.described(&s)?;
        let sql = format!(
            "SELECT {} FROM {}",
            Self::select_list(&cols, &s, ""),
            qname(&s.schema, &s.name)
        );
        let what = format!("full extract of {id}");
        sink.truncate(id)?;
        let mut texts = Texts::of(&s, warnings);
        let t = crate::change::Table {
            whole_old_rows: false,
        };
        fetch::select(
            &self.conn,
            &sql,
            (),
            &Self::fetched(&cols, &s),
            &mut texts,
            &what,
            |vals, texts| {
                texts.warnings.keyed(|| key_of(&s, vals));
                sink.insert(id, &cells(vals)[..], t, &mut AsIs)
            },
        )?;
        Ok(())
    }
}
