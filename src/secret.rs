//! Stored passwords: `password = "enc:..."` (made by `ingest encrypt`),
//! `password_env = "NAME"`, `password_file = "path"`.
//!
//! `enc:` values are sealed with ChaCha20-Poly1305 (`ring`, already in the
//! tree through rustls) under a 256-bit key that lives in `secret.key`
//! beside state.db (created owner-only by `ingest encrypt`) or comes from
//! `INGEST_KEY` (64 hex digits). The text is `enc:` and the hex of a
//! random 12-byte nonce followed by the sealed bytes. A configuration file
//! holding `enc:` values can be shown to anyone who lacks the key.
//!
//! Resolution happens once, when the configuration is loaded; the clear
//! values then live in memory only. Errors name the key (`source.password`)
//! and never the value.

use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// The file that holds the key, in the state folder.
pub const KEY_FILE: &str = "secret.key";

/// Where a configured secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Given {
    /// `enc:...` text.
    Sealed(String),
    /// `..._env = "NAME"`.
    Env(String),
    /// `..._file = "path"` (relative to the configuration's folder).
    File(PathBuf),
}

/// A secret to resolve when the configuration is loaded: its key in the
/// file (`source.password`) and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub key: String,
    pub given: Given,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn key_of(bytes: &[u8]) -> Result<LessSafeKey, String> {
    UnboundKey::new(&CHACHA20_POLY1305, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| "the key is not 32 bytes".to_string())
}

/// The key: `INGEST_KEY`, else `state_dir/secret.key`; `None` when
/// neither exists.
pub fn load_key(state_dir: &Path) -> Result<Option<Vec<u8>>, String> {
    if let Ok(k) = std::env::var("INGEST_KEY") {
        return match unhex(k.trim()) {
            Some(b) if b.len() == 32 => Ok(Some(b)),
            _ => Err("INGEST_KEY must be 64 hex digits (32 bytes)".into()),
        };
    }
    let path = state_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => match unhex(text.trim()) {
            Some(b) if b.len() == 32 => Ok(Some(b)),
            _ => Err(format!(
                "{} does not hold a key (64 hex digits)",
                path.display()
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// The key, made (owner-only) when there is none yet.
pub fn load_or_make_key(state_dir: &Path) -> Result<Vec<u8>, String> {
    if let Some(k) = load_key(state_dir)? {
        return Ok(k);
    }
    let mut key = vec![0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| "no random numbers from the system".to_string())?;
    std::fs::create_dir_all(state_dir)
        .map_err(|e| format!("creating {}: {e}", state_dir.display()))?;
    let path = state_dir.join(KEY_FILE);
    write_private(&path, &format!("{}\n", hex(&key)))
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    log::warn!(
        "made the key {} (owner-only): keep a copy with the configuration's backups; \
         without it the enc: values cannot be read",
        path.display()
    );
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    // Windows: the file takes the state folder's ACL (the user's profile
    // or the service account's folder).
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// `enc:` text of `clear` under `key`.
pub fn seal(key: &[u8], clear: &str) -> Result<String, String> {
    let k = key_of(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| "no random numbers from the system".to_string())?;
    let mut data = clear.as_bytes().to_vec();
    k.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .map_err(|_| "sealing failed".to_string())?;
    Ok(format!("enc:{}{}", hex(&nonce), hex(&data)))
}

/// The clear text of `enc:` text (`None` for other text).
pub fn open(key: &[u8], text: &str) -> Result<String, String> {
    let body = text.strip_prefix("enc:").ok_or("not an enc: value")?;
    let bytes = unhex(body).ok_or("an enc: value is hex digits after enc:")?;
    if bytes.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
        return Err("the enc: value is too short".into());
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce")?;
    let mut data = sealed.to_vec();
    let clear = key_of(key)?
        .open_in_place(nonce, Aad::empty(), &mut data)
        .map_err(|_| {
            "it does not open with this key (made with another secret.key or INGEST_KEY, or changed)"
                .to_string()
        })?;
    String::from_utf8(clear.to_vec()).map_err(|_| "the clear text is not UTF-8".into())
}

/// A secret's clear text. `state_dir` holds the key for `enc:` values;
/// `base` resolves relative files; `warnings` gets what the log should say
/// (the logger starts after the configuration is read).
pub fn resolve(
    given: &Given,
    state_dir: &Path,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<String, String> {
    match given {
        Given::Sealed(text) => {
            let key = load_key(state_dir)?.ok_or_else(|| {
                format!(
                    "it is encrypted, and there is no key: neither INGEST_KEY nor {} \
                     (the key `ingest encrypt` used)",
                    state_dir.join(KEY_FILE).display()
                )
            })?;
            open(&key, text)
        }
        Given::Env(name) => {
            std::env::var(name).map_err(|_| format!("the environment variable {name} is not set"))
        }
        Given::File(p) => {
            let path = base.join(p);
            warnings.extend(open_to_others(&path));
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            // One line: the newline an editor adds is not the password's.
            Ok(text.trim_end_matches(['\r', '\n']).to_string())
        }
    }
}

/// A password file others may read, as a warning.
#[cfg(unix)]
fn open_to_others(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} can be read by other users (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

/// Windows: the file's ACL is the user's business (no mode bits).
#[cfg(not(unix))]
fn open_to_others(_path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_their_key_only() {
        let key = [7u8; 32];
        let a = seal(&key, "pässwörd").unwrap();
        let b = seal(&key, "pässwörd").unwrap();
        assert!(a.starts_with("enc:") && a != b, "a random nonce each time");
        assert_eq!(open(&key, &a).unwrap(), "pässwörd");
        assert!(open(&[8u8; 32], &a)
            .unwrap_err()
            .contains("another secret.key"));
        let mut changed = a.clone();
        changed.replace_range(a.len() - 2.., "00");
        assert!(open(&key, &changed).is_err());
        assert!(open(&key, "enc:zz").is_err());
        assert!(open(&key, "enc:00").unwrap_err().contains("too short"));
    }

    #[test]
    fn a_key_file_is_made_once_and_owner_only() {
        let dir = std::env::temp_dir().join(format!("ingest-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let k1 = load_or_make_key(&dir).unwrap();
        let k2 = load_or_make_key(&dir).unwrap();
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = seal(&k1, "pw").unwrap();
        let w = &mut vec![];
        assert_eq!(
            resolve(&Given::Sealed(sealed), &dir, &dir, w).unwrap(),
            "pw"
        );
        std::fs::write(dir.join("pw.txt"), "from a file\n").unwrap();
        assert_eq!(
            resolve(&Given::File("pw.txt".into()), &dir, &dir, w).unwrap(),
            "from a file"
        );
        assert!(
            resolve(&Given::Env("INGEST_NO_SUCH_VAR_X".into()), &dir, &dir, w)
                .unwrap_err()
                .contains("INGEST_NO_SUCH_VAR_X is not set")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
