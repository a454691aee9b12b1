//! Tests of `keyless`: the statements as text, for both dialects (they run
//! on MariaDB in `tests/it/keyless.rs`).

use super::*;
use crate::dest::sql::{create_stage, create_target};
use crate::schema::test_column as col;

fn schema() -> TableSchema {
    TableSchema {
        schema: "s".into(),
        name: "log".into(),
        dest_db: "d".into(),
        dest_table: "log".into(),
        columns: vec![col("a", "INT"), col("b", "LONGTEXT")],
        key: vec![0, 1],
        min_year: 0,
        filter: None,
        bad_value_fail: false,
        history: None,
        keyless: true,
        hashed_key: vec![],
    }
}

#[test]
fn the_destination_numbers_the_rows() {
    let s = schema();
    let my = create_target(&s, &Flavor::new(Dialect::Mysql, "utf8mb4_bin"));
    // Identity columns may be NULL and keep their type (no key budget).
    assert!(
        my.contains("`a` INT NULL,\n  `b` LONGTEXT NULL,\n  `ingest_row` BIGINT NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`ingest_row`)"),
        "{my}"
    );
    let ss = create_target(&s, &Flavor::new(Dialect::SingleStore, "utf8mb4_bin"));
    assert!(
        ss.contains("SHARD KEY (`ingest_row`),\n  SORT KEY (`ingest_row`)"),
        "{ss}"
    );
    let stage = create_stage(&s, &Flavor::new(Dialect::SingleStore, "utf8mb4_bin"));
    assert!(
        stage.contains("`a` INT NULL")
            && stage.contains("PRIMARY KEY (`_ingest_seq`),\n  SHARD KEY (`_ingest_seq`)"),
        "{stage}"
    );
}

#[test]
fn rows_are_counted_by_their_values() {
    let s = schema();
    let f = Flavor::new(Dialect::Mysql, "utf8mb4_bin");
    let id = "SHA2(CONCAT_WS('|', IF(x.`a` IS NULL, 'n', CONCAT('v', LENGTH(x.`a`), ':', x.`a`)), \
              IF(x.`b` IS NULL, 'n', CONCAT('v', LENGTH(x.`b`), ':', x.`b`))), 256)";
    let m = merge(&s, &f, None);
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(
        m[0].starts_with("DELETE t FROM `d`.`log` t JOIN (SELECT r.`_ingest_row` FROM ("),
        "{}",
        m[0]
    );
    assert!(m[0].contains(&format!("SELECT {id} AS `_ingest_h`, x.`_ingest_op` FROM `d`.`log__ingest_delta` x WHERE 1 = 1)")), "{}", m[0]);
    assert!(
        m[0].contains("SUM(CASE WHEN y.`_ingest_op` = 'D' THEN -1 WHEN y.`_ingest_op` = 'I' THEN 1 ELSE 0 END)")
            && m[0].contains("WHERE r.`_ingest_rn` <= -r.`_ingest_net`) d ON t.`ingest_row` = d.`_ingest_row`"),
        "{}",
        m[0]
    );
    assert!(
        m[1].starts_with("INSERT INTO `d`.`log` (`a`, `b`) SELECT i.`a`, i.`b` FROM (")
            && m[1].ends_with("WHERE n.`_ingest_net` > 0 AND i.`_ingest_rn` <= n.`_ingest_net`"),
        "{}",
        m[1]
    );
    // A TRUNCATE: every row goes, only the lines after it count.
    let m = merge(&s, &f, Some(7));
    assert_eq!(m[0], "DELETE FROM `d`.`log`");
    assert!(
        m[1].contains("WHERE 1 = 1 AND x.`_ingest_seq` > 7)")
            && m[2].contains("x.`_ingest_op` = 'I' AND x.`_ingest_seq` > 7)"),
        "{m:#?}"
    );
    assert_eq!(
        set_marker(&s, &f, "20260101-000000000-r1"),
        vec![
            "DELETE FROM `d`.`log__ingest_batch`".to_string(),
            "INSERT INTO `d`.`log__ingest_batch` (`batch`) VALUES ('20260101-000000000-r1')"
                .to_string()
        ]
    );
}
