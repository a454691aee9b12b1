//! The MySQL/MariaDB catalog: prerequisites, the binlog's position and
//! GTIDs, tables and their columns.

use anyhow::{anyhow, Result};
use mysql::prelude::Queryable;

use super::column::MyCol;
use super::gtid::GtidSet;
use super::{pos_text, qi, status_file_pos, MySource};
use crate::config::Config;
use crate::error;
use crate::error::mysql_message;
use crate::position::Position;
use crate::schema::TableSchema;
use crate::table::TableId;

impl MySource {
    pub(super) fn check_prerequisites(&mut self) -> Result<String> {
        let (version, log_bin, format, image): (String, String, String, String) = self
            .conn
            .query_first("SELECT VERSION(), @@log_bin, @@binlog_format, @@binlog_row_image")?
            .ok_or_else(|| anyhow!("no answer to SELECT @@log_bin"))?;
        if log_bin != "1" && !log_bin.eq_ignore_ascii_case("ON") {
            return Err(error::config(
                "source binary log is off (log_bin = OFF): set log_bin and server_id in the server's \
                 configuration and restart it",
            ));
        }
        if !format.eq_ignore_ascii_case("ROW") {
            return Err(error::config(format!(
                "source binlog_format is {format}, deltas need ROW: run SET GLOBAL binlog_format = 'ROW' \
                 (and set it in the server's configuration)"
            )));
        }
        // MINIMAL and NOBLOB images leave values out: unchanged ones are
        // filled at the load, the rest read from the source by key.
        let mut version = version;
        if !image.eq_ignore_ascii_case("FULL") {
            let note = format!(
                "binlog_row_image is {image}: values an update did not change are filled from the \
                 destination, and inserts that name only some columns and key changes are read back \
                 from the source by key (a query per 500 such rows); FULL avoids both"
            );
            log::warn!("source {note}");
            version.push_str(&format!(" ({note})"));
        }
        // MariaDB's compressed events (log_bin_compress) are not decoded
        // yet; MySQL's compressed transactions are.
        if self.mariadb {
            let compressed: Option<String> = self
                .conn
                .query_first("SELECT @@log_bin_compress")
                .unwrap_or(None);
            if matches!(compressed.as_deref(), Some("1") | Some("ON")) {
                return Err(error::config(
                    "source has log_bin_compress = ON: MariaDB's compressed binlog events cannot be read \
                     yet; run SET GLOBAL log_bin_compress = OFF (and set it in the server's configuration)",
                ));
            }
        }
        let grants: Vec<String> = self.conn.query("SHOW GRANTS")?;
        let global: Vec<String> = grants
            .iter()
            .map(|g| g.to_ascii_uppercase())
            .filter(|g| g.contains(" ON *.*"))
            .collect();
        let has = |p: &str| {
            global
                .iter()
                .any(|g| g.contains("ALL PRIVILEGES") || g.contains(p))
        };
        let mut missing = vec![];
        if !has("REPLICATION SLAVE") && !has("REPLICATION REPLICA") {
            missing.push("REPLICATION SLAVE");
        }
        if !has("REPLICATION CLIENT") && !has("BINLOG MONITOR") {
            missing.push("REPLICATION CLIENT");
        }
        let any_select = grants.iter().any(|g| {
            let g = g.to_ascii_uppercase();
            g.contains("ALL PRIVILEGES") || g.contains("SELECT")
        });
        if !any_select {
            missing.push("SELECT");
        }
        if !missing.is_empty() {
            return Err(error::config(format!(
                "source user {} lacks {}: run GRANT {} ON *.* TO '{}'",
                self.cfg.user,
                missing.join(", "),
                missing.join(", "),
                self.cfg.user
            )));
        }
        Ok(version)
    }
    /// An XA transaction prepared before the full extract's position has
    /// its rows in the binlog before it, and the snapshot does not see them
    /// until it commits: committed later, they would be missed. Such a
    /// transaction (`XA RECOVER` lists it) refuses the full extract.
    pub(super) fn no_prepared_xa(&mut self, file: &str, pos: u64) -> Result<()> {
        let rows: Vec<mysql::Row> = match self.conn.query("XA RECOVER") {
            Ok(r) => r,
            Err(e) => {
                log::warn!(
                    "could not list prepared XA transactions ({}): grant XA_RECOVER_ADMIN (MySQL 8) so that \
                     full-extract can check that none is pending",
                    mysql_message(&e)
                );
                return Ok(());
            }
        };
        if rows.is_empty() {
            return Ok(());
        }
        let xids: Vec<String> = rows
            .iter()
            .filter_map(|r| r.get::<Vec<u8>, _>("data"))
            .map(|d| String::from_utf8_lossy(&d).into_owned())
            .collect();
        Err(error::config(format!(
            "{} prepared XA transaction(s) pending at the source ({}) at binlog position {}: their rows \
             are in the binlog before it and the snapshot cannot see them; finish them (XA COMMIT or XA \
             ROLLBACK), then run full-extract again",
            rows.len(),
            xids.join(", "),
            pos_text(file, pos)
        )))
    }

    /// The binlog's current end.
    pub(super) fn master_status(&mut self) -> Result<(String, u64)> {
        let row = self.master_status_row()?;
        status_file_pos(&row)
    }
    pub(super) fn master_status_row(&mut self) -> Result<mysql::Row> {
        let row: Option<mysql::Row> = match self.conn.query_first("SHOW MASTER STATUS") {
            Ok(r) => r,
            // MySQL 8.4 renamed it.
            Err(_) => self.conn.query_first("SHOW BINARY LOG STATUS")?,
        };
        row.ok_or_else(|| {
            error::config(
                "the source reports no binary log (SHOW MASTER STATUS is empty): turn log_bin on",
            )
        })
    }
    /// The GTID position (MariaDB) or set (MySQL with `gtid_mode = ON`) at
    /// `file:pos`, read consistently with it; `None` where GTIDs are off.
    /// MariaDB computes it for any offset (`BINLOG_GTID_POS`); MySQL only for
    /// the binlog's end (`SHOW MASTER STATUS`' Executed_Gtid_Set), which
    /// `end` says `file:pos` is.
    pub(super) fn gtid_at(
        &mut self,
        file: &str,
        pos: u64,
        end: Option<&mysql::Row>,
    ) -> Result<Option<String>> {
        if self.mariadb {
            let g: Option<Option<String>> = self
                .conn
                .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file, pos))?;
            return Ok(g.flatten());
        }
        let on: Option<String> = self.conn.query_first("SELECT @@gtid_mode").unwrap_or(None);
        if on.as_deref() != Some("ON") {
            return Ok(None);
        }
        Ok(end
            .and_then(|r| r.get::<Option<String>, usize>(4).flatten())
            .map(|g| g.replace(['\n', ' '], "")))
    }
    pub(super) fn describe_table(
        &mut self,
        cfg: &Config,
        db: &str,
        table: &str,
    ) -> Result<TableSchema> {
        let name = format!("{db}.{table}");
        let rows: Vec<(String, String, String, String, Option<String>)> = self.conn.exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, table),
        )?;
        if rows.is_empty() {
            return Err(error::config(format!(
                "table {name} not found at the source"
            )));
        }
        let pk: Vec<String> = self.conn.exec(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (db, table),
        )?;
        let mut mycols = vec![];
        let mut columns = vec![];
        for (n, dt, ct, nullable, cs) in &rows {
            let mut c = MyCol::new(n, dt, ct, cs.as_deref());
            c.min_year = cfg.destination.dialect.min_year();
            c.text_encoding()
                .map_err(|m| anyhow!("table {name}: {m}"))?;
            columns.push(c.column(nullable == "YES"));
            mycols.push(c);
        }
        let (key, keyless) =
            crate::schema::resolve_key(&name, cfg.rule_for(db, table), &columns, pk)?;
        let (dest_db, dest_table) = cfg.dest_name("", db, table);
        self.cols.insert(TableId::new(db, table), mycols);
        let mut s = TableSchema {
            schema: db.into(),
            name: table.into(),
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
        crate::schema::apply_rule(&mut s, cfg.rule_for(db, table))?;
        crate::schema::apply_history(&mut s, cfg.history_for(db, table))?;
        Ok(s)
    }
    pub(super) fn described(&self, s: &TableSchema) -> Result<Vec<MyCol>> {
        self.cols
            .get(&s.id())
            .cloned()
            .ok_or_else(|| anyhow!("{} was not described", s.source_name()))
    }
    pub(super) fn binlog_files(&mut self) -> Result<Vec<String>> {
        let rows: Vec<mysql::Row> = self.conn.query("SHOW BINARY LOGS")?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.get::<String, usize>(0))
            .collect())
    }
    /// A saved position carries the GTIDs there: the binlog at that offset
    /// must still be the one this instance read. After RESET MASTER, or on
    /// another server after a failover, file names and offsets start again
    /// and the same `file:pos` is somewhere else entirely. MariaDB tells the
    /// GTIDs at any offset, so both are caught; MySQL only says which GTIDs
    /// it executed: a reset is caught, a failover to a replica that ran the
    /// same transactions is not.
    pub(super) fn check_binlog_position(&mut self, released: Option<&Position>) -> Result<()> {
        let Some(Position::Binlog {
            file,
            pos,
            gtid: Some(saved),
        }) = released.cloned()
        else {
            return Ok(());
        };
        let refuse = |there: &str| {
            error::config(format!(
                "the binlog at {file}:{pos} is not where this instance stopped (GTIDs there: \"{there}\", \
                 saved: \"{saved}\"): the source's binary log was reset (RESET MASTER) or this is another \
                 server (a failover); changes may be lost to ingest: run `ingest full-extract` of every table"
            ))
        };
        if self.mariadb {
            if !self.binlog_files()?.contains(&file) {
                return Ok(()); // purged: reading says so, with the fix
            }
            if pos > u64::from(u32::MAX) {
                // BINLOG_GTID_POS takes 32-bit offsets only.
                return Ok(());
            }
            // NULL: no event starts at that offset, or the file is shorter.
            let there = self
                .gtid_at(&file, pos, None)?
                .unwrap_or_else(|| "no event starts there".to_string());
            let same = GtidSet::parse(&there, true)
                .is_some_and(|t| Some(t) == GtidSet::parse(&saved, true));
            return if same { Ok(()) } else { Err(refuse(&there)) };
        }
        let subset: Option<i64> = self
            .conn
            .exec_first("SELECT GTID_SUBSET(?, @@gtid_executed)", (&saved,))
            .unwrap_or(None);
        if subset == Some(0) {
            let now: Option<String> = self.conn.query_first("SELECT @@gtid_executed")?;
            return Err(refuse(&now.unwrap_or_default()));
        }
        Ok(())
    }
    /// A table this user has no privilege on is hidden from the catalog:
    /// reading it tells that from a table that does not exist.
    pub(super) fn hidden_reason(&mut self, name: &str) -> Result<Option<String>> {
        let Some((db, table)) = name.split_once('.') else {
            return Ok(None);
        };
        match self
            .conn
            .query_drop(format!("SELECT 1 FROM {}.{} LIMIT 0", qi(db), qi(table)))
        {
            Ok(()) => Ok(Some(format!(
                "table {name} exists but the catalog does not describe it to user {}: \
                 run GRANT SELECT ON {}.{} TO '{}'",
                self.cfg.user,
                qi(db),
                qi(table),
                self.cfg.user
            ))),
            // ER_TABLEACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR
            Err(mysql::Error::MySqlError(e)) if e.code == 1142 || e.code == 1044 => {
                Ok(Some(format!(
                    "user {} may not read table {name}: run GRANT SELECT ON {}.{} TO '{}'",
                    self.cfg.user,
                    qi(db),
                    qi(table),
                    self.cfg.user
                )))
            }
            Err(_) => Ok(None),
        }
    }
}
