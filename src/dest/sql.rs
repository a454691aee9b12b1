//! SQL for the destination, as text: DDL, staging, LOAD DATA and merge (the
//! merge chosen by [`super::plan`]).
//!
//! Pure functions of a [`TableSchema`] and a [`Dialect`], tested as text. The
//! `mysql` dialect is what MySQL/MariaDB accept (the tests run it against
//! MariaDB); `singlestore` adds SingleStore's `SHARD KEY`/`SORT KEY`.
//!
//! Merge of a batch (one transaction, idempotent: running it twice gives the
//! same table):
//! 1. a TRUNCATE in the batch: delete every row; only lines after it count;
//! 2. delete the target rows of every key staged;
//! 3. insert the last line per key (highest `_seq`) unless it is a delete.
//!
//! When some line carries unchanged columns (`_unch`), step 3 reads from a
//! second table filled first: for each such column the value comes from the
//! latest earlier line of the same key that carried it, else from the target
//! row as it was before the merge.

pub use super::plan::MergeShape;
use super::plan::StagedMerge;
use crate::config::Dialect;
use crate::schema::TableSchema;

/// What the generated SQL depends on besides the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flavor {
    pub dialect: Dialect,
    /// A binary collation without trailing-space padding where the server
    /// has one: 'a' and 'a ' are different keys at the source.
    pub collation: String,
    /// SingleStore: target tables are ROWSTORE (else columnstore).
    pub rowstore: bool,
    /// `staging_schema`: the database of the delta's helper tables (else
    /// the target's).
    pub staging: Option<String>,
}

impl Flavor {
    pub fn new(dialect: Dialect, collation: &str) -> Flavor {
        Flavor {
            dialect,
            collation: collation.to_string(),
            rowstore: false,
            staging: None,
        }
    }
}

/// Quotes an identifier with backticks (doubling any inside).
pub fn q(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// Quotes a string literal for MySQL-protocol SQL.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

pub fn table_ref(db: &str, table: &str) -> String {
    format!("{}.{}", q(db), q(table))
}

/// Name of a helper table next to `table` (`<table>__ingest_delta`), kept
/// within MySQL's 64-character limit.
/// A delta helper table (staging, fill) of `s`: beside the target, or in
/// `staging_schema`, where its name starts with the target's database
/// (two databases' tables of one name must not share helpers).
pub fn helper_ref(s: &TableSchema, f: &Flavor, suffix: &str) -> String {
    match &f.staging {
        None => table_ref(&s.dest_db, &helper_name(&s.dest_table, suffix)),
        Some(db) => table_ref(
            db,
            &helper_name(&format!("{}__{}", s.dest_db, s.dest_table), suffix),
        ),
    }
}

pub fn helper_name(table: &str, suffix: &str) -> String {
    let full = format!("{table}__ingest_{suffix}");
    if full.chars().count() <= 64 {
        return full;
    }
    // FNV-1a keeps different long names apart.
    let mut h: u32 = 0x811c_9dc5;
    for b in table.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let head: String = table.chars().take(40).collect();
    format!("{head}_{h:08x}__ingest_{suffix}")
}

/// Suffixes of the helper tables of deltas: `<table>__ingest_delta` holds a
/// batch's lines, `<table>__ingest_merge` the rows of a merge that fills
/// unchanged columns. (Before the bookkeeping columns were renamed they
/// were `__ingest_stage` and `__ingest_fill`; a full extract drops those.)
pub const STAGE: &str = "delta";
pub const FILL: &str = "merge";
/// Helper tables of older layouts, dropped by a full extract.
pub const OLD_HELPERS: [&str; 2] = ["stage", "fill"];

/// Bytes an index key may take in MySQL/MariaDB (InnoDB).
const KEY_BYTES: usize = 3072;

/// The destination's key column of a table keyed by a hash of its key.
pub const KEY_HASH: &str = "ingest_key_hash";

/// Bytes a column of `dest_type` takes in an index (utf8mb4: 4 bytes a
/// character); `None`: unbounded (TEXT, BLOB, JSON).
fn index_bytes(dest_type: &str) -> Option<usize> {
    let t = dest_type.to_ascii_uppercase();
    if ["TEXT", "BLOB", "JSON"].iter().any(|u| t.contains(u)) {
        return None;
    }
    let len = || -> Option<usize> {
        t.split_once('(')?
            .1
            .split([')', ','])
            .next()?
            .trim()
            .parse()
            .ok()
    };
    Some(if t.starts_with("VARCHAR") || t.starts_with("CHAR") {
        4 * len().unwrap_or(1)
    } else if t.starts_with("VARBINARY") || t.starts_with("BINARY") {
        len().unwrap_or(1)
    } else {
        // Numbers, dates, DECIMAL(65), ENUM: at most this.
        32
    })
}

/// Whether the table's key cannot be the destination's index: a column of
/// unbounded length (PostgreSQL `text`, MySQL `TEXT`/`BLOB`: on both
/// dialects), or (`mysql` dialect) more than InnoDB's 3,072 bytes
/// together; SingleStore documents no per-key byte limit
/// (<https://docs.singlestore.com/db/v8.7/reference/configuration-reference/system-limits/>).
/// Such a table is keyed by a SHA-256 of its key ([`shaped`]), exact for
/// keys of any length.
pub fn needs_key_hash(s: &TableSchema, dialect: Dialect) -> bool {
    if s.keyless || !s.hashed_key.is_empty() {
        return false;
    }
    let mut total = if s.history.is_some() { 8 } else { 0 };
    for &k in &s.key {
        match index_bytes(&s.columns[k].dest_type) {
            None => return true,
            Some(b) => total += b,
        }
    }
    dialect == Dialect::Mysql && total > KEY_BYTES
}

/// The table as the destination's SQL sees it: a table whose key cannot be
/// an index gets `ingest_key_hash BINARY(32)` (the SHA-256 of the key's
/// values, computed as each spool file is loaded) as its key, the source's
/// key columns kept beside it with their own types.
pub fn shaped(s: &TableSchema, dialect: Dialect) -> std::borrow::Cow<'_, TableSchema> {
    if !needs_key_hash(s, dialect) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut d = s.clone();
    d.hashed_key = std::mem::take(&mut d.key);
    d.columns.push(crate::schema::Column {
        name: KEY_HASH.into(),
        source_type: "sha-256 of the key".into(),
        dest_type: "BINARY(32)".into(),
        conv: crate::schema::Conv::Verbatim,
        binary: false,
        toastable: false,
        nullable: false,
        masked: false,
        generated: false,
        type_change: None,
    });
    d.key = vec![d.columns.len() - 1];
    std::borrow::Cow::Owned(d)
}

/// The SHA-256 of values, each with its length and NULL apart: `values`
/// are SQL expressions.
pub(super) fn hash_of(values: impl IntoIterator<Item = String>) -> String {
    let parts = values
        .into_iter()
        .map(|c| format!("IF({c} IS NULL, 'n', CONCAT('v', LENGTH({c}), ':', {c}))"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("SHA2(CONCAT_WS('|', {parts}), 256)")
}

/// Column type as used in the target (keys that could not be an index are
/// hashed instead: [`shaped`]).
pub fn column_type(s: &TableSchema, i: usize) -> String {
    s.columns[i].dest_type.clone()
}

/// Key columns are NOT NULL (a keyless table's identity columns are not).
fn not_null(s: &TableSchema, i: usize) -> bool {
    s.is_key(i) && !s.keyless
}

pub(super) fn key_list(s: &TableSchema) -> String {
    listed(s, s.key.iter().copied(), "")
}

/// Columns `idx` of `s`, quoted, comma-separated, each after `alias.`
/// when an alias is given.
pub(super) fn listed(s: &TableSchema, idx: impl IntoIterator<Item = usize>, alias: &str) -> String {
    let dot = if alias.is_empty() {
        String::new()
    } else {
        format!("{alias}.")
    };
    idx.into_iter()
        .map(|i| format!("{dot}{}", q(&s.columns[i].name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Helper-table index: a prefix of each long string key column is enough
/// to find a key's lines quickly, and keeps within the key budget. A prefix
/// may not be longer than its column (MariaDB and MySQL refuse `CHAR(36)`
/// indexed as `(64)`), so shorter columns are indexed whole.
fn helper_key_list(s: &TableSchema) -> String {
    s.key
        .iter()
        .map(|&i| {
            let t = column_type(s, i).to_ascii_uppercase();
            let string = ["VARCHAR", "VARBINARY", "CHAR", "BINARY"]
                .iter()
                .any(|p| t.starts_with(p));
            let len: Option<u64> = t
                .split_once('(')
                .and_then(|(_, r)| r.split(')').next())
                .and_then(|n| n.trim().parse().ok());
            if string && len.is_none_or(|n| n > HELPER_PREFIX) {
                format!("{}({HELPER_PREFIX})", q(&s.columns[i].name))
            } else {
                q(&s.columns[i].name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Characters (bytes for binary columns) of a long string key column that
/// the helper tables index.
const HELPER_PREFIX: u64 = 64;

pub fn create_database(db: &str) -> String {
    format!("CREATE DATABASE IF NOT EXISTS {}", q(db))
}

/// The character set and collation of a created table: MySQL/MariaDB's
/// `DEFAULT CHARSET = ... COLLATE = ...`; SingleStore documents the form
/// `COLLATE <name>` after the column list
/// (<https://docs.singlestore.com/cloud/reference/sql-reference/data-definition-language-ddl/create-table/>)
/// and only warns on a clause it ignores, so the created collation is read
/// back ([`super::Dest::prepare_shadow`]).
fn table_options(f: &Flavor) -> String {
    match f.dialect {
        Dialect::Mysql => format!("DEFAULT CHARSET = utf8mb4 COLLATE = {}", f.collation),
        Dialect::SingleStore => format!("COLLATE {}", f.collation),
    }
}

/// The target table.
pub fn create_target(s: &TableSchema, f: &Flavor) -> String {
    let mut cols: Vec<String> = (0..s.columns.len())
        .map(|i| {
            let null = if not_null(s, i) { "NOT NULL" } else { "NULL" };
            format!("{} {} {null}", q(&s.columns[i].name), column_type(s, i))
        })
        .collect();
    if s.keyless {
        // Rows have no identity of their own: the destination numbers them.
        cols.push(format!(
            "{} BIGINT NOT NULL AUTO_INCREMENT",
            q(crate::schema::ROW_COLUMN)
        ));
    }
    // A history table: every version, keyed by the source key and start;
    // its versions stay together (SingleStore: one shard per source key).
    let pk = match &s.history {
        None if s.keyless => q(crate::schema::ROW_COLUMN),
        None => key_list(s),
        Some(h) => {
            for (c, t) in [
                (&h.start, "DATETIME(6)"),
                (&h.end, "DATETIME(6)"),
                (&h.op, "CHAR(1)"),
            ] {
                cols.push(format!("{} {t} NOT NULL", q(c)));
            }
            format!("{}, {}", key_list(s), q(&h.start))
        }
    };
    cols.push(format!("PRIMARY KEY ({pk})"));
    let mut kind = "";
    if f.dialect == Dialect::SingleStore {
        let shard = if s.keyless { pk.clone() } else { key_list(s) };
        cols.push(format!("SHARD KEY ({shard})"));
        // A sort key is a columnstore's; `table_type = "rowstore"` says so.
        if f.rowstore {
            kind = "ROWSTORE ";
        } else {
            cols.push(format!("SORT KEY ({pk})"));
        }
    }
    format!(
        "CREATE {kind}TABLE IF NOT EXISTS {} (\n  {}\n) {}",
        table_ref(&s.dest_db, &s.dest_table),
        cols.join(",\n  "),
        table_options(f)
    )
}

/// Names of the bookkeeping columns of the helper tables (the spool line's
/// `_op`, `_seq`, `_ts`, `_unch`, and those the merge computes). They start
/// with `_ingest_`, one more `_` in front as long as some column of the
/// table starts with that (compared as MySQL does, ignoring case), so they
/// never meet a source column: a source column `_ts` once made every delta
/// of its table fail (duplicate column).
pub struct Bk {
    prefix: String,
}

impl Bk {
    pub fn of(s: &TableSchema) -> Bk {
        let mut prefix = "_ingest_".to_string();
        let mut names: Vec<String> = s.columns.iter().map(|c| c.name.to_lowercase()).collect();
        if let Some(h) = &s.history {
            names.extend([&h.start, &h.end, &h.op].map(|n| n.to_lowercase()));
        }
        while names.iter().any(|n| n.starts_with(&prefix)) {
            prefix.insert(0, '_');
        }
        Bk { prefix }
    }

    /// A bookkeeping column, quoted.
    pub(super) fn col(&self, name: &str) -> String {
        q(&format!("{}{name}", self.prefix))
    }

    pub fn op(&self) -> String {
        self.col("op")
    }
    pub fn seq(&self) -> String {
        self.col("seq")
    }
    pub fn ts(&self) -> String {
        self.col("ts")
    }
    pub fn unch(&self) -> String {
        self.col("unch")
    }
    fn rn(&self) -> String {
        self.col("rn")
    }
    /// Per unchanged-capable column `i`: its group, and the group's value.
    fn group(&self, i: usize) -> String {
        self.col(&format!("g{i}"))
    }
    fn first(&self, i: usize) -> String {
        self.col(&format!("f{i}"))
    }
}

fn helper_columns(s: &TableSchema) -> Vec<String> {
    let b = Bk::of(s);
    let mut cols = vec![
        format!("{} CHAR(1) NOT NULL", b.op()),
        format!("{} BIGINT NOT NULL", b.seq()),
        format!("{} DATETIME(6) NULL", b.ts()),
        format!("{} TEXT NULL", b.unch()),
    ];
    cols.extend((0..s.columns.len()).map(|i| {
        // Key columns are in the staging table's primary key.
        let null = if not_null(s, i) { "NOT NULL" } else { "NULL" };
        format!("{} {} {null}", q(&s.columns[i].name), column_type(s, i))
    }));
    cols
}

/// The keys of a helper table's index: MySQL/MariaDB index a prefix of
/// long string keys (InnoDB's key budget); SingleStore takes whole columns
/// (its documented index syntax has no prefix lengths).
fn helper_keys(s: &TableSchema, f: &Flavor) -> String {
    match f.dialect {
        Dialect::Mysql => helper_key_list(s),
        Dialect::SingleStore => key_list(s),
    }
}

/// A helper table (`suffix`): the spool line's columns, then `index`. On
/// SingleStore a rowstore table sharded by the target's key, like the
/// target, so that a merge joins each key within its partition; without the
/// shard key it would be the whole primary key (key and `_seq`) and every
/// merge would move rows between partitions
/// (<https://docs.singlestore.com/cloud/create-a-database/physical-database-schema-design/understanding-shard-key-selection/>).
fn create_helper(s: &TableSchema, f: &Flavor, suffix: &str, index: String) -> String {
    let mut cols = helper_columns(s);
    cols.push(index);
    let kind = match f.dialect {
        Dialect::Mysql => "",
        Dialect::SingleStore => {
            // A shard key is part of the primary key: a keyless table's
            // lines are keyed by their order.
            let shard = if s.keyless {
                Bk::of(s).seq()
            } else {
                key_list(s)
            };
            cols.push(format!("SHARD KEY ({shard})"));
            "ROWSTORE "
        }
    };
    format!(
        "CREATE {kind}TABLE IF NOT EXISTS {} (\n  {}\n) {}",
        helper_ref(s, f, suffix),
        cols.join(",\n  "),
        table_options(f)
    )
}

/// The staging table: spool lines as they are, indexed by key and order.
pub fn create_stage(s: &TableSchema, f: &Flavor) -> String {
    // Clustered by key and order: one index to fill, and the merge reads
    // each key's lines in order. `_seq` is unique within a batch. A
    // keyless table's lines are counted by their whole row: by order.
    let index = if s.keyless {
        format!("PRIMARY KEY ({})", Bk::of(s).seq())
    } else {
        format!("PRIMARY KEY ({}, {})", helper_keys(s, f), Bk::of(s).seq())
    };
    create_helper(s, f, STAGE, index)
}

/// The table that holds merged rows when unchanged columns must be filled.
pub fn create_fill(s: &TableSchema, f: &Flavor) -> String {
    create_helper(s, f, FILL, format!("KEY ({})", helper_keys(s, f)))
}

pub fn truncate(db: &str, table: &str) -> String {
    format!("TRUNCATE TABLE {}", table_ref(db, table))
}

/// `LOAD DATA LOCAL INFILE` of one spool file into the staging table.
/// Where a spool file is loaded: the staging table keeps the change
/// columns; a snapshot goes straight into the new target and drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadInto {
    Stage,
    Shadow,
    /// A delta whose keys are unique, straight into the target: a line
    /// replaces the row of its key (`REPLACE`), inside the merge transaction.
    Replace,
    /// A full extract's part into the emptied target
    /// (`truncate_instead_of_drop`).
    Target,
}

/// `file_name` names the spool file; the bytes streamed are always plain
/// CSV (a `.gz` file is decompressed on the way), so the name given to the
/// server never ends in `.gz`: SingleStore chooses decompression from the
/// name (<https://docs.singlestore.com/cloud/reference/sql-reference/data-manipulation-language-dml/load-data/>,
/// `COMPRESSION`). On SingleStore `NULL DEFINED BY 'NULL'` makes the bare
/// word NULL, and only it, SQL NULL (a quoted "NULL" stays a string), as
/// MySQL does for an unquoted NULL with `ESCAPED BY ''`.
pub fn load_data(s: &TableSchema, file_name: &str, into: LoadInto, f: &Flavor) -> String {
    let file_name = file_name.strip_suffix(".gz").unwrap_or(file_name);
    let (table, replace) = match into {
        LoadInto::Stage => (helper_ref(s, f, STAGE), ""),
        LoadInto::Shadow => (
            table_ref(&s.dest_db, &helper_name(&s.dest_table, "new")),
            "",
        ),
        LoadInto::Replace => (table_ref(&s.dest_db, &s.dest_table), "REPLACE "),
        LoadInto::Target => (table_ref(&s.dest_db, &s.dest_table), ""),
    };
    // Staging keeps the change columns; the others read them into variables.
    let b = Bk::of(s);
    let mut targets: Vec<String> = match into {
        LoadInto::Stage => vec![b.op(), b.seq(), b.ts(), b.unch()],
        // User variables: no column of the table can clash with them.
        LoadInto::Shadow | LoadInto::Replace | LoadInto::Target => {
            ["@_op", "@_seq", "@_ts", "@_unch"]
                .iter()
                .map(|v| v.to_string())
                .collect()
        }
    };
    let mut sets = vec![];
    if let (LoadInto::Shadow, Some(h)) = (into, &s.history) {
        // A snapshot's rows are versions starting at its time.
        sets.push(format!("{} = @_ts", q(&h.start)));
        sets.push(format!("{} = {}", q(&h.end), lit(&h.open_end)));
        sets.push(format!("{} = 'I'", q(&h.op)));
    }
    for (i, c) in s.columns.iter().enumerate() {
        if !s.hashed_key.is_empty() && s.is_key(i) {
            // Not in the file: computed from the key's values, last.
            continue;
        }
        if c.binary {
            targets.push(format!("@b{i}"));
            sets.push(format!("{} = UNHEX(@b{i})", q(&c.name)));
        } else if crate::schema::enum_by_index(&c.source_type) {
            targets.push(format!("@e{i}"));
            sets.push(format!("{} = CAST(@e{i} AS UNSIGNED)", q(&c.name)));
        } else {
            targets.push(q(&c.name));
        }
    }
    if !s.hashed_key.is_empty() {
        let values = s.hashed_key.iter().map(|&i| {
            let c = &s.columns[i];
            if c.binary {
                format!("UNHEX(@b{i})")
            } else if crate::schema::enum_by_index(&c.source_type) {
                format!("@e{i}")
            } else {
                q(&c.name)
            }
        });
        sets.push(format!("{} = UNHEX({})", q(KEY_HASH), hash_of(values)));
    }
    let mut sql = format!(
        "LOAD DATA LOCAL INFILE {} {replace}INTO TABLE {} CHARACTER SET utf8mb4 \
         FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' \
         LINES TERMINATED BY '\\n'{} ({})",
        lit(file_name),
        table,
        match f.dialect {
            Dialect::Mysql => "",
            Dialect::SingleStore => " NULL DEFINED BY 'NULL'",
        },
        targets.join(", ")
    );
    if !sets.is_empty() {
        sql.push_str(" SET ");
        sql.push_str(&sets.join(", "));
    }
    sql
}

pub(super) fn key_join(s: &TableSchema, a: &str, b: &str) -> String {
    s.key
        .iter()
        .map(|&i| {
            let c = q(&s.columns[i].name);
            format!("{a}.{c} = {b}.{c}")
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Deletes the target rows of the staged lines (the `D` lines of a batch
/// whose other lines were loaded with [`LoadInto::Replace`]).
pub fn delete_staged(s: &TableSchema, f: &Flavor) -> String {
    format!(
        "DELETE t FROM {} t JOIN {} s ON {}",
        table_ref(&s.dest_db, &s.dest_table),
        helper_ref(s, f, STAGE),
        key_join(s, "t", "s")
    )
}

/// Asks whether a key appears more than once in the staged lines that
/// count; answers one row when it does. Uses the staging table's index.
pub fn repeated_key(s: &TableSchema, truncate_seq: Option<u64>, f: &Flavor) -> String {
    let b = Bk::of(s);
    let after = match truncate_seq {
        Some(t) => format!(" WHERE {} > {t}", b.seq()),
        None => String::new(),
    };
    format!(
        "SELECT 1 FROM {}{after} GROUP BY {} HAVING COUNT(*) > 1 LIMIT 1",
        helper_ref(s, f, STAGE),
        key_list(s)
    )
}

/// The statements of one merge, to run in order inside one transaction.
pub fn merge(s: &TableSchema, shape: MergeShape, f: &Flavor) -> Vec<String> {
    let b = Bk::of(s);
    let (op, seq, ts, unch, rn) = (b.op(), b.seq(), b.ts(), b.unch(), b.rn());
    let target = table_ref(&s.dest_db, &s.dest_table);
    let stage = helper_ref(s, f, STAGE);
    let keys = key_list(s);
    let cols = listed(s, 0..s.columns.len(), "");
    let after = match shape.truncate_seq {
        Some(t) => format!(" WHERE {seq} > {t}"),
        None => String::new(),
    };
    let mut out = vec![];
    let how = super::plan::staged_merge(&shape);
    if how == StagedMerge::Upsert {
        // One line per key: delete the deleted keys, upsert the others.
        // Measured 2.5x faster than delete-all-then-insert-last on MariaDB.
        match shape.truncate_seq {
            Some(_) => out.push(format!("DELETE FROM {target}")),
            None if shape.deletes > 0 => out.push(format!(
                "DELETE t FROM {target} t JOIN {stage} s ON {} WHERE s.{op} = 'D'",
                key_join(s, "t", "s")
            )),
            None => {}
        }
        // The staged lines' alias: in ON DUPLICATE KEY UPDATE the target's
        // own name is in scope too, so a table named `s` needs another.
        let sa = if s.dest_table.eq_ignore_ascii_case("s") {
            "s_"
        } else {
            "s"
        };
        let value = |c: &str| match f.dialect {
            // MySQL 8.0.20+ warns on VALUES(); naming the select's column
            // works on MySQL and MariaDB. SingleStore documents VALUES().
            Dialect::Mysql => format!("{sa}.{c}"),
            Dialect::SingleStore => format!("VALUES({c})"),
        };
        let sets: Vec<String> = (0..s.columns.len())
            .filter(|&i| !s.is_key(i))
            .map(|i| {
                let c = q(&s.columns[i].name);
                format!("{c} = {}", value(&c))
            })
            .collect();
        let scols = s
            .columns
            .iter()
            .map(|c| format!("{sa}.{}", q(&c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        let and_after = match shape.truncate_seq {
            Some(t) => format!(" AND {sa}.{seq} > {t}"),
            None => String::new(),
        };
        if sets.is_empty() {
            // Key columns only: nothing to update, only keys to add. An
            // anti-join, since SingleStore cannot update key columns of a
            // columnstore table in ON DUPLICATE KEY UPDATE
            // (<https://docs.singlestore.com/cloud/reference/sql-reference/data-manipulation-language-dml/insert/>).
            out.push(format!(
                "INSERT INTO {target} ({cols}) SELECT {scols} FROM {stage} {sa} LEFT JOIN {target} t ON {} \
                 WHERE t.{} IS NULL AND {sa}.{op} <> 'D'{and_after}",
                key_join(s, "t", sa),
                q(&s.columns[s.key[0]].name)
            ));
            return out;
        }
        out.push(format!(
            "INSERT INTO {target} ({cols}) SELECT {scols} FROM {stage} {sa} WHERE {sa}.{op} <> 'D'{and_after} \
             ON DUPLICATE KEY UPDATE {}",
            sets.join(", ")
        ));
        return out;
    }
    if shape.truncate_seq.is_some() {
        out.push(format!("DELETE FROM {target}"));
    } else {
        out.push(format!(
            "DELETE t FROM {target} t JOIN (SELECT DISTINCT {keys} FROM {stage}) s ON {}",
            key_join(s, "t", "s")
        ));
    }
    let last = format!(
        "SELECT x.* FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {seq} DESC) AS {rn} \
         FROM {stage} s{after}) x WHERE x.{rn} = 1 AND x.{op} <> 'D'"
    );
    if how == StagedMerge::LastChange {
        out.push(format!(
            "INSERT INTO {target} ({cols}) SELECT {cols} FROM ({last}) y"
        ));
        return out;
    }
    // Fill unchanged columns: from the latest earlier line that carried the
    // value (running count of "carried" per key gives the group), else from
    // the target as it was. This must run before the DELETE above.
    let fill = helper_ref(s, f, FILL);
    let toast: Vec<usize> = (0..s.columns.len())
        .filter(|&i| s.columns[i].toastable && !s.is_key(i))
        .collect();
    // `_unch` is a comma-separated list of positions: a column is carried
    // unless `,<pos>,` is in `,<list>,` (INSTR and CONCAT are documented by
    // SingleStore, FIND_IN_SET is not).
    let carried = |i: usize| {
        format!(
            "(x.{unch} IS NULL OR INSTR(CONCAT(',', x.{unch}, ','), ',{},') = 0)",
            i + 1
        )
    };
    let mut groups = String::new();
    for &i in &toast {
        groups.push_str(&format!(
            ", SUM(CASE WHEN {} THEN 1 ELSE 0 END) OVER (PARTITION BY {keys} ORDER BY x.{seq} \
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {}",
            carried(i),
            b.group(i)
        ));
    }
    // An ENUM passes through CASE and FIRST_VALUE as its label, and the
    // label of the error value (index 0) is `''`, which is also a member's
    // where `''` is listed: ENUMs are filled by index (MySQL dialect).
    let by_index = |i: usize| {
        f.dialect == Dialect::Mysql
            && crate::schema::enum_error_text(&s.columns[i].source_type).is_some()
    };
    let plus = |i: usize| if by_index(i) { " + 0" } else { "" };
    let mut firsts = String::new();
    for &i in &toast {
        firsts.push_str(&format!(
            ", FIRST_VALUE(g.{c}{p}) OVER (PARTITION BY {gkeys}, g.{g} ORDER BY g.{seq}) AS {f}",
            p = plus(i),
            c = q(&s.columns[i].name),
            g = b.group(i),
            f = b.first(i),
            gkeys = s
                .key
                .iter()
                .map(|&k| format!("g.{}", q(&s.columns[k].name)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let select_cols = s
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if toast.contains(&i) {
                format!(
                    "CASE WHEN f.{g} = 0 THEN t.{n}{p} ELSE f.{f} END",
                    p = plus(i),
                    n = q(&c.name),
                    g = b.group(i),
                    f = b.first(i)
                )
            } else {
                format!("f.{}", q(&c.name))
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    // Index 0 (the error value) can only be stored with a warning, which
    // strict mode makes an error; every other value here is copied between
    // columns of the same type.
    let ignore = if toast.iter().any(|&i| by_index(i)) {
        "IGNORE "
    } else {
        ""
    };
    let fill_sql = format!(
        "INSERT {ignore}INTO {fill} ({op}, {seq}, {ts}, {unch}, {cols}) \
         SELECT f.{op}, f.{seq}, f.{ts}, NULL, {select_cols} FROM (\
         SELECT g.*, ROW_NUMBER() OVER (PARTITION BY {gk} ORDER BY g.{seq} DESC) AS {rn}{firsts} FROM (\
         SELECT x.*{groups} FROM {stage} x{after}) g) f \
         LEFT JOIN {target} t ON {join} WHERE f.{rn} = 1 AND f.{op} <> 'D'",
        gk = s.key.iter().map(|&k| format!("g.{}", q(&s.columns[k].name))).collect::<Vec<_>>().join(", "),
        join = key_join(s, "t", "f"),
    );
    let mut with_fill = vec![fill_sql];
    with_fill.extend(out);
    with_fill.push(format!(
        "INSERT INTO {target} ({cols}) SELECT {cols} FROM {fill}"
    ));
    with_fill
}

/// Full extract: the snapshot was loaded into `<table>__ingest_new`, created
/// from the target's DDL; it takes the target's place. MySQL/MariaDB rename
/// both tables in one atomic statement; SingleStore renames one table at a
/// time (the target is missing for a moment between the two).
pub fn swap_in(s: &TableSchema, f: &Flavor, target_exists: bool) -> Vec<String> {
    let target = table_ref(&s.dest_db, &s.dest_table);
    let new = table_ref(&s.dest_db, &helper_name(&s.dest_table, "new"));
    let old = table_ref(&s.dest_db, &helper_name(&s.dest_table, "old"));
    let mut out = vec![format!("DROP TABLE IF EXISTS {old}")];
    match (target_exists, f.dialect) {
        (false, Dialect::Mysql) => out.push(format!("RENAME TABLE {new} TO {target}")),
        (false, Dialect::SingleStore) => out.push(format!("ALTER TABLE {new} RENAME TO {target}")),
        (true, Dialect::Mysql) => {
            out.push(format!("RENAME TABLE {target} TO {old}, {new} TO {target}"));
            out.push(format!("DROP TABLE {old}"));
        }
        (true, Dialect::SingleStore) => {
            out.push(format!("ALTER TABLE {target} RENAME TO {old}"));
            out.push(format!("ALTER TABLE {new} RENAME TO {target}"));
            out.push(format!("DROP TABLE {old}"));
        }
    }
    out
}

/// Every statement ingest would send for a table, as text to review
/// (`ingest sql`): the full extract's, then the delta's for each way a
/// batch can be merged. `file` stands for a spool file's name.
pub fn review(s: &TableSchema, f: &Flavor) -> String {
    let file = format!("001_{}.{}.csv", s.dest_db, s.dest_table);
    let mut shadow = s.clone();
    shadow.dest_table = helper_name(&s.dest_table, "new");
    let mut out = vec![format!(
        "-- {} -> {} (dialect {}, collation {})",
        s.source_name(),
        s.dest_name(),
        match f.dialect {
            Dialect::Mysql => "mysql",
            Dialect::SingleStore => "singlestore",
        },
        f.collation
    )];
    out.push(
        "-- full extract: a new table receives the snapshot, then takes the target's place".into(),
    );
    out.push(create_database(&s.dest_db));
    out.push(create_target(&shadow, f));
    out.push(load_data(s, &file, LoadInto::Shadow, f));
    out.push("-- (when the target exists)".into());
    out.extend(swap_in(s, f, true));
    out.push("-- delta: helper tables".into());
    out.push(create_stage(s, f));
    out.push(create_fill(s, f));
    if f.dialect == Dialect::Mysql {
        out.push("-- delta, whole rows, no TRUNCATE: D lines staged, the rest straight in, one transaction".into());
        out.push(load_data(s, &file, LoadInto::Stage, f));
        out.push(delete_staged(s, f));
        out.push(load_data(s, &file, LoadInto::Replace, f));
    }
    out.push("-- delta, staged: the lines are loaded, then merged in one transaction".into());
    out.push(load_data(s, &file, LoadInto::Stage, f));
    out.push(repeated_key(s, None, f));
    if s.keyless {
        out.push(
            "-- keyless: a batch's lines are staged, counted per row and merged in one transaction"
                .into(),
        );
        out.push(super::keyless::create_marker(s, f));
        out.push(load_data(s, &file, LoadInto::Stage, f));
        out.push(super::keyless::read_marker(s, f));
        out.push("-- merge (a TRUNCATE at line 10 adds a DELETE of every row first)".into());
        out.extend(super::keyless::merge(s, f, None));
        out.extend(super::keyless::set_marker(s, f, "<batch>"));
        return text_of(out);
    }
    if s.history.is_some() {
        out.push("-- history: a batch's lines are staged, then merged in one transaction".into());
        out.push(load_data(s, &file, LoadInto::Stage, f));
        out.push("-- merge, a TRUNCATE at line 10".into());
        let t = [(10, "2026-01-01 00:00:00.000000".to_string())];
        let lines = |truncates, unchanged, keys_unique| super::history::Lines {
            truncates,
            unchanged,
            keys_unique,
        };
        out.extend(super::history::merge(s, f, lines(&t, false, false)));
        out.push("-- merge, unchanged (TOAST) values to fill".into());
        out.extend(super::history::merge(s, f, lines(&[], true, false)));
        out.push("-- merge, each key once (no TRUNCATE, no unchanged values)".into());
        out.extend(super::history::merge(s, f, lines(&[], false, true)));
        out.push("-- full extract into an existing history table: the snapshot is compared".into());
        out.extend(super::history::merge_snapshot(
            s,
            f,
            "2026-01-01 00:00:00.000000",
        ));
        return text_of(out);
    }
    let shapes = [
        (
            "each key once",
            MergeShape {
                keys_unique: true,
                deletes: 1,
                ..MergeShape::default()
            },
        ),
        ("keys repeat", MergeShape::default()),
        (
            "a TRUNCATE at line 10, keys repeat",
            MergeShape {
                truncate_seq: Some(10),
                ..MergeShape::default()
            },
        ),
        (
            "unchanged (TOAST) values to fill",
            MergeShape {
                unchanged: true,
                ..MergeShape::default()
            },
        ),
    ];
    for (what, shape) in shapes {
        out.push(format!("-- merge, {what}"));
        out.extend(merge(s, shape, f));
    }
    text_of(out)
}

/// Statements as a script: `--` lines are comments before a blank line.
fn text_of(out: Vec<String>) -> String {
    let mut text = String::new();
    for line in out {
        if line.starts_with("--") {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&line);
            text.push('\n');
        } else {
            text.push_str(&line);
            text.push_str(";\n");
        }
    }
    text
}

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;
