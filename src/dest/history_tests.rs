//! Tests of `history`: the statements as text, for both dialects (they run
//! on MariaDB in `tests/it/history.rs`).

use super::*;
use crate::dest::sql::{create_target, load_data, LoadInto};
use crate::schema::test_column;

fn schema(keep_deleted: bool, max_updates: u32) -> TableSchema {
    let col = |n: &str, t: &str, toastable| crate::schema::Column {
        toastable,
        ..test_column(n, t)
    };
    TableSchema {
        schema: "public".into(),
        name: "t".into(),
        dest_db: "d".into(),
        dest_table: "t".into(),
        columns: vec![col("id", "BIGINT", false), col("doc", "LONGTEXT", true)],
        key: vec![0],
        min_year: 0,
        filter: None,
        bad_value_fail: false,
        history: Some(History {
            start: "valid_from".into(),
            end: "valid_to".into(),
            op: "op".into(),
            open_end: "9999-12-31 00:00:00".into(),
            keep_deleted,
            max_updates,
        }),
        keyless: false,
        hashed_key: vec![],
    }
}

fn lines(truncates: &[(u64, String)], unchanged: bool, keys_unique: bool) -> Lines<'_> {
    Lines {
        truncates,
        unchanged,
        keys_unique,
    }
}

fn mysql() -> Flavor {
    Flavor::new(Dialect::Mysql, "utf8mb4_bin")
}

fn singlestore() -> Flavor {
    Flavor::new(Dialect::SingleStore, "utf8mb4_bin")
}

#[test]
fn a_history_table_is_keyed_by_key_and_start() {
    let s = schema(false, 4);
    let my = create_target(&s, &mysql());
    assert!(
        my.contains("`valid_from` DATETIME(6) NOT NULL,\n  `valid_to` DATETIME(6) NOT NULL,\n  `op` CHAR(1) NOT NULL,\n  PRIMARY KEY (`id`, `valid_from`)"),
        "{my}"
    );
    let ss = create_target(&s, &singlestore());
    assert!(
        ss.contains("SHARD KEY (`id`),\n  SORT KEY (`id`, `valid_from`)"),
        "{ss}"
    );
    // A snapshot's rows are open versions from the snapshot's time.
    let load = load_data(&s, "001_d.t.csv", LoadInto::Shadow, &mysql());
    assert!(
        load.ends_with("SET `valid_from` = @_ts, `valid_to` = '9999-12-31 00:00:00', `op` = 'I'"),
        "{load}"
    );
    // The deltas' lines keep their own columns.
    let stage = load_data(&s, "001_d.t.csv", LoadInto::Stage, &mysql());
    assert!(!stage.contains("valid_from"), "{stage}");
}

#[test]
fn the_merge_in_order() {
    let s = schema(false, 3);
    let t = [(7, "2026-01-02 03:04:05.000006".to_string())];
    for f in [mysql(), singlestore()] {
        let m = merge(&s, &f, lines(&t, false, false));
        assert_eq!(m.len(), 5, "{m:#?}");
        // 1. the TRUNCATE: a D line at its `_seq` for every live key.
        assert!(
            m[0].starts_with(
                "INSERT INTO `d`.`t__ingest_delta` (`_ingest_op`, `_ingest_seq`, `_ingest_ts`, `_ingest_unch`, `id`) \
                 SELECT 'D', 7, '2026-01-02 03:04:05.000006', NULL, z.`id` FROM ("
            ),
            "{}",
            m[0]
        );
        assert!(
            m[0].contains("WHERE t.`valid_to` = '9999-12-31 00:00:00' AND t.`op` <> 'D'"),
            "{}",
            m[0]
        );
        // 2. events: never before the key's edge or an earlier line; the
        // last line per instant; max_updates = 3.
        assert!(
            m[1].contains(
                "GREATEST(MAX(x.`_ingest_ts`) OVER (PARTITION BY x.`id` ORDER BY x.`_ingest_seq` \
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), COALESCE((SELECT MAX(CASE WHEN \
                 v.`valid_to` = '9999-12-31 00:00:00' THEN v.`valid_from` ELSE v.`valid_to` END) FROM `d`.`t` v \
                 WHERE v.`id` = x.`id`), x.`_ingest_ts`))"
            ),
            "{}",
            m[1]
        );
        assert!(
            m[1].contains("ROW_NUMBER() OVER (PARTITION BY x1.`id`, x1.`_ingest_eff` ORDER BY x1.`_ingest_seq` DESC)"),
            "{}",
            m[1]
        );
        assert!(
            m[1].ends_with(
                " WHERE w.`_ingest_isd` = 1 OR w.`_ingest_r` < 3 OR w.`_ingest_r` = w.`_ingest_n`"
            ),
            "{}",
            m[1]
        );
        // 3. to 5.
        assert_eq!(
            m[2],
            "DELETE t FROM `d`.`t` t JOIN `d`.`t__ingest_merge` e ON t.`id` = e.`id` AND t.`valid_from` = e.`_ingest_ts`"
        );
        assert!(
            m[3].starts_with(
                "UPDATE `d`.`t` t JOIN (SELECT e.`id`, MIN(e.`_ingest_ts`) AS `_ingest_first`"
            ),
            "{}",
            m[3]
        );
        assert!(
            m[4].contains(
                "CASE WHEN e.`_ingest_op` = 'D' THEN 'D' WHEN e.`_ingest_prv` IS NULL THEN \
                 (CASE WHEN p.`id` IS NULL THEN 'I' ELSE 'U' END) WHEN e.`_ingest_prv` = 'D' THEN 'I' ELSE 'U' END"
            ),
            "{}",
            m[4]
        );
        assert!(m[4].ends_with("WHERE e.`_ingest_op` = 'V'"), "{}", m[4]);
    }
}

#[test]
fn options_change_the_merge() {
    // max_updates = 0 keeps every version; keep_deleted takes the values
    // before a delete into its D version.
    let m = merge(&schema(true, 0), &mysql(), lines(&[], false, false));
    assert_eq!(m.len(), 4);
    assert!(!m[0].contains("_ingest_r` <"), "{}", m[0]);
    assert!(
        m[3].contains("LAG(e.`doc`) OVER (PARTITION BY e.`id` ORDER BY e.`_ingest_ts`) AS `_ingest_l1`")
            && m[3].contains(
                "CASE WHEN e.`_ingest_op` = 'D' THEN (CASE WHEN e.`_ingest_prv` IS NULL THEN p.`doc` ELSE e.`_ingest_l1` END) ELSE e.`doc` END"
            )
            && m[3].ends_with(
                "WHERE e.`_ingest_op` = 'V' OR (e.`_ingest_prv` = 'V') OR (e.`_ingest_prv` IS NULL AND p.`id` IS NOT NULL)"
            ),
        "{}",
        m[3]
    );
    // Unchanged (TOAST) values: from the key's earlier lines, else its
    // latest version.
    let m = merge(&schema(false, 4), &singlestore(), lines(&[], true, false));
    assert!(
        m[0].contains("CASE WHEN y.`_ingest_g1` = 0 THEN t.`doc` ELSE y.`_ingest_f1` END AS `doc`")
            && m[0].contains(
                "LEFT JOIN `d`.`t` t ON t.`id` = y.`id` AND t.`valid_from` = y.`_ingest_last`"
            ),
        "{}",
        m[0]
    );
}

#[test]
fn a_snapshot_adds_versions_only_where_rows_differ() {
    let m = merge_snapshot(&schema(false, 4), &mysql(), "2026-01-01 00:00:00.000000");
    assert_eq!(m.len(), 4);
    assert!(
        m[0].contains("FROM `d`.`t__ingest_new` n LEFT JOIN `d`.`t` t ON n.`id` = t.`id`")
            && m[0].contains("WHERE t.`id` IS NULL OR NOT (n.`doc` <=> t.`doc`)")
            && m[0].contains("SELECT 'D', 0, GREATEST('2026-01-01 00:00:00.000000', t.`valid_from`), NULL, t.`id`, NULL"),
        "{}",
        m[0]
    );
}

#[test]
fn bookkeeping_names_avoid_the_history_columns() {
    let mut s = schema(false, 4);
    if let Some(h) = s.history.as_mut() {
        h.start = "_ingest_from".into();
    }
    let m = merge(&s, &mysql(), lines(&[], false, false));
    assert!(m[0].contains("`__ingest_seq`"), "{}", m[0]);
}

#[test]
fn one_line_per_key_needs_no_window_functions() {
    let s = schema(true, 4);
    let m = merge(&s, &mysql(), lines(&[], false, true));
    assert_eq!(m.len(), 4);
    assert!(
        m[0].contains(
            "GREATEST(x.`_ingest_ts`, COALESCE((SELECT MAX(CASE WHEN v.`valid_to` = '9999-12-31 00:00:00' \
             THEN v.`valid_from` ELSE v.`valid_to` END) FROM `d`.`t` v WHERE v.`id` = x.`id`), x.`_ingest_ts`))"
        )
            && !m[0].contains(" OVER "),
        "{}",
        m[0]
    );
    assert!(!m[2].contains("GROUP BY"), "{}", m[2]);
    assert!(
        m[3].contains("CASE WHEN e.`_ingest_op` = 'D' THEN p.`doc` ELSE e.`doc` END")
            && m[3].contains("FROM `d`.`t__ingest_merge` e LEFT JOIN `d`.`t` p ON")
            && m[3].ends_with("WHERE e.`_ingest_op` = 'V' OR p.`id` IS NOT NULL")
            && !m[3].contains(" OVER "),
        "{}",
        m[3]
    );
    // A TRUNCATE or unchanged values take the general merge.
    let t = [(3, "2026-01-01 00:00:00.000000".to_string())];
    assert!(merge(&s, &mysql(), lines(&t, false, true))[1].contains(" OVER "));
    assert!(merge(&s, &mysql(), lines(&[], true, true))[0].contains(" OVER "));
}
