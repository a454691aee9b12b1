//! MySQL/MariaDB source: catalog and prerequisites, snapshots through the
//! binary protocol, deltas from the binlog.
//!
//! Deltas read the binlog from the committed `file:pos` to its current end
//! with the replication protocol in non-blocking mode
//! (`BINLOG_DUMP_NON_BLOCK`: the stream ends by itself at the end of the
//! log, across rotations), parsed by `mysql_common` (row images by
//! [`rows`]). Events of tables that
//! are not selected are skipped before their rows are decoded. The position
//! moves only at transaction boundaries (XID, COMMIT, a standalone
//! statement), and it is committed in state.db only after the batch is
//! merged; the binlog itself keeps everything, so nothing is released.
//! Values go through [`values::value_text`] on both paths.

mod binlog;
mod catalog;
pub mod column;
mod complete;
mod decode;
pub mod gtid;
mod query;
pub mod rows;
mod snapshot;
pub mod values;
mod xa;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod mysql8_tests;

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};

use crate::config::{Config, MysqlSource};
use crate::error::mysql_message;
use crate::position::Position;
use crate::schema::TableSchema;
use crate::source::{
    Catalog, CatchUp, ChangeLog, DeltaOutcome, Fill, LogState, Snapshot, SnapshotRange, Warnings,
};
use crate::spool::{BatchWriter, TableWriter};
use crate::table::TableId;
use column::MyCol;

pub struct MySource {
    conn: Conn,
    opts: Opts,
    cfg: MysqlSource,
    mariadb: bool,
    /// Catalog description of each described table, by (database, table).
    cols: HashMap<TableId, Vec<MyCol>>,
    /// Per table: its DDL statements before this position are in the
    /// destination (see [`ChangeLog::set_struct_seen`]).
    struct_seen: HashMap<TableId, Position>,
    /// The next read ends at the transaction that ends here (a catch-up).
    upto: Option<Position>,
}

/// File and offset of a `SHOW MASTER STATUS` row.
fn status_file_pos(row: &mysql::Row) -> Result<(String, u64)> {
    let file: String = row
        .get(0)
        .ok_or_else(|| anyhow!("SHOW MASTER STATUS: no file"))?;
    let pos: u64 = row
        .get(1)
        .ok_or_else(|| anyhow!("SHOW MASTER STATUS: no position"))?;
    Ok((file, pos))
}

/// `file:pos`.
pub fn pos_text(file: &str, pos: u64) -> String {
    format!("{file}:{pos}")
}

use crate::position::cmp_binlog_files as cmp_files;

/// Binlog positions order by file, then offset.
fn before(a: &(String, u64), b: &(String, u64)) -> bool {
    cmp_files(&a.0, &b.0).then(a.1.cmp(&b.1)).is_lt()
}

fn qi(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

impl MySource {
    pub fn connect(cfg: &MysqlSource) -> Result<MySource> {
        let opts: Opts = OptsBuilder::new()
            .ip_or_hostname(Some(cfg.host.clone()))
            .tcp_port(cfg.port)
            .user(Some(cfg.user.clone()))
            .pass(Some(cfg.password.clone()))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(std::time::Duration::from_secs(15)))
            .ssl_opts(crate::dest::mysql_tls(cfg.tls, &cfg.tls_ca))
            .init(vec!["SET NAMES utf8mb4", "SET time_zone = '+00:00'"])
            .into();
        let mut conn = Conn::new(opts.clone()).map_err(|e| {
            crate::dest::connect_error("source", &cfg.host, cfg.port, &cfg.user, cfg.tls, &e)
        })?;
        let version: String = conn.query_first("SELECT VERSION()")?.unwrap_or_default();
        Ok(MySource {
            conn,
            opts,
            cfg: cfg.clone(),
            mariadb: version.contains("MariaDB"),
            cols: HashMap::new(),
            struct_seen: HashMap::new(),
            upto: None,
        })
    }
}

impl Catalog for MySource {
    fn kind(&self) -> &'static str {
        if self.mariadb {
            "MariaDB"
        } else {
            "MySQL"
        }
    }
    fn database(&self) -> &str {
        "(server)"
    }
    fn check(&mut self) -> Result<String> {
        self.check_prerequisites()
    }
    fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        crate::dest::text_rows(&mut self.conn, sql)
    }
    fn list_tables(&mut self) -> Result<Vec<TableId>> {
        Ok(self
            .conn
            .query_map(
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' \
                 AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1, 2",
                |(s, t): (String, String)| TableId::new(s, t),
            )?)
    }
    fn describe(&mut self, cfg: &Config, table: &TableId) -> Result<TableSchema> {
        self.describe_table(cfg, &table.schema, &table.name)
    }
    /// A table this user has no privilege on is hidden from the catalog:
    /// reading it tells that from a table that does not exist.
    fn missing_reason(&mut self, name: &str) -> Result<Option<String>> {
        self.hidden_reason(name)
    }
    /// Each column's catalog description (name, data type, column type,
    /// character set), from which its [`MyCol`] is made again.
    fn shape_extra(&self, s: &TableSchema) -> serde_json::Value {
        let id = TableId::new(s.schema.clone(), s.name.clone());
        let cols: Vec<(&str, &str, &str, Option<&str>)> = self
            .cols
            .get(&id)
            .map(|cols| {
                cols.iter()
                    .map(|c| {
                        (
                            c.name.as_str(),
                            c.data_type.as_str(),
                            c.column_type.as_str(),
                            c.charset.as_deref(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        serde_json::to_value(cols).unwrap_or_default()
    }
    fn restore_shape(&mut self, s: &TableSchema, extra: &serde_json::Value) -> Result<()> {
        let cols: Vec<(String, String, String, Option<String>)> =
            serde_json::from_value(extra.clone())
                .map_err(|e| anyhow!("the kept shape of {}: {e}", s.source_name()))?;
        let cols = cols
            .iter()
            .map(|(n, dt, ct, cs)| {
                let mut c = MyCol::new(n, dt, ct, cs.as_deref());
                c.min_year = s.min_year;
                c
            })
            .collect();
        self.cols
            .insert(TableId::new(s.schema.clone(), s.name.clone()), cols);
        Ok(())
    }
    fn check_filter(&mut self, s: &TableSchema) -> Result<()> {
        let table = format!("{}.{}", qi(&s.schema), qi(&s.name));
        crate::source::check_where(s, &table, |sql| {
            self.conn.query_drop(sql).map_err(|e| mysql_message(&e))
        })
    }
    fn ddl_column_changes(&self, ddl: &[String]) -> (Vec<(String, String)>, Vec<String>) {
        let (mut renames, mut drops) = (vec![], vec![]);
        for sql in ddl {
            let (r, d) = query::column_changes(sql);
            renames.extend(r);
            drops.extend(d);
        }
        (renames, drops)
    }
    /// What `information_schema` says the column's default is: a literal
    /// (the rows there got it), none on a nullable column (NULL), or an
    /// expression or implicit default (not known here).
    /// The default now is the one the column was added with only if no
    /// later statement named the column again (`ALTER COLUMN c SET
    /// DEFAULT`, `MODIFY c`); binary and BIT defaults are not read.
    fn added_fill(
        &mut self,
        s: &TableSchema,
        col: usize,
        ddl: &[String],
        _kept: Option<&serde_json::Value>,
    ) -> Result<Fill> {
        let name = &s.columns[col].name;
        let row: Option<(Option<String>, String, String, String)> = self.conn.exec_first(
            "SELECT COLUMN_DEFAULT, IS_NULLABLE, EXTRA, DATA_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
            (&s.schema, &s.name, name),
        )?;
        let Some((default, nullable, extra, data_type)) = row else {
            return Ok(Fill::Unknown(format!("column {name} is not at the source")));
        };
        let named = ddl.iter().filter(|d| query::names_column(d, name)).count();
        if named > 1 {
            return Ok(Fill::Unknown(
                "its definition changed after it was added (its default then is not known)".into(),
            ));
        }
        let fill = default_fill(default.as_deref(), nullable == "YES", &extra, self.mariadb);
        let binary =
            data_type.contains("binary") || data_type.contains("blob") || data_type == "bit";
        Ok(match fill {
            Fill::Value(v) if binary => Fill::Unknown(format!("its default {v} is binary")),
            f => f,
        })
    }
}

/// What rows got in a column added with this `information_schema` default.
/// MariaDB writes the default as SQL (`'text'`, `5`, `NULL`, or an
/// expression); MySQL writes a literal's text and marks expressions
/// DEFAULT_GENERATED.
fn default_fill(default: Option<&str>, nullable: bool, extra: &str, mariadb: bool) -> Fill {
    let implicit = || {
        Fill::Unknown(
            "it is NOT NULL without a default: the rows there got the type's implicit default"
                .into(),
        )
    };
    let Some(d) = default else {
        return if nullable { Fill::Null } else { implicit() };
    };
    if !mariadb {
        return if extra.contains("DEFAULT_GENERATED") {
            Fill::Unknown(format!("its default {d} is an expression"))
        } else {
            Fill::Value(d.to_string())
        };
    }
    if d == "NULL" {
        return if nullable { Fill::Null } else { implicit() };
    }
    if let Some(inner) = d.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return Fill::Value(inner.replace("''", "'").replace("\\\\", "\\"));
    }
    if !d.is_empty() && d.parse::<f64>().is_ok() {
        return Fill::Value(d.to_string());
    }
    Fill::Unknown(format!("its default {d} is an expression"))
}

impl Snapshot for MySource {
    fn snapshot(
        &mut self,
        s: &TableSchema,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        self.select_table(s, w, ts, warnings)
    }
    /// Ranges of a single integer key, split evenly between its minimum
    /// and maximum (the first and last ranges are open-ended).
    fn split_snapshot(
        &mut self,
        s: &TableSchema,
        n: usize,
        min_bytes: u64,
    ) -> Result<Option<Vec<Box<dyn SnapshotRange>>>> {
        self.split_ranges(s, n, min_bytes)
    }
}

impl ChangeLog for MySource {
    /// The binlog keeps everything: the position is just its end now, with
    /// the GTID set where GTIDs are on.
    fn prepare_full(&mut self, _tables: &[TableId]) -> Result<(Position, bool)> {
        let row = self.master_status_row()?;
        let (file, pos) = status_file_pos(&row)?;
        let gtid = self.gtid_at(&file, pos, Some(&row))?;
        self.no_prepared_xa(&file, pos)?;
        Ok((Position::Binlog { file, pos, gtid }, false))
    }
    fn current_position(&mut self) -> Result<Position> {
        let (file, pos) = self.master_status()?;
        Ok(Position::Binlog {
            file,
            pos,
            gtid: None,
        })
    }
    fn start_position(&mut self, committed: Option<&Position>) -> Result<Option<Position>> {
        Ok(committed.cloned())
    }
    fn check_position(&mut self, released: Option<&Position>) -> Result<()> {
        self.check_binlog_position(released)
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
        max_changes: u64,
    ) -> Result<DeltaOutcome> {
        self.read_binlog(from, tables, since, batch, warnings, max_changes)
    }
    fn set_struct_seen(&mut self, seen: HashMap<TableId, Position>) {
        self.struct_seen = seen;
    }
    /// The binlog from where the table stopped (still on the server, or the
    /// read says it is purged) up to the deltas' position.
    fn catch_up(
        &mut self,
        c: &CatchUp,
        tables: &HashMap<TableId, TableSchema>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<DeltaOutcome> {
        let Some(from) = c
            .resume
            .values()
            .min_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal))
        else {
            anyhow::bail!("a catch-up without a table");
        };
        if c.skip.values().any(|&n| n > 0) {
            anyhow::bail!("a binlog transaction cannot hold a structure change between rows");
        }
        self.struct_seen = c.struct_seen.clone();
        self.upto = Some(c.upto.clone());
        let r = self.read_binlog(from, tables, &c.resume, batch, warnings, u64::MAX);
        self.upto = None;
        let mut out = r?;
        out.more = false;
        Ok(out)
    }
    /// Nothing to release: the position lives in state.db.
    fn release(&mut self, _to: &Position) -> Result<()> {
        Ok(())
    }
    /// Any binlog file still on the server can be read again.
    fn rewind_check(&mut self, to: &Position) -> Result<Option<String>> {
        let Some((file, _)) = to.binlog() else {
            return Ok(Some(format!("{to} is not a binlog position")));
        };
        let files = self.binlog_files()?;
        if files.iter().any(|f| f == file) {
            Ok(None)
        } else {
            Ok(Some(format!(
                "binlog file {file} is no longer on the server (oldest: {})",
                files.first().map(String::as_str).unwrap_or("none")
            )))
        }
    }
    fn log_state(&mut self) -> Result<LogState> {
        let (f, p) = self.master_status()?;
        Ok(LogState::Binlog {
            end: pos_text(&f, p),
            server_id: self.cfg.server_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert!(before(
            &("binlog.000002".into(), 900),
            &("binlog.000010".into(), 4)
        ));
        assert!(before(
            &("binlog.000002".into(), 4),
            &("binlog.000002".into(), 5)
        ));
        assert!(!before(
            &("binlog.000003".into(), 4),
            &("binlog.000002".into(), 5)
        ));
        // Past the fixed width, the number decides, not the text.
        assert!(before(
            &("binlog.999999".into(), 900),
            &("binlog.1000000".into(), 4)
        ));
        assert!(!before(
            &("binlog.1000000".into(), 4),
            &("binlog.999999".into(), 900)
        ));
    }
}
