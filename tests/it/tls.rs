//! TLS to the destination, against the test MariaDB, which
//! `scripts/test-env.sh` starts with a certificate for 127.0.0.1 signed by
//! a CA of its own (`INGEST_MY_CA`); `INGEST_MY_OTHER_CA` signed nothing.
//! The destination user here is created `REQUIRE SSL`: a plain connection
//! is refused, so a working run proves the connection was encrypted.

use mysql::prelude::Queryable;

use crate::common::Case;

/// A case whose destination user must use TLS; `tls` goes into
/// `[destination]`.
fn tls_case(name: &str, tls: &str) -> Case {
    let c = Case::new(name);
    let user = format!("tls_{name}");
    let pw = "tls-secret-1";
    let mut my = c.my();
    my.query_drop(format!("DROP USER IF EXISTS '{user}'@'%'"))
        .unwrap();
    my.query_drop(format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY '{pw}' REQUIRE SSL"
    ))
    .unwrap();
    my.query_drop(format!("GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%'"))
        .unwrap();
    c.write_config("[[table]]\nname = \"public.t\"\n", tls);
    let path = c.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        &format!(
            "user = \"{}\"\npassword = \"{}\"",
            c.env.my_user, c.env.my_password
        ),
        &format!("user = \"{user}\"\npassword = \"{pw}\""),
        1,
    );
    assert!(text.contains(&user), "{text}");
    std::fs::write(&path, text).unwrap();
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');");
    c
}

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} not set: run the tests through scripts/test.sh"))
}

#[test]
fn require_encrypts() {
    let c = tls_case("tls_req", "tls = \"require\"");
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET v = 'c' WHERE id = 1;");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
}

#[test]
fn without_tls_the_user_is_refused() {
    let c = tls_case("tls_off", "");
    c.expect(
        &["check"],
        3,
        &[
            "Access denied",
            "check [destination] host, port, user and password",
        ],
    );
}

#[test]
fn verify_full_checks_the_certificate_against_the_ca() {
    let ca = var("INGEST_MY_CA");
    let c = tls_case(
        "tls_vf",
        &format!("tls = \"verify-full\"\ntls_ca = \"{ca}\""),
    );
    c.ok(&["full-extract"]);
    c.assert_same("public.t", "t", &["id"]);
    // A CA that did not sign the server's certificate: exit 3, naming TLS
    // and the settings to check.
    let other = var("INGEST_MY_OTHER_CA");
    let c = tls_case(
        "tls_bad",
        &format!("tls = \"verify-full\"\ntls_ca = \"{other}\""),
    );
    c.expect(
        &["check"],
        3,
        &["TLS:", "check [destination] tls and tls_ca"],
    );
    // Without a CA only the public roots are trusted: also refused.
    let c = tls_case("tls_pub", "tls = \"verify-full\"");
    c.expect(&["check"], 3, &["TLS:", "tls_ca"]);
}

/// The source's `[source]` lines replaced: `user`/`password` by those
/// given, and `tls` lines added.
fn source_lines(path: &std::path::Path, old: (&str, &str), new: (&str, &str), tls: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let from = format!("user = \"{}\"\npassword = \"{}\"", old.0, old.1);
    assert!(text.contains(&from), "{text}");
    let text = text.replacen(
        &from,
        &format!("user = \"{}\"\npassword = \"{}\"\n{tls}", new.0, new.1),
        1,
    );
    std::fs::write(path, text).unwrap();
}

/// TLS to the PostgreSQL source: the role `tls_only` may log in over TLS
/// only (test-env's pg_hba.conf), so a working run proves encryption;
/// `verify-full` checks the certificate against `tls_ca`.
#[test]
fn postgres_source_tls() {
    let c = Case::new("tls_pg_src");
    c.pg()
        .batch_execute(
            "DROP ROLE IF EXISTS tls_only; CREATE ROLE tls_only LOGIN SUPERUSER REPLICATION PASSWORD 'tls-secret-2'",
        )
        .unwrap();
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');");
    let (ca, other) = (var("INGEST_MY_CA"), var("INGEST_MY_OTHER_CA"));
    let cases = [
        ("", None),
        ("tls = \"require\"", Some(true)),
        (
            &*format!("tls = \"verify-full\"\ntls_ca = \"{ca}\""),
            Some(true),
        ),
        (
            &*format!("tls = \"verify-full\"\ntls_ca = \"{other}\""),
            Some(false),
        ),
    ];
    for (tls, works) in cases {
        c.write_config("[[table]]\nname = \"public.t\"\n", "");
        source_lines(
            &c.config_path(),
            (&c.env.pg_user, &c.env.pg_password),
            ("tls_only", "tls-secret-2"),
            tls,
        );
        match works {
            Some(true) => {
                c.ok(&["full-extract"]);
                c.sql("UPDATE t SET v = v || '+' WHERE id = 1;");
                c.ok(&["delta"]);
                c.assert_same("public.t", "t", &["id"]);
            }
            Some(false) => {
                c.expect(&["check"], 3, &["TLS", "check [source] tls and tls_ca"]);
            }
            None => {
                c.expect(&["check"], 3, &["tls_only", "check [source]"]);
            }
        }
    }
}

/// TLS to a MySQL source: its user is created `REQUIRE SSL`.
#[test]
fn mysql_source_tls() {
    let c = crate::common::MyCase::new("tls_my_src");
    let mut my = crate::common::my_connect(&c.env);
    my.query_drop("DROP USER IF EXISTS 'tls_src'@'%'").unwrap();
    my.query_drop("CREATE USER 'tls_src'@'%' IDENTIFIED BY 'tls-secret-3' REQUIRE SSL")
        .unwrap();
    my.query_drop("GRANT ALL PRIVILEGES ON *.* TO 'tls_src'@'%'")
        .unwrap();
    c.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO t VALUES (1, 'a');");
    let (ca, other) = (var("INGEST_MY_CA"), var("INGEST_MY_OTHER_CA"));
    let path = c.dir.join("ingest.toml");
    let cases = [
        ("", None),
        ("tls = \"require\"", Some(true)),
        (
            &*format!("tls = \"verify-full\"\ntls_ca = \"{ca}\""),
            Some(true),
        ),
        (
            &*format!("tls = \"verify-full\"\ntls_ca = \"{other}\""),
            Some(false),
        ),
    ];
    for (tls, works) in cases {
        c.write_config(&format!("[[table]]\nname = \"{}.t\"\n", c.src));
        source_lines(
            &path,
            (&c.env.my_user, &c.env.my_password),
            ("tls_src", "tls-secret-3"),
            tls,
        );
        match works {
            Some(true) => {
                c.ok(&["full-extract"]);
                c.sql("UPDATE t SET v = CONCAT(v, '+') WHERE id = 1;");
                c.ok(&["delta"]);
                c.assert_same("t", "id");
            }
            Some(false) => {
                c.expect(&["check"], 3, &["TLS", "check [source] tls and tls_ca"]);
            }
            None => {
                c.expect(&["check"], 3, &["Access denied", "check [source]"]);
            }
        }
    }
}
