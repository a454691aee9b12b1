//! SQL Server source against the TDS fixture server over real ODBC
//! (unixODBC built into ingest + FreeTDS): what ingest sends (from the
//! server's statement log) and what lands in the MariaDB destination.
//! No SQL Server runs here; the answers are the fixtures' (see
//! tests/sqlserver/README.md).

use serde_json::{json, Value};

use crate::common::{
    catalog_rules, catch_all, columns, rule, scalar, snapshot_rule, table_rules, Col, MsCase, Table,
};

fn orders(rows: Vec<Vec<Value>>) -> Table {
    Table {
        schema: "dbo",
        name: "orders",
        cols: vec![
            Col("id", "int"),
            Col("name", "nvarchar(100)"),
            Col("amount", "decimal(18,2)"),
            Col("updated_at", "datetime2(7)"),
        ],
        key: vec!["id"],
        rows,
    }
}

fn row(id: i64, name: &str, amount: &str) -> Vec<Value> {
    json!([
        id,
        name,
        amount,
        format!("2024-05-0{} 10:00:00.1234567", id % 9 + 1)
    ])
    .as_array()
    .unwrap()
    .clone()
}

/// Rules of a Change Tracking source: `orders` at version `current`, the
/// oldest kept `min_valid`, and its changes since `since` (rows: the
/// operation, the key, the row as it is now or NULLs).
fn ct_rules(t: &Table, current: i64, min_valid: i64, since: i64, changes: Value) -> Vec<Value> {
    let mut r = vec![
        scalar("^SELECT CHANGE_TRACKING_CURRENT_VERSION\\(\\)$", None, "bigint", json!(current)),
        scalar(
            "^SELECT CHANGE_TRACKING_MIN_VALID_VERSION\\(OBJECT_ID\\(@P1\\)\\)$",
            Some(json!([t.qname()])),
            "bigint",
            json!(min_valid),
        ),
        rule(
            "FROM CHANGETABLE\\(CHANGES \\[dbo\\]\\.\\[orders\\], @P1\\) AS CT LEFT OUTER JOIN \\[dbo\\]\\.\\[orders\\] AS T ON T\\.\\[id\\] = CT\\.\\[id\\] ORDER BY CT\\.SYS_CHANGE_VERSION$",
            Some(json!([since])),
            {
                let mut c = vec![json!({"name": "SYS_CHANGE_OPERATION", "type": "nchar(1)"}), json!({"name": "id", "type": "int"})];
                c.extend(columns(t));
                Value::Array(c)
            },
            changes,
        ),
        snapshot_rule(t),
    ];
    r.extend(table_rules(t));
    r.extend(catalog_rules(&[t]));
    r.push(catch_all());
    r
}

/// The statements of a log, `KIND\ttext`, whose text contains `needle`.
fn sent<'a>(log: &'a [String], needle: &str) -> Vec<&'a String> {
    log.iter().filter(|l| l.contains(needle)).collect()
}

fn position(l: &[String], needle: &str) -> usize {
    l.iter()
        .position(|x| x.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not sent:\n{}", l.join("\n")))
}

#[test]
fn change_tracking_full_extract_and_deltas_land_in_mariadb() {
    let t = orders(vec![
        row(1, "a", "1.00"),
        row(2, "b", ".50"),
        row(3, "c", "3.25"),
    ]);
    let c = MsCase::new("ct", &ct_rules(&t, 1000, 900, 1000, json!([])));
    c.write_config("", "[[table]]\nname = \"dbo.orders\"\n");
    let out = c.bin.ok(&["check"]);
    assert!(out.contains("changes kept up to ct=1000"), "{out}");
    c.fx.take_log();

    c.bin.ok(&["full-extract"]);
    let cols = "id, name, CAST(amount AS CHAR), CAST(updated_at AS CHAR)";
    assert_eq!(
        c.dest_rows("orders", cols),
        vec![
            vec![
                Some("1".into()),
                Some("a".into()),
                Some("1.00".into()),
                Some("2024-05-02 10:00:00.123456".into())
            ],
            vec![
                Some("2".into()),
                Some("b".into()),
                Some("0.50".into()),
                Some("2024-05-03 10:00:00.123456".into())
            ],
            vec![
                Some("3".into()),
                Some("c".into()),
                Some("3.25".into()),
                Some("2024-05-04 10:00:00.123456".into())
            ],
        ]
    );
    let log = c.fx.take_log();
    // The version is read before the snapshot.
    assert!(
        position(&log, "CHANGE_TRACKING_CURRENT_VERSION") < position(&log, "FROM [dbo].[orders]"),
        "{log:#?}"
    );
    // The 7th digit of datetime2(7) is dropped, and said.
    let status = c.bin.ok(&["status"]);
    assert!(
        status.contains("100 ns") || status.contains("7th fractional digit"),
        "{status}"
    );

    // Version 1005: an insert, an update, a delete, and an update of a row
    // deleted since (no row in the join: a delete).
    c.fx.set(&ct_rules(
        &t,
        1005,
        900,
        1000,
        json!([
            ["I", 4, 4, "d", "4.00", "2024-05-05 10:00:00.0000000"],
            ["U", 2, 2, "b2", "2.75", "2024-05-03 11:00:00.0000000"],
            ["D", 3, null, null, null, null],
            ["U", 1, null, null, null, null]
        ]),
    ));
    c.bin.ok(&["delta"]);
    assert_eq!(
        c.dest_rows("orders", "id, name, CAST(amount AS CHAR)"),
        vec![
            vec![Some("2".into()), Some("b2".into()), Some("2.75".into())],
            vec![Some("4".into()), Some("d".into()), Some("4.00".into())],
        ]
    );
    let log = c.fx.take_log();
    // SNAPSHOT is set while no transaction is open, then the transaction
    // begins (TM 5), reads the version and the changes, and commits (TM 7).
    let set = position(&log, "SET TRANSACTION ISOLATION LEVEL SNAPSHOT");
    let begin = position(&log, "request=5");
    let changes = position(&log, "CHANGETABLE(CHANGES [dbo].[orders]");
    let commit = position(&log, "request=7");
    assert!(
        set < begin && begin < changes && changes < commit,
        "{log:#?}"
    );
    assert!(
        log[begin..changes]
            .iter()
            .any(|l| l.contains("CHANGE_TRACKING_CURRENT_VERSION")),
        "the version is read in the transaction: {log:#?}"
    );
    assert!(log[changes].contains("params=[1000]"), "{}", log[changes]);
    assert!(!sent(&log, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED").is_empty());

    // The next delta reads from where this one ended.
    c.fx.set(&ct_rules(
        &t,
        1010,
        900,
        1005,
        json!([["I", 5, 5, "e", "5.00", null]]),
    ));
    c.bin.ok(&["delta"]);
    let log = c.fx.take_log();
    let ct = sent(&log, "CHANGETABLE(CHANGES");
    assert!(ct.len() == 1 && ct[0].contains("params=[1005]"), "{ct:?}");
    assert_eq!(c.dest_rows("orders", "id").len(), 3);

    // Nothing new: no CHANGETABLE at all.
    c.fx.set(&ct_rules(&t, 1010, 900, 1010, json!([])));
    c.bin.ok(&["delta"]);
    assert!(sent(&c.fx.take_log(), "CHANGETABLE").is_empty());

    // The changes since 1010 are gone (cleanup, truncate): the table
    // fails with the fix, the destination stays as it was.
    c.fx.set(&ct_rules(
        &t,
        1030,
        1020,
        1010,
        json!([["I", 6, 6, "f", "6.00", null]]),
    ));
    let out = c
        .bin
        .expect(&["delta"], 1, &["no longer kept", "full-extract"]);
    assert!(out.contains("dbo.orders") || !out.is_empty());
    assert_eq!(c.dest_rows("orders", "id").len(), 3);
    assert!(sent(&c.fx.take_log(), "CHANGETABLE").is_empty());

    // Its full extract brings it back.
    c.fx.set(&ct_rules(&t, 1030, 1020, 1030, json!([])));
    c.bin.ok(&["full-extract", "dbo.orders"]);
    assert_eq!(c.dest_rows("orders", "id").len(), 3);
    c.bin.ok(&["delta"]);
}
