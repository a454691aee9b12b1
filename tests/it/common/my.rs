//! A MySQL/MariaDB-source case.

use super::*;

/// A MySQL/MariaDB-source case: source database `ms_<name>` and destination
/// `md_<name>` on the test MariaDB (different databases of one server).
pub struct MyCase {
    _shared: Shared,
    pub bin: Bin,
    pub name: String,
    pub env: Env,
    pub dir: PathBuf,
    pub src: String,
    pub dst: String,
}

impl MyCase {
    pub fn new(name: &str) -> MyCase {
        let shared = shared();
        let env = env();
        let src = format!("ms_{name}");
        let dst = format!("md_{name}");
        let mut my = my_connect(&env);
        for db in [&src, &dst] {
            my.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                .unwrap();
        }
        my.query_drop(format!("CREATE DATABASE `{src}`")).unwrap();
        let dir = super::case_root().join(format!("ingest-it-my-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let c = MyCase {
            _shared: shared,
            bin: Bin {
                config: dir.join("ingest.toml"),
            },
            name: name.into(),
            env,
            dir,
            src,
            dst,
        };
        c.write_config(&format!("[[table]]\nname = \"{}.*\"\n", c.src));
        c
    }

    pub fn write_config(&self, tables: &str) {
        let e = &self.env;
        let text = format!(
            r#"[instance]
name = "my_{name}"
# PostgreSQL cases spool plain files (the default); these, gzip.
spool_compression = "gzip"

[source]
type = "mysql"
host = "{h}"
port = {p}
user = "{u}"
password = "{pw}"

{dest}
{tables}"#,
            name = self.name,
            h = e.my_host,
            p = e.my_port,
            u = e.my_user,
            pw = e.my_password,
            dest = e.destination_toml(&self.dst),
        );
        std::fs::write(self.dir.join("ingest.toml"), text).unwrap();
    }

    /// Adds `lines` to the `[source]` section of the written configuration.
    pub fn source_options(&self, lines: &str) {
        let path = self.dir.join("ingest.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("type = \"mysql\""), "no [source] type line");
        let text = text.replacen("type = \"mysql\"", &format!("type = \"mysql\"\n{lines}"), 1);
        std::fs::write(&path, text).unwrap();
    }

    /// Runs SQL in the source database (sql_mode empty, so that zero dates
    /// and the like can be written).
    pub fn sql(&self, sql: &str) {
        let mut my = my_connect(&self.env);
        my.query_drop(format!("USE `{}`", self.src)).unwrap();
        my.query_drop("SET SESSION sql_mode = ''").unwrap();
        // `query_drop` drops the later result sets of a multi-statement
        // text unread, and with them their errors: walk every set.
        let mut result = my.query_iter(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        while let Some(set) = result.iter() {
            for row in set {
                row.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// Both sides' rows of `table`, every column as the server's own value
    /// (binary protocol: floats as floats, dates as dates), keyed by the
    /// columns named in `key` (comma separated); a key seen twice fails.
    fn rows(&self, db: &str, table: &str, key: &str) -> BTreeMap<String, Vec<mysql::Value>> {
        let mut my = my_connect(&self.env);
        // The source's columns, in its order (the destination may keep a
        // column the source dropped, and add columns at the end).
        let cols: Vec<String> = my
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
                 AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (&self.src, table),
            )
            .unwrap();
        let list = cols
            .iter()
            .map(|c| format!("`{}`", c.replace('`', "``")))
            .collect::<Vec<_>>()
            .join(", ");
        let rows: Vec<mysql::Row> = my
            .exec(format!("SELECT {list} FROM `{db}`.`{table}`"), ())
            .unwrap_or_else(|e| panic!("reading {db}.{table}: {e}"));
        let mut out = BTreeMap::new();
        for r in rows {
            let cols = r.columns();
            let idx: Vec<usize> = key
                .split(',')
                .map(|k| {
                    cols.iter()
                        .position(|c| c.name_str() == k.trim())
                        .unwrap_or_else(|| panic!("no key column {k} in {db}.{table}"))
                })
                .collect();
            let vals = r.unwrap();
            let k = idx
                .iter()
                // Whole values: Debug shortens long bytes.
                .map(|&i| match &vals[i] {
                    mysql::Value::Bytes(b) => format!("b{}", String::from_utf8_lossy(b)),
                    v => format!("{v:?}"),
                })
                .collect::<Vec<_>>()
                .join("|");
            assert!(
                out.insert(k.clone(), vals).is_none(),
                "duplicate key {k} in {db}.{table}"
            );
        }
        out
    }

    pub fn assert_same(&self, table: &str, key: &str) {
        let src = self.rows(&self.src, table, key);
        let dst = self.rows(&self.dst, table, key);
        let mut diffs = vec![];
        for (k, v) in &src {
            match dst.get(k) {
                None => diffs.push(format!("missing at destination: {k}: {v:?}")),
                Some(d) if d != v => {
                    diffs.push(format!("differs: {k}:\n   source {v:?}\n   dest   {d:?}"))
                }
                _ => {}
            }
        }
        for k in dst.keys().filter(|k| !src.contains_key(*k)) {
            diffs.push(format!("extra at destination: {k}"));
        }
        assert!(
            diffs.is_empty(),
            "{table}: {} difference(s):\n{}",
            diffs.len(),
            diffs.join("\n")
        );
        self.verify_agrees(&format!("{}.{table}", self.src));
    }
}
