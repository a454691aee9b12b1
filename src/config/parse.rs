//! The file's text → [`Config`]: the sections as written (`Raw*`), then
//! each value checked and defaulted, errors naming the key and line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::*;

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

// ---- raw, as written in the file ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    instance: Option<RawInstance>,
    source: Option<toml::Table>,
    destination: Option<RawDestination>,
    schedule: Option<RawSchedule>,
    web: Option<RawWeb>,
    notify: Option<RawNotify>,
    history: Option<RawHistory>,
    recovery: Option<RawRecovery>,
    #[serde(default)]
    table: Vec<RawTable>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHistory {
    default: Option<bool>,
    start_column: Option<String>,
    end_column: Option<String>,
    op_column: Option<String>,
    open_end: Option<String>,
    keep_deleted: Option<bool>,
    max_updates: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    enabled: Option<bool>,
    bind: Option<String>,
    token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRecovery {
    dir: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    webhook_url: Option<String>,
    command: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    mode: Option<String>,
    every: Option<String>,
    offset: Option<String>,
    at: Option<String>,
    days: Option<Vec<String>>,
    timezone: Option<String>,
    min_gap: Option<String>,
    restore_on_startup: Option<bool>,
    retry_for: Option<String>,
    auto_sync_struct: Option<bool>,
    on_drop_column: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    name: Option<String>,
    state_dir: Option<String>,
    spool_dir: Option<String>,
    spool_compression: Option<String>,
    min_free_disk: Option<String>,
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
    password_env: Option<String>,
    password_file: Option<String>,
    slot: Option<String>,
    publication: Option<String>,
    extract_threads: Option<i64>,
    extract_split_mb: Option<i64>,
    tls: Option<String>,
    tls_ca: Option<String>,
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
    password_env: Option<String>,
    password_file: Option<String>,
    server_id: Option<i64>,
    binlog_transport: Option<String>,
    binlog_tool: Option<String>,
    extract_threads: Option<i64>,
    extract_split_mb: Option<i64>,
    tls: Option<String>,
    tls_ca: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSqlServer {
    #[allow(dead_code)]
    r#type: String,
    max_batch_changes: Option<i64>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    user: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    odbc_driver: Option<String>,
    encrypt: Option<bool>,
    trust_server_certificate: Option<bool>,
    extract_type: Option<String>,
    extract_threads: Option<i64>,
    extract_split_mb: Option<i64>,
    bcp: Option<String>,
    bcp_path: Option<String>,
}

/// `extract_type`'s value.
fn extract_type(key: &str, v: &str) -> Result<ExtractType, ConfigError> {
    match v {
        "change_tracking" => Ok(ExtractType::ChangeTracking),
        "cdc" => Ok(ExtractType::Cdc),
        "full" => Ok(ExtractType::Full),
        "timestamps" => Ok(ExtractType::Timestamps),
        other => Err(err(
            key,
            format!(
                "\"{other}\" is not one of \"change_tracking\", \"cdc\", \"full\", \"timestamps\""
            ),
        )),
    }
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
    password_env: Option<String>,
    password_file: Option<String>,
    schema_for_all_tables: Option<String>,
    load_threads: Option<i64>,
    tls: Option<String>,
    tls_ca: Option<String>,
    table_type: Option<String>,
    truncate_instead_of_drop: Option<bool>,
    staging_schema: Option<String>,
    add_database_prefix: Option<String>,
    ignore_database_name: Option<bool>,
    retain_staging: Option<bool>,
    /// The manual has Max Updates among the destination's options too.
    max_updates: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: Option<String>,
    key: Option<Vec<String>>,
    mask: Option<Vec<String>>,
    #[serde(rename = "where")]
    filter: Option<String>,
    skip_initial: Option<bool>,
    redo_initial: Option<bool>,
    type_change: Option<std::collections::BTreeMap<String, String>>,
    on_bad_value: Option<String>,
    history: Option<bool>,
    history_keep_deleted: Option<bool>,
    keyless: Option<bool>,
    extract_type: Option<String>,
    timestamp_column: Option<String>,
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
    let msg = match closest_key(&msg) {
        Some(k) => format!("{msg}; did you mean `{k}`?"),
        None => msg,
    };
    err(key, format!("{msg} ({}, line {line_no})", path.display()))
}

/// For serde's "unknown field `x`, expected one of `a`, `b`": the valid
/// key nearest to `x` (edit distance at most a third of its length, at
/// least 1, or 2).
fn closest_key(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (given, rest) = rest.split_once('`')?;
    let valid: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let given = given.to_ascii_lowercase();
    let (best, d) = valid
        .iter()
        .map(|v| (*v, edit_distance(&given, &v.to_ascii_lowercase())))
        .min_by_key(|(_, d)| *d)?;
    (d <= (given.len() / 3).max(2)).then(|| best.to_string())
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// serde's "invalid type: integer `1234`, expected a string" without the
/// value: "invalid type: integer, expected a string".
pub(super) fn scrub_value(msg: &str) -> String {
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

/// Parses configuration text; `base` resolves relative directories.
pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Config, ConfigError> {
    let mut pending = vec![];
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
    let min_free_disk = match ri.min_free_disk.as_deref() {
        None => 1 << 30,
        Some(t) => size(t).ok_or_else(|| {
            err(
                "instance.min_free_disk",
                format!("'{t}' is not a size such as \"1GiB\", \"500MB\" or \"0\" (no check)"),
            )
        })?,
    };
    let instance = Instance {
        min_free_disk,
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
                password: secret(
                    "source",
                    r.password,
                    r.password_env,
                    r.password_file,
                    &mut pending,
                )?,
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
                tls: tls_mode("source", r.tls.as_deref())?,
                tls_ca: tls_ca("source", r.tls.as_deref(), r.tls_ca.map(&resolve))?,
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
            if transport == BinlogTransport::Mysqlbinlog
                && r.tls.as_deref().is_some_and(|t| t != "disable")
            {
                return Err(err(
                    "source.tls",
                    "applies to ingest's own connections; with binlog_transport = \"mysqlbinlog\" the tool \
                     would connect without it: use the \"stream\" transport with TLS",
                ));
            }
            Source::Mysql(MysqlSource {
                max_batch_changes: max_batch_changes(r.max_batch_changes)?,
                host: r.host.unwrap_or_else(|| "127.0.0.1".into()),
                port: r.port.unwrap_or(3306),
                user: required(r.user, "source.user")?,
                password: secret(
                    "source",
                    r.password,
                    r.password_env,
                    r.password_file,
                    &mut pending,
                )?,
                server_id,
                transport,
                binlog_tool: r.binlog_tool,
                extract: extract_opts(r.extract_threads, r.extract_split_mb)?,
                tls: tls_mode("source", r.tls.as_deref())?,
                tls_ca: tls_ca("source", r.tls.as_deref(), r.tls_ca.map(&resolve))?,
            })
        }
        "sqlserver" => {
            let r: RawSqlServer = source_section(text, path)?;
            Source::SqlServer(SqlServerSource {
                max_batch_changes: max_batch_changes(r.max_batch_changes)?,
                host: r.host.unwrap_or_else(|| "127.0.0.1".into()),
                port: r.port.unwrap_or(1433),
                database: required(r.database, "source.database")?,
                user: required(r.user, "source.user")?,
                password: secret(
                    "source",
                    r.password,
                    r.password_env,
                    r.password_file,
                    &mut pending,
                )?,
                odbc_driver: match r.odbc_driver {
                    Some(d) if d.trim().is_empty() || d.contains(['{', '}', ';']) => {
                        return Err(err(
                            "source.odbc_driver",
                            "must name an ODBC driver (\"ODBC Driver 18 for SQL Server\", \"FreeTDS\") \
                             or a driver file, without braces or ';'",
                        ))
                    }
                    Some(d) => d,
                    None => "ODBC Driver 18 for SQL Server".into(),
                },
                encrypt: r.encrypt.unwrap_or(true),
                trust_server_certificate: r.trust_server_certificate.unwrap_or(false),
                extract_type: match r.extract_type.as_deref() {
                    None => ExtractType::ChangeTracking,
                    Some(v) => extract_type("source.extract_type", v)?,
                },
                extract: extract_opts(r.extract_threads, r.extract_split_mb)?,
                bcp: match r.bcp.as_deref() {
                    None | Some("auto") => Bcp::Auto,
                    Some("off") => Bcp::Off,
                    Some(other) => {
                        return Err(err(
                            "source.bcp",
                            format!("\"{other}\" is not one of \"auto\", \"off\""),
                        ))
                    }
                },
                bcp_path: r.bcp_path,
            })
        }
        other => {
            return Err(err(
                "source.type",
                format!(
                    "'{other}' is not supported (supported: \"postgres\", \"mysql\", \"sqlserver\")"
                ),
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
    let tls = tls_mode("destination", rd.tls.as_deref())?;
    let tls_ca = tls_ca("destination", rd.tls.as_deref(), rd.tls_ca.map(&resolve))?;
    let rowstore = match rd.table_type.as_deref() {
        None | Some("columnstore") => false,
        Some("rowstore") => true,
        Some(other) => {
            return Err(err(
                "destination.table_type",
                format!("'{other}' is not one of \"columnstore\", \"rowstore\""),
            ))
        }
    };
    if rd.table_type.is_some() && dialect != Dialect::SingleStore {
        return Err(err(
            "destination.table_type",
            "is a SingleStore table kind: set it with dialect = \"singlestore\"",
        ));
    }
    let dest_max_updates = rd.max_updates;
    let destination = Destination {
        rowstore,
        in_place: rd.truncate_instead_of_drop.unwrap_or(false),
        database_prefix: rd.add_database_prefix.filter(|p| !p.is_empty()),
        ignore_database_name: rd.ignore_database_name.unwrap_or(false),
        retain_staging: rd.retain_staging.unwrap_or(false),
        staging_schema: match rd.staging_schema {
            Some(s) if s.trim().is_empty() => {
                return Err(err("destination.staging_schema", "must not be empty"))
            }
            other => other,
        },
        dialect,
        tls,
        tls_ca,
        host: rd.host.unwrap_or_else(|| "127.0.0.1".into()),
        port: rd.port.unwrap_or(3306),
        database: required(rd.database, "destination.database")?,
        user: required(rd.user, "destination.user")?,
        password: secret(
            "destination",
            rd.password,
            rd.password_env,
            rd.password_file,
            &mut pending,
        )?,
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
        if let Some(f) = &t.filter {
            if f.trim().is_empty() || f.contains(';') {
                return Err(err(
                    format!("table[{}].where", i + 1),
                    "must be one SQL condition, such as \"region = 'EU'\" (no ';')",
                ));
            }
        }
        let mask = t.mask.unwrap_or_default();
        if let Some(m) = mask
            .iter()
            .find(|m| t.key.iter().flatten().any(|k| k == *m))
        {
            return Err(err(
                format!("table[{}].mask", i + 1),
                format!("{m} is a key column: a masked column cannot be part of the key"),
            ));
        }
        if t.skip_initial == Some(true) && t.redo_initial == Some(true) {
            return Err(err(
                format!("table[{}].redo_initial", i + 1),
                "skip_initial and redo_initial exclude each other",
            ));
        }
        let keyless = t.keyless.unwrap_or(false);
        let excludes = [
            ("key", t.key.is_some()),
            ("history", t.history == Some(true)),
            (
                "type_change",
                t.type_change.as_ref().is_some_and(|m| !m.is_empty()),
            ),
        ];
        if let Some((other, _)) = excludes.iter().find(|(_, set)| keyless && *set) {
            return Err(err(
                format!("table[{}].keyless", i + 1),
                format!(
                    "keyless = true excludes {other}: a table without a key has its rows counted \
                     (whole rows, duplicates kept)"
                ),
            ));
        }
        let type_change: Vec<(String, String)> =
            t.type_change.unwrap_or_default().into_iter().collect();
        for (col, spec) in &type_change {
            if let Err(e) = crate::type_change::TypeChange::parse(spec) {
                return Err(err(format!("table[{}].type_change.{col}", i + 1), e));
            }
        }
        let bad_value_fail = match t.on_bad_value.as_deref() {
            None | Some("null") => false,
            Some("fail") => true,
            Some(other) => {
                return Err(err(
                    format!("table[{}].on_bad_value", i + 1),
                    format!("\"{other}\" is not one of \"null\", \"fail\""),
                ))
            }
        };
        let extract_type = match t.extract_type.as_deref() {
            None => None,
            Some(_) if !matches!(source, Source::SqlServer(_)) => {
                return Err(err(
                    format!("table[{}].extract_type", i + 1),
                    "applies to SQL Server sources only (type = \"sqlserver\")",
                ))
            }
            Some(v) => Some(extract_type(&format!("table[{}].extract_type", i + 1), v)?),
        };
        if t.timestamp_column.is_some() && !matches!(source, Source::SqlServer(_)) {
            return Err(err(
                format!("table[{}].timestamp_column", i + 1),
                "applies to SQL Server sources only (type = \"sqlserver\")",
            ));
        }
        tables.push(TableRule {
            extract_type,
            timestamp_column: t.timestamp_column,
            pattern,
            key: t.key,
            mask,
            filter: t.filter,
            skip_initial: t.skip_initial.unwrap_or(false),
            redo_initial: t.redo_initial.unwrap_or(false),
            type_change,
            bad_value_fail,
            history: t.history,
            history_keep_deleted: t.history_keep_deleted,
            keyless,
        });
    }
    if tables.is_empty() {
        return Err(err(
            "table",
            "no [[table]] entries: select at least one table (name = \"public.*\")",
        ));
    }
    let rsch = raw.schedule.unwrap_or_default();
    let to_err = |(k, m): crate::schedule::SettingError| err(k, m);
    let schedule = Scheduling {
        schedule: crate::schedule::Schedule::parse(
            rsch.mode.as_deref(),
            rsch.every.as_deref(),
            rsch.offset.as_deref(),
            rsch.at.as_deref(),
            rsch.days.as_deref(),
            rsch.timezone.as_deref(),
            rsch.min_gap.as_deref(),
        )
        .map_err(to_err)?,
        restore_on_startup: rsch.restore_on_startup.unwrap_or(true),
        retry_for: match rsch.retry_for.as_deref() {
            None => jiff::SignedDuration::from_hours(1),
            Some(t) => crate::schedule::duration(t, "schedule.retry_for").map_err(to_err)?,
        },
        auto_sync_struct: rsch.auto_sync_struct.unwrap_or(false),
        on_drop_column: match rsch.on_drop_column.as_deref() {
            None | Some("keep") => super::OnDrop::Keep,
            Some("drop") => super::OnDrop::Drop,
            Some(other) => {
                return Err(err(
                    "schedule.on_drop_column",
                    format!("\"{other}\" is not one of \"keep\", \"drop\""),
                ))
            }
        },
    };
    let rweb = raw.web.unwrap_or_default();
    let bind = rweb.bind.unwrap_or_else(|| "127.0.0.1:8081".into());
    if bind.parse::<std::net::SocketAddr>().is_err() {
        return Err(err(
            "web.bind",
            format!("\"{bind}\" is not an address and port such as \"127.0.0.1:8081\""),
        ));
    }
    if rweb.token.as_deref().is_some_and(|t| t.len() < 16) {
        return Err(err("web.token", "use at least 16 characters"));
    }
    let token = match rweb.token {
        Some(t) if t.starts_with("enc:") => {
            pending.push(crate::secret::Pending {
                key: "web.token".into(),
                given: crate::secret::Given::Sealed(t),
            });
            Some(String::new())
        }
        other => other,
    };
    let web = super::Web {
        enabled: rweb.enabled.unwrap_or(true),
        bind,
        token,
    };
    let rn = raw.notify.unwrap_or_default();
    if let Some(u) = &rn.webhook_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(err(
                "notify.webhook_url",
                "must start with http:// or https://",
            ));
        }
    }
    let notify = crate::events::Notify {
        webhook_url: rn.webhook_url,
        command: rn.command,
    };
    let mut rh = raw.history.unwrap_or_default();
    match (rh.max_updates, dest_max_updates) {
        (Some(a), Some(b)) if a != b => {
            return Err(err(
                "destination.max_updates",
                "differs from history.max_updates: set it in one place",
            ))
        }
        (None, Some(b)) => rh.max_updates = Some(b),
        _ => {}
    }
    let recovery = match raw.recovery.and_then(|r| r.dir) {
        Some(d) if d.trim().is_empty() => return Err(err("recovery.dir", "must name a folder")),
        Some(d) => {
            let p = PathBuf::from(&d);
            Some(if p.is_absolute() { p } else { base.join(p) })
        }
        None => None,
    };
    let history = history_settings(rh)?;
    Ok(Config {
        path: path.to_path_buf(),
        instance,
        source,
        destination,
        schedule,
        web,
        notify,
        history,
        tables,
        pending,
        warnings: vec![],
        recovery,
    })
}

/// A password given one of three ways (`password`, `password_env`,
/// `password_file`): plain text is returned; the others (and `enc:` text)
/// are left to resolve when the file is loaded (`pending`), returning "".
fn secret(
    section: &str,
    text: Option<String>,
    env: Option<String>,
    file: Option<String>,
    pending: &mut Vec<crate::secret::Pending>,
) -> Result<String, ConfigError> {
    use crate::secret::{Given, Pending};
    let given = [text.is_some(), env.is_some(), file.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    if given > 1 {
        return Err(err(
            format!("{section}.password"),
            "give one of password, password_env and password_file",
        ));
    }
    let key = format!("{section}.password");
    let given = match (text, env, file) {
        (Some(t), _, _) if t.starts_with("enc:") => Given::Sealed(t),
        (Some(t), _, _) => return Ok(t),
        (_, Some(e), _) if !e.trim().is_empty() => Given::Env(e),
        (_, Some(_), _) => {
            return Err(err(
                format!("{section}.password_env"),
                "must name a variable",
            ))
        }
        (_, _, Some(f)) if !f.trim().is_empty() => Given::File(f.into()),
        (_, _, Some(_)) => return Err(err(format!("{section}.password_file"), "must name a file")),
        _ => return Ok(String::new()),
    };
    pending.push(Pending { key, given });
    Ok(String::new())
}

/// `[history]`, checked: column names MySQL accepts and distinct from each
/// other, an open end that is a date (`YYYY-MM-DD`, or with
/// ` HH:MM:SS`), `max_updates` from 0 (keep every version) up.
fn history_settings(r: RawHistory) -> Result<super::HistorySettings, ConfigError> {
    let mut names = vec![];
    for (key, v, default) in [
        ("history.start_column", r.start_column, "ingest_start"),
        ("history.end_column", r.end_column, "ingest_end"),
        ("history.op_column", r.op_column, "ingest_op"),
    ] {
        let v = v.unwrap_or_else(|| default.to_string());
        if v.trim().is_empty() || v.chars().count() > 64 || v.ends_with(' ') {
            return Err(err(key, "must be a column name of 1 to 64 characters"));
        }
        if names.iter().any(|n: &String| n.eq_ignore_ascii_case(&v)) {
            return Err(err(
                key,
                format!("'{v}' is already the name of another history column"),
            ));
        }
        names.push(v);
    }
    let open = r.open_end.unwrap_or_else(|| "9999-12-31".into());
    let full = if open.len() == 10 {
        format!("{open} 00:00:00")
    } else {
        open.clone()
    };
    if full.parse::<jiff::civil::DateTime>().is_err() || full.len() != 19 {
        return Err(err(
            "history.open_end",
            format!("'{open}' is not a date such as \"9999-12-31\" or \"9999-12-31 00:00:00\""),
        ));
    }
    let max_updates = match r.max_updates {
        None => 4,
        Some(n) if (0..=1_000_000).contains(&n) => n as u32,
        Some(_) => {
            return Err(err(
                "history.max_updates",
                "must be 0 (keep every version) or a count of versions up to 1000000",
            ))
        }
    };
    let mut names = names.into_iter();
    Ok(super::HistorySettings {
        default: r.default.unwrap_or(false),
        columns: crate::schema::History {
            start: names.next().unwrap_or_default(),
            end: names.next().unwrap_or_default(),
            op: names.next().unwrap_or_default(),
            open_end: full,
            keep_deleted: r.keep_deleted.unwrap_or(false),
            max_updates,
        },
    })
}

/// `tls = "disable" | "require" | "verify-full"` of `section`.
fn tls_mode(section: &str, v: Option<&str>) -> Result<Tls, ConfigError> {
    match v {
        None | Some("disable") => Ok(Tls::Disable),
        Some("require") => Ok(Tls::Require),
        Some("verify-full") => Ok(Tls::VerifyFull),
        Some(other) => Err(err(
            format!("{section}.tls"),
            format!("'{other}' is not one of \"disable\", \"require\", \"verify-full\""),
        )),
    }
}

/// `tls_ca`: only with `verify-full`, and a readable file.
fn tls_ca(
    section: &str,
    tls: Option<&str>,
    ca: Option<PathBuf>,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(ca) = &ca {
        if tls != Some("verify-full") {
            return Err(err(
                format!("{section}.tls_ca"),
                "is used only with tls = \"verify-full\" (\"require\" checks no certificate)",
            ));
        }
        if !ca.is_file() {
            return Err(err(
                format!("{section}.tls_ca"),
                format!("{} is not a readable file", ca.display()),
            ));
        }
    }
    Ok(ca)
}

/// `"1GiB"`, `"500MB"`, `"64 KiB"`, `"1000"` (bytes) → bytes.
pub(super) fn size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), t[split..].trim());
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && (0.0..1.8e19).contains(&v)).then_some(v as u64)
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
