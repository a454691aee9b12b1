//! `sync-struct`: what must change in a destination table for it to take
//! the source table's new structure in place (pure: the plan and its SQL).
//!
//! Columns are matched by name after the renames the source showed. A
//! column the source added is added (and filled with what the source's
//! rows got, when that is one known value); one it dropped is kept for the
//! old rows (nullable, NULL in new rows) or dropped, by `on_drop_column`; a
//! type the source widened is widened. Anything else (a narrower or other
//! type, a dropped and an added column the source does not say are a
//! rename) cannot be done in place: the plan says why, and the table needs
//! its full extract.

use super::sql::{column_type, q, table_ref};
use crate::config::{Dialect, OnDrop};
use crate::schema::TableSchema;

/// A destination column as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestCol {
    pub name: String,
    /// `COLUMN_TYPE`, e.g. `varchar(20)`, `int(11)`, `decimal(10,2) unsigned`.
    pub column_type: String,
    pub nullable: bool,
}

/// One change to the destination table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Source column `col` is destination column `from`, renamed.
    Rename { from: String, col: usize },
    /// Source column `col` is new.
    Add { col: usize },
    /// Source column `col` has a wider type.
    Widen { col: usize, from: String },
    /// The source dropped it: kept for the rows that have it, NULL in new
    /// rows (made nullable if it is not).
    Keep {
        name: String,
        column_type: String,
        nullable: bool,
    },
    /// The source dropped it: dropped.
    Drop { name: String },
}

/// A source type's parts, compared across spellings (`int(11)` is `INT`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ty {
    base: String,
    args: Vec<u32>,
    unsigned: bool,
    /// Lists (ENUM, SET) and anything else, compared as written.
    raw: String,
}

fn ty(t: &str) -> Ty {
    let lower = t.trim().to_ascii_lowercase();
    let unsigned = lower.contains(" unsigned");
    let plain = lower.replace(" unsigned", "").replace(" zerofill", "");
    let (base, rest) = match plain.find('(') {
        Some(i) => (plain[..i].trim().to_string(), &plain[i..]),
        None => (plain.trim().to_string(), ""),
    };
    let base = match base.as_str() {
        "integer" => "int".to_string(),
        "bool" | "boolean" => "tinyint".to_string(),
        "double precision" | "real" => "double".to_string(),
        "dec" | "numeric" | "fixed" => "decimal".to_string(),
        // MariaDB keeps JSON as LONGTEXT.
        "json" => "longtext".to_string(),
        _ => base,
    };
    let mut args: Vec<u32> = rest
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    match base.as_str() {
        // Display widths are not part of the type.
        "tinyint" | "smallint" | "mediumint" | "int" | "bigint" => args.clear(),
        "decimal" if args.is_empty() => args = vec![10, 0],
        "decimal" if args.len() == 1 => args.push(0),
        "datetime" | "timestamp" | "time" if args.is_empty() => args = vec![0],
        _ => {}
    }
    let raw = if matches!(base.as_str(), "enum" | "set") {
        plain
    } else {
        String::new()
    };
    Ty {
        base,
        args,
        unsigned,
        raw,
    }
}

fn int_rank(base: &str) -> Option<u32> {
    ["tinyint", "smallint", "mediumint", "int", "bigint"]
        .iter()
        .position(|b| *b == base)
        .map(|p| p as u32)
}

/// Text and binary families: (family, rank, length limit where declared).
fn string_rank(t: &Ty) -> Option<(bool, u32, u64)> {
    let n = t.args.first().map(|&n| u64::from(n));
    let (binary, rank, len) = match t.base.as_str() {
        "char" => (false, 0, n?),
        "varchar" => (false, 0, n?),
        "tinytext" => (false, 1, 255),
        "text" => (false, 2, 65_535),
        "mediumtext" => (false, 3, 16_777_215),
        "longtext" => (false, 4, u64::from(u32::MAX)),
        "binary" => (true, 0, n?),
        "varbinary" => (true, 0, n?),
        "tinyblob" => (true, 1, 255),
        "blob" => (true, 2, 65_535),
        "mediumblob" => (true, 3, 16_777_215),
        "longblob" => (true, 4, u64::from(u32::MAX)),
        _ => return None,
    };
    Some((binary, rank, len))
}

/// Whether every value of type `from` is held unchanged by type `to`.
pub fn same_type(from: &str, to: &str) -> bool {
    ty(from) == ty(to)
}

/// Whether `to` holds every value of `from` as it was (a wider type).
pub fn widens(from: &str, to: &str) -> bool {
    let (a, b) = (ty(from), ty(to));
    if a == b {
        return true;
    }
    if let (Some(ra), Some(rb)) = (int_rank(&a.base), int_rank(&b.base)) {
        return match (a.unsigned, b.unsigned) {
            (false, false) | (true, true) => rb >= ra,
            (true, false) => rb > ra,
            (false, true) => false,
        };
    }
    match (a.base.as_str(), b.base.as_str()) {
        ("decimal", "decimal") => {
            let (p, s, p2, s2) = (a.args[0], a.args[1], b.args[0], b.args[1]);
            return s2 >= s && p2 - s2 >= p - s && (a.unsigned || !b.unsigned);
        }
        ("float", "double") => return true,
        ("datetime", "datetime") | ("timestamp", "timestamp") | ("time", "time") => {
            return b.args[0] >= a.args[0]
        }
        _ => {}
    }
    if let (Some((ba, ra, la)), Some((bb, rb, lb))) = (string_rank(&a), string_rank(&b)) {
        // CHAR pads and VARCHAR does not: only the same kind, or into a
        // TEXT/BLOB type, which keeps what it is given.
        let same_kind = a.base == b.base || rb > 0;
        return ba == bb && same_kind && rb >= ra && lb >= la;
    }
    false
}

/// Which destination column each source column of `s` continues (`None`:
/// a new column). `ids`: the source's column identities (PostgreSQL
/// attnums) when the destination got its structure and now, which tell
/// every rename, drop and add; without them (MySQL), `renames` ((old, new)
/// in order) and `dropped_said` are what the binlog's DDL said, and a name
/// that was renamed away or dropped and is in the table again is refused:
/// its old values and the new column's cannot be told apart.
#[allow(clippy::type_complexity)]
pub fn origins(
    s: &TableSchema,
    have: &[DestCol],
    ids: Option<(&[(String, i64)], &[(String, i64)])>,
    renames: &[(String, String)],
    dropped_said: &[String],
) -> Result<Vec<Option<String>>, String> {
    let has = |name: &str| {
        have.iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.name.clone())
    };
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let mut out = vec![];
    for c in &s.columns {
        let n = c.name.as_str();
        if let Some((then, now)) = ids {
            let id = now.iter().find(|(x, _)| x == n).map(|(_, i)| *i);
            let old = id.and_then(|id| then.iter().find(|(_, i)| *i == id));
            out.push(match old {
                // The same column, renamed or not (or renamed already by an
                // earlier sync-struct that stopped before recording it).
                Some((o, _)) => has(o).or_else(|| has(n)),
                // New: a destination column of its name is an old one
                // (dropped at the source) unless no old column had the name
                // (added already by an earlier sync-struct that stopped).
                None if then.iter().all(|(x, _)| !same(x, n)) => has(n),
                None => None,
            });
            continue;
        }
        if let Some(d) = has(n) {
            if renames.iter().any(|(o, _)| same(o, n)) || dropped_said.iter().any(|x| same(x, n)) {
                return Err(format!(
                    "column {n} was renamed or dropped and a new column {n} added; the source \
                     does not say which of the old values the new one keeps"
                ));
            }
            out.push(Some(d));
            continue;
        }
        // Renamed, possibly more than once (a → b → c).
        let mut from = n.to_string();
        let mut found = None;
        for _ in 0..renames.len() {
            let Some((old, _)) = renames.iter().rev().find(|(_, new)| same(new, &from)) else {
                break;
            };
            from.clone_from(old);
            if let Some(d) = has(&from) {
                found = Some(d);
                break;
            }
        }
        out.push(found.filter(|d| s.columns.iter().all(|o| !same(&o.name, d))));
    }
    Ok(out)
}

/// The changes that give `have` (the destination's columns, without those
/// kept from earlier drops) the structure of `s`, each source column
/// continuing the destination column `origin` names (`None`: added);
/// `complete`: the origins come from column identities, so a dropped and
/// an added column are a drop and an add, else the source must have said
/// the drop (`dropped_said`). Drops come first, then renames, widenings
/// and adds. `Err`: why it cannot be done in place.
pub fn plan(
    s: &TableSchema,
    have: &[DestCol],
    origin: &[Option<String>],
    complete: bool,
    dropped_said: &[String],
    on_drop: OnDrop,
) -> Result<Vec<Step>, String> {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    // A history table's own columns are not the source's.
    let have: Vec<&DestCol> = have
        .iter()
        .filter(|d| !s.history.as_ref().is_some_and(|h| h.is_column(&d.name)))
        .filter(|d| !(s.keyless && d.name.eq_ignore_ascii_case(crate::schema::ROW_COLUMN)))
        .filter(|d| !d.name.eq_ignore_ascii_case(super::sql::KEY_HASH))
        .collect();
    let find = |name: &str| have.iter().copied().find(|c| same(&c.name, name));
    let (mut renames, mut widens_, mut adds) = (vec![], vec![], vec![]);
    let mut taken: Vec<&str> = vec![];
    for (i, c) in s.columns.iter().enumerate() {
        let Some(d) = origin[i].as_deref().and_then(find) else {
            adds.push(Step::Add { col: i });
            continue;
        };
        taken.push(&d.name);
        if !same(&d.name, &c.name) {
            renames.push(Step::Rename {
                from: d.name.clone(),
                col: i,
            });
        }
        let want = column_type(s, i);
        if !same_type(&d.column_type, &want) {
            if !widens(&d.column_type, &want) {
                return Err(format!(
                    "column {} changed from {} to {}, which is not a wider type: the destination \
                     cannot take it in place",
                    c.name, d.column_type, want
                ));
            }
            widens_.push(Step::Widen {
                col: i,
                from: d.column_type.clone(),
            });
        }
    }
    let gone: Vec<&DestCol> = have
        .iter()
        .copied()
        .filter(|d| !taken.iter().any(|t| same(t, &d.name)))
        .collect();
    let name_of = |st: &Step| match st {
        Step::Add { col } | Step::Rename { col, .. } => s.columns[*col].name.clone(),
        _ => String::new(),
    };
    let unexplained: Vec<&str> = gone
        .iter()
        .filter(|d| !dropped_said.iter().any(|x| same(x, &d.name)))
        .map(|d| d.name.as_str())
        .collect();
    if !complete && !adds.is_empty() && !unexplained.is_empty() {
        return Err(format!(
            "column(s) {} are gone and {} are new, and the source does not say whether they were \
             renamed or dropped and added",
            unexplained.join(", "),
            adds.iter().map(name_of).collect::<Vec<_>>().join(", ")
        ));
    }
    // A new or renamed column taking the name of one the source dropped:
    // the old one must go first.
    if on_drop == OnDrop::Keep {
        if let Some(n) = adds
            .iter()
            .chain(&renames)
            .map(name_of)
            .find(|n| gone.iter().any(|d| same(&d.name, n)))
        {
            return Err(format!(
                "column {n} was dropped and a column {n} added (or renamed to it), and \
                 on_drop_column = \"keep\" keeps the old one under that name"
            ));
        }
    }
    let mut steps: Vec<Step> = gone
        .into_iter()
        .map(|d| match on_drop {
            OnDrop::Drop => Step::Drop {
                name: d.name.clone(),
            },
            OnDrop::Keep => Step::Keep {
                name: d.name.clone(),
                column_type: d.column_type.clone(),
                nullable: d.nullable,
            },
        })
        .collect();
    steps.extend(renames);
    steps.extend(widens_);
    steps.extend(adds);
    Ok(steps)
}

/// The statements of `steps`; `fill(col)`: the SQL literal of what the
/// rows that were there got in added column `col` (`None`: NULL), given
/// as the column's default at the destination, which it keeps.
pub fn statements(
    s: &TableSchema,
    steps: &[Step],
    dialect: Dialect,
    fill: &dyn Fn(usize) -> Option<String>,
) -> Vec<String> {
    let t = table_ref(&s.dest_db, &s.dest_table);
    let spec = |i: usize| {
        let null = if s.is_key(i) { "NOT NULL" } else { "NULL" };
        format!("{} {null}", column_type(s, i))
    };
    let mut out = vec![];
    for st in steps {
        match st {
            Step::Rename { from, col } => {
                let to = q(&s.columns[*col].name);
                out.push(match dialect {
                    Dialect::Mysql => format!(
                        "ALTER TABLE {t} CHANGE COLUMN {} {to} {}",
                        q(from),
                        spec(*col)
                    ),
                    Dialect::SingleStore => format!("ALTER TABLE {t} CHANGE {} {to}", q(from)),
                });
            }
            // One statement: the rows there get the value with the column
            // (a sync-struct cut short in between would leave them NULL).
            Step::Add { col } => {
                let c = q(&s.columns[*col].name);
                let default = fill(*col)
                    .map(|v| format!(" DEFAULT {v}"))
                    .unwrap_or_default();
                out.push(format!(
                    "ALTER TABLE {t} ADD COLUMN {c} {}{default}",
                    spec(*col)
                ));
            }
            Step::Widen { col, .. } => out.push(format!(
                "ALTER TABLE {t} MODIFY COLUMN {} {}",
                q(&s.columns[*col].name),
                spec(*col)
            )),
            Step::Keep {
                name,
                column_type,
                nullable: false,
            } => out.push(format!(
                "ALTER TABLE {t} MODIFY COLUMN {} {column_type} NULL",
                q(name)
            )),
            Step::Keep { .. } => {}
            Step::Drop { name } => out.push(format!("ALTER TABLE {t} DROP COLUMN {}", q(name))),
        }
    }
    out
}

/// A step for the log: `added c`, `widened n from int(11)`.
pub fn describe(s: &TableSchema, st: &Step) -> String {
    match st {
        Step::Rename { from, col } => format!("renamed {from} to {}", s.columns[*col].name),
        Step::Add { col } => format!("added {}", s.columns[*col].name),
        Step::Widen { col, from } => format!(
            "widened {} from {from} to {}",
            s.columns[*col].name,
            column_type(s, *col)
        ),
        Step::Keep { name, .. } => format!("kept {name} (dropped at the source; NULL in new rows)"),
        Step::Drop { name } => format!("dropped {name}"),
    }
}

#[cfg(test)]
#[path = "alter_tests.rs"]
mod tests;
