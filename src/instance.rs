//! Opens an instance: its state.db, spool folder and log files.
//!
//! Logs go to `state_dir/log/ingest-YYYY-MM.log` (one file a month) and,
//! for errors, also to `state_dir/log/errors-YYYY-MM.log`; the terminal gets
//! the same lines on stderr. The logger is the program's only global.

use std::fs::OpenOptions;

use anyhow::{Context, Result};
use simplelog::{
    ColorChoice, CombinedLogger, ConfigBuilder, LevelFilter, TermLogger, TerminalMode, WriteLogger,
};

use crate::config::Config;
use crate::meta::Meta;

pub struct Instance {
    pub meta: Meta,
}

/// Held while a run changes anything: a second `full-extract` or `delta` of
/// the same instance is refused instead of racing this one. An exclusive
/// SQLite transaction on `state_dir/run.lock`: the operating system drops it
/// when the process ends, however it ends (Windows too).
pub struct RunLock {
    _conn: rusqlite::Connection,
}

pub fn lock(cfg: &Config) -> Result<RunLock> {
    let path = cfg.instance.state_dir.join("run.lock");
    let conn =
        rusqlite::Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_millis(0))?;
    if conn.execute_batch("BEGIN EXCLUSIVE").is_err() {
        return Err(crate::error::config(format!(
            "another ingest run of instance {} is under way (it holds {}); try again when it has finished",
            cfg.instance.name,
            path.display()
        )));
    }
    Ok(RunLock { _conn: conn })
}

pub fn open(cfg: &Config, verbose: bool) -> Result<Instance> {
    std::fs::create_dir_all(&cfg.instance.state_dir)
        .with_context(|| format!("creating state_dir {}", cfg.instance.state_dir.display()))?;
    std::fs::create_dir_all(&cfg.instance.spool_dir)
        .with_context(|| format!("creating spool_dir {}", cfg.instance.spool_dir.display()))?;
    init_logging(cfg, verbose)?;
    let meta = Meta::open(&cfg.state_db())?;
    Ok(Instance { meta })
}

fn init_logging(cfg: &Config, verbose: bool) -> Result<()> {
    let dir = cfg.log_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let month = crate::clock::this_month();
    let open = |name: String| {
        let p = dir.join(name);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("opening {}", p.display()))
    };
    let lc = ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_target_level(LevelFilter::Off)
        .set_thread_level(LevelFilter::Off)
        .add_filter_allow_str("ingest")
        .build();
    let term_level = if verbose {
        LevelFilter::Info
    } else {
        LevelFilter::Warn
    };
    // The error that ends a command is printed by main as one line; the
    // terminal logger skips its copy (target "ingest::fatal").
    let tc = ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_target_level(LevelFilter::Off)
        .set_thread_level(LevelFilter::Off)
        .add_filter_allow_str("ingest")
        .add_filter_ignore_str("ingest::fatal")
        .build();
    let _ = CombinedLogger::init(vec![
        TermLogger::new(term_level, tc, TerminalMode::Stderr, ColorChoice::Never),
        WriteLogger::new(
            LevelFilter::Info,
            lc.clone(),
            open(format!("ingest-{month}.log"))?,
        ),
        WriteLogger::new(LevelFilter::Error, lc, open(format!("errors-{month}.log"))?),
    ]);
    Ok(())
}
