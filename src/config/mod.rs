//! `ingest.toml` → a validated [`Config`].
//!
//! Pure: reading the file is the only I/O, so every rule here is unit-tested.
//! Errors name the key that is wrong (`source.port`, `table[2].name`) and what
//! would be right; `main` maps them to exit status 2.

use std::fmt;
use std::path::{Path, PathBuf};

mod names;
mod parse;

pub use names::{default_server_id, default_slot, glob_match};
pub use parse::parse;

/// A configuration problem: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "configuration: {}", self.message)
        } else {
            write!(f, "configuration: {}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn err(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub path: PathBuf,
    pub instance: Instance,
    pub source: Source,
    pub destination: Destination,
    pub schedule: Scheduling,
    pub web: Web,
    pub notify: crate::events::Notify,
    /// `[history]`: type-2 history settings.
    pub history: HistorySettings,
    pub tables: Vec<TableRule>,
    /// Secrets given as `enc:`, `_env` or `_file`: resolved by [`load`].
    pub pending: Vec<crate::secret::Pending>,
    /// Warnings of the loading, for the log once it is open.
    pub warnings: Vec<String>,
    /// `[recovery] dir`: a copy of the configuration and state.db after
    /// each successful run.
    pub recovery: Option<PathBuf>,
}

/// `[history]`: whether tables keep history unless their `[[table]]` says,
/// and the shape of history tables (the manual's History settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySettings {
    /// `default`: tables without `history = ...` keep history.
    pub default: bool,
    pub columns: crate::schema::History,
}

/// `[web]`: the status page.
#[derive(Clone, PartialEq, Eq)]
pub struct Web {
    /// Served by `ingest run` (and `ingest serve` regardless).
    pub enabled: bool,
    /// Address and port, `127.0.0.1:8081` by default.
    pub bind: String,
    /// Operations from the page (POST) need it; without it the page is
    /// read-only.
    pub token: Option<String>,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("enabled", &self.enabled)
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// `[schedule]`: when `ingest run` starts runs, and how it handles errors.
#[derive(Debug, Clone)]
pub struct Scheduling {
    pub schedule: crate::schedule::Schedule,
    /// An interrupted run is resumed at once when `ingest run` starts.
    pub restore_on_startup: bool,
    /// How long transient errors (a server restarting, a lost connection,
    /// lock waits) are tried again, with backoff, before the run fails.
    pub retry_for: jiff::SignedDuration,
    /// A delta that meets a structure change does `sync-struct` of the
    /// table by itself instead of stopping its changes.
    pub auto_sync_struct: bool,
    /// What `sync-struct` does with a column the source dropped.
    pub on_drop_column: OnDrop,
}

/// `on_drop_column`: a column the source dropped is kept at the
/// destination (its rows keep their values; new rows get NULL) or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDrop {
    Keep,
    Drop,
}

impl PartialEq for Scheduling {
    fn eq(&self, o: &Self) -> bool {
        self.schedule.mode == o.schedule.mode
            && self.schedule.tz.iana_name() == o.schedule.tz.iana_name()
            && self.restore_on_startup == o.restore_on_startup
            && self.retry_for == o.retry_for
            && self.auto_sync_struct == o.auto_sync_struct
            && self.on_drop_column == o.on_drop_column
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: String,
    pub state_dir: PathBuf,
    pub spool_dir: PathBuf,
    pub spool_compression: Compression,
    /// `min_free_disk`: bytes the spool folder keeps free (0: no check).
    pub min_free_disk: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Postgres(PostgresSource),
    Mysql(MysqlSource),
    SqlServer(SqlServerSource),
}

/// How binlog events reach us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinlogTransport {
    /// The replication protocol, through the `mysql` crate (default).
    Stream,
    /// `mysqlbinlog`/`mariadb-binlog --read-from-remote-server --raw`
    /// downloads the files into the spool; the same decoder reads them.
    Mysqlbinlog,
}

/// Parallel snapshots (the manual's Extract Threads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extract {
    /// Connections reading one big table's key or block ranges at once.
    pub threads: usize,
    /// Tables smaller than this are read whole, by one connection.
    pub split_bytes: u64,
}

impl Source {
    pub fn extract(&self) -> Extract {
        match self {
            Source::Postgres(p) => p.extract,
            Source::Mysql(m) => m.extract,
            Source::SqlServer(m) => m.extract,
        }
    }

    /// Changes one delta batch reads at most (then it is merged and the
    /// next one read).
    pub fn max_batch_changes(&self) -> u64 {
        match self {
            Source::Postgres(p) => p.max_batch_changes,
            Source::Mysql(m) => m.max_batch_changes,
            Source::SqlServer(m) => m.max_batch_changes,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MysqlSource {
    /// Changes one delta batch reads at most.
    pub max_batch_changes: u64,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// Replica id for the binlog dump; unique among the server's replicas.
    pub server_id: u32,
    pub transport: BinlogTransport,
    /// The `mysqlbinlog`/`mariadb-binlog` program, for that transport.
    pub binlog_tool: Option<String>,
    pub extract: Extract,
    /// `tls`, `tls_ca`: as the destination's.
    pub tls: Tls,
    pub tls_ca: Option<PathBuf>,
}

/// How a SQL Server table's changes are read (`extract_type`, the manual's
/// Extract Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExtractType {
    /// Change Tracking: `CHANGETABLE(CHANGES ...)` since a version.
    ChangeTracking,
    /// Change Data Capture: `cdc.fn_cdc_get_all_changes_<instance>`
    /// between LSNs.
    Cdc,
    /// The whole table again on every run (replaces it at the destination).
    Full,
    /// The rows whose `timestamp_column` is newer than the newest read
    /// (inserts and updates; deletes are not seen).
    Timestamps,
}

impl ExtractType {
    pub fn name(self) -> &'static str {
        match self {
            ExtractType::ChangeTracking => "change_tracking",
            ExtractType::Cdc => "cdc",
            ExtractType::Full => "full",
            ExtractType::Timestamps => "timestamps",
        }
    }
}

/// `bcp`: whether full extracts go through the `bcp` program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bcp {
    /// When `bcp` is found (`bcp_path`, else on PATH); else ODBC.
    Auto,
    Off,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqlServerSource {
    /// Changes one delta batch reads at most.
    pub max_batch_changes: u64,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    /// The ODBC driver: a name registered with the driver manager
    /// ("ODBC Driver 18 for SQL Server", "FreeTDS") or a driver file.
    pub odbc_driver: String,
    /// `encrypt`: TLS to the server (Microsoft's driver 18 default: on).
    pub encrypt: bool,
    pub trust_server_certificate: bool,
    /// The tables' extract type unless their `[[table]]` says.
    pub extract_type: ExtractType,
    pub extract: Extract,
    pub bcp: Bcp,
    pub bcp_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PostgresSource {
    /// Changes one delta batch reads at most.
    pub max_batch_changes: u64,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    pub slot: String,
    pub publication: String,
    pub extract: Extract,
    /// `tls`, `tls_ca`: as the destination's.
    pub tls: Tls,
    pub tls_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    SingleStore,
    Mysql,
}

impl Dialect {
    /// The first year its `DATE`/`DATETIME` hold (0: any the sources have).
    /// SingleStore's start at 1000-01-01
    /// (<https://docs.singlestore.com/cloud/reference/sql-reference/data-types/time-and-date/>);
    /// MySQL and MariaDB store earlier years as they are.
    pub fn min_year(self) -> u16 {
        match self {
            Dialect::SingleStore => 1000,
            Dialect::Mysql => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub dialect: Dialect,
    pub tls: Tls,
    /// CA certificate(s) (PEM or DER) trusted besides the public roots.
    pub tls_ca: Option<PathBuf>,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    pub schema_for_all_tables: Option<String>,
    pub load_threads: usize,
    /// `table_type = "rowstore"` (singlestore dialect): target tables are
    /// ROWSTORE (the default: columnstore, SingleStore's own default).
    pub rowstore: bool,
    /// `truncate_instead_of_drop`: a full extract empties the target and
    /// loads it in place (its indexes, grants and triggers stay) instead of
    /// swapping a new table in.
    pub in_place: bool,
    /// `staging_schema`: the database of the delta's helper tables.
    pub staging_schema: Option<String>,
    /// `add_database_prefix`: text in front of derived database names.
    pub database_prefix: Option<String>,
    /// `ignore_database_name` (PostgreSQL): `schema` instead of `db_schema`.
    pub ignore_database_name: bool,
    /// `retain_staging`: helper tables keep their last batch (else they are
    /// emptied once merged).
    pub retain_staging: bool,
}

/// TLS to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain TCP.
    Disable,
    /// Encrypted; the server's certificate is not checked.
    Require,
    /// Encrypted; the certificate must chain to a public root or to
    /// `tls_ca`, and name the host.
    VerifyFull,
}

/// One `[[table]]` entry: a name or glob over `schema.table`, and its options.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRule {
    pub pattern: String,
    pub key: Option<Vec<String>>,
    /// Columns never read from the source: `VARCHAR(1)` NULL at the
    /// destination.
    pub mask: Vec<String>,
    /// `where`: rows of the initial extract (deltas are not filtered).
    pub filter: Option<String>,
    /// No initial load: deltas apply from the moment it is selected.
    pub skip_initial: bool,
    /// `sync-new-tables` gives it its initial load again (once per time
    /// the option is set).
    pub redo_initial: bool,
    /// `type_change`: (column, the manual's conversion `@I`, `@D(...)`, ...).
    pub type_change: Vec<(String, String)>,
    /// `on_bad_value = "fail"`: a value that does not convert fails the
    /// table (`"null"`, the default: NULL and a warning).
    pub bad_value_fail: bool,
    /// `history`: type-2 history (else `[history] default`).
    pub history: Option<bool>,
    /// `history_keep_deleted` (else `[history] keep_deleted`).
    pub history_keep_deleted: Option<bool>,
    /// `keyless`: no key; rows are counted (duplicates kept).
    pub keyless: bool,
    /// `extract_type` (SQL Server): else the source's.
    pub extract_type: Option<ExtractType>,
    /// `timestamp_column` (SQL Server, `extract_type = "timestamps"`).
    pub timestamp_column: Option<String>,
}

/// Reads and validates the file at `path`. Relative `state_dir`/`spool_dir`
/// are taken relative to the file's folder.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(
            "",
            format!(
                "cannot read {}: {e} (write an example with `ingest init`)",
                path.display()
            ),
        )
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut cfg = parse(&text, path, &base)?;
    cfg.resolve_secrets(&base)?;
    Ok(cfg)
}

/// The configuration with only the status page's token resolved
/// (`ingest serve` connects to no database).
pub fn load_for_page(path: &Path) -> Result<Config, ConfigError> {
    let mut cfg = load_unresolved(path)?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    cfg.resolve_only(&base, |k| k == "web.token")?;
    Ok(cfg)
}

/// The configuration without its secrets resolved (`ingest encrypt`).
pub fn load_unresolved(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err("", format!("cannot read {}: {e}", path.display())))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, path, &base)
}

impl Config {
    /// Puts the clear values of `enc:`, `_env` and `_file` secrets in
    /// place; an error names the key, never the value.
    fn resolve_secrets(&mut self, base: &Path) -> Result<(), ConfigError> {
        self.resolve_only(base, |_| true)
    }

    /// Resolves the pending secrets whose key `which` accepts (the others
    /// stay pending, their fields empty).
    fn resolve_only(
        &mut self,
        base: &Path,
        which: impl Fn(&str) -> bool,
    ) -> Result<(), ConfigError> {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| which(&p.key));
        self.pending = later;
        for p in now {
            let value = crate::secret::resolve(
                &p.given,
                &self.instance.state_dir,
                base,
                &mut self.warnings,
            )
            .map_err(|m| err(p.key.as_str(), m))?;
            match p.key.as_str() {
                "source.password" => match &mut self.source {
                    Source::Postgres(s) => s.password = value,
                    Source::Mysql(s) => s.password = value,
                    Source::SqlServer(s) => s.password = value,
                },
                "destination.password" => self.destination.password = value,
                // Checked again once opened: `enc:` text is long whatever
                // it seals.
                "web.token" if value.chars().count() < 16 => {
                    return Err(err("web.token", "use at least 16 characters"))
                }
                "web.token" => self.web.token = Some(value),
                other => return Err(err(other, "not a secret ingest knows")),
            }
        }
        Ok(())
    }

    /// The rule that selects `schema.table`, the most specific one winning: an
    /// entry without wildcards beats any glob, a longer glob beats a shorter.
    pub fn rule_for(&self, schema: &str, table: &str) -> Option<&TableRule> {
        let full = format!("{schema}.{table}");
        self.tables
            .iter()
            .filter(|r| glob_match(&r.pattern, &full))
            .max_by_key(|r| {
                let wild = r.pattern.contains(['*', '?']);
                (!wild, r.pattern.len())
            })
    }

    /// How the changes of `schema.table` are read (SQL Server sources).
    pub fn extract_type_for(&self, schema: &str, table: &str) -> Option<ExtractType> {
        let Source::SqlServer(m) = &self.source else {
            return None;
        };
        Some(
            self.rule_for(schema, table)
                .and_then(|r| r.extract_type)
                .unwrap_or(m.extract_type),
        )
    }

    /// The history settings of `schema.table`, when it keeps history.
    pub fn history_for(&self, schema: &str, table: &str) -> Option<crate::schema::History> {
        let rule = self.rule_for(schema, table);
        if !rule.and_then(|r| r.history).unwrap_or(self.history.default) {
            return None;
        }
        let mut h = self.history.columns.clone();
        if let Some(k) = rule.and_then(|r| r.history_keep_deleted) {
            h.keep_deleted = k;
        }
        Some(h)
    }

    /// Destination (database, table) for a source table (`db` is the source database).
    /// PostgreSQL `db`.`schema`.`t` lands in `db_schema`.`t`; MySQL `db`.`t`
    /// (schema = database) in `db`.`t`.
    /// `ignore_database_name` (PostgreSQL): `schema`.`t`; `add_database_prefix`
    /// puts its text in front of the database names these rules make.
    pub fn dest_name(&self, db: &str, schema: &str, table: &str) -> (String, String) {
        let d = &self.destination;
        let derived = match (&d.schema_for_all_tables, &self.source) {
            (Some(s), _) => return (s.clone(), table.to_string()),
            (None, Source::Mysql(_)) => schema.to_string(),
            (None, Source::Postgres(_) | Source::SqlServer(_)) if d.ignore_database_name => {
                schema.to_string()
            }
            (None, Source::Postgres(_) | Source::SqlServer(_)) => format!("{db}_{schema}"),
        };
        let prefix = d.database_prefix.as_deref().unwrap_or("");
        (format!("{prefix}{derived}"), table.to_string())
    }

    pub fn state_db(&self) -> PathBuf {
        self.instance.state_dir.join("state.db")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.instance.state_dir.join("log")
    }
}

/// The commented example that `ingest init` writes.
pub const EXAMPLE: &str = include_str!("example.toml");

#[cfg(test)]
mod tests;
