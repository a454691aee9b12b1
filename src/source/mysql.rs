//! MySQL/MariaDB source: catalog and prerequisites, snapshots through the
//! binary protocol, deltas from the binlog.
//!
//! Deltas read the binlog from the committed `file:pos` to its current end
//! with the replication protocol in non-blocking mode
//! (`BINLOG_DUMP_NON_BLOCK`: the stream ends by itself at the end of the
//! log, across rotations), parsed by `mysql_common` (row images by
//! [`super::binlog_rows`]). Events of tables that
//! are not selected are skipped before their rows are decoded. The position
//! moves only at transaction boundaries (XID, COMMIT, a standalone
//! statement), and it is committed in state.db only after the batch is
//! merged; the binlog itself keeps everything, so nothing is released.
//! Values go through [`super::binlog::value_text`] on both paths.

use std::collections::HashMap;
use std::rc::Rc;

use anyhow::{anyhow, bail, Context, Result};
use mysql::binlog::events::{EventData, RowsEventData};
use mysql::prelude::Queryable;
use mysql::{BinlogDumpFlags, BinlogRequest, Conn, Opts, OptsBuilder, Value};
use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::BinlogFile;

use super::binlog::{classify_query, value_into, MyCol, Origin, QueryKind};
use super::binlog_rows::{row_texts, Raw, RowLayout};
use super::gtid::{self, GtidSet};
use super::{DeltaOutcome, SnapshotRange, Source, Warnings};
use crate::config::{BinlogTransport, Config, MysqlSource};
use crate::dest::mysql_message;
use crate::error;
use crate::position::Position;
use crate::schema::{Column, Conv, TableSchema};
use crate::spool::{BatchWriter, Op, TableWriter};

/// TABLE_MAP_EVENT: the layout of the rows events that follow.
const TABLE_MAP: u8 = 19;
/// MariaDB's GTID event (unknown to `mysql_common`): a transaction starts.
const MARIADB_GTID: u8 = 162;
/// MariaDB's compressed query and rows events (`log_bin_compress`).
const MARIADB_COMPRESSED_FIRST: u8 = 165;
const MARIADB_COMPRESSED_LAST: u8 = 171;

pub struct MySource {
    conn: Conn,
    opts: Opts,
    cfg: MysqlSource,
    mariadb: bool,
    /// Catalog description of each described table, by (database, table).
    cols: HashMap<(String, String), Vec<MyCol>>,
}

/// Streams the table's rows (those matching `filter`, a `WHERE ...` clause
/// or empty) into the spool file: one consistent read, without locks.
fn select_rows(
    conn: &mut Conn,
    cols: &[MyCol],
    s: &TableSchema,
    filter: &str,
    w: &mut TableWriter,
    ts: &str,
    warnings: &mut Warnings,
) -> Result<u64> {
    let list = s
        .columns
        .iter()
        .map(|c| qi(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {list} FROM {}.{}{filter}",
        qi(&s.schema),
        qi(&s.name)
    );
    let table = s.source_name();
    let mut n = 0u64;
    let result = conn
        .exec_iter(sql.as_str(), ())
        .map_err(|e| anyhow!("snapshot of {table}: {}", mysql_message(&e)))?;
    let mut scratch = Vec::with_capacity(1024);
    for row in result {
        let row =
            row.map_err(|e| anyhow!("snapshot of {table}, row {}: {}", n + 1, mysql_message(&e)))?;
        scratch.clear();
        let mut vals = Vec::with_capacity(cols.len());
        for (i, c) in cols.iter().enumerate() {
            let v = row.as_ref(i).unwrap_or(&Value::NULL);
            let t = value_into(c, v, Origin::Snapshot, &mut scratch);
            vals.push(warnings.or_null(t, &table, &c.name));
        }
        n += 1;
        w.write(
            Op::Insert,
            n,
            ts,
            &[],
            vals.iter().map(|v| v.as_ref().map(|t| t.get(&scratch))),
        )?;
        if n == 1 {
            crate::fault::point("snapshot-row");
        }
    }
    Ok(n)
}

/// A key range of a table, read on its own connection. Ranges are read at
/// slightly different moments: a row whose key moves between them during
/// the extract may be missed or read twice, and the binlog from the
/// recorded position replays its full row image (`binlog_row_image =
/// FULL`), as for a row changed during an unsplit snapshot.
struct MyRange {
    conn: Conn,
    cols: Vec<MyCol>,
    schema: TableSchema,
    filter: String,
}

impl SnapshotRange for MyRange {
    fn describe(&self) -> String {
        self.filter.trim_start_matches(" WHERE ").to_string()
    }

    fn read(
        self: Box<Self>,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        let MyRange {
            mut conn,
            cols,
            schema,
            filter,
        } = *self;
        select_rows(&mut conn, &cols, &schema, &filter, w, ts, warnings)
    }
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

/// `file:pos`, optionally followed by ` gtid=<set>` (recorded at full
/// extracts where GTIDs are on; deltas go by file and offset).
pub fn parse_pos(s: &str) -> Option<(String, u64)> {
    let s = s.split_whitespace().next()?;
    let (f, p) = s.rsplit_once(':')?;
    Some((f.to_string(), p.parse().ok()?))
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
            .init(vec!["SET NAMES utf8mb4", "SET time_zone = '+00:00'"])
            .into();
        let mut conn = Conn::new(opts.clone()).map_err(|e| {
            error::connect(format!(
                "source MySQL {}:{} (user {}): {}; check [source] host, port, user and password",
                cfg.host,
                cfg.port,
                cfg.user,
                mysql_message(&e)
            ))
        })?;
        let version: String = conn.query_first("SELECT VERSION()")?.unwrap_or_default();
        Ok(MySource {
            conn,
            opts,
            cfg: cfg.clone(),
            mariadb: version.contains("MariaDB"),
            cols: HashMap::new(),
        })
    }

    fn check_prerequisites(&mut self) -> Result<String> {
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
        if !image.eq_ignore_ascii_case("FULL") {
            return Err(error::config(format!(
                "source binlog_row_image is {image}, deltas need FULL: run SET GLOBAL binlog_row_image = 'FULL' \
                 (and set it in the server's configuration)"
            )));
        }
        // Compressed binlogs hold row events ingest does not decode yet.
        let compressed: Option<String> = if self.mariadb {
            self.conn
                .query_first("SELECT @@log_bin_compress")
                .unwrap_or(None)
        } else {
            self.conn
                .query_first("SELECT @@binlog_transaction_compression")
                .unwrap_or(None)
        };
        if matches!(compressed.as_deref(), Some("1") | Some("ON")) {
            let var = if self.mariadb {
                "log_bin_compress"
            } else {
                "binlog_transaction_compression"
            };
            return Err(error::config(format!(
                "source has {var} = ON: compressed binlog events cannot be read yet; run SET GLOBAL {var} = OFF \
                 (and set it in the server's configuration)"
            )));
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

    /// The binlog's current end.
    fn master_status(&mut self) -> Result<(String, u64)> {
        let row = self.master_status_row()?;
        status_file_pos(&row)
    }

    fn master_status_row(&mut self) -> Result<mysql::Row> {
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
    fn gtid_at(
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

    fn describe_table(&mut self, cfg: &Config, db: &str, table: &str) -> Result<TableSchema> {
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
            let c = MyCol::new(n, dt, ct, cs.as_deref());
            c.text_encoding()
                .map_err(|m| anyhow!("table {name}: {m}"))?;
            columns.push(Column {
                name: n.clone(),
                source_type: ct.clone(),
                dest_type: c.dest_type(),
                conv: Conv::Verbatim,
                binary: c.binary(),
                toastable: false,
                nullable: nullable == "YES",
            });
            mycols.push(c);
        }
        let names: Vec<String> = match cfg.rule_for(db, table).and_then(|r| r.key.clone()) {
            Some(k) => k,
            None if pk.is_empty() => {
                return Err(error::config(format!(
                    "table {name} has no primary key: add `key = [\"col\", ...]` to its [[table]] entry"
                )))
            }
            None => pk,
        };
        let mut key = vec![];
        for k in &names {
            match columns.iter().position(|c| &c.name == k) {
                Some(i) => key.push(i),
                None => {
                    return Err(error::config(format!(
                        "table {name}: key column \"{k}\" does not exist (columns: {})",
                        columns
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
        }
        crate::schema::key_not_null(&name, &columns, &key)?;
        let (dest_db, dest_table) = cfg.dest_name("", db, table);
        self.cols
            .insert((db.to_string(), table.to_string()), mycols);
        Ok(TableSchema {
            schema: db.into(),
            name: table.into(),
            dest_db,
            dest_table,
            columns,
            key,
        })
    }

    fn select_table(
        &mut self,
        s: &TableSchema,
        w: &mut TableWriter,
        ts: &str,
        warnings: &mut Warnings,
    ) -> Result<u64> {
        let cols = self.described(s)?;
        select_rows(&mut self.conn, &cols, s, "", w, ts, warnings)
    }

    fn described(&self, s: &TableSchema) -> Result<Vec<MyCol>> {
        self.cols
            .get(&(s.schema.clone(), s.name.clone()))
            .cloned()
            .ok_or_else(|| anyhow!("{} was not described", s.source_name()))
    }

    /// The binlog through the replication protocol, from `file:pos` to the
    /// end (non-blocking).
    fn open_stream(&self, file: &str, pos: u64) -> Result<mysql::BinlogStream> {
        let mut conn = Conn::new(self.opts.clone())
            .map_err(|e| anyhow!("binlog connection: {}", mysql_message(&e)))?;
        if self.mariadb {
            conn.query_drop("SET @mariadb_slave_capability = 4")?;
        }
        let request = BinlogRequest::new(self.cfg.server_id)
            .with_filename(file.as_bytes().to_vec())
            .with_pos(pos)
            .with_flags(BinlogDumpFlags::BINLOG_DUMP_NON_BLOCK);
        conn.get_binlog_stream(request).map_err(|e| {
            anyhow!(
                "requesting the binlog from {}: {}",
                pos_text(file, pos),
                mysql_message(&e)
            )
        })
    }

    /// The binlog files from `first` to the last, downloaded raw by
    /// `mysqlbinlog`/`mariadb-binlog --read-from-remote-server --raw` into
    /// `dir` (the password goes through MYSQL_PWD, not the command line).
    fn download(&self, first: &str, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tool = match &self.cfg.binlog_tool {
            Some(t) => t.clone(),
            None => ["mariadb-binlog", "mysqlbinlog"]
                .iter()
                .find(|t| {
                    std::process::Command::new(t)
                        .arg("--version")
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                        .is_ok()
                })
                .map(|t| t.to_string())
                .ok_or_else(|| {
                    error::config(
                        "binlog_transport = \"mysqlbinlog\" but neither mariadb-binlog nor mysqlbinlog is \
                         on the PATH: install the client or set source.binlog_tool",
                    )
                })?,
        };
        let mut prefix = dir.display().to_string();
        prefix.push(std::path::MAIN_SEPARATOR);
        let out = std::process::Command::new(&tool)
            .args(["--read-from-remote-server", "--raw", "--to-last-log"])
            .arg(format!("--host={}", self.cfg.host))
            .arg(format!("--port={}", self.cfg.port))
            .arg(format!("--user={}", self.cfg.user))
            .arg(format!("--result-file={prefix}"))
            .arg(first)
            .env("MYSQL_PWD", &self.cfg.password)
            .output()
            .with_context(|| format!("running {tool}"))?;
        if !out.status.success() {
            bail!(
                "{tool} could not download the binlog from {first}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| cmp_files(&n.to_string_lossy(), first).is_ge())
            })
            .collect();
        files.sort_by(|a, b| {
            let name = |p: &std::path::PathBuf| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            cmp_files(&name(a), &name(b))
        });
        if files
            .first()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .as_deref()
            != Some(first)
        {
            bail!("{tool} did not write {first} into {}", dir.display());
        }
        Ok(files)
    }

    fn binlog_files(&mut self) -> Result<Vec<String>> {
        let rows: Vec<mysql::Row> = self.conn.query("SHOW BINARY LOGS")?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.get::<String, usize>(0))
            .collect())
    }

    fn read_binlog(
        &mut self,
        from: &str,
        tables: &HashMap<(String, String), TableSchema>,
        since: &HashMap<(String, String), String>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
        max_changes: u64,
    ) -> Result<DeltaOutcome> {
        let (file, pos) = parse_pos(from).ok_or_else(|| anyhow!("bad binlog position '{from}'"))?;
        let files = self.binlog_files()?;
        if !files.contains(&file) {
            return Err(error::config(format!(
                "binlog file {file} (position {from}) is no longer on the source (purged; oldest is {}): \
                 changes since then are lost to ingest; run `ingest full-extract` of the selected tables",
                files.first().map(String::as_str).unwrap_or("none")
            )));
        }
        let since: HashMap<(String, String), (String, u64)> = since
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), parse_pos(v)?)))
            .collect();
        // The GTIDs at the start, followed event by event: saved with the
        // position, so that the next delta can check the binlog is the same.
        // MariaDB can tell them for a position saved without them.
        let saved = Position::parse(from).and_then(|p| match p {
            Position::Binlog { gtid, .. } => gtid,
            Position::Lsn(_) => None,
        });
        let start_gtids = match saved {
            Some(g) => Some(g),
            None if self.mariadb => self.gtid_at(&file, pos, None)?,
            None => None,
        };
        let gtids = start_gtids.and_then(|g| GtidSet::parse(&g, self.mariadb));
        if pos > u64::from(u32::MAX) && self.cfg.transport == BinlogTransport::Stream {
            return Err(error::config(format!(
                "the saved position {from} is past 4 GiB into its file, which the replication \
                 protocol's dump request cannot name: set binlog_transport = \"mysqlbinlog\" for this delta"
            )));
        }
        let dec = RowDecoder {
            tables,
            cols: &self.cols,
            since,
            writers: HashMap::new(),
            changed: vec![],
            seq: 0,
            ts: crate::clock::format_micros(0),
            scratch: vec![],
            layouts: Layouts::default(),
            verdicts: HashMap::new(),
        };
        let mut rd = BinlogRead {
            dec,
            tables,
            cur_file: file,
            offset: pos,
            committed: None,
            transactions: 0,
            gtids,
            pending_gtid: None,
            max_changes,
            full: false,
        };
        match self.cfg.transport {
            BinlogTransport::Stream => {
                let mut stream = self.open_stream(&rd.cur_file, pos)?;
                while let Some(ev) = stream.next() {
                    let ev = ev.map_err(|e| {
                        anyhow!(
                            "reading the binlog after {}: {}",
                            rd.cur_file,
                            mysql_message(&e)
                        )
                    })?;
                    rd.event(&ev, 0, |id| stream.get_tme(id), batch, warnings)?;
                    if rd.full {
                        break;
                    }
                }
            }
            BinlogTransport::Mysqlbinlog => {
                let dir = batch.dir().join("binlog");
                let files = self.download(&rd.cur_file, &dir)?;
                for (n, path) in files.iter().enumerate() {
                    let f = std::fs::File::open(path)
                        .with_context(|| format!("opening {}", path.display()))?;
                    let mut file =
                        BinlogFile::new(BinlogVersion::Version4, std::io::BufReader::new(f))
                            .with_context(|| format!("{} is not a binlog file", path.display()))?;
                    if let Some(name) = path.file_name() {
                        rd.cur_file = name.to_string_lossy().into_owned();
                    }
                    // A downloaded file is read from its start.
                    rd.offset = 0;
                    // The first file is read from the saved position on.
                    let skip_before = if n == 0 { pos } else { 0 };
                    while let Some(ev) = file.next() {
                        let ev = ev.with_context(|| format!("reading {}", path.display()))?;
                        rd.event(
                            &ev,
                            skip_before,
                            |id| file.reader().get_tme(id),
                            batch,
                            warnings,
                        )?;
                        if rd.full {
                            break;
                        }
                    }
                    if rd.full {
                        break;
                    }
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        let BinlogRead {
            dec,
            committed,
            transactions,
            full,
            ..
        } = rd;
        let mut out = vec![];
        for (_, w) in dec.writers {
            out.push(w.finish()?);
        }
        out.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(DeltaOutcome {
            tables: out,
            to_pos: committed,
            changed: dec.changed,
            transactions,
            more: full,
        })
    }
}

/// The file a fake Rotate event names. The server sends one at the start
/// of every file it reads; the first arrives before the FORMAT_DESCRIPTION
/// event that tells the reader whether events end in a CRC32, so its name
/// may still carry the event's 4 checksum bytes (which may look like
/// digits). They are cut only when they are that checksum: the CRC32 of the
/// header and the body before them. Later fake rotates come without them,
/// and a name is never cut otherwise (it lost 4 characters, `binlog.000011`
/// becoming `binlog.00`, for files created after the delta started).
fn fake_rotate_file(header: &[u8; 19], body: &[u8]) -> String {
    // Body: 8 bytes of position, then the name.
    let name = body.get(8..).unwrap_or_default();
    if name.len() > 4 {
        let (text, tail) = body.split_at(body.len() - 4);
        let mut crc = flate2::Crc::new();
        crc.update(header);
        crc.update(text);
        if crc.sum().to_le_bytes() == tail {
            return String::from_utf8_lossy(&name[..name.len() - 4]).into_owned();
        }
    }
    String::from_utf8_lossy(name).into_owned()
}

/// An event header's 19 bytes, as they were on the wire.
fn header_bytes(h: &mysql::binlog::events::BinlogEventHeader) -> [u8; 19] {
    let mut b = [0u8; 19];
    b[0..4].copy_from_slice(&h.timestamp().to_le_bytes());
    b[4] = h.event_type_raw();
    b[5..9].copy_from_slice(&h.server_id().to_le_bytes());
    b[9..13].copy_from_slice(&h.event_size().to_le_bytes());
    b[13..17].copy_from_slice(&h.log_pos().to_le_bytes());
    b[17..19].copy_from_slice(&h.flags_raw().to_le_bytes());
    b
}

/// A transaction's GTID, applied to the set when it commits.
enum PendingGtid {
    MariaDb { domain: u32, server: u32, seq: u64 },
    Mysql { sid: [u8; 16], gno: u64 },
}

/// Follows the binlog event by event: positions, transactions, statements.
struct BinlogRead<'t> {
    dec: RowDecoder<'t>,
    tables: &'t HashMap<(String, String), TableSchema>,
    cur_file: String,
    /// The last offset known in `cur_file` (binlog offsets are 64-bit; an
    /// event header holds 32 bits of them).
    offset: u64,
    /// The position after the last transaction read in full.
    committed: Option<String>,
    transactions: u64,
    /// The GTIDs committed up to `committed`, where they are followed.
    gtids: Option<GtidSet>,
    /// The GTID of the transaction being read.
    pending_gtid: Option<PendingGtid>,
    /// Changes a batch holds at most: the read stops at the first
    /// transaction end after that many (`full`).
    max_changes: u64,
    full: bool,
}

impl<'t> BinlogRead<'t> {
    /// A transaction ended at `next`: the position (and GTIDs) to save.
    fn commit(&mut self, next: u64) {
        self.transactions += 1;
        if let (Some(set), Some(p)) = (self.gtids.as_mut(), self.pending_gtid.take()) {
            match p {
                PendingGtid::MariaDb {
                    domain,
                    server,
                    seq,
                } => set.add_mariadb(domain, server, seq),
                PendingGtid::Mysql { sid, gno } => set.add_mysql(&sid, gno),
            }
        }
        let mut text = pos_text(&self.cur_file, next);
        if let Some(set) = &self.gtids {
            text.push_str(&format!(" gtid={set}"));
        }
        self.committed = Some(text);
        if self.dec.seq >= self.max_changes {
            self.full = true;
        }
    }

    /// Handles one event; `skip_before`: events that start before this
    /// offset (of the first file read) were merged already. `tme` finds the
    /// table map of a rows event.
    fn event<'a>(
        &mut self,
        ev: &mysql::binlog::events::Event,
        skip_before: u64,
        tme: impl Fn(u64) -> Option<&'a mysql::binlog::events::TableMapEvent<'static>>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<()> {
        let h = ev.header();
        if h.event_type_raw() == TABLE_MAP {
            self.dec.layouts.table_map(ev.data());
        }
        // Artificial events (a fake rotate) have no position of their own.
        let next = match h.log_pos() {
            0 => self.offset,
            low => gtid::widen(self.offset, low),
        };
        self.offset = next;
        if next.saturating_sub(u64::from(h.event_size())) < skip_before {
            return Ok(());
        }
        let here = (self.cur_file.clone(), next);
        let data = ev.read_data().with_context(|| {
            format!(
                "decoding a binlog event at {}",
                pos_text(&self.cur_file, next)
            )
        })?;
        let tables = self.tables;
        let dec = &mut self.dec;
        match data {
            Some(EventData::RotateEvent(r)) => {
                let name = r.name();
                self.offset = r.position();
                if h.log_pos() != 0 || h.timestamp() != 0 {
                    self.cur_file = name.to_string();
                } else {
                    // A "fake" rotate: the file the server reads from now. It
                    // names the file we asked for, or, after a server restart
                    // (no real rotate at the end of the old file), the next one.
                    self.cur_file = fake_rotate_file(&header_bytes(&h), ev.data());
                }
            }
            Some(EventData::RowsEvent(re)) => {
                let Some(tme) = tme(re.table_id()) else {
                    bail!(
                        "rows event for unknown table id {} at {}",
                        re.table_id(),
                        pos_text(&self.cur_file, next)
                    );
                };
                let key = (
                    tme.database_name().to_string(),
                    tme.table_name().to_string(),
                );
                if tables.contains_key(&key) {
                    dec.rows(&key, &re, tme, &here, batch, warnings)?;
                }
            }
            Some(EventData::XidEvent(_)) => self.commit(next),
            Some(EventData::GtidEvent(g)) => {
                self.pending_gtid = Some(PendingGtid::Mysql {
                    sid: g.sid(),
                    gno: g.gno(),
                });
            }
            Some(EventData::QueryEvent(q)) => {
                let sql = q.query();
                let upper = sql.trim_start().to_ascii_uppercase();
                if upper.starts_with("BEGIN") || upper.starts_with("XA START") {
                    dec.ts = crate::clock::format_micros(i64::from(h.timestamp()) * 1_000_000);
                    return Ok(());
                }
                if upper.starts_with("SAVEPOINT") || upper.starts_with("ROLLBACK TO") {
                    return Ok(());
                }
                match classify_query(&q.schema(), &sql) {
                    QueryKind::Truncate { schema, table } => {
                        let key = (schema, table);
                        if tables.contains_key(&key) {
                            dec.seq += 1;
                            let seq = dec.seq;
                            dec.writer(&key, batch)?.truncate(seq);
                        }
                    }
                    QueryKind::Ddl(names) => {
                        for key in names {
                            if tables.contains_key(&key) {
                                dec.structure_changed(&key, &here, &format!("statement `{sql}`"));
                            }
                        }
                    }
                    QueryKind::Dml(names) => {
                        for key in names {
                            if tables.contains_key(&key) {
                                dec.structure_changed(
                                    &key,
                                    &here,
                                    &format!(
                                        "a change logged as a statement, without its rows (`{sql}`); \
                                         the writing session must use binlog_format = ROW"
                                    ),
                                );
                            }
                        }
                    }
                    QueryKind::Commit | QueryKind::Other => {}
                }
                // COMMIT, or a statement that commits by itself.
                self.commit(next);
            }
            None if h.event_type_raw() == MARIADB_GTID => {
                dec.ts = crate::clock::format_micros(i64::from(h.timestamp()) * 1_000_000);
                self.pending_gtid = gtid::mariadb_gtid_event(ev.data()).map(|(seq, domain)| {
                    PendingGtid::MariaDb {
                        domain,
                        server: h.server_id(),
                        seq,
                    }
                });
            }
            None if (MARIADB_COMPRESSED_FIRST..=MARIADB_COMPRESSED_LAST).contains(&h.event_type_raw()) => {
                bail!(
                    "compressed binlog event at {}: cannot be read yet; set log_bin_compress = OFF at the source",
                    pos_text(&self.cur_file, next)
                );
            }
            Some(EventData::TransactionPayloadEvent(_)) => bail!(
                "compressed transaction at {}: cannot be read yet; set binlog_transaction_compression = OFF at the source",
                pos_text(&self.cur_file, next)
            ),
            _ => {}
        }
        Ok(())
    }
}

/// Turns row events into spool lines, one writer per table.
struct RowDecoder<'t> {
    tables: &'t HashMap<(String, String), TableSchema>,
    cols: &'t HashMap<(String, String), Vec<MyCol>>,
    since: HashMap<(String, String), (String, u64)>,
    writers: HashMap<(String, String), TableWriter>,
    changed: Vec<((String, String), String)>,
    seq: u64,
    ts: String,
    /// Converted values of the current row (reused).
    scratch: Vec<u8>,
    layouts: Layouts,
    /// Per layout: why its rows are not of the described table, if so.
    verdicts: HashMap<usize, LayoutVerdict>,
}

/// A layout (held, so its address stays its own) and how it compares.
type LayoutVerdict = (Rc<RowLayout>, Option<String>);

/// Row layouts by table id, each read once from its table map. The server
/// repeats a table's map before every transaction's rows: the layout is
/// dropped only when the map's bytes differ (the table was altered, or the
/// id reused).
#[derive(Default)]
struct Layouts(HashMap<u64, (Vec<u8>, Option<Rc<RowLayout>>)>);

impl Layouts {
    /// A table map event's data went by.
    fn table_map(&mut self, data: &[u8]) {
        let Some(id) = data.get(..6) else { return };
        let id = id.iter().rev().fold(0u64, |a, &b| (a << 8) | u64::from(b));
        match self.0.get_mut(&id) {
            Some((seen, _)) if seen.as_slice() == data => {}
            _ => {
                self.0.insert(id, (data.to_vec(), None));
            }
        }
    }

    fn get(
        &mut self,
        tme: &mysql::binlog::events::TableMapEvent<'_>,
    ) -> std::io::Result<Rc<RowLayout>> {
        let entry = self
            .0
            .entry(tme.table_id())
            .or_insert_with(|| (vec![], None));
        if let Some(l) = &entry.1 {
            return Ok(l.clone());
        }
        let l = Rc::new(RowLayout::new(tme)?);
        entry.1 = Some(l.clone());
        Ok(l)
    }
}

impl RowDecoder<'_> {
    fn writer(
        &mut self,
        key: &(String, String),
        batch: &mut BatchWriter,
    ) -> Result<&mut TableWriter> {
        Ok(match self.writers.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(batch.table(&self.tables[key])?)
            }
        })
    }

    /// Marks a table changed unless the change is older than its snapshot.
    fn structure_changed(
        &mut self,
        key: &(String, String),
        at: &(String, u64),
        what: &str,
    ) -> bool {
        if self.since.get(key).is_some_and(|s| before(at, s)) {
            return false;
        }
        if !self.changed.iter().any(|(k, _)| k == key) {
            let why = format!(
                "structure changed at {} ({what}); its changes are not applied: run `ingest full-extract {}.{}`",
                pos_text(&at.0, at.1),
                key.0,
                key.1
            );
            log::error!("{}.{}: {why}", key.0, key.1);
            self.changed.push((key.clone(), why));
        }
        true
    }

    fn rows(
        &mut self,
        key: &(String, String),
        re: &mysql::binlog::events::RowsEventData<'_>,
        tme: &mysql::binlog::events::TableMapEvent<'_>,
        at: &(String, u64),
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<()> {
        if self.changed.iter().any(|(k, _)| k == key) {
            return Ok(());
        }
        let s = &self.tables[key];
        let at_text = || format!("{}.{} at {}", key.0, key.1, pos_text(&at.0, at.1));
        let layout = self
            .layouts
            .get(tme)
            .with_context(|| format!("reading the table map of {}", at_text()))?;
        // A layout is compared with the catalog once (per table map seen).
        let id = Rc::as_ptr(&layout) as usize;
        let differs = match self.verdicts.get(&id) {
            Some((l, v)) if Rc::ptr_eq(l, &layout) => v.clone(),
            _ => {
                let v = layout.differs_from(&self.cols[key]);
                self.verdicts.insert(id, (layout.clone(), v.clone()));
                v
            }
        };
        if let Some(what) = differs {
            // Older than the snapshot, in another shape: the snapshot has
            // it; otherwise the table is marked changed.
            self.structure_changed(key, at, &what);
            return Ok(());
        }
        let n = s.columns.len();
        let partial = [re.columns_before_image(), re.columns_after_image()]
            .into_iter()
            .flatten()
            .any(|bits| bits.len() < n || bits[..n].not_all());
        if partial {
            // Missing columns cannot be told from unchanged ones: like a
            // statement-logged change, the table needs a full extract.
            self.structure_changed(
                key,
                at,
                "a rows event with only some columns (the writing session has binlog_row_image = \
                 MINIMAL or NOBLOB; deltas need FULL images)",
            );
            return Ok(());
        }
        let shared_image = matches!(re, RowsEventData::PartialUpdateRowsEvent(_));
        let has_before = re.columns_before_image().is_some();
        let has_after = re.columns_after_image().is_some();
        let mut data = mysql_common::io::ParseBuf(re.rows_data());
        let mut b: Vec<Raw<'_>> = Vec::with_capacity(n);
        let mut a: Vec<Raw<'_>> = Vec::with_capacity(n);
        while !data.0.is_empty() {
            if has_before {
                layout
                    .read_image(&mut data, false, &mut b)
                    .with_context(|| format!("decoding rows of {}", at_text()))?;
            }
            if has_after {
                layout
                    .read_image(&mut data, shared_image, &mut a)
                    .with_context(|| format!("decoding rows of {}", at_text()))?;
            }
            match (has_before, has_after) {
                (false, true) => self.emit(key, Op::Insert, &a, batch, warnings)?,
                (true, false) => self.emit(key, Op::Delete, &b, batch, warnings)?,
                (true, true) => {
                    let key_changed = s.key.iter().any(|&k| b[k] != a[k]);
                    if key_changed {
                        self.emit(key, Op::Delete, &b, batch, warnings)?;
                        self.emit(key, Op::Insert, &a, batch, warnings)?;
                    } else {
                        self.emit(key, Op::Update, &a, batch, warnings)?;
                    }
                }
                (false, false) => break,
            }
        }
        Ok(())
    }

    fn emit(
        &mut self,
        key: &(String, String),
        op: Op,
        row: &[Raw<'_>],
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
    ) -> Result<()> {
        let cols = &self.cols[key];
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut vals = Vec::with_capacity(cols.len());
        row_texts(cols, row, &mut scratch, &mut vals, |c, why| {
            warnings.add(&format!("{}.{}", key.0, key.1), &c.name, why)
        })
        .map_err(|e| anyhow!("{}.{}: {e}", key.0, key.1))?;
        self.seq += 1;
        let seq = self.seq;
        if !self.writers.contains_key(key) {
            self.writer(key, batch)?;
        }
        let w = self.writers.get_mut(key).expect("writer opened above");
        let written = w.write(
            op,
            seq,
            &self.ts,
            &[],
            vals.iter().map(|v| v.as_ref().map(|t| t.get(&scratch))),
        );
        drop(vals);
        self.scratch = scratch;
        written?;
        if seq == 1 {
            crate::fault::point("delta-row");
        }
        Ok(())
    }
}

impl Source for MySource {
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

    fn list_tables(&mut self) -> Result<Vec<(String, String)>> {
        Ok(self.conn.query(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' \
             AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1, 2",
        )?)
    }

    fn describe(&mut self, cfg: &Config, schema: &str, table: &str) -> Result<TableSchema> {
        self.describe_table(cfg, schema, table)
    }

    /// The binlog keeps everything: the position is just its end now, with
    /// the GTID set where GTIDs are on.
    fn prepare_full(&mut self, _tables: &[(String, String)]) -> Result<(String, bool)> {
        let row = self.master_status_row()?;
        let (f, p) = status_file_pos(&row)?;
        let gtid = self.gtid_at(&f, p, Some(&row))?;
        let mut pos = pos_text(&f, p);
        if let Some(g) = gtid {
            pos.push_str(&format!(" gtid={g}"));
        }
        Ok((pos, false))
    }

    /// A saved position carries the GTIDs there: the binlog at that offset
    /// must still be the one this instance read. After RESET MASTER, or on
    /// another server after a failover, file names and offsets start again
    /// and the same `file:pos` is somewhere else entirely. MariaDB tells the
    /// GTIDs at any offset, so both are caught; MySQL only says which GTIDs
    /// it executed: a reset is caught, a failover to a replica that ran the
    /// same transactions is not.
    fn check_position(&mut self, released: Option<&str>) -> Result<()> {
        let Some(Position::Binlog {
            file,
            pos,
            gtid: Some(saved),
        }) = released.and_then(Position::parse)
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
        let cols = self.described(s)?;
        let [k] = s.key[..] else { return Ok(None) };
        let integer = ["tinyint", "smallint", "mediumint", "int", "bigint"];
        if n < 2 || !integer.contains(&cols[k].data_type.as_str()) {
            return Ok(None);
        }
        let bytes: Option<u64> = self.conn.exec_first(
            "SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&s.schema, &s.name),
        )?;
        if bytes.unwrap_or(0) < min_bytes {
            return Ok(None);
        }
        let key = qi(&s.columns[k].name);
        let (lo, hi): (Option<String>, Option<String>) = self
            .conn
            .query_first(format!(
                "SELECT CAST(MIN({key}) AS CHAR), CAST(MAX({key}) AS CHAR) FROM {}.{}",
                qi(&s.schema),
                qi(&s.name)
            ))?
            .unwrap_or((None, None));
        let (Some(lo), Some(hi)) = (
            lo.and_then(|v| v.parse::<i128>().ok()),
            hi.and_then(|v| v.parse::<i128>().ok()),
        ) else {
            return Ok(None);
        };
        let points = super::split_points(lo, hi, n);
        if points.is_empty() {
            return Ok(None);
        }
        let mut out: Vec<Box<dyn SnapshotRange>> = vec![];
        for i in 0..=points.len() {
            let mut cond = vec![];
            if i > 0 {
                cond.push(format!("{key} >= {}", points[i - 1]));
            }
            if let Some(p) = points.get(i) {
                cond.push(format!("{key} < {p}"));
            }
            let conn = Conn::new(self.opts.clone())
                .map_err(|e| anyhow!("snapshot connection: {}", mysql_message(&e)))?;
            out.push(Box::new(MyRange {
                conn,
                cols: cols.clone(),
                schema: s.clone(),
                filter: format!(" WHERE {}", cond.join(" AND ")),
            }));
        }
        Ok(Some(out))
    }

    fn start_position(&mut self, committed: Option<&str>) -> Result<Option<String>> {
        Ok(committed.map(str::to_string))
    }

    /// A table this user has no privilege on is hidden from the catalog:
    /// reading it tells that from a table that does not exist.
    fn missing_reason(&mut self, name: &str) -> Result<Option<String>> {
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

    fn unreadable(&mut self, _schema: &str, _table: &str) -> Result<Option<String>> {
        Ok(None)
    }

    fn current_position(&mut self) -> Result<String> {
        let (f, p) = self.master_status()?;
        Ok(pos_text(&f, p))
    }

    fn changes(
        &mut self,
        from: &str,
        tables: &HashMap<(String, String), TableSchema>,
        since: &HashMap<(String, String), String>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
        max_changes: u64,
    ) -> Result<DeltaOutcome> {
        self.read_binlog(from, tables, since, batch, warnings, max_changes)
    }

    /// Nothing to release: the position lives in state.db.
    fn release(&mut self, _to: &str) -> Result<()> {
        Ok(())
    }

    fn position_line(&mut self) -> Result<String> {
        let (f, p) = self.master_status()?;
        Ok(format!(
            "binlog end now {} (server_id {} for the dump)",
            pos_text(&f, p),
            self.cfg.server_id
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_rotate_names_lose_only_their_checksum() {
        let event = |name: &[u8], with_crc: bool| {
            let mut body = 4u64.to_le_bytes().to_vec();
            body.extend_from_slice(name);
            let size = 19 + body.len() as u32 + if with_crc { 4 } else { 0 };
            let mut h = [0u8; 19];
            h[4] = 4; // ROTATE_EVENT
            h[5..9].copy_from_slice(&1u32.to_le_bytes());
            h[9..13].copy_from_slice(&size.to_le_bytes());
            h[17..19].copy_from_slice(&0x20u16.to_le_bytes());
            if with_crc {
                let mut crc = flate2::Crc::new();
                crc.update(&h);
                crc.update(&body);
                body.extend_from_slice(&crc.sum().to_le_bytes());
            }
            (h, body)
        };
        // The first fake rotate, before the FORMAT_DESCRIPTION event: the
        // checksum is still on the name.
        let (h, b) = event(b"binlog.000011", true);
        assert_eq!(fake_rotate_file(&h, &b), "binlog.000011");
        // Later ones (files created since the delta started): whole names.
        let (h, b) = event(b"binlog.000012", false);
        assert_eq!(fake_rotate_file(&h, &b), "binlog.000012");
        let (h, b) = event(b"mysql-bin.1000000", false);
        assert_eq!(fake_rotate_file(&h, &b), "mysql-bin.1000000");
        let (h, b) = event(b"b.1", true);
        assert_eq!(fake_rotate_file(&h, &b), "b.1");
    }

    #[test]
    fn positions() {
        assert_eq!(
            parse_pos("binlog.000012:4567"),
            Some(("binlog.000012".into(), 4567))
        );
        assert_eq!(parse_pos("nope"), None);
        assert_eq!(
            parse_pos("binlog.000012:4567 gtid=0-1-42,1-2-7"),
            Some(("binlog.000012".into(), 4567))
        );
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
