//! The SingleStore probe of `ingest check`: the assumptions the
//! `singlestore` dialect makes, checked on the user's server by running
//! `sql/singlestore_probe.sql` section by section and judging each
//! section's last result. No SingleStore server runs where ingest is
//! tested, so this is how its behaviour is verified at the user's site.

use mysql::prelude::Queryable;

use super::Dest;

/// The probe, as a DBA may run it by hand.
pub const PROBE_SQL: &str = include_str!("../../sql/singlestore_probe.sql");

/// The CSV the `load_data_local` section loads: a quoted "NULL" (a text)
/// and a bare NULL (SQL NULL).
const PROBE_CSV: &[u8] = b"1,1,\"NULL\",NULL\n2,1,NULL,NULL\n";

/// One section of the probe: its name and statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub statements: Vec<String>,
}

/// Splits the probe file into sections (`-- probe: name`), each a list
/// of statements (ending in `;` at a line end); other comments dropped.
pub fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = vec![];
    let mut stmt = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- probe: ") {
            out.push(Section {
                name: name.trim().to_string(),
                statements: vec![],
            });
            continue;
        }
        if line.starts_with("--") || line.trim().is_empty() {
            continue;
        }
        if !stmt.is_empty() {
            stmt.push('\n');
        }
        stmt.push_str(line);
        if let Some(done) = stmt.strip_suffix(';') {
            if let Some(s) = out.last_mut() {
                s.statements.push(done.to_string());
            }
            stmt.clear();
        }
    }
    out
}

/// What a section showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(String),
    /// The server differs from what ingest expects; `breaks`: values would
    /// not land exactly, so `check` fails.
    Differs {
        what: String,
        breaks: bool,
    },
    /// The section failed to run.
    Unknown {
        error: String,
        breaks: bool,
    },
}

/// The first row of a section's last statement, as text (`None` = NULL).
pub type Row = Vec<Option<String>>;

/// Judges one section by its name and its last result.
pub fn judge(name: &str, result: Result<Option<Row>, String>) -> Verdict {
    let breaks = !matches!(
        name,
        "time_zone" | "collation" | "date_before_1000" | "json_precision" | "cleanup"
    );
    let row = match result {
        Ok(r) => r.unwrap_or_default(),
        Err(error) => {
            return match name {
                // Refused as a value (not, say, for a missing table).
                "date_before_1000" if error.to_ascii_lowercase().contains("date") => Verdict::Differs {
                    what: format!(
                        "DATE '0999-01-01' refused ({error}): as expected, ingest writes such dates as NULL with a warning"
                    ),
                    breaks: false,
                },
                _ => Verdict::Unknown { error, breaks },
            };
        }
    };
    let col = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let differs = |what: String| Verdict::Differs { what, breaks };
    match name {
        "version" => match version(&col(0)) {
            Some(v) if v >= (7, 5) => Verdict::Ok(col(0)),
            _ => differs(format!(
                "SingleStore {} is older than 7.5, which ingest needs (multi-column primary keys on columnstore tables): upgrade the cluster",
                col(0)
            )),
        },
        "data_conversion_compatibility_level" => match version(&col(0)) {
            Some(v) if v >= (7, 0) => Verdict::Ok(col(0)),
            _ => differs(format!(
                "{}: below 7.0 a value that does not fit becomes NULL or 0 without an error; run SET GLOBAL data_conversion_compatibility_level = '8.0'",
                col(0)
            )),
        },
        "time_zone" => Verdict::Ok(format!(
            "{} (TIMESTAMP columns are created as DATETIME holding UTC)",
            col(0)
        )),
        "collation" => Verdict::Ok(format!(
            "'a' = 'a ': {}, 'a' = 'A': {} under utf8mb4_bin (text keys are binary, compared by bytes)",
            col(0),
            col(1)
        )),
        "load_data_local" if (col(0), col(1), col(2)) == ("2".into(), "1".into(), "1".into()) => {
            Verdict::Ok("LOAD DATA LOCAL allowed; NULL and \"NULL\" kept apart".into())
        }
        "load_data_local" => differs(format!(
            "LOAD DATA LOCAL loaded {} rows, {} NULL, {} 'NULL' (expected 2, 1, 1)",
            col(0),
            col(1),
            col(2)
        )),
        "upsert" if (col(0), col(1)) == ("2".into(), "x".into()) => {
            Verdict::Ok("ON DUPLICATE KEY UPDATE on a columnstore table".into())
        }
        "upsert" => differs(format!(
            "ON DUPLICATE KEY UPDATE left ({}, {}), expected (2, x)",
            col(0),
            col(1)
        )),
        "last_change" if (col(0), col(1)) == ("2".into(), "3".into()) => {
            Verdict::Ok("ROW_NUMBER() picks each key's last change".into())
        }
        "last_change" => differs(format!(
            "the last-change query gave ({}, {}), expected (2, 3)",
            col(0),
            col(1)
        )),
        "history_windows" if (col(0), col(1), col(2)) == ("17".into(), "2".into(), "2".into()) => {
            Verdict::Ok("running MAX, LEAD and LAG as history merges use them".into())
        }
        "history_windows" => differs(format!(
            "the window query gave ({}, {}, {}), expected (17, 2, 2): history merges would be wrong",
            col(0),
            col(1),
            col(2)
        )),
        "correlated_max" if col(0) == "2" => {
            Verdict::Ok("correlated scalar subqueries, as history merges look up each key".into())
        }
        "correlated_max" => differs(format!(
            "the correlated subquery gave {}, expected 2",
            col(0)
        )),
        "row_hash" if (col(0), col(1)) == ("64".into(), "32".into()) => {
            Verdict::Ok("SHA2 and UNHEX for hashed keys and keyless rows".into())
        }
        "row_hash" => differs(format!(
            "SHA2/UNHEX gave lengths ({}, {}), expected (64, 32)",
            col(0),
            col(1)
        )),
        "insert_select_same_table" if col(0) == "4" => {
            Verdict::Ok("INSERT ... SELECT from the same table".into())
        }
        "insert_select_same_table" => differs(format!(
            "INSERT ... SELECT from the same table left {} rows, expected 4",
            col(0)
        )),
        "keyless_table" if col(0) == "2" => {
            Verdict::Ok("AUTO_INCREMENT key for keyless tables".into())
        }
        "keyless_table" => differs(format!(
            "an AUTO_INCREMENT table numbered {} of 2 rows apart",
            col(0)
        )),
        "verify_functions"
            if [col(0), col(1), col(2), col(3), col(4)]
                == [
                    "57446577476672362",
                    "2020-01-02 03:04:05.500000",
                    "-01:02:03.000000",
                    "6755399441055744p-52",
                    "61",
                ] =>
        {
            Verdict::Ok("MD5, CONV, DATE_FORMAT, TIME_FORMAT, LOG2 and POW as ingest verify uses them".into())
        }
        "verify_functions" => Verdict::Differs {
            what: format!(
                "ingest verify's functions gave ({}, {}, {}, {}, {}), expected (57446577476672362, \
                 2020-01-02 03:04:05.500000, -01:02:03.000000, 6755399441055744p-52, 61): \
                 `ingest verify` would report differences that are not there",
                col(0),
                col(1),
                col(2),
                col(3),
                col(4)
            ),
            breaks: false,
        },
        "date_before_1000" if col(0) == "0999-01-01" => Verdict::Ok("DATE '0999-01-01' held".into()),
        "date_before_1000" => Verdict::Differs {
            what: format!(
                "DATE '0999-01-01' read back as '{}': as expected, ingest writes such dates as NULL with a warning",
                col(0)
            ),
            breaks: false,
        },
        "json_precision" if col(0).contains("9007199254740993") => {
            Verdict::Ok("JSON numbers keep their digits".into())
        }
        "json_precision" => Verdict::Differs {
            what: format!(
                "JSON {{\"n\": 9007199254740993}} read back as {}: numbers beyond 2^53 lose digits in JSON columns",
                col(0)
            ),
            breaks: false,
        },
        "cleanup" => Verdict::Ok("scratch tables dropped".into()),
        _ => Verdict::Ok(String::new()),
    }
}

/// `8.5.12` → (8, 5); `'7.0'` → (7, 0).
fn version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.trim().parse().ok()?;
    let minor = parts
        .next()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0);
    Some((major, minor))
}

impl Dest {
    /// Runs the probe; each section's name and verdict. The scratch table
    /// is dropped whatever happened.
    pub fn probe(&mut self) -> Vec<(String, Verdict)> {
        let mut out = vec![];
        for s in sections(PROBE_SQL) {
            let result = self.run_section(&s);
            out.push((s.name.clone(), judge(&s.name, result)));
        }
        let _ = self.conn.query_drop("DROP TABLE IF EXISTS __ingest_probe");
        out
    }

    fn run_section(&mut self, s: &Section) -> Result<Option<Row>, String> {
        let mut last = None;
        for st in &s.statements {
            if st.starts_with("LOAD DATA") {
                *self.infile.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(PROBE_CSV));
            }
            let row: Option<mysql::Row> = self
                .conn
                .query_first(st.as_str())
                .map_err(|e| crate::error::mysql_message(&e))?;
            last = row.map(|r| {
                (0..r.len())
                    .map(|i| match r.as_ref(i) {
                        None | Some(mysql::Value::NULL) => None,
                        Some(mysql::Value::Bytes(b)) => {
                            Some(String::from_utf8_lossy(b).into_owned())
                        }
                        Some(v) => Some(v.as_sql(true).trim_matches('\'').to_string()),
                    })
                    .collect()
            });
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_file_has_every_section_judged() {
        let s = sections(PROBE_SQL);
        let names: Vec<&str> = s.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "version",
                "data_conversion_compatibility_level",
                "time_zone",
                "collation",
                "scratch_table",
                "load_data_local",
                "upsert",
                "last_change",
                "history_windows",
                "correlated_max",
                "row_hash",
                "insert_select_same_table",
                "keyless_table",
                "verify_functions",
                "date_before_1000",
                "json_precision",
                "cleanup"
            ]
        );
        assert_eq!(s[4].statements.len(), 3);
        assert!(s[4].statements[1].starts_with("CREATE TABLE __ingest_probe"));
        assert!(s[4].statements[1].contains("\n  PRIMARY KEY (k)"));
        assert!(s.iter().all(|x| !x.statements.is_empty()));
    }

    fn row(v: &[&str]) -> Result<Option<Row>, String> {
        Ok(Some(v.iter().map(|x| Some(x.to_string())).collect()))
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            judge("version", row(&["8.5.12"])),
            Verdict::Ok("8.5.12".into())
        );
        assert!(matches!(
            judge("version", row(&["7.3.2"])),
            Verdict::Differs { breaks: true, .. }
        ));
        assert_eq!(
            judge("data_conversion_compatibility_level", row(&["8.0"])),
            Verdict::Ok("8.0".into())
        );
        let Verdict::Differs { what, breaks: true } =
            judge("data_conversion_compatibility_level", row(&["6.0"]))
        else {
            panic!()
        };
        assert!(what.contains("SET GLOBAL data_conversion_compatibility_level = '8.0'"));
        assert!(matches!(
            judge("load_data_local", row(&["2", "1", "1"])),
            Verdict::Ok(_)
        ));
        // "NULL" read as SQL NULL: two NULLs, no text.
        assert!(matches!(
            judge("load_data_local", row(&["2", "2", "0"])),
            Verdict::Differs { breaks: true, .. }
        ));
        assert!(matches!(judge("upsert", row(&["2", "x"])), Verdict::Ok(_)));
        assert!(matches!(
            judge("last_change", row(&["2", "3"])),
            Verdict::Ok(_)
        ));
        assert!(matches!(
            judge("last_change", row(&["3", "4"])),
            Verdict::Differs { breaks: true, .. }
        ));
        // Informational: a refused old date, a JSON number rounded.
        assert!(matches!(
            judge(
                "date_before_1000",
                Err("ERROR 1292 (22007): Incorrect date value: '0999-01-01'".into())
            ),
            Verdict::Differs { breaks: false, .. }
        ));
        assert!(matches!(
            judge(
                "date_before_1000",
                Err("ERROR 1146: Table 'd.__ingest_probe' doesn't exist".into())
            ),
            Verdict::Unknown { breaks: false, .. }
        ));
        assert!(matches!(
            judge("json_precision", row(&["{\"n\":9007199254740992}"])),
            Verdict::Differs { breaks: false, .. }
        ));
        // A section that cannot run is unknown; it breaks check where the
        // assumption matters.
        assert_eq!(
            judge("upsert", Err("ERROR 1706".into())),
            Verdict::Unknown {
                error: "ERROR 1706".into(),
                breaks: true
            }
        );
        assert!(matches!(
            judge("time_zone", Err("x".into())),
            Verdict::Unknown { breaks: false, .. }
        ));
    }
}
