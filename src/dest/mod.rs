//! The destination: SingleStore (or MySQL/MariaDB) over the MySQL protocol.
//!
//! I/O only; the SQL comes from [`sql`], the choice of merge from [`plan`]. A [`Dest`] is one connection,
//! used by one load thread. Loads stream the spool file through a local-infile
//! handler (without one the `mysql` crate silently loads nothing), and every
//! load checks the row count and the server's warnings: a value the server
//! changed on the way in fails the table instead of landing altered.

pub mod alter;
pub mod history;
pub mod keyless;
pub mod plan;
pub mod probe;
pub mod sql;
pub mod types;

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, LocalInfileHandler, OptsBuilder};

use crate::config::{Destination, Tls};
use crate::error;
use crate::error::mysql_message;
use crate::schema::TableSchema;
use crate::spool::latest::{KeyBudget, Latest};
use crate::spool::{self, ManifestTable};

pub struct Dest {
    conn: Conn,
    flavor: sql::Flavor,
    /// `truncate_instead_of_drop`.
    in_place: bool,
    /// `retain_staging`: helper tables keep their last batch.
    retain: bool,
    /// The helper tables the load under way filled.
    used: Vec<&'static str>,
    /// The spool file the next LOAD DATA streams.
    infile: Arc<Mutex<Option<Box<dyn Read + Send>>>>,
}

/// What a table load did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loaded {
    pub rows: u64,
}

/// TLS settings of the destination connection (rustls; the public roots
/// are trusted, and `tls_ca` besides them).
fn ssl_opts(cfg: &Destination) -> Option<mysql::SslOpts> {
    mysql_tls(cfg.tls, &cfg.tls_ca)
}

/// TLS settings of a MySQL-protocol connection (the destination's, a
/// MySQL source's).
pub(crate) fn mysql_tls(tls: Tls, tls_ca: &Option<std::path::PathBuf>) -> Option<mysql::SslOpts> {
    match tls {
        Tls::Disable => None,
        Tls::Require => Some(
            mysql::SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        Tls::VerifyFull => Some(mysql::SslOpts::default().with_root_cert_path(tls_ca.clone())),
    }
}

/// A MySQL-protocol login that failed (exit 3), naming TLS and its keys
/// when the handshake was the problem.
pub(crate) fn connect_error(
    section: &str,
    host: &str,
    port: u16,
    user: &str,
    mode: Tls,
    e: &mysql::Error,
) -> anyhow::Error {
    // rustls's verdict arrives as an I/O error of the handshake.
    let msg = mysql_message(e);
    let tls = matches!(
        e,
        mysql::Error::TlsError(_) | mysql::Error::DriverError(mysql::DriverError::TlsNotSupported)
    ) || (mode != Tls::Disable && msg.contains("certificate"));
    error::connect(format!(
        "{section} {host}:{port} (user {user}): {}{msg}; check [{section}] {}",
        if tls && !msg.starts_with("TLS") {
            "TLS: "
        } else {
            ""
        },
        if tls {
            "tls and tls_ca (the server's certificate must chain to tls_ca or a public root and name the host)"
        } else {
            "host, port, user and password"
        }
    ))
}

impl Dest {
    pub fn connect(cfg: &Destination) -> Result<Dest> {
        let infile: Arc<Mutex<Option<Box<dyn Read + Send>>>> = Arc::new(Mutex::new(None));
        let feed = infile.clone();
        let handler = LocalInfileHandler::new(move |_name, out| {
            let mut slot = feed.lock().unwrap_or_else(|p| p.into_inner());
            match slot.take() {
                Some(mut r) => std::io::copy(&mut r, out).map(|_| ()),
                None => Err(std::io::Error::other(
                    "no spool file prepared for LOAD DATA",
                )),
            }
        });
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some(cfg.host.clone()))
            .tcp_port(cfg.port)
            .user(Some(cfg.user.clone()))
            .pass(Some(cfg.password.clone()))
            .db_name(Some(cfg.database.clone()))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(std::time::Duration::from_secs(15)))
            .ssl_opts(ssl_opts(cfg))
            .local_infile_handler(Some(handler))
            .init(vec![
                "SET NAMES utf8mb4",
                "SET time_zone = '+00:00'",
                "SET sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'",
            ]);
        let conn = Conn::new(opts).map_err(|e| {
            connect_error("destination", &cfg.host, cfg.port, &cfg.user, cfg.tls, &e)
        })?;
        let mut d = Dest {
            conn,
            in_place: cfg.in_place,
            retain: cfg.retain_staging,
            used: vec![],
            flavor: sql::Flavor {
                rowstore: cfg.rowstore,
                staging: cfg.staging_schema.clone(),
                ..sql::Flavor::new(cfg.dialect, "utf8mb4_bin")
            },
            infile,
        };
        d.flavor.collation = d.pick_collation()?;
        Ok(d)
    }

    /// The first binary NO PAD collation the server has (MariaDB
    /// `utf8mb4_nopad_bin`, MySQL 8 `utf8mb4_0900_bin`), else `utf8mb4_bin`.
    fn pick_collation(&mut self) -> Result<String> {
        let have: Vec<String> = self.conn.query(
            "SELECT COLLATION_NAME FROM information_schema.COLLATIONS \
             WHERE COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')",
        )?;
        for c in ["utf8mb4_nopad_bin", "utf8mb4_0900_bin"] {
            if have.iter().any(|h| h == c) {
                return Ok(c.to_string());
            }
        }
        Ok("utf8mb4_bin".to_string())
    }

    /// The dialect and collation of the SQL this destination gets.
    pub fn flavor(&self) -> &sql::Flavor {
        &self.flavor
    }

    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// Refuses a server that will not take `LOAD DATA LOCAL`.
    pub fn check(&mut self) -> Result<String> {
        let version: String = self
            .conn
            .query_first("SELECT VERSION()")?
            .unwrap_or_default();
        let local: Option<String> = self
            .conn
            .query_first("SELECT @@local_infile")
            .unwrap_or(None);
        if matches!(local.as_deref(), Some("0") | Some("OFF")) {
            return Err(error::config(
                "destination has local_infile = OFF: LOAD DATA LOCAL INFILE is refused; \
                 run SET GLOBAL local_infile = 1 (and set local_infile = 1 in the server's config)",
            ));
        }
        Ok(version)
    }

    /// Checks that the target exists with the source's columns; fails the
    /// table otherwise (a full extract creates it).
    pub fn ensure_target(&mut self, s: &TableSchema) -> Result<()> {
        let have = self.target_columns(s)?;
        if sql::needs_key_hash(s, self.flavor.dialect)
            && !have.is_empty()
            && !have.iter().any(|c| c == sql::KEY_HASH)
        {
            bail!(
                "destination table {} is keyed by its key's columns, which cannot be an index (too long): \
                 this version keys it by {} (their SHA-256); run `ingest full-extract {}` to recreate it",
                s.dest_name(),
                sql::KEY_HASH,
                s.source_name()
            );
        }
        if have.is_empty() {
            // Merging changes into a new empty table would silently lack
            // every row the snapshot had.
            bail!(
                "destination table {} does not exist (dropped, or a full extract stopped between renames): \
                 run `ingest full-extract {}`",
                s.dest_name(),
                s.source_name()
            );
        }
        let want: Vec<String> = s.columns.iter().map(|c| c.name.clone()).collect();
        // Columns the source dropped may be kept (`on_drop_column`); the
        // order does not matter, every statement names its columns.
        let missing = want
            .iter()
            .any(|w| !have.iter().any(|h| h.eq_ignore_ascii_case(w)));
        if let Some(h) = &s.history {
            if !have.iter().any(|c| c.eq_ignore_ascii_case(&h.start)) {
                bail!(
                    "destination table {} keeps no history (it has no column {}), and {} is set to keep it: \
                     run `ingest full-extract {}` to make it a history table",
                    s.dest_name(),
                    h.start,
                    s.source_name(),
                    s.source_name()
                );
            }
        }
        if missing {
            bail!(
                "destination table {} has columns {:?} but the source has {:?}; run `ingest sync-struct {}` \
                 to change it in place, or `ingest full-extract` of {} to recreate it",
                s.dest_name(),
                have,
                want,
                s.source_name(),
                s.source_name()
            );
        }
        Ok(())
    }

    /// `skip_initial`: the target is created empty when missing (kept as
    /// it is otherwise), and the full extract's new table goes.
    pub fn skip_initial(&mut self, s: &TableSchema) -> Result<()> {
        let s = &*sql::shaped(s, self.flavor.dialect);
        self.conn.query_drop(sql::create_database(&s.dest_db))?;
        self.conn.query_drop(sql::create_target(s, &self.flavor))?;
        self.drop_helpers(s, true)?;
        // A table that was there keeps its rows: it must have the columns.
        self.ensure_target(s)
    }

    /// Drops the table's helper tables (`shadow`: the full extract's new
    /// table too), which have the shape of the table when they were made.
    fn drop_helpers(&mut self, s: &TableSchema, shadow: bool) -> Result<()> {
        let new = if shadow { &["new"][..] } else { &[][..] };
        for h in new.iter().copied().chain(sql::OLD_HELPERS) {
            self.conn.query_drop(format!(
                "DROP TABLE IF EXISTS {}",
                sql::table_ref(&s.dest_db, &sql::helper_name(&s.dest_table, h))
            ))?;
        }
        for h in [sql::STAGE, sql::FILL] {
            self.conn.query_drop(format!(
                "DROP TABLE IF EXISTS {}",
                sql::helper_ref(s, &self.flavor, h)
            ))?;
        }
        Ok(())
    }

    /// The target's columns as `information_schema` describes them (none:
    /// it does not exist).
    pub fn columns(&mut self, s: &TableSchema) -> Result<Vec<alter::DestCol>> {
        let rows: Vec<(String, String, String)> = self.conn.exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&s.dest_db, &s.dest_table),
        )?;
        Ok(rows
            .into_iter()
            .map(|(name, column_type, nullable)| alter::DestCol {
                name,
                column_type,
                nullable: nullable == "YES",
            })
            .collect())
    }

    /// Runs `sync-struct`'s statements for `s`, then drops its helper
    /// tables (the next load makes them in the new shape).
    pub fn alter(&mut self, s: &TableSchema, statements: &[String]) -> Result<()> {
        for st in statements {
            log::info!("{}: {st}", s.dest_name());
            self.conn
                .query_drop(st)
                .with_context(|| format!("changing {}: {st}", s.dest_name()))?;
        }
        self.drop_helpers(s, false)
    }

    fn target_columns(&mut self, s: &TableSchema) -> Result<Vec<String>> {
        Ok(self.conn.exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (&s.dest_db, &s.dest_table),
        )?)
    }

    /// Before a full extract of `s`: an empty `<table>__ingest_new` with the
    /// target's DDL receives the snapshot while the old target stays in
    /// place; helper tables of an older shape are dropped.
    pub fn prepare_shadow(&mut self, s: &TableSchema) -> Result<()> {
        let s = &*sql::shaped(s, self.flavor.dialect);
        self.conn.query_drop(sql::create_database(&s.dest_db))?;
        self.drop_helpers(s, true)?;
        // A history table is never emptied: the snapshot is compared with it.
        if self.in_place && s.history.is_none() {
            // `truncate_instead_of_drop`: the target itself is emptied and
            // loaded (readers see it empty, then filling, until the load
            // ends); it must have the source's columns.
            self.conn.query_drop(sql::create_target(s, &self.flavor))?;
            self.ensure_target(s).map_err(|e| {
                e.context("truncate_instead_of_drop keeps the table: change or drop it")
            })?;
            self.conn
                .query_drop(sql::truncate(&s.dest_db, &s.dest_table))?;
            return Ok(());
        }
        let mut shadow = s.clone();
        shadow.dest_table = sql::helper_name(&s.dest_table, "new");
        self.conn
            .query_drop(sql::create_target(&shadow, &self.flavor))?;
        // A server may ignore a collation clause with only a warning: the
        // key columns are read back.
        let created: Vec<(String, Option<String>)> = self.conn.exec(
            "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&shadow.dest_db, &shadow.dest_table),
        )?;
        if let Some(problem) = key_collation_problem(s, &created, &self.flavor.collation) {
            bail!("{problem}");
        }
        Ok(())
    }

    /// Loads one part of a snapshot into `<table>__ingest_new`.
    pub fn load_part(&mut self, dir: &Path, t: &ManifestTable) -> Result<Loaded> {
        let s = sql::shaped(&t.schema(), self.flavor.dialect).into_owned();
        let into = if self.in_place && s.history.is_none() {
            sql::LoadInto::Target
        } else {
            sql::LoadInto::Shadow
        };
        let rows = self.load_file(dir, t, &s, into)?;
        crate::fault::point("staged");
        Ok(Loaded { rows })
    }

    /// The loaded snapshot becomes the target.
    /// Safe to run again after a try whose end was not seen (a connection
    /// lost after the renames): without `__ingest_new` beside an existing
    /// target, the swap happened and only the old table may be left.
    /// A history table that exists takes the snapshot's differences
    /// instead (`snap_ts`: when the snapshot was read).
    pub fn swap_in(&mut self, s: &TableSchema, snap_ts: &str) -> Result<()> {
        let s = &*sql::shaped(s, self.flavor.dialect);
        crate::fault::point("swap");
        if s.history.is_some() && self.is_history_target(s)? {
            return self.merge_snapshot(s, snap_ts);
        }
        if self.in_place && s.history.is_none() {
            // Loaded in place: nothing to swap.
            return Ok(());
        }
        let new = sql::helper_name(&s.dest_table, "new");
        let present: Vec<String> = self.conn.exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?, ?)",
            (&s.dest_db, &s.dest_table, &new),
        )?;
        let target_exists = present.contains(&s.dest_table);
        if target_exists && !present.contains(&new) {
            let old = sql::table_ref(&s.dest_db, &sql::helper_name(&s.dest_table, "old"));
            self.conn
                .query_drop(format!("DROP TABLE IF EXISTS {old}"))?;
            return Ok(());
        }
        for st in sql::swap_in(s, &self.flavor, target_exists) {
            self.conn
                .query_drop(&st)
                .with_context(|| format!("putting the new {} in place: {st}", s.dest_name()))?;
        }
        // Tests: the swap done, its end not seen (as with a lost connection).
        crate::fault::fail_once("swap-unseen").map_err(|e| {
            anyhow::Error::new(mysql::Error::IoError(std::io::Error::other(e.to_string())))
        })?;
        Ok(())
    }

    /// The target exists as a history table (it has the start column).
    fn is_history_target(&mut self, s: &TableSchema) -> Result<bool> {
        let Some(h) = &s.history else {
            return Ok(false);
        };
        let have = self.target_columns(s)?;
        Ok(have.iter().any(|c| c.eq_ignore_ascii_case(&h.start)))
    }

    /// A full extract of a history table that exists: in one transaction
    /// the snapshot's differences become versions, then the snapshot's
    /// table goes. Safe to run again (without the snapshot's table, it
    /// was merged).
    fn merge_snapshot(&mut self, s: &TableSchema, snap_ts: &str) -> Result<()> {
        let new = sql::table_ref(&s.dest_db, &sql::helper_name(&s.dest_table, "new"));
        let present: Option<String> = self.conn.exec_first(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&s.dest_db, sql::helper_name(&s.dest_table, "new")),
        )?;
        if present.is_none() {
            return Ok(());
        }
        self.empty_helper(s, sql::FILL)?;
        let mut tx = self.conn.start_transaction(mysql::TxOpts::default())?;
        for st in history::merge_snapshot(s, &self.flavor, snap_ts) {
            merge_statement(&mut tx, s, &st)?;
        }
        tx.commit().with_context(|| {
            format!(
                "committing the snapshot's differences into {}",
                s.dest_name()
            )
        })?;
        self.conn
            .query_drop(format!("DROP TABLE IF EXISTS {new}"))?;
        if !self.retain {
            self.conn.query_drop(format!(
                "TRUNCATE TABLE {}",
                sql::helper_ref(s, &self.flavor, sql::FILL)
            ))?;
        }
        Ok(())
    }

    /// A helper table (`sql::FILL`), created if missing, empty.
    fn empty_helper(&mut self, s: &TableSchema, which: &'static str) -> Result<()> {
        self.used.push(which);
        if let Some(db) = &self.flavor.staging {
            self.conn.query_drop(sql::create_database(db))?;
        }
        let create = if which == sql::STAGE {
            sql::create_stage(s, &self.flavor)
        } else {
            sql::create_fill(s, &self.flavor)
        };
        self.conn.query_drop(create)?;
        self.conn.query_drop(format!(
            "TRUNCATE TABLE {}",
            sql::helper_ref(s, &self.flavor, which)
        ))?;
        Ok(())
    }

    /// Streams a spool file through LOAD DATA LOCAL; checks the row count
    /// and that the server changed no value.
    fn load_file(
        &mut self,
        dir: &Path,
        t: &ManifestTable,
        s: &TableSchema,
        into: sql::LoadInto,
    ) -> Result<u64> {
        self.load_feed(spool::open_table(dir, t)?, t, s, into, t.rows)
    }

    /// LOAD DATA of what `feed` yields; `expected` lines.
    fn load_feed(
        &mut self,
        feed: Box<dyn Read + Send>,
        t: &ManifestTable,
        s: &TableSchema,
        into: sql::LoadInto,
        expected: u64,
    ) -> Result<u64> {
        *self.infile.lock().unwrap_or_else(|p| p.into_inner()) = Some(feed);
        let (affected, warnings, _) = run_load(
            &mut self.conn,
            &sql::load_data(s, &t.file, into, &self.flavor),
            t,
            s,
        )?;
        if warnings > 0 && !enum_error_values(&mut self.conn, u64::from(warnings), t, s)? {
            bail!(
                "LOAD DATA of {} into {}: the server changed {warnings} value(s) on the way in ({}); nothing merged",
                t.file,
                s.dest_name(),
                first_warnings(&mut self.conn)?
            );
        }
        if affected != expected {
            bail!(
                "LOAD DATA of {} into {} loaded {affected} rows, the spool file has {expected}; nothing merged",
                t.file,
                s.dest_name(),
            );
        }
        Ok(affected)
    }

    /// The table's staging table, created if missing, empty.
    fn empty_stage(&mut self, s: &TableSchema) -> Result<()> {
        self.empty_helper(s, sql::STAGE)
    }

    /// A delta of whole rows without TRUNCATE (MySQL/MariaDB): the last
    /// change of each key decides the row (all lines when keys are unique,
    /// else those `latest` marks). Its `D` lines go to staging; then, in one
    /// transaction, the staged keys are deleted and the `I`/`U` lines go
    /// straight into the target with `LOAD DATA ... REPLACE`. Measured 30%
    /// less destination work than staging every line and upserting from
    /// there. Deletes come first: a key whose text changed but not its
    /// value (`1.0` -> `1.00`, `'a'` -> `'a '`) is a `D` of the old text and
    /// an `I` of the new one, and the row must end inserted.
    fn load_direct(
        &mut self,
        dir: &Path,
        t: &ManifestTable,
        s: &TableSchema,
        latest: Option<Arc<Latest>>,
    ) -> Result<Loaded> {
        let (upserts, deletes) = match &latest {
            Some(l) => (l.upserts, l.deletes),
            None => (t.inserts + t.updates, t.deletes),
        };
        self.empty_stage(s)?;
        if deletes > 0 {
            let feed = spool::open_table_ops(dir, t, b"D", latest.clone())?;
            self.load_feed(feed, t, s, sql::LoadInto::Stage, deletes)?;
        }
        crate::fault::point("staged");
        let mut tx = self.conn.start_transaction(mysql::TxOpts::default())?;
        if deletes > 0 {
            merge_statement(&mut tx, s, &sql::delete_staged(s, &self.flavor))?;
        }
        crate::fault::point("mid-merge");
        *self.infile.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(spool::open_table_ops(dir, t, b"IU", latest)?);
        let load = sql::load_data(s, &t.file, sql::LoadInto::Replace, &self.flavor);
        let (_, warnings, info) = run_load(&mut tx, &load, t, s)?;
        // REPLACE counts a replaced row twice in the affected rows: the
        // server's "Records: n ... Skipped: 0" says what was read.
        let records = info_count(&info, "Records:");
        if warnings > 0 || records != Some(upserts) || info_count(&info, "Skipped:") != Some(0) {
            bail!(
                "LOAD DATA of {} into {}: {upserts} line(s) sent, the server said \"{info}\" ({}); rolled back",
                t.file,
                s.dest_name(),
                first_warnings(&mut tx)?
            );
        }
        tx.commit()
            .with_context(|| format!("committing merge into {}", s.dest_name()))?;
        Ok(Loaded { rows: t.rows })
    }

    /// Loads one delta spool file into staging and merges it into the
    /// target, in one transaction.
    /// `budget`: the keys the run's last-change passes may hold together.
    pub fn load(&mut self, dir: &Path, t: &ManifestTable, budget: &KeyBudget) -> Result<Loaded> {
        self.used.clear();
        let loaded = self.load_merged(dir, t, budget)?;
        if !self.retain {
            // `retain_staging = false`: the helper tables give their lines
            // up once merged (a failure here is only a warning: the merge
            // committed).
            let s = t.schema();
            for h in std::mem::take(&mut self.used) {
                let st = format!("TRUNCATE TABLE {}", sql::helper_ref(&s, &self.flavor, h));
                if let Err(e) = self.conn.query_drop(&st) {
                    log::warn!(
                        "{}: emptying a helper table after the merge: {e}",
                        s.dest_name()
                    );
                }
            }
        }
        Ok(loaded)
    }

    fn load_merged(&mut self, dir: &Path, t: &ManifestTable, budget: &KeyBudget) -> Result<Loaded> {
        let source = t.schema();
        let s = sql::shaped(&source, self.flavor.dialect).into_owned();
        match plan::delta_plan(self.flavor.dialect, t) {
            plan::DeltaPlan::Direct => return self.load_direct(dir, t, &s, None),
            plan::DeltaPlan::LastChange => {
                match spool::latest::latest_per_key(dir, t, &source.key, budget)? {
                    Some(l) => return self.load_direct(dir, t, &s, Some(Arc::new(l))),
                    None => log::info!(
                        "{}: too many keys at once to find each one's last change ({} at most); merging through staging",
                        s.dest_name(),
                        spool::latest::KEY_INDEX_LIMIT
                    ),
                }
            }
            plan::DeltaPlan::Staged => {}
        }
        self.empty_stage(&s)?;
        if s.history.is_some() {
            return self.merge_history(dir, t, &s);
        }
        if s.keyless {
            return self.merge_keyless(dir, t, &s);
        }
        let mut shape = sql::MergeShape {
            truncate_seq: t.truncate_seq,
            unchanged: t.unchanged,
            keys_unique: false,
            deletes: t.deletes,
        };
        if shape.unchanged {
            self.empty_helper(&s, sql::FILL)?;
        }
        let affected = self.load_file(dir, t, &s, sql::LoadInto::Stage)?;
        crate::fault::point("staged");
        if !shape.unchanged {
            // The spool writer may know already (for all lines, so also for
            // those after a truncate); else the staging table tells.
            shape.keys_unique = t.keys_unique
                || self
                    .conn
                    .query_first::<u8, _>(sql::repeated_key(&s, shape.truncate_seq, &self.flavor))?
                    .is_none();
        }
        let stmts = sql::merge(&s, shape, &self.flavor);
        let mut tx = self.conn.start_transaction(mysql::TxOpts::default())?;
        for (i, st) in stmts.iter().enumerate() {
            if i == 1 {
                crate::fault::point("mid-merge");
            }
            merge_statement(&mut tx, &s, st)?;
        }
        tx.commit()
            .with_context(|| format!("committing merge into {}", s.dest_name()))?;
        Ok(Loaded { rows: affected })
    }
}

impl Dest {
    /// A delta into a history table ([`history`]): the lines are staged,
    /// then made versions in one transaction.
    fn merge_history(&mut self, dir: &Path, t: &ManifestTable, s: &TableSchema) -> Result<Loaded> {
        self.empty_helper(s, sql::FILL)?;
        let affected = self.load_file(dir, t, s, sql::LoadInto::Stage)?;
        crate::fault::point("staged");
        let lines = history::Lines {
            truncates: &t.truncates,
            unchanged: t.unchanged,
            keys_unique: t.keys_unique,
        };
        let stmts = history::merge(s, &self.flavor, lines);
        let mut tx = self.conn.start_transaction(mysql::TxOpts::default())?;
        let mut took = vec![];
        for (i, st) in stmts.iter().enumerate() {
            if i == 1 {
                crate::fault::point("mid-merge");
            }
            let t0 = std::time::Instant::now();
            merge_statement(&mut tx, s, st)?;
            took.push(t0.elapsed().as_millis().to_string());
        }
        tx.commit()
            .with_context(|| format!("committing merge into {}", s.dest_name()))?;
        // Where a history merge spends its time (events, then steps 3-5).
        log::info!(
            "{}: history merge statements took {} ms",
            s.dest_name(),
            took.join(" + ")
        );
        Ok(Loaded { rows: affected })
    }
}

impl Dest {
    /// A delta into a keyless table ([`keyless`]): rows counted, in one
    /// transaction that also records the batch as merged; a batch merged
    /// already is not merged again.
    fn merge_keyless(&mut self, dir: &Path, t: &ManifestTable, s: &TableSchema) -> Result<Loaded> {
        let batch = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let affected = self.load_file(dir, t, s, sql::LoadInto::Stage)?;
        crate::fault::point("staged");
        self.conn
            .query_drop(keyless::create_marker(s, &self.flavor))?;
        let mut tx = self.conn.start_transaction(mysql::TxOpts::default())?;
        let done: Option<String> = tx.query_first(keyless::read_marker(s, &self.flavor))?;
        if done.as_deref() == Some(batch.as_str()) {
            log::info!(
                "{}: batch {batch} was merged already (its end was not recorded): not counted again",
                s.dest_name()
            );
            tx.rollback()?;
            return Ok(Loaded { rows: affected });
        }
        let stmts = keyless::merge(s, &self.flavor, t.truncate_seq);
        for (i, st) in stmts.iter().enumerate() {
            if i == 1 {
                crate::fault::point("mid-merge");
            }
            merge_statement(&mut tx, s, st)?;
        }
        for st in keyless::set_marker(s, &self.flavor, &batch) {
            merge_statement(&mut tx, s, &st)?;
        }
        tx.commit()
            .with_context(|| format!("committing merge into {}", s.dest_name()))?;
        Ok(Loaded { rows: affected })
    }
}

/// Runs one statement of a merge. A warning means the server changed a
/// value: the merge fails (and rolls back), except for 1592, which a
/// destination logging statements raises for statements it calls unsafe
/// for statement replicas, changing nothing, and 1265 on an ENUM column:
/// its error value (index 0) copied by index.
fn merge_statement(tx: &mut mysql::Transaction<'_>, s: &TableSchema, st: &str) -> Result<()> {
    let table = &s.dest_name();
    let warnings = tx
        .query_iter(st)
        .map(|r| r.warnings())
        .with_context(|| format!("merging into {table}: {st}"))?;
    if warnings == 0 {
        return Ok(());
    }
    let w: Vec<(String, u32, String)> = tx.query("SHOW WARNINGS")?;
    let enums = enum_columns(s);
    let changed: Vec<String> = w
        .iter()
        .filter(|(_, code, _)| *code != UNSAFE_FOR_STATEMENT_BINLOG)
        .filter(|(_, code, m)| !(*code == 1265 && enums.iter().any(|c| m.contains(c.as_str()))))
        .map(|(_, code, m)| format!("{code}: {m}"))
        .collect();
    if changed.is_empty() && w.len() as u16 == warnings {
        if w.iter()
            .any(|(_, code, _)| *code == UNSAFE_FOR_STATEMENT_BINLOG)
        {
            log::warn!(
                "merging into {table}: the destination logs statements (binlog_format = STATEMENT), \
                 and flags this merge as unsafe for statement replicas: use ROW or MIXED there"
            );
        }
        return Ok(());
    }
    bail!(
        "merging into {table}: the server changed {warnings} value(s) ({}); rolled back",
        changed
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    )
}

/// Runs one LOAD DATA; returns affected rows, warnings and the info text.
fn run_load(
    q: &mut impl Queryable,
    load: &str,
    t: &ManifestTable,
    s: &TableSchema,
) -> Result<(u64, u16, String)> {
    match q.query_iter(load) {
        Ok(r) => Ok((r.affected_rows(), r.warnings(), r.info_str().into_owned())),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "LOAD DATA of {} into {}",
            t.file,
            s.dest_name()
        ))),
    }
}

/// Runs a query in the text protocol and returns its rows as text (NULL
/// apart); for small results (`ingest verify`'s aggregates).
pub fn text_rows(conn: &mut Conn, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    let rows: Vec<mysql::Row> = conn.query(sql)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql::Value::NULL => None,
                    mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                    other => Some(other.as_sql(true).trim_matches('\'').to_string()),
                })
                .collect()
        })
        .collect())
}

/// Whether an error of the destination is worth trying again on a fresh
/// connection: a lock wait timeout, a deadlock, or a connection that broke
/// (lost, killed, the server shutting down). Anything else, such as a value
/// the server refuses, would fail the same way again.
pub fn is_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|c| match c.downcast_ref::<mysql::Error>() {
        Some(mysql::Error::MySqlError(m)) => matches!(
            m.code,
            // lock wait timeout, deadlock, server shutdown, connection killed
            // (MariaDB), query interrupted by KILL, server gone, lost
            1205 | 1213 | 1053 | 1927 | 1317 | 2006 | 2013
        ),
        Some(mysql::Error::IoError(_)) => true,
        Some(mysql::Error::DriverError(d)) => matches!(
            d,
            mysql::DriverError::PacketOutOfSync
                | mysql::DriverError::UnexpectedPacket
                | mysql::DriverError::Timeout
                | mysql::DriverError::ConnectTimeout
                | mysql::DriverError::CouldNotConnect(_)
        ),
        _ => false,
    })
}

/// Why the key columns of a created table (`created`: column and
/// collation) cannot keep the source's keys apart, if they cannot: a text
/// key column whose collation is not the one asked for (binary columns
/// have none and compare bytes).
pub fn key_collation_problem(
    s: &TableSchema,
    created: &[(String, Option<String>)],
    wanted: &str,
) -> Option<String> {
    for &k in &s.key {
        let name = &s.columns[k].name;
        let got = created
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
            .and_then(|(_, coll)| coll.as_deref());
        if let Some(got) = got.filter(|g| !g.eq_ignore_ascii_case(wanted)) {
            return Some(format!(
                "{}: key column {name} was created with collation {got}, not {wanted} as asked: keys \
                 the source keeps apart ('a', 'A', 'a ') could become one row; nothing was loaded. \
                 Check the destination's collations (ingest check)",
                s.dest_name()
            ));
        }
    }
    None
}

/// The server's first five warnings, as "code: message; ...". (Plain
/// `SHOW WARNINGS`: SingleStore does not document its `LIMIT`.)
/// Whether the `warnings` of a load are the ENUM error values the file
/// holds (`t.enum_errors`): each stores index 0 with warning 1265 ("Data
/// truncated for column 'c'"), and is the value the source has. Any other
/// warning, or more of them, is a changed value.
fn enum_error_values(
    q: &mut impl Queryable,
    warnings: u64,
    t: &ManifestTable,
    s: &TableSchema,
) -> Result<bool> {
    if warnings > t.enum_errors {
        return Ok(false);
    }
    let shown: Vec<(String, u32, String)> = q.query("SHOW WARNINGS")?;
    let columns = enum_columns(s);
    Ok(shown
        .iter()
        .all(|(_, code, m)| *code == 1265 && columns.iter().any(|c| m.contains(c.as_str()))))
}

/// How the server's warning 1265 names each ENUM column of the table.
fn enum_columns(s: &TableSchema) -> Vec<String> {
    s.columns
        .iter()
        .filter(|c| crate::schema::enum_error_text(&c.source_type).is_some())
        .map(|c| format!("column '{}' at row", c.name))
        .collect()
}

fn first_warnings(q: &mut impl Queryable) -> Result<String> {
    let w: Vec<(String, u32, String)> = q.query("SHOW WARNINGS")?;
    Ok(w.into_iter()
        .take(5)
        .map(|(_, code, m)| format!("{code}: {m}"))
        .collect::<Vec<_>>()
        .join("; "))
}

/// The number after `label` in a LOAD DATA info string ("Records: 3
/// Deleted: 0  Skipped: 0  Warnings: 0").
fn info_count(info: &str, label: &str) -> Option<u64> {
    let rest = &info[info.find(label)? + label.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Warning ER_BINLOG_UNSAFE_STATEMENT.
const UNSAFE_FOR_STATEMENT_BINLOG: u32 = 1592;
