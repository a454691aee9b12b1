//! A SQL Server-source case: the TDS fixture server (tests/sqlserver)
//! answers over real ODBC (unixODBC built into ingest, FreeTDS's driver)
//! with result sets the test writes, and logs every statement; the
//! destination is a database of the test MariaDB.

use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::{json, Value};

use super::*;

/// A column of a fixture table: its name and declared SQL Server type
/// (`decimal(18,2)`, `nvarchar(max)`, `hierarchyid`).
pub struct Col(pub &'static str, pub &'static str);

/// A table the fixture server describes: columns, primary key, rows (JSON
/// values in the fixture server's forms: binary as "0x..").
pub struct Table {
    pub schema: &'static str,
    pub name: &'static str,
    pub cols: Vec<Col>,
    pub key: Vec<&'static str>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn qname(&self) -> String {
        format!("[{}].[{}]", self.schema, self.name)
    }
    fn regex_name(&self) -> String {
        format!("\\[{}\\]\\.\\[{}\\]", self.schema, self.name)
    }
}

/// What the catalog says of a declared type: (type name, max_length,
/// precision, scale).
fn catalog(decl: &str) -> (String, i64, i64, i64) {
    let (base, args) = match decl.split_once('(') {
        Some((b, a)) => (b, a.trim_end_matches(')')),
        None => (decl, ""),
    };
    let nums: Vec<i64> = args
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let max = args.trim() == "max";
    let n = |d: i64| nums.first().copied().unwrap_or(d);
    let (len, p, s) = match base {
        "bit" => (1, 1, 0),
        "tinyint" => (1, 3, 0),
        "smallint" => (2, 5, 0),
        "int" => (4, 10, 0),
        "bigint" => (8, 19, 0),
        "real" => (4, 24, 0),
        "float" => (8, 53, 0),
        "decimal" | "numeric" => (17, n(18), nums.get(1).copied().unwrap_or(0)),
        "money" => (8, 19, 4),
        "smallmoney" => (4, 10, 4),
        "datetime" => (8, 23, 3),
        "smalldatetime" => (4, 16, 0),
        "date" => (3, 10, 0),
        "time" => (5, 16, n(7)),
        "datetime2" => (8, 27, n(7)),
        "datetimeoffset" => (10, 34, n(7)),
        "uniqueidentifier" => (16, 0, 0),
        "rowversion" => (8, 0, 0),
        "nchar" | "nvarchar" if max => (-1, 0, 0),
        "nchar" | "nvarchar" => (2 * n(1), 0, 0),
        _ if max => (-1, 0, 0),
        "xml" | "geometry" | "geography" => (-1, 0, 0),
        "hierarchyid" => (892, 0, 0),
        _ => (n(1), 0, 0),
    };
    let name = if base == "rowversion" {
        "timestamp"
    } else {
        base
    };
    (name.to_string(), len, p, s)
}

/// The type of the column in a result set the source reads (UDTs come
/// as the text of their methods).
fn result_type(decl: &str) -> String {
    match decl {
        "hierarchyid" => "nvarchar(4000)".into(),
        "geometry" | "geography" => "nvarchar(max)".into(),
        d => d.to_string(),
    }
}

/// A rule answering statements matching `re` (and `params`, when given).
pub fn rule(re: &str, params: Option<Value>, columns: Value, rows: Value) -> Value {
    let mut r = json!({"match": re, "result_sets": [{"columns": columns, "rows": rows}]});
    if let Some(p) = params {
        r["params"] = p;
    }
    r
}

/// A rule answering with one value of one column.
pub fn scalar(re: &str, params: Option<Value>, ty: &str, v: Value) -> Value {
    rule(re, params, json!([{"name": "v", "type": ty}]), json!([[v]]))
}

/// A rule answering with an error (number, message).
pub fn error(re: &str, params: Option<Value>, number: i64, message: &str) -> Value {
    let mut r = json!({"match": re, "error": {"number": number, "message": message, "class": 16}});
    if let Some(p) = params {
        r["params"] = p;
    }
    r
}

/// The catalog's answers for a table: its row in `sys.tables` is in
/// [`catalog_rules`]; its columns and key here.
pub fn table_rules(t: &Table) -> Vec<Value> {
    let q = json!([t.qname()]);
    let cols: Vec<Value> = t
        .cols
        .iter()
        .map(|Col(n, decl)| {
            let (ty, len, p, s) = catalog(decl);
            json!([n, ty, len, p, s, if t.key.contains(n) { 0 } else { 1 }])
        })
        .collect();
    vec![
        rule(
            "FROM sys\\.columns AS c JOIN sys\\.types",
            Some(q.clone()),
            json!([
                {"name": "name", "type": "nvarchar(128)"},
                {"name": "type", "type": "nvarchar(128)"},
                {"name": "max_length", "type": "smallint"},
                {"name": "precision", "type": "tinyint"},
                {"name": "scale", "type": "tinyint"},
                {"name": "is_nullable", "type": "bit"}
            ]),
            Value::Array(cols),
        ),
        rule(
            "is_primary_key = 1",
            Some(q),
            json!([{"name": "name", "type": "nvarchar(128)"}]),
            json!(t.key.iter().map(|k| json!([k])).collect::<Vec<_>>()),
        ),
    ]
}

/// The result columns of the table's own columns.
pub fn columns(t: &Table) -> Vec<Value> {
    t.cols
        .iter()
        .map(|Col(n, decl)| json!({"name": n, "type": result_type(decl)}))
        .collect()
}

/// The snapshot of the table: `SELECT <columns> FROM [s].[t]`.
pub fn snapshot_rule(t: &Table) -> Value {
    rule(
        &format!("^SELECT .* FROM {}$", t.regex_name()),
        None,
        Value::Array(columns(t)),
        json!(t.rows),
    )
}

/// `sys.tables`, the version query and what `check` asks, for these
/// tables (all with Change Tracking on, snapshot isolation allowed).
pub fn catalog_rules(tables: &[&Table]) -> Vec<Value> {
    vec![
        scalar(
            "^SELECT @@VERSION$",
            None,
            "nvarchar(300)",
            json!("Microsoft SQL Server 2022 (fixture)"),
        ),
        rule(
            "FROM sys\\.tables AS t JOIN sys\\.schemas",
            None,
            json!([{"name": "s", "type": "nvarchar(128)"}, {"name": "t", "type": "nvarchar(128)"}]),
            json!(tables
                .iter()
                .map(|t| json!([t.schema, t.name]))
                .collect::<Vec<_>>()),
        ),
        scalar(
            "DATABASEPROPERTYEX",
            None,
            "nvarchar(20)",
            json!("READ_WRITE"),
        ),
        scalar("snapshot_isolation_state", None, "bigint", json!(1)),
        scalar(
            "FROM sys\\.change_tracking_databases",
            None,
            "bigint",
            json!(1),
        ),
        scalar(
            "FROM sys\\.change_tracking_tables WHERE object_id",
            None,
            "bigint",
            json!(1),
        ),
        scalar("HAS_PERMS_BY_NAME", None, "bigint", json!(1)),
        json!({"match": "^SET TRANSACTION ISOLATION LEVEL", "result_sets": []}),
    ]
}

/// The last rule: a statement no rule answers fails loudly.
pub fn catch_all() -> Value {
    error(
        "^\\s*(SELECT|EXEC|WITH)",
        None,
        50000,
        "no fixture rule answers this statement",
    )
}

/// Writes the rules whole, then renames them into place.
fn write_rules(path: &Path, rules: &[Value]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(&json!({"rules": rules})).unwrap(),
    )
    .unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

pub struct Fixture {
    child: Child,
    pub port: u16,
    pub rules_path: PathBuf,
    pub log_path: PathBuf,
}

impl Fixture {
    pub fn start(dir: &Path, rules: &[Value]) -> Fixture {
        let rules_path = dir.join("fixtures.json");
        let log_path = dir.join("statements.log");
        write_rules(&rules_path, rules);
        let mut f = Fixture {
            child: Command::new("python3")
                .arg(
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/sqlserver/tds_fixture_server.py"),
                )
                .args(["--port", "0", "--fixtures"])
                .arg(&rules_path)
                .arg("--log")
                .arg(&log_path)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("starting the TDS fixture server (python3): {e}")),
            port: 0,
            rules_path,
            log_path,
        };
        let out = f.child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        f.port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("fixture server said {line:?}"));
        f
    }

    /// Replaces the rules (the server reads the file again when it changed).
    pub fn set(&self, rules: &[Value]) {
        // Another modification time than the last file's, however fast.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_rules(&self.rules_path, rules);
    }

    /// The statements logged so far (`KIND\ttext` lines), and the log emptied.
    pub fn take_log(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        std::fs::write(&self.log_path, "").unwrap();
        text.lines().map(str::to_string).collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A SQL Server-source case: the fixture server, and the destination
/// database `mm_<name>` on the test MariaDB.
pub struct MsCase {
    _shared: Shared,
    pub bin: Bin,
    pub env: Env,
    pub dir: PathBuf,
    pub dst: String,
    pub fx: Fixture,
    name: String,
}

impl MsCase {
    pub fn new(name: &str, rules: &[Value]) -> MsCase {
        let shared = shared();
        let env = env();
        let dst = format!("mm_{name}");
        my_connect(&env)
            .query_drop(format!("DROP DATABASE IF EXISTS `{dst}`"))
            .unwrap();
        let dir = super::case_root().join(format!("ingest-it-ms-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fx = Fixture::start(&dir, rules);
        MsCase {
            _shared: shared,
            bin: Bin {
                config: dir.join("ingest.toml"),
            },
            env,
            dir,
            dst,
            fx,
            name: name.into(),
        }
    }

    /// Writes the configuration: `source` lines added to `[source]`, and
    /// `tables` (`[[table]]` entries).
    pub fn write_config(&self, source: &str, tables: &str) {
        let text = format!(
            r#"[instance]
name = "ms_{name}"

[source]
type = "sqlserver"
host = "127.0.0.1"
port = {port}
database = "testdb"
user = "sa"
password = "fixture-pw"
odbc_driver = "FreeTDS"
encrypt = false
{source}

{dest}
{tables}"#,
            name = self.name,
            port = self.fx.port,
            dest = self.env.destination_toml(&self.dst),
        );
        std::fs::write(self.dir.join("ingest.toml"), text).unwrap();
    }

    /// The destination table's rows as text (NULL: None), by the first
    /// column's order.
    pub fn dest_rows(&self, table: &str, cols: &str) -> Vec<Vec<Option<String>>> {
        let mut my = my_connect(&self.env);
        let rows: Vec<mysql::Row> = my
            .query(format!(
                "SELECT {cols} FROM `{}`.`{table}` ORDER BY 1",
                self.dst
            ))
            .unwrap_or_else(|e| panic!("reading {table}: {e}"));
        rows.into_iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| match r.as_ref(i).unwrap() {
                        mysql::Value::NULL => None,
                        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
                        v => Some(v.as_sql(true).trim_matches('\'').to_string()),
                    })
                    .collect()
            })
            .collect()
    }
}
