//! Errors that decide the exit status. Only `main` maps them to codes:
//! 0 all well, 1 the run finished but some tables failed (or it stopped on an
//! unexpected error), 2 usage or configuration error, 3 a database could not
//! be reached. Each carries one line that names the problem and the fix.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fatal {
    /// Usage, configuration or a source/destination prerequisite (exit 2).
    Config(String),
    /// A database could not be reached or refused the login (exit 3).
    Connect(String),
    /// The run finished; these tables failed, each with why (exit 1).
    TablesFailed(Vec<(String, String)>),
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fatal::Config(m) | Fatal::Connect(m) => f.write_str(m),
            Fatal::TablesFailed(t) => {
                write!(f, "{} table(s) failed: ", t.len())?;
                for (i, (table, why)) in t.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{table} ({})", short(why))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Fatal {}

/// The first line of a reason, at most 200 characters: the log has it whole.
fn short(why: &str) -> String {
    let line = why.lines().next().unwrap_or("");
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

/// The spool folder's free space fell below `min_free_disk` (exit 2: the
/// scheduler halts until a person frees space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskLow(pub String);

impl fmt::Display for DiskLow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DiskLow {}

/// Fails (exit 2) when the spool folder has less than `min` bytes free.
pub fn check_disk(dir: &std::path::Path, min: u64, what: &str) -> anyhow::Result<()> {
    if min == 0 {
        return Ok(());
    }
    match crate::web::sys::free_disk(dir) {
        Some(free) if free < min => Err(DiskLow(format!(
            "the spool folder {} has {} free, less than min_free_disk ({}){what}: free space there \
             (or lower [instance] min_free_disk); nothing is lost, the next run goes on from the last \
             committed position",
            dir.display(),
            crate::web::sys::human(free),
            crate::web::sys::human(min)
        ))
        .into()),
        _ => Ok(()),
    }
}

pub fn config(msg: impl Into<String>) -> anyhow::Error {
    Fatal::Config(msg.into()).into()
}

pub fn connect(msg: impl Into<String>) -> anyhow::Error {
    Fatal::Connect(msg.into()).into()
}

/// The whole chain of a PostgreSQL error: `postgres::Error`'s own Display
/// says only "db error"; the server's message is in the source.
pub fn pg_message(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = db.message().to_string();
        if let Some(d) = db.detail() {
            m.push_str(&format!(" ({d})"));
        }
        if let Some(h) = db.hint() {
            m.push_str(&format!("; hint: {h}"));
        }
        return m;
    }
    let mut m = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        m.push_str(": ");
        m.push_str(&s.to_string());
        src = s.source();
    }
    m
}

/// A mysql error as one line.
pub fn mysql_message(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(m) => format!("ERROR {} ({}): {}", m.code, m.state, m.message),
        mysql::Error::IoError(io) => format!("cannot connect: {io}"),
        mysql::Error::TlsError(t) => format!("TLS: {t}"),
        mysql::Error::CodecError(c) => c.to_string(),
        other => other.to_string(),
    }
}

/// Exit status for an error that ended a command.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if let Some(f) = cause.downcast_ref::<Fatal>() {
            return match f {
                Fatal::Config(_) => 2,
                Fatal::Connect(_) => 3,
                Fatal::TablesFailed(_) => 1,
            };
        }
        if cause.downcast_ref::<crate::config::ConfigError>().is_some() {
            return 2;
        }
        // The spool's disk ran short while writing: a person frees space.
        let io = cause.downcast_ref::<std::io::Error>();
        if io
            .and_then(|e| e.get_ref())
            .is_some_and(|i| i.is::<DiskLow>())
            || cause.is::<DiskLow>()
        {
            return 2;
        }
    }
    1
}
