//! Backup and recovery (the manual's AWS Recovery, without AWS): with
//! `[recovery] dir` set, each successful run leaves a consistent copy of
//! the configuration, state.db (SQLite's online backup API, while other
//! readers go on) and the `enc:` key there; `ingest restore --from DIR` on
//! a new machine puts them in place, and the next run resumes from the
//! last committed position. The spool is not copied: a successful run
//! leaves no batch waiting.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::Config;
use crate::error;

/// The copies in a recovery folder.
const CONFIG: &str = "ingest.toml";
const STATE: &str = "state.db";

/// After a successful run: the copies, each written beside and renamed
/// into place (a crash meanwhile leaves the last good copy). A failure is
/// a warning: the run itself succeeded.
pub fn save(cfg: &Config) {
    let Some(dir) = &cfg.recovery else { return };
    if let Err(e) = save_to(cfg, dir) {
        log::warn!("recovery copy in {} failed: {e:#}", dir.display());
    }
}

fn save_to(cfg: &Config, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!("{STATE}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let src = rusqlite::Connection::open_with_flags(
        cfg.state_db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    src.backup(
        rusqlite::MAIN_DB,
        &tmp,
        None::<fn(rusqlite::backup::Progress)>,
    )
    .with_context(|| {
        format!(
            "backing up {} to {}",
            cfg.state_db().display(),
            tmp.display()
        )
    })?;
    replace(&tmp, &dir.join(STATE))?;
    copy_replace(&cfg.path, &dir.join(CONFIG))?;
    let key = cfg.instance.state_dir.join(crate::secret::KEY_FILE);
    if key.exists() {
        copy_replace(&key, &dir.join(crate::secret::KEY_FILE))?;
    }
    log::info!(
        "recovery copy of state.db and the configuration in {}",
        dir.display()
    );
    Ok(())
}

fn copy_replace(from: &Path, to: &Path) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", to.display()));
    std::fs::copy(from, &tmp).with_context(|| format!("copying {}", from.display()))?;
    replace(&tmp, to)
}

fn replace(tmp: &Path, to: &Path) -> Result<()> {
    std::fs::File::open(tmp)?.sync_all()?;
    std::fs::rename(tmp, to).with_context(|| format!("renaming to {}", to.display()))
}

/// `ingest restore --from DIR`: the configuration goes to `config` (which
/// must not exist), state.db and the key into its state folder (which must
/// not hold a state.db). Returns what to tell the user.
pub fn restore(from: &Path, config: &Path) -> Result<String> {
    let saved_config = from.join(CONFIG);
    let saved_state = from.join(STATE);
    for p in [&saved_config, &saved_state] {
        if !p.is_file() {
            return Err(error::config(format!(
                "{} is not a recovery folder: {} is missing",
                from.display(),
                p.display()
            )));
        }
    }
    if config.exists() {
        return Err(error::config(format!(
            "{} exists already: restore into a new folder (nothing was changed)",
            config.display()
        )));
    }
    if let Some(parent) = config.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(&saved_config, config)?;
    // The restored file decides where the state goes (relative to its new
    // folder); its secrets are not needed to put the files in place.
    let cfg = crate::config::load_unresolved(config)?;
    let state = cfg.state_db();
    if state.exists() {
        let _ = std::fs::remove_file(config);
        return Err(error::config(format!(
            "{} exists already: restore into a new folder (nothing was changed)",
            state.display()
        )));
    }
    std::fs::create_dir_all(&cfg.instance.state_dir)?;
    std::fs::copy(&saved_state, &state)?;
    let key = from.join(crate::secret::KEY_FILE);
    if key.is_file() {
        std::fs::copy(&key, cfg.instance.state_dir.join(crate::secret::KEY_FILE))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                cfg.instance.state_dir.join(crate::secret::KEY_FILE),
                std::fs::Permissions::from_mode(0o600),
            )?;
        }
    }
    Ok(format!(
        "restored {} and {} from {}: the next `ingest delta` (or `run`) goes on from the last committed position",
        config.display(),
        state.display(),
        from.display()
    ))
}
