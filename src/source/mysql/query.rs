//! Query events of the binlog: which statements are TRUNCATE, DDL, or data
//! changes logged as statements, and on which tables (pure).

use crate::table::TableId;

/// What a query event means for the tables it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryKind {
    /// BEGIN, COMMIT, SAVEPOINT, and statements about other things.
    Other,
    Commit,
    Truncate(TableId),
    /// Structure change of these tables (ALTER, DROP, RENAME, CREATE).
    Ddl(Vec<TableId>),
    /// A data change logged as a statement (a session with binlog_format
    /// STATEMENT or MIXED): its rows are not in the binlog.
    Dml(Vec<TableId>),
}

/// Splits SQL into identifiers/keywords (backtick quotes removed), skipping
/// comments and string literals.
fn tokens(sql: &str) -> Vec<String> {
    let mut out = vec![];
    let b: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() || c == ',' || c == ';' || c == '(' || c == ')' {
            if c == '(' {
                out.push("(".into());
            }
            i += 1;
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            // MySQL's executable comments /*!50000 ... */ hold real SQL.
            if b.get(i + 2) == Some(&'!') {
                i += 3;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            } else {
                i += 2;
                while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
        } else if c == '*' && b.get(i + 1) == Some(&'/') {
            i += 2;
        } else if c == '#' || (c == '-' && b.get(i + 1) == Some(&'-')) {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '`' {
            let mut s = String::new();
            i += 1;
            while i < b.len() {
                if b[i] == '`' {
                    if b.get(i + 1) == Some(&'`') {
                        s.push('`');
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(b[i]);
                i += 1;
            }
            i += 1;
            // Keep a following ".name" attached: `db`.`t`.
            if let Some(last) = out.last_mut().filter(|l: &&mut String| l.ends_with('.')) {
                last.push_str(&s);
            } else {
                out.push(format!("`{s}"));
            }
        } else if c == '\'' || c == '"' {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push("'".into());
        } else if c == '.' {
            if let Some(last) = out.last_mut() {
                last.push('.');
            }
            i += 1;
        } else {
            let mut s = String::new();
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '$') {
                s.push(b[i]);
                i += 1;
            }
            if s.is_empty() {
                i += 1;
                continue;
            }
            if let Some(last) = out.last_mut().filter(|l: &&mut String| l.ends_with('.')) {
                last.push_str(&s);
            } else {
                out.push(s);
            }
        }
    }
    out
}

/// `db.t`, `` `db`.`t` `` or `t` (in `schema`) → (db, t).
fn table_name(tok: &str, schema: &str) -> TableId {
    let t = tok.strip_prefix('`').unwrap_or(tok);
    match t.split_once('.') {
        Some((d, n)) => TableId::new(d.trim_start_matches('`'), n.trim_start_matches('`')),
        None => TableId::new(schema, t),
    }
}

/// An identifier token without its quote mark.
fn ident(tok: &str) -> String {
    tok.strip_prefix('`').unwrap_or(tok).to_string()
}

/// The columns an `ALTER TABLE` renames (`RENAME COLUMN a TO b`, `CHANGE
/// [COLUMN] a b type`), in order, and those it drops (`DROP [COLUMN] a`).
pub fn column_changes(sql: &str) -> (Vec<(String, String)>, Vec<String>) {
    let t = tokens(sql);
    let up: Vec<String> = t.iter().map(|s| s.to_ascii_uppercase()).collect();
    let kw = |i: usize| up.get(i).map(String::as_str).unwrap_or("");
    let (mut renames, mut drops) = (vec![], vec![]);
    if kw(0) != "ALTER" {
        return (renames, drops);
    }
    let skip_if_exists = |mut j: usize| {
        if kw(j) == "IF" && kw(j + 1) == "EXISTS" {
            j += 2;
        }
        j
    };
    for i in 0..t.len() {
        match kw(i) {
            "RENAME" if kw(i + 1) == "COLUMN" && kw(i + 3) == "TO" => {
                if let (Some(a), Some(b)) = (t.get(i + 2), t.get(i + 4)) {
                    renames.push((ident(a), ident(b)));
                }
            }
            "CHANGE" => {
                let j = skip_if_exists(if kw(i + 1) == "COLUMN" { i + 2 } else { i + 1 });
                if let (Some(a), Some(b)) = (t.get(j), t.get(j + 1)) {
                    let (a, b) = (ident(a), ident(b));
                    if !a.eq_ignore_ascii_case(&b) {
                        renames.push((a, b));
                    }
                }
            }
            "DROP" => {
                let not_column = [
                    "PRIMARY",
                    "INDEX",
                    "KEY",
                    "FOREIGN",
                    "CONSTRAINT",
                    "CHECK",
                    "PARTITION",
                    "TABLE",
                    "DEFAULT",
                    "SYSTEM",
                ];
                if i == 0 || not_column.contains(&kw(i + 1)) {
                    continue;
                }
                let j = skip_if_exists(if kw(i + 1) == "COLUMN" { i + 2 } else { i + 1 });
                if let Some(a) = t.get(j) {
                    drops.push(ident(a));
                }
            }
            _ => {}
        }
    }
    (renames, drops)
}

/// Whether a statement names column (or any identifier) `col`.
pub fn names_column(sql: &str, col: &str) -> bool {
    tokens(sql)
        .iter()
        .any(|t| ident(t).eq_ignore_ascii_case(col))
}

/// Classifies the statement of a query event (`schema`: its default database).
pub fn classify_query(schema: &str, sql: &str) -> QueryKind {
    let t = tokens(sql);
    let up: Vec<String> = t.iter().map(|s| s.to_ascii_uppercase()).collect();
    let kw = |i: usize| up.get(i).map(String::as_str).unwrap_or("");
    match kw(0) {
        "COMMIT" => QueryKind::Commit,
        "TRUNCATE" => {
            let i = if kw(1) == "TABLE" { 2 } else { 1 };
            match t.get(i) {
                Some(n) => QueryKind::Truncate(table_name(n, schema)),
                None => QueryKind::Other,
            }
        }
        "INSERT" | "REPLACE" | "UPDATE" | "DELETE" | "LOAD" => {
            let skip = [
                "INTO",
                "IGNORE",
                "LOW_PRIORITY",
                "DELAYED",
                "HIGH_PRIORITY",
                "QUICK",
                "FROM",
                "DATA",
                "LOCAL",
                "CONCURRENT",
            ];
            // LOAD DATA ... INTO TABLE t: the name follows TABLE.
            let start = match up.iter().position(|w| w == "TABLE") {
                Some(p) if kw(0) == "LOAD" => p + 1,
                _ => 1,
            };
            let mut i = start;
            while skip.contains(&kw(i)) {
                i += 1;
            }
            match t.get(i) {
                Some(n) if kw(0) != "LOAD" || start > 1 => {
                    QueryKind::Dml(vec![table_name(n, schema)])
                }
                _ => QueryKind::Other,
            }
        }
        "ALTER" | "DROP" | "RENAME" | "CREATE" => {
            // ALTER [ONLINE] [IGNORE] TABLE t, DROP [TEMPORARY] TABLE [IF EXISTS] a, b,
            // RENAME TABLE a TO b, c TO d, CREATE [OR REPLACE] [TEMPORARY] TABLE [IF NOT EXISTS] t
            let Some(p) = up.iter().position(|w| w == "TABLE") else {
                return QueryKind::Other;
            };
            if up[..p].iter().any(|w| w == "TEMPORARY") {
                return QueryKind::Other;
            }
            let mut i = p + 1;
            while matches!(kw(i), "IF" | "NOT" | "EXISTS") {
                i += 1;
            }
            let mut names = vec![];
            match kw(0) {
                "ALTER" | "CREATE" => {
                    if let Some(n) = t.get(i) {
                        names.push(table_name(n, schema));
                    }
                    // ALTER ... RENAME [TO] x
                    if let Some(r) = up.iter().position(|w| w == "RENAME") {
                        let j = if kw(r + 1) == "TO" || kw(r + 1) == "AS" {
                            r + 2
                        } else {
                            r + 1
                        };
                        if let Some(n) = t.get(j) {
                            names.push(table_name(n, schema));
                        }
                    }
                }
                "DROP" => {
                    while let Some(n) = t.get(i) {
                        if matches!(kw(i), "RESTRICT" | "CASCADE" | "WAIT" | "NOWAIT") {
                            break;
                        }
                        names.push(table_name(n, schema));
                        i += 1;
                    }
                }
                _ => {
                    // RENAME TABLE a TO b, c TO d
                    while let Some(n) = t.get(i) {
                        if kw(i) != "TO" {
                            names.push(table_name(n, schema));
                        }
                        i += 1;
                    }
                }
            }
            QueryKind::Ddl(names)
        }
        _ => QueryKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_renames_and_drops() {
        let (r, d) = column_changes("ALTER TABLE `db`.`t` RENAME COLUMN `a` TO `b`, DROP COLUMN c");
        assert_eq!(r, vec![("a".to_string(), "b".to_string())]);
        assert_eq!(d, vec!["c".to_string()]);
        let (r, d) = column_changes(
            "alter table t change column if exists x y varchar(10) not null, drop if exists z, \
             drop primary key, drop index i, change k k bigint",
        );
        assert_eq!(r, vec![("x".to_string(), "y".to_string())]);
        assert_eq!(d, vec!["z".to_string()]);
        let (r, d) = column_changes("ALTER TABLE t CHANGE `old name` `new``name` INT");
        assert_eq!(r, vec![("old name".to_string(), "new`name".to_string())]);
        assert!(d.is_empty());
        assert_eq!(column_changes("DROP TABLE t"), (vec![], vec![]));
    }

    #[test]
    fn query_events() {
        assert_eq!(classify_query("db", "COMMIT"), QueryKind::Commit);
        assert_eq!(classify_query("db", "BEGIN"), QueryKind::Other);
        assert_eq!(
            classify_query("db", "TRUNCATE TABLE `Order Lines`"),
            QueryKind::Truncate(TableId::new("db", "Order Lines"))
        );
        assert_eq!(
            classify_query("db", "truncate other.t"),
            QueryKind::Truncate(TableId::new("other", "t"))
        );
        assert_eq!(
            classify_query("db", "/* c */ ALTER TABLE `x`.`t` ADD COLUMN c int"),
            QueryKind::Ddl(vec![TableId::new("x", "t")])
        );
        assert_eq!(
            classify_query(
                "db",
                "DROP TABLE IF EXISTS `a`,`b` /* generated by server */"
            ),
            QueryKind::Ddl(vec![TableId::new("db", "a"), TableId::new("db", "b")])
        );
        assert_eq!(
            classify_query("db", "RENAME TABLE a TO b, c TO d"),
            QueryKind::Ddl(vec![
                TableId::new("db", "a"),
                TableId::new("db", "b"),
                TableId::new("db", "c"),
                TableId::new("db", "d")
            ])
        );
        assert_eq!(
            classify_query("db", "CREATE TEMPORARY TABLE t (a int)"),
            QueryKind::Other
        );
        assert_eq!(
            classify_query("db", "GRANT SELECT ON *.* TO x"),
            QueryKind::Other
        );
        assert_eq!(
            classify_query("db", "INSERT IGNORE INTO `o`.`t` VALUES (1)"),
            QueryKind::Dml(vec![TableId::new("o", "t")])
        );
        assert_eq!(
            classify_query("db", "DELETE LOW_PRIORITY FROM t WHERE a = 1"),
            QueryKind::Dml(vec![TableId::new("db", "t")])
        );
        assert_eq!(
            classify_query("db", "update t set a = 1"),
            QueryKind::Dml(vec![TableId::new("db", "t")])
        );
        assert_eq!(
            classify_query("db", "ALTER TABLE t RENAME TO u"),
            QueryKind::Ddl(vec![TableId::new("db", "t"), TableId::new("db", "u")])
        );
    }
}
