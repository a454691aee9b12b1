//! Destination types per dialect (pure): a source describes each column's
//! type in MySQL terms; SingleStore lacks or limits some of them.

use crate::config::Dialect;
use crate::schema::{enum_labels, TableSchema};

/// Labels an ENUM may have on SingleStore
/// (<https://docs.singlestore.com/db/v9.1/reference/sql-reference/data-types/other-types/>:
/// 32,768 unique values; MySQL and MariaDB take 65,535).
const SINGLESTORE_ENUM_LABELS: usize = 32_768;

/// Rewrites the destination types of `s` for `dialect`:
///
/// - SingleStore: `TIMESTAMP(p)` becomes `DATETIME(p)`. ingest writes
///   timestamps as UTC text and the MySQL dialect reads them in a session
///   with `time_zone = '+00:00'`, but `SET time_zone` does nothing on
///   SingleStore
///   (<https://docs.singlestore.com/cloud/reference/sql-reference/data-types/time-and-date/>),
///   so a `TIMESTAMP` column would read UTC text in the server's zone. A
///   `DATETIME` holds the UTC value as written (SingleStore Flow maps it
///   the same way).
/// - SingleStore: an ENUM of more labels than it allows becomes a
///   `VARCHAR` of the longest label.
/// - SingleStore: text key columns become binary strings of the same
///   bytes. Its collations all pad with spaces (none is NO PAD,
///   <https://docs.singlestore.com/cloud/reference/sql-reference/character-encoding/specifying-character-set-and-collation-for-clusters/>),
///   so under any of them the keys `'a'` and `'a '` would be one key and
///   a merge would silently make one row of two. Bytes compare exactly, as
///   the source's keys did; `WHERE k = 'text'` still finds the row.
pub fn adapt(s: &mut TableSchema, dialect: Dialect) {
    if dialect != Dialect::SingleStore {
        return;
    }
    let keys = s.key.clone();
    for (i, c) in s.columns.iter_mut().enumerate() {
        let lower = c.dest_type.to_ascii_lowercase();
        if keys.contains(&i) {
            if let Some(b) = binary_of(&lower) {
                c.dest_type = b;
                continue;
            }
        }
        if let Some(rest) = lower.strip_prefix("timestamp") {
            c.dest_type = format!("DATETIME{rest}");
        } else if lower.starts_with("enum(") {
            let labels = enum_labels(&c.dest_type);
            if labels.len() > SINGLESTORE_ENUM_LABELS {
                let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1);
                c.dest_type = format!("VARCHAR({})", longest.max(1));
            }
        }
    }
}

/// The binary string type holding a text type's values as UTF-8 bytes
/// (4 bytes a character), `None` for other types.
fn binary_of(lower: &str) -> Option<String> {
    let len =
        |t: &str| -> Option<u64> { t.split_once('(')?.1.split(')').next()?.trim().parse().ok() };
    let base = lower.split(['(', ' ']).next().unwrap_or("");
    match base {
        "char" | "varchar" => Some(format!("VARBINARY({})", 4 * len(lower).unwrap_or(1))),
        "tinytext" => Some("VARBINARY(1020)".into()),
        "text" | "mediumtext" | "longtext" => Some("LONGBLOB".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Column;

    fn table(types: &[&str]) -> TableSchema {
        TableSchema {
            schema: "db".into(),
            name: "t".into(),
            dest_db: "db".into(),
            dest_table: "t".into(),
            columns: types
                .iter()
                .enumerate()
                .map(|(i, t)| Column {
                    source_type: t.to_string(),
                    ..crate::schema::test_column(&format!("c{i}"), t)
                })
                .collect(),
            key: vec![0],
            min_year: 0,
            filter: None,
            bad_value_fail: false,
            history: None,
            keyless: false,
            hashed_key: vec![],
        }
    }

    #[test]
    fn singlestore_text_keys_are_binary() {
        let types = ["varchar(10)", "char(3)", "longtext", "int", "varchar(10)"];
        let mut s = table(&types);
        s.key = vec![0, 1, 2, 3];
        adapt(&mut s, Dialect::SingleStore);
        let got: Vec<&str> = s.columns.iter().map(|c| c.dest_type.as_str()).collect();
        // The non-key varchar keeps its type.
        assert_eq!(
            got,
            [
                "VARBINARY(40)",
                "VARBINARY(12)",
                "LONGBLOB",
                "int",
                "varchar(10)"
            ]
        );
        // A LONGBLOB key cannot be an index: the table is keyed by its hash.
        assert!(crate::dest::sql::needs_key_hash(&s, Dialect::SingleStore));
        let mut m = table(&types);
        m.key = vec![0];
        adapt(&mut m, Dialect::Mysql);
        assert_eq!(m.columns[0].dest_type, "varchar(10)");
    }

    #[test]
    fn singlestore_gets_datetime_for_timestamp_and_varchar_for_huge_enums() {
        let many: Vec<String> = (0..32_769).map(|i| format!("'l{i}'")).collect();
        let huge = format!("enum({})", many.join(","));
        let types = [
            "int(11)",
            "timestamp(6)",
            "timestamp",
            "enum('a','bb')",
            huge.as_str(),
            "datetime(3)",
        ];
        let mut s = table(&types);
        adapt(&mut s, Dialect::Mysql);
        assert_eq!(s, table(&types));
        adapt(&mut s, Dialect::SingleStore);
        let got: Vec<&str> = s.columns.iter().map(|c| c.dest_type.as_str()).collect();
        assert_eq!(
            got,
            [
                "int(11)",
                "DATETIME(6)",
                "DATETIME",
                "enum('a','bb')",
                "VARCHAR(6)",
                "datetime(3)"
            ]
        );
    }
}
