//! Connecting through ODBC: the connection string for Microsoft's driver or
//! FreeTDS, finding the driver's file, and small queries.
//!
//! On Linux and macOS the driver manager (unixODBC) is built into ingest,
//! so a driver registered in `odbcinst.ini` by a bare file name (Debian's
//! FreeTDS: `Driver=libtdsodbc.so`) is looked up here in the folders
//! drivers are installed in; a registered absolute path (Microsoft's
//! msodbcsql18) is used as it is. Windows' driver manager knows its drivers.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use odbc_api::{Connection, ConnectionOptions, Cursor, Nullable};

use crate::config::SqlServerSource;

/// Whether the driver is FreeTDS (it needs TDS 7.4 for the date and time
/// types, and UTF-8 as its client character set).
pub fn is_freetds(driver: &str) -> bool {
    let d = driver.to_ascii_lowercase();
    d.contains("freetds") || d.contains("tdsodbc")
}

/// `{value}` with `}` doubled, as ODBC connection strings quote.
fn braced(v: &str) -> String {
    format!("{{{}}}", v.replace('}', "}}"))
}

/// The connection string (`driver`: what [`driver_value`] made of the
/// configured driver).
pub fn connection_string(cfg: &SqlServerSource, driver: &str) -> String {
    let mut s = format!(
        "Driver={driver};Server={},{};Database={};UID={};PWD={};",
        cfg.host,
        cfg.port,
        braced(&cfg.database),
        braced(&cfg.user),
        braced(&cfg.password)
    );
    if is_freetds(&cfg.odbc_driver) {
        s.push_str("TDS_Version=7.4;ClientCharset=UTF-8;");
        s.push_str(if cfg.encrypt {
            "Encryption=require;"
        } else {
            "Encryption=off;"
        });
    } else {
        let yes = |b: bool| if b { "yes" } else { "no" };
        s.push_str(&format!(
            "Encrypt={};TrustServerCertificate={};",
            yes(cfg.encrypt),
            yes(cfg.trust_server_certificate)
        ));
    }
    s
}

/// The text of a connection string safe for messages: the password hidden
/// (a braced value ends at a `}` that is not doubled).
pub fn shown(conn: &str) -> String {
    let Some(i) = conn.find("PWD=") else {
        return conn.to_string();
    };
    let rest = &conn[i + 4..];
    let end = match rest.strip_prefix('{') {
        Some(body) => {
            let b = body.as_bytes();
            let mut k = 0;
            loop {
                match b.get(k) {
                    Some(b'}') if b.get(k + 1) == Some(&b'}') => k += 2,
                    Some(b'}') => break k + 2,
                    Some(_) => k += 1,
                    None => break rest.len(),
                }
            }
        }
        None => rest.find(';').unwrap_or(rest.len()),
    };
    let tail = &rest[end.min(rest.len())..];
    format!(
        "{}PWD=***;{}",
        &conn[..i],
        tail.strip_prefix(';').unwrap_or(tail)
    )
}

/// `text` with the password replaced by `***` (driver and bcp messages).
pub fn scrub(text: &str, password: &str) -> String {
    if password.is_empty() {
        text.to_string()
    } else {
        text.replace(password, "***")
    }
}

/// `odbcinst.ini` files the driver manager reads, in its order.
fn odbcinst_files() -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(f) = std::env::var("ODBCINSTINI") {
        let p = PathBuf::from(&f);
        if p.is_absolute() {
            out.push(p);
        } else if let Ok(d) = std::env::var("ODBCSYSINI") {
            out.push(Path::new(&d).join(f));
        }
    }
    if let Ok(d) = std::env::var("ODBCSYSINI") {
        out.push(Path::new(&d).join("odbcinst.ini"));
    }
    for f in [
        "/etc/odbcinst.ini",
        "/usr/local/etc/odbcinst.ini",
        "/opt/homebrew/etc/odbcinst.ini",
    ] {
        out.push(PathBuf::from(f));
    }
    out
}

/// Folders where a driver registered by its bare file name is installed.
const DRIVER_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/odbc",
    "/usr/lib/aarch64-linux-gnu/odbc",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib/odbc",
    "/usr/lib",
    "/usr/local/lib",
    "/opt/homebrew/lib",
];

/// The `Driver` (or `Driver64`) file of section `[name]` in an
/// `odbcinst.ini` text (names compare without case).
pub fn ini_driver(ini: &str, name: &str) -> Option<String> {
    let mut inside = false;
    for line in ini.lines() {
        let l = line.trim();
        if l.starts_with('[') && l.ends_with(']') {
            inside = l[1..l.len() - 1].trim().eq_ignore_ascii_case(name);
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            let k = k.trim();
            if k.eq_ignore_ascii_case("Driver") || k.eq_ignore_ascii_case("Driver64") {
                let v = v.trim();
                if !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

/// What `Driver=` says for the configured driver: a file as it is; a
/// registered name as its file where the registration gives a bare file
/// name found in `dirs`, else the name in braces (the driver manager
/// resolves it).
pub fn driver_value(driver: &str, inis: &[(PathBuf, String)], dirs: &[&str]) -> String {
    if driver.contains(['/', '\\']) {
        return driver.to_string();
    }
    for (_, text) in inis {
        let Some(file) = ini_driver(text, driver) else {
            continue;
        };
        if file.contains('/') {
            return file;
        }
        if let Some(p) = dirs
            .iter()
            .map(|d| Path::new(d).join(&file))
            .find(|p| p.is_file())
        {
            return p.to_string_lossy().into_owned();
        }
    }
    braced(driver)
}

/// [`driver_value`] with this machine's `odbcinst.ini` files.
fn resolve_driver(driver: &str) -> String {
    if cfg!(windows) {
        return braced(driver);
    }
    let inis: Vec<(PathBuf, String)> = odbcinst_files()
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
        .collect();
    driver_value(driver, &inis, DRIVER_DIRS)
}

/// Opens a connection; the error names the server, user and driver, and
/// says what to do when the driver is not installed.
pub fn connect(cfg: &SqlServerSource) -> Result<Connection<'static>> {
    let env = odbc_api::environment().map_err(|e| anyhow!("ODBC environment: {e}"))?;
    let driver = resolve_driver(&cfg.odbc_driver);
    let cs = connection_string(cfg, &driver);
    env.connect_with_connection_string(&cs, ConnectionOptions::default())
        .map_err(|e| {
            let text = scrub(&e.to_string(), &cfg.password);
            let what = format!(
                "cannot connect to SQL Server {}:{} as {} ({}): {text}",
                cfg.host,
                cfg.port,
                cfg.user,
                shown(&cs)
            );
            // The driver manager could not load the driver: a person
            // installs it (exit 2); anything else is the server (exit 3).
            if text.contains("IM002") || text.contains("Can't open lib") {
                crate::error::config(format!(
                    "{what} (the ODBC driver \"{}\" is not installed or not registered: install \
                     Microsoft's ODBC Driver 18 for SQL Server or FreeTDS (tdsodbc), or set \
                     source.odbc_driver to the driver's file)",
                    cfg.odbc_driver
                ))
            } else {
                crate::error::connect(what)
            }
        })
}

/// The first row's first column as `read` takes it (`None`: no row, or
/// no result set).
fn first<T>(
    conn: &Connection<'_>,
    sql: &str,
    params: impl odbc_api::ParameterCollectionRef,
    read: impl FnOnce(&mut odbc_api::CursorRow<'_>) -> Result<Option<T>, odbc_api::Error>,
) -> Result<Option<T>> {
    let Some(mut c) = conn
        .execute(sql, params, None)
        .map_err(|e| query_error(sql, e))?
    else {
        return Ok(None);
    };
    let Some(mut row) = c.next_row().map_err(|e| query_error(sql, e))? else {
        return Ok(None);
    };
    read(&mut row).map_err(|e| query_error(sql, e))
}

/// The first column of the first row, as i64 (`None`: NULL or no row).
pub fn scalar_i64(
    conn: &Connection<'_>,
    sql: &str,
    params: impl odbc_api::ParameterCollectionRef,
) -> Result<Option<i64>> {
    first(conn, sql, params, |row| {
        let mut v = Nullable::<i64>::null();
        row.get_data(1, &mut v)?;
        Ok(v.into_opt())
    })
}

/// The first column of the first row, as bytes (`None`: NULL or no row).
pub fn scalar_binary(
    conn: &Connection<'_>,
    sql: &str,
    params: impl odbc_api::ParameterCollectionRef,
) -> Result<Option<Vec<u8>>> {
    first(conn, sql, params, |row| {
        let mut buf = vec![];
        Ok(row.get_binary(1, &mut buf)?.then_some(buf))
    })
}

/// Every row of a small result as text (NULL: `None`).
pub fn text_rows(
    conn: &Connection<'_>,
    sql: &str,
    params: impl odbc_api::ParameterCollectionRef,
) -> Result<Vec<Vec<Option<String>>>> {
    let Some(mut c) = conn
        .execute(sql, params, None)
        .map_err(|e| query_error(sql, e))?
    else {
        return Ok(vec![]);
    };
    let n = odbc_api::ResultSetMetadata::num_result_cols(&mut c).map_err(|e| query_error(sql, e))?
        as u16;
    let mut out = vec![];
    let mut buf = vec![];
    while let Some(mut row) = c.next_row().map_err(|e| query_error(sql, e))? {
        let mut r = Vec::with_capacity(n as usize);
        for i in 1..=n {
            buf.clear();
            let present = row
                .get_wide_text(i, &mut buf)
                .map_err(|e| query_error(sql, e))?;
            r.push(present.then(|| String::from_utf16_lossy(&buf)));
        }
        out.push(r);
    }
    Ok(out)
}

/// Runs a statement that returns no rows.
pub fn run(conn: &Connection<'_>, sql: &str) -> Result<()> {
    conn.execute(sql, (), None)
        .map_err(|e| query_error(sql, e))?;
    Ok(())
}

/// An ODBC error with the statement that met it (its first line, cut).
pub fn query_error(sql: &str, e: odbc_api::Error) -> anyhow::Error {
    let head: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let head: String = head.chars().take(160).collect();
    anyhow!("SQL Server: {e} (in: {head})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Bcp, Extract, ExtractType};

    fn cfg(driver: &str, pw: &str) -> SqlServerSource {
        SqlServerSource {
            max_batch_changes: 1000,
            host: "db.example".into(),
            port: 1433,
            database: "sales".into(),
            user: "ingest".into(),
            password: pw.into(),
            odbc_driver: driver.into(),
            encrypt: true,
            trust_server_certificate: false,
            extract_type: ExtractType::ChangeTracking,
            extract: Extract {
                threads: 1,
                split_bytes: 0,
            },
            bcp: Bcp::Off,
            bcp_path: None,
        }
    }

    #[test]
    fn connection_strings_of_both_drivers() {
        let ms = connection_string(
            &cfg("ODBC Driver 18 for SQL Server", "p}w;x"),
            "{ODBC Driver 18 for SQL Server}",
        );
        assert_eq!(
            ms,
            "Driver={ODBC Driver 18 for SQL Server};Server=db.example,1433;Database={sales};\
             UID={ingest};PWD={p}}w;x};Encrypt=yes;TrustServerCertificate=no;"
        );
        assert!(!shown(&ms).contains("p}}w"), "{}", shown(&ms));
        assert!(shown(&ms).contains("PWD=***;Encrypt=yes"), "{}", shown(&ms));
        // A password with `};` in it is hidden whole.
        let tricky = connection_string(&cfg("ODBC Driver 18 for SQL Server", "a};b}"), "{D}");
        assert!(
            shown(&tricky).ends_with("PWD=***;Encrypt=yes;TrustServerCertificate=no;"),
            "{}",
            shown(&tricky)
        );
        assert_eq!(shown("Driver=x;PWD=plain;UID=u"), "Driver=x;PWD=***;UID=u");
        let ft = connection_string(&cfg("FreeTDS", "x"), "/usr/lib/odbc/libtdsodbc.so");
        assert!(
            ft.starts_with("Driver=/usr/lib/odbc/libtdsodbc.so;"),
            "{ft}"
        );
        assert!(
            ft.contains("TDS_Version=7.4;ClientCharset=UTF-8;Encryption=require;"),
            "{ft}"
        );
    }

    #[test]
    fn registered_drivers_are_found_by_their_file() {
        let dir = std::env::temp_dir().join(format!("ingest-odbc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("libtdsodbc.so"), b"").unwrap();
        let ini = "[ODBC Driver 18 for SQL Server]\nDescription=Microsoft\n\
                   Driver=/opt/microsoft/msodbcsql18/lib64/libmsodbcsql-18.so\n\n\
                   [FreeTDS]\nDescription=TDS\nDriver=libtdsodbc.so\nSetup=libtdsS.so\n";
        let inis = vec![(PathBuf::from("/etc/odbcinst.ini"), ini.to_string())];
        let d = dir.to_string_lossy().into_owned();
        let dirs = [d.as_str()];
        assert_eq!(
            driver_value("freetds", &inis, &dirs),
            dir.join("libtdsodbc.so").to_string_lossy()
        );
        assert_eq!(
            driver_value("ODBC Driver 18 for SQL Server", &inis, &dirs),
            "/opt/microsoft/msodbcsql18/lib64/libmsodbcsql-18.so"
        );
        assert_eq!(driver_value("Other", &inis, &dirs), "{Other}");
        assert_eq!(driver_value("/x/y.so", &inis, &dirs), "/x/y.so");
        // Registered by a bare name that is in none of the folders.
        assert_eq!(
            driver_value("FreeTDS", &inis, &["/nonexistent"]),
            "{FreeTDS}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
