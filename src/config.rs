//! `ingest.toml` → a validated [`Config`].
//!
//! Pure: reading the file is the only I/O, so every rule here is unit-tested.
//! Errors name the key that is wrong (`source.port`, `table[2].name`) and what
//! would be right; `main` maps them to exit status 2.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    pub tables: Vec<TableRule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: String,
    pub state_dir: PathBuf,
    pub spool_dir: PathBuf,
    pub spool_compression: Compression,
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
        }
    }

    /// Changes one delta batch reads at most (then it is merged and the
    /// next one read).
    pub fn max_batch_changes(&self) -> u64 {
        match self {
            Source::Postgres(p) => p.max_batch_changes,
            Source::Mysql(m) => m.max_batch_changes,
        }
    }
}

/// Measured by scripts/bench.sh: 1,000,000 changes a batch keep a delta's
/// memory near that of the 1M-change bench (README, Performance).
const DEFAULT_MAX_BATCH_CHANGES: u64 = 1_000_000;

fn max_batch_changes(v: Option<i64>) -> Result<u64, ConfigError> {
    match v {
        None => Ok(DEFAULT_MAX_BATCH_CHANGES),
        Some(n) if (1000..=1_000_000_000).contains(&n) => Ok(n as u64),
        Some(n) => Err(err(
            "source.max_batch_changes",
            format!("{n} is not between 1000 and 1000000000"),
        )),
    }
}

fn extract_opts(threads: Option<i64>, split_mb: Option<i64>) -> Result<Extract, ConfigError> {
    let threads = match threads {
        None => DEFAULT_EXTRACT_THREADS,
        Some(n) if (1..=16).contains(&n) => n as usize,
        Some(n) => {
            return Err(err(
                "source.extract_threads",
                format!("{n} is not between 1 and 16"),
            ))
        }
    };
    let split_bytes = match split_mb {
        None => 64 << 20,
        Some(n) if n >= 0 => (n as u64) << 20,
        Some(n) => {
            return Err(err(
                "source.extract_split_mb",
                format!("{n} must not be negative"),
            ))
        }
    };
    Ok(Extract {
        threads,
        split_bytes,
    })
}

/// Measured by scripts/bench.sh (README, Performance).
const DEFAULT_EXTRACT_THREADS: usize = 1;

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    SingleStore,
    Mysql,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub dialect: Dialect,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    pub schema_for_all_tables: Option<String>,
    pub load_threads: usize,
}

/// One `[[table]]` entry: a name or glob over `schema.table`, and its options.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRule {
    pub pattern: String,
    pub key: Option<Vec<String>>,
}

// ---- raw, as written in the file ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    instance: Option<RawInstance>,
    source: Option<toml::Table>,
    destination: Option<RawDestination>,
    #[serde(default)]
    table: Vec<RawTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    name: Option<String>,
    state_dir: Option<String>,
    spool_dir: Option<String>,
    spool_compression: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostgres {
    #[allow(dead_code)]
    r#type: String,
    max_batch_changes: Option<i64>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    user: Option<String>,
    password: Option<String>,
    slot: Option<String>,
    publication: Option<String>,
    extract_threads: Option<i64>,
    extract_split_mb: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMysql {
    #[allow(dead_code)]
    r#type: String,
    max_batch_changes: Option<i64>,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    server_id: Option<i64>,
    binlog_transport: Option<String>,
    binlog_tool: Option<String>,
    extract_threads: Option<i64>,
    extract_split_mb: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    r#type: Option<String>,
    dialect: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    user: Option<String>,
    password: Option<String>,
    schema_for_all_tables: Option<String>,
    load_threads: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: Option<String>,
    key: Option<Vec<String>>,
}

/// The `[source]` section as the struct of its type, read from the text
/// again so that errors point at the line (the section's type decides which
/// struct, so it cannot be read in the first pass).
fn source_section<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, ConfigError> {
    #[derive(Deserialize)]
    struct Only<T> {
        source: T,
    }
    toml::from_str::<Only<T>>(text)
        .map(|o| o.source)
        .map_err(|e| de_error(&e, text, path))
}

/// A TOML or type error as a [`ConfigError`] naming the key and line. The
/// offending value is never repeated: it may be a password.
fn de_error(e: &toml::de::Error, text: &str, path: &Path) -> ConfigError {
    let msg = scrub_value(e.message());
    let Some(span) = e.span() else {
        return err("", format!("{}: {msg}", path.display()));
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let section = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(['[', ']']).trim().to_string());
    let key = match (section, line.split_once('=')) {
        (Some(sec), Some((k, _))) => format!("{sec}.{}", k.trim()),
        (None, Some((k, _))) => k.trim().to_string(),
        _ => String::new(),
    };
    err(key, format!("{msg} ({}, line {line_no})", path.display()))
}

/// serde's "invalid type: integer `1234`, expected a string" without the
/// value: "invalid type: integer, expected a string".
fn scrub_value(msg: &str) -> String {
    for head in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = msg.strip_prefix(head) {
            let (got, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
            let kind: Vec<&str> = got
                .split(' ')
                .take_while(|w| !w.starts_with(['`', '"', '\'']))
                .collect();
            let tail = if expected.is_empty() {
                String::new()
            } else {
                format!(", expected{expected}")
            };
            return format!("{head}{}{tail}", kind.join(" "));
        }
    }
    msg.to_string()
}

fn required(v: Option<String>, key: &str) -> Result<String, ConfigError> {
    match v {
        Some(s) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err(err(key, "must not be empty")),
        None => Err(err(key, "is required")),
    }
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
    parse(&text, path, &base)
}

/// Parses configuration text; `base` resolves relative directories.
pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| de_error(&e, text, path))?;

    let ri = raw
        .instance
        .ok_or_else(|| err("instance", "section [instance] is required"))?;
    let name = required(ri.name, "instance.name")?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(err(
            "instance.name",
            "use letters, digits, '_' and '-' only",
        ));
    }
    let resolve = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    };
    let spool_compression = match ri.spool_compression.as_deref() {
        // Plain files: initial loads 10-20% faster than with gzip on a
        // 2-core machine (README, Performance).
        Some("gzip") => Compression::Gzip,
        None | Some("none") => Compression::None,
        Some(other) => {
            return Err(err(
                "instance.spool_compression",
                format!("'{other}' is not one of \"gzip\", \"none\""),
            ))
        }
    };
    let instance = Instance {
        state_dir: resolve(ri.state_dir.unwrap_or_else(|| "state".into())),
        spool_dir: resolve(ri.spool_dir.unwrap_or_else(|| "spool".into())),
        spool_compression,
        name,
    };

    let rs = raw
        .source
        .ok_or_else(|| err("source", "section [source] is required"))?;
    let stype = match rs.get("type") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(_) => return Err(err("source.type", "must be a string")),
        None => return Err(err("source.type", "is required (\"postgres\")")),
    };
    let source = match stype.as_str() {
        "postgres" => {
            let r: RawPostgres = source_section(text, path)?;
            Source::Postgres(PostgresSource {
                max_batch_changes: max_batch_changes(r.max_batch_changes)?,
                host: r.host.unwrap_or_else(|| "127.0.0.1".into()),
                port: r.port.unwrap_or(5432),
                database: required(r.database, "source.database")?,
                user: required(r.user, "source.user")?,
                password: r.password.unwrap_or_default(),
                slot: ident_like(
                    r.slot.unwrap_or_else(|| default_slot(&instance.name)),
                    "source.slot",
                )?,
                publication: ident_like(
                    r.publication
                        .unwrap_or_else(|| default_slot(&instance.name)),
                    "source.publication",
                )?,
                extract: extract_opts(r.extract_threads, r.extract_split_mb)?,
            })
        }
        "mysql" | "mariadb" => {
            let r: RawMysql = source_section(text, path)?;
            let server_id = match r.server_id {
                None => default_server_id(&instance.name),
                Some(n) if (1..=u32::MAX as i64).contains(&n) => n as u32,
                Some(n) => {
                    return Err(err(
                        "source.server_id",
                        format!("{n} is not between 1 and 4294967295"),
                    ))
                }
            };
            let transport = match r.binlog_transport.as_deref() {
                None | Some("stream") => BinlogTransport::Stream,
                Some("mysqlbinlog") => BinlogTransport::Mysqlbinlog,
                Some(other) => {
                    return Err(err(
                        "source.binlog_transport",
                        format!("'{other}' is not one of \"stream\", \"mysqlbinlog\""),
                    ))
                }
            };
            Source::Mysql(MysqlSource {
                max_batch_changes: max_batch_changes(r.max_batch_changes)?,
                host: r.host.unwrap_or_else(|| "127.0.0.1".into()),
                port: r.port.unwrap_or(3306),
                user: required(r.user, "source.user")?,
                password: r.password.unwrap_or_default(),
                server_id,
                transport,
                binlog_tool: r.binlog_tool,
                extract: extract_opts(r.extract_threads, r.extract_split_mb)?,
            })
        }
        other => {
            return Err(err(
                "source.type",
                format!("'{other}' is not supported yet (supported: \"postgres\", \"mysql\")"),
            ))
        }
    };

    let rd = raw
        .destination
        .ok_or_else(|| err("destination", "section [destination] is required"))?;
    match rd.r#type.as_deref() {
        None | Some("singlestore") => {}
        Some(other) => {
            return Err(err(
                "destination.type",
                format!("'{other}' is not supported (supported: \"singlestore\")"),
            ))
        }
    }
    let dialect = match rd.dialect.as_deref() {
        None | Some("singlestore") => Dialect::SingleStore,
        Some("mysql") => Dialect::Mysql,
        Some(other) => {
            return Err(err(
                "destination.dialect",
                format!("'{other}' is not one of \"singlestore\", \"mysql\""),
            ))
        }
    };
    let load_threads = match rd.load_threads {
        None => 4,
        Some(n) if (1..=64).contains(&n) => n as usize,
        Some(n) => {
            return Err(err(
                "destination.load_threads",
                format!("{n} is not between 1 and 64"),
            ))
        }
    };
    let destination = Destination {
        dialect,
        host: rd.host.unwrap_or_else(|| "127.0.0.1".into()),
        port: rd.port.unwrap_or(3306),
        database: required(rd.database, "destination.database")?,
        user: required(rd.user, "destination.user")?,
        password: rd.password.unwrap_or_default(),
        schema_for_all_tables: match rd.schema_for_all_tables {
            Some(s) if s.trim().is_empty() => {
                return Err(err(
                    "destination.schema_for_all_tables",
                    "must not be empty",
                ))
            }
            other => other,
        },
        load_threads,
    };

    let mut tables = Vec::new();
    for (i, t) in raw.table.into_iter().enumerate() {
        let key = format!("table[{}].name", i + 1);
        let pattern = required(t.name, &key)?;
        if pattern.split('.').count() != 2 && !pattern.contains('"') {
            return Err(err(
                key,
                format!("'{pattern}' must be schema.table (globs allowed: \"public.*\")"),
            ));
        }
        if let Some(k) = &t.key {
            if k.is_empty() || k.iter().any(|c| c.is_empty()) {
                return Err(err(
                    format!("table[{}].key", i + 1),
                    "must list one or more column names",
                ));
            }
        }
        tables.push(TableRule {
            pattern,
            key: t.key,
        });
    }
    if tables.is_empty() {
        return Err(err(
            "table",
            "no [[table]] entries: select at least one table (name = \"public.*\")",
        ));
    }
    Ok(Config {
        path: path.to_path_buf(),
        instance,
        source,
        destination,
        tables,
    })
}

/// The default slot and publication name of an instance: `ingest_<name>`,
/// so that two instances on one database never share a slot (each would
/// consume the other's changes). Names that are not already lower-case
/// letters, digits and `_` are lowered, `-` becomes `_`, and a hash of the
/// original name is appended so that `Demo` and `demo` stay apart; the
/// result fits PostgreSQL's 63 bytes.
pub fn default_slot(instance: &str) -> String {
    let plain: String = instance
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let mut name = format!("ingest_{plain}");
    let hashed = plain != instance || name.len() > 63;
    if hashed {
        name.truncate(54);
        name.push_str(&format!("_{:08x}", fnv1a(instance)));
    }
    name
}

fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

/// A replica id derived from the instance name (FNV-1a), away from the
/// small ids people give their servers by hand.
pub fn default_server_id(instance: &str) -> u32 {
    1_000_000 + fnv1a(instance) % 1_000_000_000
}

fn ident_like(s: String, key: &str) -> Result<String, ConfigError> {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(s)
    } else {
        Err(err(
            key,
            format!("'{s}' must use lower-case letters, digits and '_' only"),
        ))
    }
}

/// Shell-style glob over one name: `*` any run, `?` one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Config {
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

    /// Destination (database, table) for a source table (`db` is the source database).
    /// PostgreSQL `db`.`schema`.`t` lands in `db_schema`.`t`; MySQL `db`.`t`
    /// (schema = database) in `db`.`t`.
    pub fn dest_name(&self, db: &str, schema: &str, table: &str) -> (String, String) {
        match (&self.destination.schema_for_all_tables, &self.source) {
            (Some(s), _) => (s.clone(), table.to_string()),
            (None, Source::Mysql(_)) => (schema.to_string(), table.to_string()),
            (None, Source::Postgres(_)) => (format!("{db}_{schema}"), table.to_string()),
        }
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
#[path = "config_tests.rs"]
mod tests;
