//! Opens an instance: its state.db, spool folder and log files.
//!
//! Logs go to `state_dir/log/ingest-YYYY-MM.log` (one file a month) and,
//! for errors, also to `state_dir/log/errors-YYYY-MM.log`; the terminal gets
//! the same lines on stderr. The logger is the program's only global.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

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
    /// `state_dir/run.pid`: the holder's process id, removed when the lock
    /// is let go. Found at the next lock, it tells of a holder that ended
    /// without letting go (killed, or the machine stopped).
    /// `None` for [`run_under_way`]'s look.
    pid_file: Option<std::path::PathBuf>,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(f) = &self.pid_file {
            let _ = std::fs::remove_file(f);
        }
    }
}

pub fn lock(cfg: &Config) -> Result<RunLock> {
    take(cfg, true)
}

/// Whether a run holds the instance's lock now (`verify` says so beside a
/// difference: a batch being merged shows as one). Takes the lock for a
/// moment when free, leaving a killed run's `run.pid` for the next run.
pub fn run_under_way(cfg: &Config) -> bool {
    take(cfg, false).is_err()
}

fn take(cfg: &Config, run: bool) -> Result<RunLock> {
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
    if !run {
        return Ok(RunLock {
            _conn: conn,
            pid_file: None,
        });
    }
    let pid_file = cfg.instance.state_dir.join("run.pid");
    if let Ok(old) = std::fs::read_to_string(&pid_file) {
        log::warn!(
            "taking over the run lock of process {}, which ended without letting it go (killed or \
             stopped); its work is resumed where it was left",
            old.trim()
        );
    }
    std::fs::write(&pid_file, std::process::id().to_string())
        .with_context(|| format!("writing {}", pid_file.display()))?;
    Ok(RunLock {
        _conn: conn,
        pid_file: Some(pid_file),
    })
}

pub fn open(cfg: &Config, verbose: bool) -> Result<Instance> {
    std::fs::create_dir_all(&cfg.instance.state_dir)
        .with_context(|| format!("creating state_dir {}", cfg.instance.state_dir.display()))?;
    std::fs::create_dir_all(&cfg.instance.spool_dir)
        .with_context(|| format!("creating spool_dir {}", cfg.instance.spool_dir.display()))?;
    check_folders(cfg)?;
    init_logging(cfg, verbose)?;
    crate::events::init(&cfg.instance.name, cfg.log_dir(), &cfg.notify);
    let meta = Meta::open(&cfg.state_db())?;
    Ok(Instance { meta })
}

/// Refuses a spool folder that shares ground with the state or the
/// configuration: deltas delete unfinished batch folders from the spool, and
/// a spool that holds `state.db`, the logs or the configuration invites
/// mistakes. The spool may live inside the configuration's folder (the
/// default, `spool` next to `ingest.toml`).
fn check_folders(cfg: &Config) -> Result<()> {
    let canon =
        |p: &Path| std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()));
    let config_dir = match cfg.path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let spool = canon(&cfg.instance.spool_dir)?;
    let state = canon(&cfg.instance.state_dir)?;
    let config = canon(&config_dir)?;
    if let Some(why) = folder_conflict(&spool, &state, &config) {
        return Err(crate::error::config(format!(
            "configuration: instance.spool_dir {} {why}: give the spool a folder of its own \
             (the default is \"spool\" next to the configuration file)",
            cfg.instance.spool_dir.display()
        )));
    }
    Ok(())
}

/// Why a spool folder may not be used, given canonical paths.
pub fn folder_conflict(spool: &Path, state: &Path, config: &Path) -> Option<&'static str> {
    if spool == state {
        Some("is the state_dir")
    } else if spool.starts_with(state) {
        Some("is inside the state_dir")
    } else if state.starts_with(spool) {
        Some("holds the state_dir")
    } else if config.starts_with(spool) {
        Some("is or holds the configuration file's folder")
    } else {
        None
    }
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
    // The files name the module of each line (the status page's log
    // filters: source, destination, other).
    let lc = ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_target_level(LevelFilter::Error)
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

#[cfg(test)]
mod tests {
    use super::folder_conflict;
    use std::path::Path;

    #[test]
    fn the_spool_keeps_away_from_state_and_configuration() {
        let p = Path::new;
        let ok = |spool, state, config| folder_conflict(p(spool), p(state), p(config));
        assert_eq!(ok("/i/spool", "/i/state", "/i"), None);
        assert_eq!(ok("/data/spool", "/i/state", "/i"), None);
        assert!(ok("/i/state", "/i/state", "/i").is_some());
        assert!(ok("/i/state/spool", "/i/state", "/i").is_some());
        assert!(ok("/i", "/i/state", "/i").is_some());
        assert!(ok("/", "/i/state", "/etc/ingest").is_some());
        assert!(ok("/etc", "/var/lib/ingest", "/etc/ingest").is_some());
        // Path components, not text: /i/spool2 is not inside /i/spool.
        assert_eq!(ok("/i/sp", "/i/spool", "/x"), None);
    }
}
