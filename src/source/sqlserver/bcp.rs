//! Full extracts through `bcp "SELECT ..." queryout FILE -c` (Microsoft's
//! bulk copy program, or FreeTDS's `freebcp`), where it is installed.
//!
//! Character mode has no quoting: a NULL is an empty field, an empty
//! string (or `0x`) one NUL byte, and a terminator inside a value is
//! written as it is. So the terminators are runs of control characters no
//! text column is expected to hold, every row must have exactly its
//! columns' fields (else the extract fails, naming the row), and the rows
//! read must be the count `bcp` reports. Floats are selected as their
//! IEEE bytes (`CAST(c AS binary(8))`), so no digits are lost to text.
//!
//! <https://learn.microsoft.com/sql/tools/bcp-utility>

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use super::fetch::{Raw, Texts};
use super::types::{self, qi, Kind, MsCol};
use crate::config::{Bcp, SqlServerSource};

/// Between fields, and at the end of each row.
pub const FIELD: &[u8] = b"\x1e\x1f\x1e";
pub const ROW: &[u8] = b"\x1d\x1f\x1d\n";

/// The program full extracts use: `bcp_path`, else `bcp` where running
/// `bcp -v` works (on the PATH or in mssql-tools); none with `bcp = "off"`.
pub fn program(cfg: &SqlServerSource) -> Option<PathBuf> {
    if cfg.bcp == Bcp::Off {
        return None;
    }
    if let Some(p) = &cfg.bcp_path {
        return Some(PathBuf::from(p));
    }
    [
        "bcp",
        "/opt/mssql-tools18/bin/bcp",
        "/opt/mssql-tools/bin/bcp",
    ]
    .iter()
    .find(|p| {
        Command::new(p)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
    .map(PathBuf::from)
}

/// Whether the program is FreeTDS's `freebcp` (other options).
pub fn is_freebcp(program: &Path) -> bool {
    program
        .file_stem()
        .is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().contains("freebcp"))
}

/// The SELECT list of a bcp extract: floats as their IEEE bytes, masked
/// columns as NULL, UDTs through their methods.
pub fn select_list(cols: &[MsCol], masked: &[bool]) -> String {
    cols.iter()
        .zip(masked)
        .map(|(c, &m)| {
            let q = qi(&c.name);
            match c.kind {
                _ if m => "NULL".to_string(),
                Kind::F64 => format!("CAST({q} AS binary(8))"),
                Kind::F32 => format!("CAST({q} AS binary(4))"),
                _ => types::select_expr(c, &q),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The command's arguments (the password last but one, for
/// [`shown_args`]).
pub fn args(cfg: &SqlServerSource, freebcp: bool, query: &str, file: &Path) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        query.into(),
        "queryout".into(),
        file.as_os_str().to_owned(),
        "-c".into(),
        "-t".into(),
        OsString::from(String::from_utf8_lossy(FIELD).into_owned()),
        "-r".into(),
        OsString::from(String::from_utf8_lossy(ROW).into_owned()),
    ];
    if freebcp {
        a.extend(
            [
                "-S".to_string(),
                format!("{}:{}", cfg.host, cfg.port),
                "-D".into(),
                cfg.database.clone(),
                // Whole LOB values (freebcp sends `set textsize 4096`).
                "-T".into(),
                "2147483647".into(),
            ]
            .map(OsString::from),
        );
    } else {
        a.extend(
            [
                "-S".to_string(),
                format!("tcp:{},{}", cfg.host, cfg.port),
                "-d".into(),
                cfg.database.clone(),
                // UTF-8 text (bcp 13 and later).
                "-C".into(),
                "65001".into(),
            ]
            .map(OsString::from),
        );
        if !cfg.encrypt {
            a.push("-Yo".into());
        }
        if cfg.trust_server_certificate {
            a.push("-u".into());
        }
    }
    a.extend(["-U".into(), cfg.user.clone().into()]);
    a.extend(["-P".into(), cfg.password.clone().into()]);
    a
}

/// The arguments for messages: the password hidden.
pub fn shown_args(a: &[OsString]) -> String {
    let n = a.len();
    a.iter()
        .enumerate()
        .map(|(i, x)| {
            if i + 1 == n {
                "***".to_string()
            } else {
                x.to_string_lossy()
                    .chars()
                    .map(|c| {
                        if c.is_control() {
                            format!("\\x{:02x}", c as u32)
                        } else {
                            c.to_string()
                        }
                    })
                    .collect()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `N rows copied.` count of bcp's output.
pub fn copied(stdout: &str) -> Option<u64> {
    stdout.lines().find_map(|l| {
        let l = l.trim();
        let n = l.strip_suffix(" rows copied.")?;
        n.trim().parse().ok()
    })
}

/// Runs bcp into `file` (an existing one is replaced) and returns the rows
/// it says it copied.
pub fn run(
    program: &Path,
    cfg: &SqlServerSource,
    query: &str,
    file: &Path,
    conf_dir: &Path,
) -> Result<u64> {
    let freebcp = is_freebcp(program);
    let a = args(cfg, freebcp, query, file);
    let mut cmd = Command::new(program);
    cmd.args(&a).stdin(Stdio::null());
    if freebcp {
        // Text as UTF-8 and TDS 7.4 without a freetds.conf of the user's.
        let conf = conf_dir.join("freetds.conf");
        std::fs::write(
            &conf,
            "[global]\n\tclient charset = UTF-8\n\ttds version = 7.4\n",
        )
        .with_context(|| format!("writing {}", conf.display()))?;
        cmd.env("FREETDSCONF", &conf);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {} (source.bcp_path)", program.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let scrub = |t: &str| super::odbc::scrub(t, &cfg.password);
    if !out.status.success() {
        bail!(
            "{} failed ({}): {} {}",
            shown_args(&a),
            out.status,
            scrub(stdout.trim()),
            scrub(String::from_utf8_lossy(&out.stderr).trim())
        );
    }
    copied(&stdout).ok_or_else(|| {
        anyhow!(
            "{} did not say how many rows it copied: {}",
            program.display(),
            scrub(stdout.trim())
        )
    })
}

/// Finds `pat` in `hay` from `from`.
fn find(hay: &[u8], pat: &[u8], from: usize) -> Option<usize> {
    if hay.len() < pat.len() {
        return None;
    }
    (from..=hay.len() - pat.len()).find(|&i| hay[i] == pat[0] && hay[i..].starts_with(pat))
}

/// Reads a character-mode file of `cols` and hands each row to `row` as
/// spool texts; returns the row count. A row with another number of
/// fields fails, naming it.
pub fn parse(
    mut input: impl Read,
    cols: &[MsCol],
    texts: &mut Texts<'_>,
    what: &str,
    mut row: impl FnMut(&[Option<&[u8]>], &mut Texts<'_>) -> Result<()>,
) -> Result<u64> {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 18);
    let mut chunk = vec![0u8; 1 << 18];
    let mut start = 0usize;
    let mut n = 0u64;
    let mut outs: Vec<Vec<u8>> = vec![Vec::new(); cols.len()];
    let mut present = vec![false; cols.len()];
    let mut eof = false;
    loop {
        // Every complete row in the buffer.
        while let Some(end) = find(&buf, ROW, start) {
            let line = &buf[start..end];
            n += 1;
            let mut fields = vec![];
            let mut at = 0;
            while let Some(p) = find(line, FIELD, at) {
                fields.push(&line[at..p]);
                at = p + FIELD.len();
            }
            fields.push(&line[at..]);
            if fields.len() != cols.len() {
                bail!(
                    "{what}: row {n} has {} fields, not {}: a value holds ingest's field or row \
                     terminator (control characters 1E 1F 1E / 1D 1F 1D): set bcp = \"off\" for this source",
                    fields.len(),
                    cols.len()
                );
            }
            for (i, (f, c)) in fields.iter().zip(cols).enumerate() {
                present[i] = if f.is_empty() {
                    false
                } else {
                    let v: &[u8] = if *f == b"\0" { b"" } else { f };
                    put(texts, v, c, &mut outs[i])
                };
            }
            let vals: Vec<Option<&[u8]>> = outs
                .iter()
                .zip(&present)
                .map(|(o, &p)| p.then_some(o.as_slice()))
                .collect();
            row(&vals, texts)?;
            start = end + ROW.len();
        }
        if eof {
            break;
        }
        buf.drain(..start);
        start = 0;
        let k = input.read(&mut chunk).context("reading the bcp file")?;
        if k == 0 {
            eof = true;
        } else {
            buf.extend_from_slice(&chunk[..k]);
        }
    }
    if start < buf.len() {
        bail!(
            "{what}: the file ends inside row {} (no row terminator)",
            n + 1
        );
    }
    Ok(n)
}

/// Hex digits as bytes.
fn unhex(t: &[u8]) -> Option<Vec<u8>> {
    let t = t.strip_prefix(b"0x").unwrap_or(t);
    if !t.len().is_multiple_of(2) {
        return None;
    }
    t.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

/// One field's spool text through the same conversions as ODBC values.
fn put(texts: &mut Texts<'_>, v: &[u8], c: &MsCol, out: &mut Vec<u8>) -> bool {
    use crate::schema::Unrepresentable as U;
    let bad = |texts: &mut Texts<'_>, why: U| {
        texts.warnings.add(&texts.table, &c.name, why);
        false
    };
    let text = match std::str::from_utf8(v) {
        Ok(t) => t,
        Err(_) if matches!(c.kind, Kind::Text { .. }) => return bad(texts, U::BadEncoding),
        Err(_) => return bad(texts, U::Malformed),
    };
    let int = |t: &str| t.trim().parse::<i64>().ok();
    let raw = match c.kind {
        Kind::Bit => match text.trim() {
            "1" => Raw::Bit(true),
            "0" => Raw::Bit(false),
            _ => return bad(texts, U::Malformed),
        },
        Kind::U8 | Kind::I16 | Kind::I32 | Kind::I64 => match int(text) {
            Some(i) => Raw::I64(i),
            None => return bad(texts, U::Malformed),
        },
        Kind::F64 => match unhex(v).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => Raw::F64(f64::from_be_bytes(b)),
            None => return bad(texts, U::Malformed),
        },
        Kind::F32 => match unhex(v).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
            Some(b) => Raw::F32(f32::from_be_bytes(b)),
            None => return bad(texts, U::Malformed),
        },
        Kind::Timestamp { scale } => {
            return match types::timestamp_text(text, scale) {
                Ok((s, cut)) => finish(texts, c, out, s, cut),
                Err(why) => bad(texts, why),
            }
        }
        Kind::Date => {
            return match types::timestamp_text(text, 0) {
                Ok((s, _)) => finish(texts, c, out, s[..s.len().min(10)].to_string(), false),
                Err(why) => bad(texts, why),
            }
        }
        Kind::Binary { .. } => match unhex(v) {
            Some(b) => return texts.put(Raw::Bin(&b), c, out),
            None => return bad(texts, U::Malformed),
        },
        Kind::Text { .. } => {
            out.clear();
            out.extend_from_slice(v);
            return true;
        }
        Kind::Decimal { .. } | Kind::Time { .. } | Kind::Offset { .. } | Kind::Guid => {
            Raw::Narrow(v)
        }
    };
    texts.put(raw, c, out)
}

/// A converted date or timestamp, checked against the destination's years.
fn finish(texts: &mut Texts<'_>, c: &MsCol, out: &mut Vec<u8>, s: String, cut: bool) -> bool {
    use crate::schema::Unrepresentable as U;
    if crate::schema::before_year(s.as_bytes(), texts.min_year) {
        texts.warnings.add(&texts.table, &c.name, U::OutOfRange);
        return false;
    }
    if cut {
        texts.warnings.add(&texts.table, &c.name, U::SubMicrosecond);
    }
    out.clear();
    out.extend_from_slice(s.as_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Extract, ExtractType};
    use crate::source::Warnings;

    fn cfg() -> SqlServerSource {
        SqlServerSource {
            max_batch_changes: 1000,
            host: "db".into(),
            port: 1433,
            database: "sales".into(),
            user: "u".into(),
            password: "secret".into(),
            odbc_driver: "ODBC Driver 18 for SQL Server".into(),
            encrypt: false,
            trust_server_certificate: true,
            extract_type: ExtractType::ChangeTracking,
            extract: Extract {
                threads: 1,
                split_bytes: 0,
            },
            bcp: Bcp::Auto,
            bcp_path: None,
        }
    }

    #[test]
    fn command_lines_of_both_programs() {
        let a = args(&cfg(), false, "SELECT 1", Path::new("/s/f.bcp"));
        let shown = shown_args(&a);
        assert_eq!(
            shown,
            "SELECT 1 queryout /s/f.bcp -c -t \\x1e\\x1f\\x1e -r \\x1d\\x1f\\x1d\\x0a -S tcp:db,1433 \
             -d sales -C 65001 -Yo -u -U u -P ***"
        );
        assert!(!shown.contains("secret"));
        let f = args(&cfg(), true, "SELECT 1", Path::new("f"));
        let f: Vec<String> = f.iter().map(|x| x.to_string_lossy().into_owned()).collect();
        assert!(f.windows(2).any(|w| w == ["-S", "db:1433"]), "{f:?}");
        assert!(f.windows(2).any(|w| w == ["-D", "sales"]), "{f:?}");
        assert!(!f.iter().any(|x| x == "-C"), "{f:?}");
        assert_eq!(
            copied("\nStarting copy...\n3 rows copied.\nNetwork packet size (bytes): 4096\n"),
            Some(3)
        );
        assert_eq!(copied("1000 rows successfully bulk-copied"), None);
        assert!(is_freebcp(Path::new("/usr/bin/freebcp")));
        assert!(!is_freebcp(Path::new("/opt/mssql-tools18/bin/bcp")));
    }

    fn cols() -> Vec<MsCol> {
        [
            ("id", "int", 4, 10, 0),
            ("s", "varchar", 20, 0, 0),
            ("b", "varbinary", 4, 0, 0),
            ("f", "float", 8, 53, 0),
            ("r", "real", 4, 24, 0),
            ("t", "datetime2", 8, 27, 7),
            ("o", "datetimeoffset", 10, 34, 7),
            ("d", "date", 3, 10, 0),
        ]
        .iter()
        .map(|(n, t, l, p, s)| types::column(n, t, *l, *p, *s, true).unwrap().0)
        .collect()
    }

    fn parsed(file: &[u8]) -> Result<Vec<Vec<Option<String>>>> {
        let mut w = Warnings::default();
        let mut texts = Texts {
            table: "dbo.t".into(),
            min_year: 0,
            warnings: &mut w,
        };
        let mut rows = vec![];
        parse(file, &cols(), &mut texts, "extract of dbo.t", |vals, _| {
            rows.push(
                vals.iter()
                    .map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned()))
                    .collect(),
            );
            Ok(())
        })?;
        Ok(rows)
    }

    fn line(fields: &[&[u8]]) -> Vec<u8> {
        let mut l = fields.join(FIELD);
        l.extend_from_slice(ROW);
        l
    }

    #[test]
    fn a_microsoft_character_mode_file_reads_exactly() {
        // As MS bcp -c writes them: NULL empty, '' and 0x one NUL byte,
        // terminators of other kinds inside values as they are.
        let mut file = line(&[
            b"1",
            "a|b\tc\nd é".as_bytes(),
            b"DEADBEEF",
            b"3FF0000000000000",
            b"7F7FFFFF",
            b"9999-12-31 23:59:59.9999999",
            b"2024-06-30 12:00:00.1234567 +02:00",
            b"0001-01-01",
        ]);
        file.extend(line(&[b"2", b"", b"", b"", b"", b"", b"", b""]));
        file.extend(line(&[
            b"3",
            b"\0",
            b"\0",
            b"8000000000000000",
            b"00000000",
            b"2024-01-01 00:00:00.0000000",
            b"2024-01-01 00:00:00.0000000 -08:00",
            b"2024-01-01",
        ]));
        let rows = parsed(&file).unwrap();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            rows[0],
            vec![
                s("1"),
                s("a|b\tc\nd é"),
                s("deadbeef"),
                s("1e0"),
                s("3.4028234663852886e38"),
                s("9999-12-31 23:59:59.999999"),
                s("2024-06-30 10:00:00.123456"),
                s("0001-01-01"),
            ]
        );
        assert_eq!(rows[1][0], s("2"));
        assert!(rows[1][1..].iter().all(Option::is_none), "{:?}", rows[1]);
        assert_eq!(rows[2][1], s(""));
        assert_eq!(rows[2][2], s(""));
        assert_eq!(rows[2][3], s("-0e0"));
        assert_eq!(rows[2][6], s("2024-01-01 08:00:00.000000"));
    }

    #[test]
    fn a_terminator_in_a_value_fails_the_extract_naming_the_row() {
        let mut file = line(&[b"1", b"x", b"", b"", b"", b"", b"", b""]);
        let mut bad = b"y".to_vec();
        bad.extend_from_slice(FIELD);
        file.extend(line(&[b"2", &bad, b"", b"", b"", b"", b"", b""]));
        let e = parsed(&file).unwrap_err().to_string();
        assert!(e.contains("row 2 has 9 fields, not 8"), "{e}");
        // A file cut inside a row.
        let mut cut = line(&[b"1", b"x", b"", b"", b"", b"", b"", b""]);
        cut.extend_from_slice(b"2");
        let e = parsed(&cut).unwrap_err().to_string();
        assert!(e.contains("ends inside row 2"), "{e}");
    }
}
