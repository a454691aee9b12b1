//! Tests of `config`.

use super::parse::scrub_value;
use super::*;

fn p(text: &str) -> Result<Config, ConfigError> {
    parse(text, Path::new("ingest.toml"), Path::new("/etc/ingest"))
}

const MIN: &str = r#"
[instance]
name = "demo"
[source]
type = "postgres"
database = "src"
user = "ingest"
password = "pw"
[destination]
dialect = "mysql"
database = "dest"
user = "u"
[[table]]
name = "public.*"
[[table]]
name = "public.orders"
key = ["id"]
"#;

#[test]
fn minimal_config_gets_defaults() {
    let c = p(MIN).unwrap();
    assert_eq!(c.instance.state_dir, PathBuf::from("/etc/ingest/state"));
    assert_eq!(c.instance.spool_compression, Compression::None);
    let Source::Postgres(s) = &c.source else {
        panic!("postgres")
    };
    assert_eq!(
        (s.port, s.slot.as_str(), s.publication.as_str()),
        (5432, "ingest_demo", "ingest_demo")
    );
    assert_eq!(default_slot("prod_1"), "ingest_prod_1");
    let (a, b) = (default_slot("Demo"), default_slot("demo"));
    assert!(a.starts_with("ingest_demo_") && a != b, "{a}");
    assert_ne!(default_slot("a-b"), default_slot("a_b"));
    let long = default_slot(&"x".repeat(100));
    assert!(long.len() <= 63 && long.starts_with("ingest_xxx"), "{long}");
    assert_eq!(c.destination.dialect, Dialect::Mysql);
    assert_eq!(c.destination.load_threads, 4);
    assert_eq!(
        c.dest_name("src", "public", "orders"),
        ("src_public".into(), "orders".into())
    );
}

#[test]
fn the_readme_shows_the_example_as_it_is() {
    let readme = include_str!("../../README.md");
    let head = "`ingest init` writes this (`src/config/example.toml`):\n\n```toml\n";
    let at = readme.find(head).expect("the README shows the example") + head.len();
    let end = readme[at..].find("```").expect("closing fence") + at;
    assert_eq!(&readme[at..end], EXAMPLE);
}

#[test]
fn tls_settings() {
    assert_eq!(p(MIN).unwrap().destination.tls, Tls::Disable);
    let with = |extra: &str| {
        p(&MIN.replace(
            "dialect = \"mysql\"\n",
            &format!("dialect = \"mysql\"\n{extra}\n"),
        ))
    };
    assert_eq!(
        with("tls = \"require\"").unwrap().destination.tls,
        Tls::Require
    );
    let e = with("tls = \"on\"").unwrap_err();
    assert_eq!(e.key, "destination.tls");
    let e = with("tls = \"require\"\ntls_ca = \"ca.pem\"").unwrap_err();
    assert_eq!(e.key, "destination.tls_ca");
    // A relative CA file is looked for beside the configuration.
    let e = with("tls = \"verify-full\"\ntls_ca = \"ca.pem\"").unwrap_err();
    assert_eq!(
        (e.key.as_str(), e.message.as_str()),
        (
            "destination.tls_ca",
            "/etc/ingest/ca.pem is not a readable file"
        )
    );
    let c = with("tls = \"verify-full\"").unwrap();
    assert_eq!(
        (c.destination.tls, c.destination.tls_ca),
        (Tls::VerifyFull, None)
    );
}

#[test]
fn most_specific_table_entry_wins() {
    let c = p(MIN).unwrap();
    assert_eq!(
        c.rule_for("public", "orders").unwrap().key,
        Some(vec!["id".to_string()])
    );
    assert_eq!(c.rule_for("public", "items").unwrap().pattern, "public.*");
    assert!(c.rule_for("other", "orders").is_none());
}

#[test]
fn errors_name_the_key() {
    let e = p(&MIN.replace("database = \"src\"\n", "")).unwrap_err();
    assert_eq!(e.key, "source.database");
    let e = p(&MIN.replace("dialect = \"mysql\"", "dialect = \"oracle\"")).unwrap_err();
    assert_eq!(e.key, "destination.dialect");
    assert!(e.to_string().contains("'oracle'"), "{e}");
    let e = p(&MIN.replace("name = \"public.orders\"", "name = \"orders\"")).unwrap_err();
    assert_eq!(e.key, "table[2].name");
    let e = p(&MIN.replace("[destination]", "[destination]\nload_threads = 0")).unwrap_err();
    assert_eq!(e.key, "destination.load_threads");
    let e = p(&MIN.replace("[destination]", "extract_threads = 17\n[destination]")).unwrap_err();
    assert_eq!(e.key, "source.extract_threads");
    let e = p(&MIN.replace("[destination]", "extract_split_mb = -1\n[destination]")).unwrap_err();
    assert_eq!(e.key, "source.extract_split_mb");
    let e = p(&MIN.replace("[destination]", "max_batch_changes = 10\n[destination]")).unwrap_err();
    assert_eq!(e.key, "source.max_batch_changes");
    assert_eq!(p(MIN).unwrap().source.max_batch_changes(), 1_000_000);
    let c = p(&MIN.replace(
        "[destination]",
        "extract_threads = 4\nextract_split_mb = 10\n[destination]",
    ))
    .unwrap();
    assert_eq!(
        c.source.extract(),
        Extract {
            threads: 4,
            split_bytes: 10 << 20
        }
    );
    let e = p(&MIN.replace("user = \"u\"", "user = \"u\"\nbogus = 1")).unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
    assert!(e.to_string().contains("line"), "{e}");
    let e = p(&MIN.replace("type = \"postgres\"", "type = \"db2\"")).unwrap_err();
    assert_eq!(e.key, "source.type");
}

#[test]
fn mysql_source() {
    let text = MIN.replace(
        "type = \"postgres\"\ndatabase = \"src\"\nuser = \"ingest\"",
        "type = \"mysql\"\nuser = \"repl\"",
    );
    let c = p(&text).unwrap();
    let Source::Mysql(m) = &c.source else {
        panic!("mysql")
    };
    assert_eq!((m.port, m.transport), (3306, BinlogTransport::Stream));
    assert_eq!(m.server_id, default_server_id("demo"));
    assert!(m.server_id >= 1_000_000);
    assert_eq!(
        c.dest_name("", "shop", "orders"),
        ("shop".into(), "orders".into())
    );
    let e = p(&text.replace("user = \"repl\"", "user = \"repl\"\nserver_id = 0")).unwrap_err();
    assert_eq!(e.key, "source.server_id");
    let e = p(&text.replace(
        "user = \"repl\"",
        "user = \"repl\"\nbinlog_transport = \"x\"",
    ))
    .unwrap_err();
    assert_eq!(e.key, "source.binlog_transport");
}

#[test]
fn wrong_types_name_the_key_and_never_the_value() {
    let e = p(&MIN.replace("password = \"pw\"", "password = 123456")).unwrap_err();
    assert_eq!(e.key, "source.password");
    assert!(!e.to_string().contains("123456"), "{e}");
    assert!(
        e.to_string().contains("expected a string") && e.to_string().contains("line 8"),
        "{e}"
    );
    let e = p(&MIN.replace("user = \"u\"", "user = \"u\"\npassword = 98765")).unwrap_err();
    assert_eq!(e.key, "destination.password");
    assert!(!e.to_string().contains("98765"), "{e}");
    let mysql = MIN.replace(
        "type = \"postgres\"",
        "type = \"mysql\"\nserver_id = \"secret-ish\"",
    );
    let e = p(&mysql.replace("database = \"src\"\n", "")).unwrap_err();
    assert_eq!(e.key, "source.server_id");
    assert!(!e.to_string().contains("secret-ish"), "{e}");
    assert_eq!(
        scrub_value("invalid type: floating point `1.5`, expected a string"),
        "invalid type: floating point, expected a string"
    );
    assert_eq!(scrub_value("missing field `x`"), "missing field `x`");
}

#[test]
fn globs() {
    assert!(glob_match("public.*", "public.orders"));
    assert!(glob_match("*.ord?rs", "x.orders"));
    assert!(!glob_match("public.o*", "public.items"));
    assert!(glob_match("a*b*c", "axxbyyc"));
    assert!(!glob_match("a*b*c", "axxbyy"));
}

#[test]
fn example_parses() {
    let c = p(EXAMPLE).unwrap();
    assert_eq!(c.instance.name, "demo");
}

#[test]
fn table_type_and_table_options_are_checked() {
    let with = |extra: &str| {
        p(&MIN.replace(
            "dialect = \"mysql\"\n",
            &format!("dialect = \"mysql\"\n{extra}\n"),
        ))
    };
    let e = with("table_type = \"rowstore\"").unwrap_err();
    assert_eq!(e.key, "destination.table_type");
    let c = p(&MIN.replace(
        "dialect = \"mysql\"\n",
        "dialect = \"singlestore\"\ntable_type = \"rowstore\"\n",
    ))
    .unwrap();
    assert!(c.destination.rowstore);
    let e = p(&MIN.replace(
        "dialect = \"mysql\"\n",
        "dialect = \"singlestore\"\ntable_type = \"heap\"\n",
    ))
    .unwrap_err();
    assert_eq!(e.key, "destination.table_type");
    let table = |extra: &str| p(&format!("{MIN}\n[[table]]\nname = \"public.t\"\n{extra}\n"));
    assert_eq!(
        table("type_change = { a = \"@X\" }").unwrap_err().key,
        "table[3].type_change.a"
    );
    assert_eq!(
        table("on_bad_value = \"skip\"").unwrap_err().key,
        "table[3].on_bad_value"
    );
    assert_eq!(
        table("where = \"a = 1; DROP TABLE t\"").unwrap_err().key,
        "table[3].where"
    );
    assert_eq!(
        table("key = [\"id\"]\nmask = [\"id\"]").unwrap_err().key,
        "table[3].mask"
    );
    assert_eq!(
        table("skip_initial = true\nredo_initial = true")
            .unwrap_err()
            .key,
        "table[3].redo_initial"
    );
    let c = table("type_change = { a = \"@I\" }\non_bad_value = \"fail\"").unwrap();
    let r = c.rule_for("public", "t").unwrap();
    assert_eq!(r.type_change, vec![("a".to_string(), "@I".to_string())]);
    assert!(r.bad_value_fail);
}

#[test]
fn destination_names_follow_the_prefix_rules() {
    let with = |extra: &str| {
        p(&MIN.replace(
            "dialect = \"mysql\"\n",
            &format!("dialect = \"mysql\"\n{extra}\n"),
        ))
        .unwrap()
    };
    let c = with("add_database_prefix = \"raw_\"");
    assert_eq!(
        c.dest_name("src", "public", "orders"),
        ("raw_src_public".into(), "orders".into())
    );
    let c = with("ignore_database_name = true");
    assert_eq!(
        c.dest_name("src", "public", "orders"),
        ("public".into(), "orders".into())
    );
    let c = with("ignore_database_name = true\nadd_database_prefix = \"raw_\"");
    assert_eq!(c.dest_name("src", "sales", "o").0, "raw_sales");
    // schema_for_all_tables names the database itself.
    let c = with("schema_for_all_tables = \"dw\"\nadd_database_prefix = \"raw_\"");
    assert_eq!(c.dest_name("src", "sales", "o").0, "dw");
}

#[test]
fn history_settings() {
    let c = p(MIN).unwrap();
    assert!(!c.history.default);
    assert_eq!(c.history_for("public", "orders"), None);
    let text = format!(
        "{MIN}\n[[table]]\nname = \"public.h\"\nhistory = true\nhistory_keep_deleted = true\n\
         [history]\nstart_column = \"valid_from\"\nopen_end = \"2999-01-01\"\nmax_updates = 0\n"
    );
    let c = p(&text).unwrap();
    let h = c.history_for("public", "h").unwrap();
    assert_eq!(
        (
            h.start.as_str(),
            h.end.as_str(),
            h.op.as_str(),
            h.open_end.as_str(),
            h.keep_deleted,
            h.max_updates
        ),
        (
            "valid_from",
            "ingest_end",
            "ingest_op",
            "2999-01-01 00:00:00",
            true,
            0
        )
    );
    assert_eq!(c.history_for("public", "orders"), None);
    // The manual's destination option is the same setting.
    let c = p(&MIN.replace("user = \"u\"", "user = \"u\"\nmax_updates = 2")).unwrap();
    assert_eq!(c.history.columns.max_updates, 2);
    let e = p(&format!(
        "{}\n[history]\nmax_updates = 3\n",
        MIN.replace("user = \"u\"", "user = \"u\"\nmax_updates = 2")
    ))
    .unwrap_err();
    assert_eq!(e.key, "destination.max_updates");
    let c = p(&format!("{MIN}\n[history]\ndefault = true\n")).unwrap();
    let h = c.history_for("public", "orders").unwrap();
    assert_eq!((h.max_updates, h.keep_deleted), (4, false));
    for (bad, key) in [
        ("open_end = \"someday\"", "history.open_end"),
        ("end_column = \"INGEST_START\"", "history.end_column"),
        ("max_updates = -1", "history.max_updates"),
        ("op_column = \"\"", "history.op_column"),
    ] {
        let e = p(&format!("{MIN}\n[history]\n{bad}\n")).unwrap_err();
        assert_eq!(e.key, key, "{bad}: {e}");
    }
}

#[test]
fn keyless_excludes_a_key_history_and_type_change() {
    let ok = p(&format!(
        "{MIN}\n[[table]]\nname = \"public.log\"\nkeyless = true\n"
    ))
    .unwrap();
    assert!(ok.rule_for("public", "log").unwrap().keyless);
    for other in [
        "key = [\"a\"]",
        "history = true",
        "type_change = { a = \"@I\" }",
    ] {
        let e = p(&format!(
            "{MIN}\n[[table]]\nname = \"public.log\"\nkeyless = true\n{other}\n"
        ))
        .unwrap_err();
        assert_eq!(e.key, "table[3].keyless", "{other}: {e}");
    }
}

#[test]
fn passwords_given_three_ways() {
    use crate::secret::{Given, Pending};
    let c = p(&MIN
        .replace("password = \"pw\"", "password_env = \"PG_PW\"")
        .replace("user = \"u\"", "user = \"u\"\npassword = \"enc:00ff\""))
    .unwrap();
    assert_eq!(
        c.pending,
        vec![
            Pending {
                key: "source.password".into(),
                given: Given::Env("PG_PW".into())
            },
            Pending {
                key: "destination.password".into(),
                given: Given::Sealed("enc:00ff".into())
            },
        ]
    );
    let e = p(&MIN.replace(
        "password = \"pw\"",
        "password = \"pw\"\npassword_file = \"pw.txt\"",
    ))
    .unwrap_err();
    assert_eq!(e.key, "source.password");
    assert!(e
        .message
        .contains("one of password, password_env and password_file"));
}

#[test]
fn min_free_disk_sizes() {
    use super::parse::size;
    assert_eq!(p(MIN).unwrap().instance.min_free_disk, 1 << 30);
    assert_eq!(size("500MB"), Some(500_000_000));
    assert_eq!(size("1GiB"), Some(1 << 30));
    assert_eq!(size("64 KiB"), Some(65_536));
    assert_eq!(size("0"), Some(0));
    assert_eq!(size("1.5GB"), Some(1_500_000_000));
    assert_eq!(size("lots"), None);
    assert_eq!(size("5 parsecs"), None);
    let e = p(&MIN.replace(
        "name = \"demo\"",
        "name = \"demo\"\nmin_free_disk = \"big\"",
    ))
    .unwrap_err();
    assert_eq!(e.key, "instance.min_free_disk");
}

#[test]
fn recovery_dir_is_relative_to_the_file() {
    assert_eq!(p(MIN).unwrap().recovery, None);
    let c = p(&format!("{MIN}\n[recovery]\ndir = \"copies\"\n")).unwrap();
    assert_eq!(c.recovery, Some(PathBuf::from("/etc/ingest/copies")));
    let e = p(&format!("{MIN}\n[recovery]\ndir = \"\"\n")).unwrap_err();
    assert_eq!(e.key, "recovery.dir");
}

#[test]
fn source_tls_settings() {
    let c = p(&MIN.replace("password = \"pw\"", "password = \"pw\"\ntls = \"require\"")).unwrap();
    let Source::Postgres(s) = &c.source else {
        panic!("postgres")
    };
    assert_eq!(s.tls, Tls::Require);
    let e = p(&MIN.replace("password = \"pw\"", "password = \"pw\"\ntls = \"yes\"")).unwrap_err();
    assert_eq!(e.key, "source.tls");
    let e = p(&MIN.replace(
        "password = \"pw\"",
        "password = \"pw\"\ntls = \"require\"\ntls_ca = \"ca.pem\"",
    ))
    .unwrap_err();
    assert_eq!(e.key, "source.tls_ca");
}

#[test]
fn a_misspelt_key_gets_the_closest_valid_one() {
    let e = p(&MIN.replace("user = \"ingest\"", "usr = \"ingest\"")).unwrap_err();
    assert_eq!(e.key, "source.usr");
    assert!(e.message.contains("did you mean `user`?"), "{}", e.message);
    let e = p(&MIN.replace("password = \"pw\"", "pasword = \"pw\"")).unwrap_err();
    assert!(
        e.message.contains("did you mean `password`?"),
        "{}",
        e.message
    );
    // Nothing near: no guess.
    let e = p(&MIN.replace("password = \"pw\"", "colour = \"pw\"")).unwrap_err();
    assert!(!e.message.contains("did you mean"), "{}", e.message);
}

#[test]
fn the_page_resolves_its_token_only() {
    let dir = std::env::temp_dir().join(format!("ingest-page-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ingest.toml");
    let key = crate::secret::load_or_make_key(&dir.join("state")).unwrap();
    let token = crate::secret::seal(&key, "a-token-of-16-chars-or-more").unwrap();
    let text = MIN.replace("password = \"pw\"", "password_env = \"INGEST_NO_SUCH_PW\"")
        + &format!("\n[web]\ntoken = \"{token}\"\n");
    std::fs::write(&path, text).unwrap();
    // A run needs the source's password; the page does not.
    assert_eq!(load(&path).unwrap_err().key, "source.password");
    let c = load_for_page(&path).unwrap();
    assert_eq!(c.web.token.as_deref(), Some("a-token-of-16-chars-or-more"));
    // A short token is refused once opened, as in clear text.
    let short = crate::secret::seal(&key, "short").unwrap();
    let text = MIN.to_string() + &format!("\n[web]\ntoken = \"{short}\"\n");
    std::fs::write(&path, text).unwrap();
    let e = load_for_page(&path).unwrap_err();
    assert_eq!(e.key, "web.token");
    assert!(e.message.contains("16 characters"), "{}", e.message);
    assert!(!e.message.contains("short"), "{}", e.message);
    let _ = std::fs::remove_dir_all(&dir);
}
