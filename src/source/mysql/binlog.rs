//! Reading the binlog: through the replication protocol (non-blocking, to
//! the end) or from files `mysqlbinlog` downloads, event by event:
//! positions (64-bit, GTIDs followed), transactions, statements, and the
//! rows events handed to the decoder.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context, Result};
use mysql::binlog::events::EventData;
use mysql::prelude::Queryable;
use mysql::{BinlogDumpFlags, BinlogRequest, Conn};
use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::{BinlogFile, EventStreamReader};

use super::decode::{Layouts, RowDecoder};
use super::gtid::{self, GtidSet};
use super::query::{classify_query, QueryKind};
use super::{before, cmp_files, pos_text, MySource};
use crate::change::ChangeSink;
use crate::config::BinlogTransport;
use crate::error;
use crate::error::mysql_message;
use crate::position::Position;
use crate::schema::TableSchema;
use crate::source::{DeltaOutcome, Warnings};
use crate::spool::BatchWriter;
use crate::table::TableId;
use mysql::binlog::events::TableMapEvent;

/// TABLE_MAP_EVENT: the layout of the rows events that follow.
const TABLE_MAP: u8 = 19;
/// MariaDB's GTID event (unknown to `mysql_common`): a transaction starts.
const MARIADB_GTID: u8 = 162;
/// MariaDB's compressed query and rows events (`log_bin_compress`).
const MARIADB_COMPRESSED_FIRST: u8 = 165;
const MARIADB_COMPRESSED_LAST: u8 = 171;

impl MySource {
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
    pub(super) fn read_binlog(
        &mut self,
        from: &Position,
        tables: &HashMap<TableId, TableSchema>,
        since: &HashMap<TableId, Position>,
        batch: &mut BatchWriter,
        warnings: &mut Warnings,
        max_changes: u64,
    ) -> Result<DeltaOutcome> {
        let Position::Binlog {
            file,
            pos,
            gtid: saved,
        } = from.clone()
        else {
            bail!("{from} is not a binlog position");
        };
        let files = self.binlog_files()?;
        if !files.contains(&file) {
            return Err(error::config(format!(
                "binlog file {file} (position {from}) is no longer on the source (purged; oldest is {}): \
                 changes since then are lost to ingest; run `ingest full-extract` of the selected tables",
                files.first().map(String::as_str).unwrap_or("none")
            )));
        }
        let since: HashMap<TableId, (String, u64)> = since
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.binlog().map(|(f, p)| (f.to_string(), p))?)))
            .collect();
        // The GTIDs at the start, followed event by event: saved with the
        // position, so that the next delta can check the binlog is the same.
        // MariaDB can tell them for a position saved without them.
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
        let dir = batch.dir().join("binlog");
        let mut rd = BinlogRead::new(
            tables,
            &self.cols,
            since,
            batch,
            (file, pos, gtids),
            max_changes,
        );
        let as_pair = |p: &Position| p.binlog().map(|(f, o)| (f.to_string(), o));
        rd.dec.struct_seen = self
            .struct_seen
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), as_pair(v)?)))
            .collect();
        rd.upto = self.upto.as_ref().and_then(as_pair);
        if let Some(u) = &rd.upto {
            // Already there: nothing to read.
            if !super::before(&(rd.cur_file.clone(), pos), u) {
                return rd.finish(warnings);
            }
        }
        match self.cfg.transport {
            BinlogTransport::Stream => {
                let mut stream = self.open_stream(&rd.cur_file, pos)?;
                rd.source = Some(&mut self.conn);
                while let Some(ev) = stream.next() {
                    let ev = ev.map_err(|e| {
                        anyhow!(
                            "reading the binlog after {}: {}",
                            rd.cur_file,
                            mysql_message(&e)
                        )
                    })?;
                    rd.event(&ev, 0, &|id| stream.get_tme(id), warnings)?;
                    if rd.full {
                        break;
                    }
                }
            }
            BinlogTransport::Mysqlbinlog => {
                let files = self.download(&rd.cur_file, &dir)?;
                rd.source = Some(&mut self.conn);
                for (n, path) in files.iter().enumerate() {
                    let f = std::fs::File::open(path)
                        .with_context(|| format!("opening {}", path.display()))?;
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    // The first file is read from the saved position on.
                    let skip_before = if n == 0 { pos } else { 0 };
                    rd.file(&name, std::io::BufReader::new(f), skip_before, warnings)
                        .with_context(|| format!("reading {}", path.display()))?;
                    if rd.full {
                        break;
                    }
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        rd.finish(warnings)
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
    MariaDb {
        domain: u32,
        server: u32,
        seq: u64,
    },
    Mysql {
        sid: [u8; 16],
        tag: String,
        gno: u64,
    },
}

/// Follows the binlog event by event: positions, transactions, statements.
pub(super) struct BinlogRead<'t, 'b> {
    pub(super) dec: RowDecoder<'t, 'b>,
    tables: &'t HashMap<TableId, TableSchema>,
    cur_file: String,
    /// The last offset known in `cur_file` (binlog offsets are 64-bit; an
    /// event header holds 32 bits of them).
    offset: u64,
    /// The position after the last transaction read in full.
    committed: Option<Position>,
    transactions: u64,
    /// The GTIDs committed up to `committed`, where they are followed.
    gtids: Option<GtidSet>,
    /// The GTID of the transaction being read.
    pending_gtid: Option<PendingGtid>,
    /// Changes a batch holds at most: the read stops at the first
    /// transaction end after that many (`full`).
    max_changes: u64,
    full: bool,
    /// The read ends at the transaction that ends here (a catch-up).
    pub(super) upto: Option<(String, u64)>,
    /// Where rows the binlog did not log whole are read (none in tests:
    /// they stay deferred).
    source: Option<&'b mut Conn>,
    /// Where the transaction being read starts: file, offset, GTIDs before.
    txn_start: Option<Start>,
    /// The XA transaction being read (between XA START and XA PREPARE).
    xa: Option<Xa>,
    /// Prepared XA transactions by xid, waiting for XA COMMIT or ROLLBACK.
    prepared: Vec<(String, Xa)>,
}

/// A place in the binlog to read again from: file, offset, GTIDs there.
type Start = (String, u64, Option<GtidSet>);

fn start_of(file: &str, offset: u64, gtids: &Option<GtidSet>) -> Start {
    (file.to_string(), offset, gtids.clone())
}

/// An XA transaction's rows events, held until its outcome is read: they
/// are applied at XA COMMIT, dropped at XA ROLLBACK.
struct Xa {
    start: Start,
    rows: Vec<(
        mysql::binlog::events::Event,
        TableMapEvent<'static>,
        (String, u64),
    )>,
}

impl<'t, 'b> BinlogRead<'t, 'b> {
    /// A reader from `start` (file, offset, GTIDs there if followed).
    pub(super) fn new(
        tables: &'t HashMap<TableId, TableSchema>,
        cols: &'t HashMap<TableId, Vec<super::column::MyCol>>,
        since: HashMap<TableId, (String, u64)>,
        batch: &'b mut BatchWriter,
        start: (String, u64, Option<GtidSet>),
        max_changes: u64,
    ) -> Self {
        let (cur_file, offset, gtids) = start;
        BinlogRead {
            dec: RowDecoder {
                sink: ChangeSink::new(tables, batch),
                cols,
                since,
                struct_seen: HashMap::new(),
                txn_start: String::new(),
                with_rows: Default::default(),
                scratch: vec![],
                scratch_before: vec![],
                layouts: Layouts::default(),
                verdicts: HashMap::new(),
                deferred: vec![],
                deferred_keys: Default::default(),
            },
            tables,
            cur_file,
            offset,
            committed: None,
            transactions: 0,
            gtids,
            pending_gtid: None,
            max_changes,
            full: false,
            upto: None,
            source: None,
            txn_start: None,
            xa: None,
            prepared: vec![],
        }
    }

    /// A transaction starts at `s`.
    fn set_txn_start(&mut self, s: Start) {
        self.dec.txn_start = Position::Binlog {
            file: s.0.clone(),
            pos: s.1,
            gtid: s.2.as_ref().map(GtidSet::to_string),
        }
        .to_string();
        self.txn_start = Some(s);
    }

    /// Applies an XA transaction's rows, now that it committed.
    fn apply(&mut self, xa: Xa, warnings: &mut Warnings) -> Result<()> {
        for (ev, tme, here) in &xa.rows {
            if let Some(EventData::RowsEvent(re)) = ev.read_data()? {
                let key = TableId::new(tme.database_name(), tme.table_name());
                self.dec.rows(&key, &re, tme, here, warnings)?;
            }
        }
        Ok(())
    }

    /// Completes the rows deferred so far, when there is a source to read
    /// them from.
    fn complete(&mut self, warnings: &mut Warnings) -> Result<()> {
        match self.source.as_deref_mut() {
            Some(conn) if !self.dec.deferred.is_empty() => {
                super::complete::complete(conn, &mut self.dec, warnings)
            }
            _ => Ok(()),
        }
    }

    /// The changes read, and where the next delta starts.
    pub(super) fn finish(mut self, warnings: &mut Warnings) -> Result<DeltaOutcome> {
        self.complete(warnings)?;
        // A prepared XA transaction still open: the next delta reads again
        // from its start, so that its rows are there when its outcome is.
        let held = self
            .prepared
            .iter()
            .filter(|(_, x)| !x.rows.is_empty())
            .map(|(_, x)| &x.start)
            .min_by(|a, b| cmp_files(&a.0, &b.0).then(a.1.cmp(&b.1)));
        let to_pos = match (self.committed, held) {
            (Some(Position::Binlog { file, pos, .. }), Some((f, p, g)))
                if cmp_files(&file, f).then(pos.cmp(p)).is_gt() =>
            {
                Some(Position::Binlog {
                    file: f.clone(),
                    pos: *p,
                    gtid: g.as_ref().map(GtidSet::to_string),
                })
            }
            (c, _) => c,
        };
        let commits = self.dec.sink.commits();
        let (out, changed) = self.dec.sink.finish()?;
        Ok(DeltaOutcome {
            tables: out,
            to_pos,
            changed,
            transactions: self.transactions,
            more: self.full,
            commits,
        })
    }

    /// Reads the binlog file `name` (a download's, from its start) up to
    /// its end or a full batch; events before `skip_before` were merged.
    pub(super) fn file(
        &mut self,
        name: &str,
        input: impl std::io::BufRead,
        skip_before: u64,
        warnings: &mut Warnings,
    ) -> Result<()> {
        let mut file = BinlogFile::new(BinlogVersion::Version4, input)
            .with_context(|| format!("{name} is not a binlog file"))?;
        self.cur_file = name.to_string();
        self.offset = 0;
        while let Some(ev) = file.next() {
            let ev = ev?;
            self.event(&ev, skip_before, &|id| file.reader().get_tme(id), warnings)?;
            if self.full {
                break;
            }
        }
        Ok(())
    }

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
                PendingGtid::Mysql { sid, tag, gno } => set.add_mysql(&sid, &tag, gno),
            }
        }
        self.committed = Some(Position::Binlog {
            file: self.cur_file.clone(),
            pos: next,
            gtid: self.gtids.as_ref().map(GtidSet::to_string),
        });
        if let Some(u) = &self.upto {
            if !before(&(self.cur_file.clone(), next), u) {
                self.full = true;
            }
        }
        // A batch does not end while an XA transaction is held (its
        // outcome must be read in the same batch).
        if self.dec.sink.seq() >= self.max_changes
            && self.prepared.iter().all(|(_, x)| x.rows.is_empty())
        {
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
        tme: &dyn Fn(u64) -> Option<&'a mysql::binlog::events::TableMapEvent<'static>>,
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
        // Where this event starts: built only for the events that record it
        // (a transaction's start), not for every rows event.
        let start = next.saturating_sub(u64::from(h.event_size()));
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
                let key = TableId::new(tme.database_name(), tme.table_name());
                if tables.contains_key(&key) {
                    match self.xa.as_mut() {
                        Some(xa) => xa.rows.push((ev.clone(), tme.clone(), here)),
                        None => dec.rows(&key, &re, tme, &here, warnings)?,
                    }
                }
            }
            Some(EventData::XidEvent(_)) => self.commit(next),
            Some(EventData::PreviousGtidsEvent(p))
                if self.gtids.is_none() && !p.sids().is_empty() =>
            {
                // MySQL: the GTIDs executed before this file, read from its
                // start. A position saved without GTIDs (at a file's start,
                // say) has them from here on.
                let mut set = GtidSet::Mysql(Default::default());
                for sid in p.sids() {
                    let tag = sid.tag().map(|t| t.to_string()).unwrap_or_default();
                    for i in sid.intervals().iter().filter(|i| i.end() > i.start()) {
                        set.add_mysql_range(&sid.uuid(), &tag, i.start(), i.end() - 1);
                    }
                }
                self.gtids = Some(set);
            }
            Some(EventData::AnonymousGtidEvent(_)) => {
                self.set_txn_start(start_of(&self.cur_file, start, &self.gtids))
            }
            Some(EventData::XaPrepareLogEvent(body)) => {
                let Some((one_phase, xid)) = super::xa::xid_of_prepare(&body) else {
                    bail!(
                        "an XA PREPARE event at {} cannot be read",
                        pos_text(&here.0, here.1)
                    );
                };
                // One without rows of selected tables is held too (its
                // outcome is then expected), but keeps no position back.
                if let Some(xa) = self.xa.take() {
                    if one_phase {
                        self.apply(xa, warnings)?;
                    } else {
                        self.prepared.push((xid, xa));
                    }
                }
                self.commit(next);
            }
            Some(EventData::GtidEvent(g)) => {
                self.set_txn_start(start_of(&self.cur_file, start, &self.gtids));
                self.pending_gtid = Some(PendingGtid::Mysql {
                    sid: g.sid(),
                    tag: g.tag().map(|t| t.to_string()).unwrap_or_default(),
                    gno: g.gno(),
                });
            }
            Some(EventData::QueryEvent(q)) => {
                let sql = q.query();
                let upper = sql.trim_start().to_ascii_uppercase();
                if upper.starts_with("BEGIN") || upper.starts_with("XA START") {
                    dec.sink.set_ts(crate::clock::format_micros(
                        i64::from(h.timestamp()) * 1_000_000,
                    ));
                    if upper.starts_with("XA START") {
                        let start = self
                            .txn_start
                            .take()
                            .unwrap_or_else(|| start_of(&self.cur_file, start, &self.gtids));
                        self.xa = Some(Xa {
                            start,
                            rows: vec![],
                        });
                    }
                    return Ok(());
                }
                // The XA transaction goes on to its XA PREPARE event.
                if upper.starts_with("XA END") {
                    return Ok(());
                }
                if upper.starts_with("XA COMMIT") || upper.starts_with("XA ROLLBACK") {
                    let commit = upper.starts_with("XA COMMIT");
                    let verb = if commit { "XA COMMIT" } else { "XA ROLLBACK" };
                    let xid = super::xa::xid_of_statement(&sql, verb);
                    let held = match self.xa.take() {
                        // `XA COMMIT ... ONE PHASE` as a statement.
                        Some(xa) => Some(xa),
                        None => xid.and_then(|x| {
                            let i = self.prepared.iter().position(|(k, _)| *k == x)?;
                            Some(self.prepared.remove(i).1)
                        }),
                    };
                    match held {
                        Some(xa) if commit => {
                            self.dec.sink.set_ts(crate::clock::format_micros(
                                i64::from(h.timestamp()) * 1_000_000,
                            ));
                            self.apply(xa, warnings)?;
                        }
                        Some(_) => {}
                        None => log::warn!(
                            "`{sql}` at {}: its XA PREPARE is before this delta's start; if it changed \
                             selected tables and was prepared before a full extract's position, its rows \
                             are not at the destination",
                            pos_text(&here.0, here.1)
                        ),
                    }
                    self.commit(next);
                    return Ok(());
                }
                if upper.starts_with("SAVEPOINT") || upper.starts_with("ROLLBACK TO") {
                    return Ok(());
                }
                match classify_query(&q.schema(), &sql) {
                    QueryKind::Truncate(key) => {
                        if tables.contains_key(&key) {
                            // A statement that commits by itself: its time
                            // is its own (MySQL has no BEGIN before it).
                            dec.sink.set_ts(crate::clock::format_micros(
                                i64::from(h.timestamp()) * 1_000_000,
                            ));
                            dec.sink.truncate(&key)?;
                        }
                    }
                    QueryKind::Ddl(names) => {
                        for key in names {
                            if tables.contains_key(&key) {
                                dec.ddl(&key, &here, &sql);
                            }
                        }
                    }
                    QueryKind::Dml(names) => {
                        for key in names {
                            let older = dec.since.get(&key).is_some_and(|s| before(&here, s));
                            if tables.contains_key(&key) && !older {
                                let why = format!(
                                    "a change logged as a statement, without its rows (`{sql}`); \
                                     the writing session must use binlog_format = ROW"
                                );
                                dec.sink.fail_table(
                                    &key,
                                    Some(&pos_text(&here.0, here.1)),
                                    format!("{why}: run `ingest full-extract {key}`"),
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
                dec.sink.set_ts(crate::clock::format_micros(
                    i64::from(h.timestamp()) * 1_000_000,
                ));
                // `XA START` of a transaction that is prepared later.
                let here_start = start_of(&self.cur_file, start, &self.gtids);
                if super::xa::mariadb_xa_start(ev.data()).is_some() {
                    self.xa = Some(Xa {
                        start: here_start.clone(),
                        rows: vec![],
                    });
                }
                self.set_txn_start(here_start);
                self.pending_gtid =
                    gtid::mariadb_gtid_event(ev.data()).map(|(seq, domain)| PendingGtid::MariaDb {
                        domain,
                        server: h.server_id(),
                        seq,
                    });
            }
            None if (MARIADB_COMPRESSED_FIRST..=MARIADB_COMPRESSED_LAST)
                .contains(&h.event_type_raw()) =>
            {
                bail!(
                    "compressed binlog event at {}: cannot be read yet; set log_bin_compress = OFF at the source",
                    pos_text(&self.cur_file, next)
                );
            }
            Some(EventData::TransactionPayloadEvent(p)) => {
                // A compressed transaction (binlog_transaction_compression):
                // its events, without checksums, end where it ends; their
                // table maps are their own.
                let at = || {
                    format!(
                        "the compressed transaction at {}",
                        pos_text(&here.0, here.1)
                    )
                };
                let mut payload = p.decompressed().with_context(at)?;
                let mut inner = EventStreamReader::new(BinlogVersion::Version4);
                while let Some(e) = inner.read_decompressed(&mut payload).with_context(at)? {
                    self.event(&e, 0, &|id| inner.get_tme(id), warnings)?;
                }
            }
            _ => {}
        }
        if self.dec.deferred.len() >= super::complete::DEFERRED_AT_ONCE {
            self.complete(warnings)?;
        }
        Ok(())
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
}
