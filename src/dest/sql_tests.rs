//! Tests of `sql`.

use super::*;
use crate::schema::{Column, Conv};

fn schema() -> TableSchema {
    let col = |n: &str, t: &str, binary, toastable| Column {
        name: n.into(),
        source_type: String::new(),
        dest_type: t.into(),
        conv: Conv::Verbatim,
        binary,
        toastable,
        nullable: true,
        masked: false,
        generated: false,
        type_change: None,
    };
    TableSchema {
        schema: "public".into(),
        name: "Order Lines".into(),
        dest_db: "dest".into(),
        dest_table: "Order Lines".into(),
        columns: vec![
            col("id", "BIGINT", false, false),
            col("line`no", "VARCHAR(700)", false, true),
            col("doc", "LONGTEXT", false, true),
            col("img", "LONGBLOB", true, true),
        ],
        key: vec![0, 1],
        min_year: 0,
        filter: None,
        bad_value_fail: false,
        history: None,
        keyless: false,
        hashed_key: vec![],
    }
}

#[test]
fn helper_prefixes_are_never_longer_than_their_column() {
    let mut s = schema();
    let stage = create_stage(&s, &Flavor::new(Dialect::Mysql, "utf8mb4_bin"));
    assert!(
        stage.contains("PRIMARY KEY (`id`, `line``no`(64), `_ingest_seq`)"),
        "{stage}"
    );
    for (t, indexed) in [
        ("CHAR(36)", "`line``no`"),
        ("char(36)", "`line``no`"),
        ("VARCHAR(64)", "`line``no`"),
        ("varbinary(200)", "`line``no`(64)"),
        ("BINARY(16)", "`line``no`"),
    ] {
        s.columns[1].dest_type = t.into();
        let stage = create_stage(&s, &Flavor::new(Dialect::Mysql, "utf8mb4_bin"));
        assert!(
            stage.contains(&format!("PRIMARY KEY (`id`, {indexed}, `_ingest_seq`)")),
            "{t}: {stage}"
        );
    }
}

#[test]
fn bookkeeping_columns_never_meet_source_columns() {
    let mut s = schema();
    for n in ["_op", "_seq", "_ts", "_unch", "_rn", "_g2", "_f2"] {
        s.columns.push(Column {
            name: n.into(),
            ..s.columns[2].clone()
        });
    }
    assert_eq!(Bk::of(&s).seq(), "`_ingest_seq`");
    s.columns[2].name = "_Ingest_Op".into();
    let b = Bk::of(&s);
    assert_eq!(
        (b.op(), b.seq()),
        ("`__ingest_op`".into(), "`__ingest_seq`".into())
    );
    let f = Flavor::new(Dialect::Mysql, "utf8mb4_bin");
    let stage = create_stage(&s, &f);
    assert!(
        stage.contains("`__ingest_op` CHAR(1)") && stage.contains("`_op` LONGTEXT"),
        "{stage}"
    );
    let shape = MergeShape {
        unchanged: true,
        ..Default::default()
    };
    let m = merge(&s, shape, &f).join(";");
    assert!(
        m.contains("AS `__ingest_rn`") && m.contains("AS `__ingest_g2`"),
        "{m}"
    );
}

#[test]
fn ddl_text() {
    let s = schema();
    assert_eq!(
        create_target(&s, &Flavor::new(Dialect::Mysql, "utf8mb4_nopad_bin")),
        "CREATE TABLE IF NOT EXISTS `dest`.`Order Lines` (\n  `id` BIGINT NOT NULL,\n  `line``no` VARCHAR(700) NOT NULL,\n  \
         `doc` LONGTEXT NULL,\n  `img` LONGBLOB NULL,\n  PRIMARY KEY (`id`, `line``no`)\n) \
         DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin"
    );
    let ss = create_target(&s, &Flavor::new(Dialect::SingleStore, "utf8mb4_bin"));
    assert!(
        ss.starts_with("CREATE TABLE IF NOT EXISTS")
            && ss.contains("SHARD KEY (`id`, `line``no`),\n  SORT KEY (`id`, `line``no`)"),
        "{ss}"
    );
    // `staging_schema`: helpers in that database, named after the target's.
    let staged = Flavor {
        staging: Some("stg".into()),
        ..Flavor::new(Dialect::Mysql, "utf8mb4_bin")
    };
    assert!(create_stage(&s, &staged)
        .starts_with("CREATE TABLE IF NOT EXISTS `stg`.`dest__Order Lines__ingest_delta`"));
    assert!(merge(&s, MergeShape::default(), &staged)
        .iter()
        .any(|m| m.contains("`stg`.`dest__Order Lines__ingest_delta`")));
    // `table_type = "rowstore"`: no sort key (a columnstore's).
    let rowstore = Flavor {
        rowstore: true,
        ..Flavor::new(Dialect::SingleStore, "utf8mb4_bin")
    };
    let rs = create_target(&s, &rowstore);
    assert!(
        rs.starts_with("CREATE ROWSTORE TABLE IF NOT EXISTS `dest`.`Order Lines`")
            && rs.contains("SHARD KEY (`id`, `line``no`)\n)")
            && !rs.contains("SORT KEY"),
        "{rs}"
    );
    let ss = Flavor::new(Dialect::SingleStore, "utf8mb4_bin");
    let stage = create_stage(&s, &ss);
    assert!(
        stage.starts_with("CREATE ROWSTORE TABLE IF NOT EXISTS `dest`.`Order Lines__ingest_delta`"),
        "{stage}"
    );
    // Whole key columns (no prefix lengths) and the target's shard key:
    // merges join each key within its partition.
    assert!(
        stage.contains(
            "PRIMARY KEY (`id`, `line``no`, `_ingest_seq`),\n  SHARD KEY (`id`, `line``no`)\n)"
        ),
        "{stage}"
    );
    let fill = create_fill(&s, &ss);
    assert!(
        fill.contains("KEY (`id`, `line``no`),\n  SHARD KEY (`id`, `line``no`)\n)"),
        "{fill}"
    );
    // MySQL/MariaDB keep the prefix and need no shard key.
    let my = Flavor::new(Dialect::Mysql, "utf8mb4_bin");
    assert!(!create_stage(&s, &my).contains("SHARD"));
    assert!(create_fill(&s, &my).contains("KEY (`id`, `line``no`(64))"));
}

#[test]
fn load_data_text() {
    assert_eq!(
        load_data(&schema(), "001_x.csv.gz", LoadInto::Stage, &Flavor::new(Dialect::Mysql, "x")),
        "LOAD DATA LOCAL INFILE '001_x.csv' INTO TABLE `dest`.`Order Lines__ingest_delta` CHARACTER SET utf8mb4 \
         FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' \
         (`_ingest_op`, `_ingest_seq`, `_ingest_ts`, `_ingest_unch`, `id`, `line``no`, `doc`, @b3) SET `img` = UNHEX(@b3)"
    );
    // SingleStore: the bare word NULL is SQL NULL (a quoted "NULL" stays
    // a string), declared where its syntax puts it, after LINES.
    let ss = load_data(
        &schema(),
        "001_x.csv",
        LoadInto::Stage,
        &Flavor::new(Dialect::SingleStore, "x"),
    );
    assert!(
        ss.contains("LINES TERMINATED BY '\\n' NULL DEFINED BY 'NULL' (`_ingest_op`"),
        "{ss}"
    );
}

#[test]
fn merge_text() {
    let s = schema();
    let my = Flavor::new(Dialect::Mysql, "utf8mb4_bin");
    let m = merge(&s, MergeShape::default(), &my);
    assert_eq!(m.len(), 2);
    assert_eq!(
        m[0],
        "DELETE t FROM `dest`.`Order Lines` t JOIN (SELECT DISTINCT `id`, `line``no` FROM `dest`.`Order Lines__ingest_delta`) s \
         ON t.`id` = s.`id` AND t.`line``no` = s.`line``no`"
    );
    assert!(
        m[1].contains(
            "ROW_NUMBER() OVER (PARTITION BY `id`, `line``no` ORDER BY `_ingest_seq` DESC)"
        ),
        "{}",
        m[1]
    );
    let m = merge(
        &s,
        MergeShape {
            truncate_seq: Some(7),
            unchanged: false,
            keys_unique: false,
            deletes: 0,
        },
        &my,
    );
    assert_eq!(m[0], "DELETE FROM `dest`.`Order Lines`");
    assert!(m[1].contains("WHERE `_ingest_seq` > 7"));
    let m = merge(
        &s,
        MergeShape {
            truncate_seq: None,
            unchanged: true,
            keys_unique: true,
            deletes: 0,
        },
        &my,
    );
    assert_eq!(m.len(), 3);
    assert!(m[0].starts_with("INSERT INTO `dest`.`Order Lines__ingest_merge`"));
    // key columns are never filled; toastable non-key columns are.
    assert!(!m[0].contains("`_ingest_g1`"));
    assert!(m[0].contains("CASE WHEN f.`_ingest_g2` = 0 THEN t.`doc` ELSE f.`_ingest_f2` END"));
    assert!(m[0].contains("INSTR(CONCAT(',', x.`_ingest_unch`, ','), ',4,') = 0"));
    assert!(!m[0].contains("FIND_IN_SET"));
    assert_eq!(m[2], "INSERT INTO `dest`.`Order Lines` (`id`, `line``no`, `doc`, `img`) SELECT `id`, `line``no`, `doc`, `img` FROM `dest`.`Order Lines__ingest_merge`");
}

#[test]
fn merge_of_unique_keys_upserts() {
    let s = schema();
    let shape = MergeShape {
        keys_unique: true,
        deletes: 1,
        ..Default::default()
    };
    let m = merge(&s, shape, &Flavor::new(Dialect::Mysql, "utf8mb4_bin"));
    assert_eq!(
        m,
        vec![
            "DELETE t FROM `dest`.`Order Lines` t JOIN `dest`.`Order Lines__ingest_delta` s \
             ON t.`id` = s.`id` AND t.`line``no` = s.`line``no` WHERE s.`_ingest_op` = 'D'"
                .to_string(),
            "INSERT INTO `dest`.`Order Lines` (`id`, `line``no`, `doc`, `img`) \
             SELECT s.`id`, s.`line``no`, s.`doc`, s.`img` FROM `dest`.`Order Lines__ingest_delta` s \
             WHERE s.`_ingest_op` <> 'D' ON DUPLICATE KEY UPDATE `doc` = s.`doc`, `img` = s.`img`"
                .to_string(),
        ]
    );
    let m = merge(
        &s,
        MergeShape {
            truncate_seq: Some(9),
            ..shape
        },
        &Flavor::new(Dialect::SingleStore, "utf8mb4_bin"),
    );
    assert_eq!(m[0], "DELETE FROM `dest`.`Order Lines`");
    assert!(
        m[1].ends_with("AND s.`_ingest_seq` > 9 ON DUPLICATE KEY UPDATE `doc` = VALUES(`doc`), `img` = VALUES(`img`)"),
        "{}",
        m[1]
    );
    assert_eq!(
        repeated_key(&s, Some(9), &Flavor::new(Dialect::Mysql, "x")),
        "SELECT 1 FROM `dest`.`Order Lines__ingest_delta` WHERE `_ingest_seq` > 9 \
         GROUP BY `id`, `line``no` HAVING COUNT(*) > 1 LIMIT 1"
    );
    // A table of key columns only has nothing to update: new keys are
    // added by an anti-join (SingleStore cannot assign key columns in ON
    // DUPLICATE KEY UPDATE on a columnstore table).
    let mut keys_only = s.clone();
    keys_only.columns.truncate(2);
    for dialect in [Dialect::Mysql, Dialect::SingleStore] {
        let m = merge(&keys_only, shape, &Flavor::new(dialect, "x"));
        assert_eq!(
            m[1],
            "INSERT INTO `dest`.`Order Lines` (`id`, `line``no`) SELECT s.`id`, s.`line``no` \
             FROM `dest`.`Order Lines__ingest_delta` s LEFT JOIN `dest`.`Order Lines` t \
             ON t.`id` = s.`id` AND t.`line``no` = s.`line``no` WHERE t.`id` IS NULL AND s.`_ingest_op` <> 'D'"
        );
    }
    // Without delete lines there is nothing to delete first.
    let m = merge(
        &s,
        MergeShape {
            deletes: 0,
            ..shape
        },
        &Flavor::new(Dialect::Mysql, "x"),
    );
    assert_eq!(m.len(), 1);
    assert!(m[0].starts_with("INSERT INTO"));
}

#[test]
fn snapshot_loads_into_the_new_table_and_swaps() {
    let s = schema();
    let my = Flavor::new(Dialect::Mysql, "x");
    let l = load_data(&s, "f", LoadInto::Shadow, &my);
    assert!(
        l.contains("INTO TABLE `dest`.`Order Lines__ingest_new`"),
        "{l}"
    );
    assert!(l.contains("(@_op, @_seq, @_ts, @_unch, `id`"), "{l}");
    assert!(!l.contains("REPLACE"), "{l}");
    let r = load_data(&s, "f", LoadInto::Replace, &my);
    assert!(
        r.starts_with("LOAD DATA LOCAL INFILE 'f' REPLACE INTO TABLE `dest`.`Order Lines` "),
        "{r}"
    );
    assert!(r.contains("(@_op, @_seq, @_ts, @_unch, `id`"), "{r}");
    assert_eq!(
        delete_staged(&s, &Flavor::new(Dialect::Mysql, "x")),
        "DELETE t FROM `dest`.`Order Lines` t JOIN `dest`.`Order Lines__ingest_delta` s \
         ON t.`id` = s.`id` AND t.`line``no` = s.`line``no`"
    );
    let m = Flavor::new(Dialect::Mysql, "x");
    assert_eq!(
        swap_in(&s, &m, true)[1],
        "RENAME TABLE `dest`.`Order Lines` TO `dest`.`Order Lines__ingest_old`, \
         `dest`.`Order Lines__ingest_new` TO `dest`.`Order Lines`"
    );
    assert_eq!(
        swap_in(&s, &m, false)[1],
        "RENAME TABLE `dest`.`Order Lines__ingest_new` TO `dest`.`Order Lines`"
    );
    let ss = swap_in(&s, &Flavor::new(Dialect::SingleStore, "x"), true);
    assert_eq!(ss.len(), 4);
    assert!(ss[1].starts_with("ALTER TABLE `dest`.`Order Lines` RENAME TO"));
}

#[test]
fn long_names_stay_within_64() {
    let long = "x".repeat(70);
    let a = helper_name(&long, STAGE);
    assert!(a.chars().count() <= 64, "{a}");
    assert_ne!(a, helper_name(&"x".repeat(71), STAGE));
    assert_eq!(lit("a'b\\c"), "'a''b\\\\c'");
}

#[test]
fn review_lists_every_statement_of_both_dialects() {
    let s = schema();
    let my = review(&s, &Flavor::new(Dialect::Mysql, "utf8mb4_nopad_bin"));
    let ss = review(&s, &Flavor::new(Dialect::SingleStore, "utf8mb4_bin"));
    let statements = |t: &str| -> Vec<String> {
        t.split(";\n")
            .map(|x| {
                x.lines()
                    .filter(|l| !l.starts_with("--") && !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .filter(|x| !x.is_empty())
            .collect()
    };
    let (m, g) = (statements(&my), statements(&ss));
    // Each statement is one the code sends, in the order it sends them.
    let f = Flavor::new(Dialect::Mysql, "utf8mb4_nopad_bin");
    let mut shadow = s.clone();
    shadow.dest_table = helper_name(&s.dest_table, "new");
    assert_eq!(m[0], create_database("dest"));
    assert_eq!(m[1], create_target(&shadow, &f));
    assert_eq!(
        m[2],
        load_data(&s, "001_dest.Order Lines.csv", LoadInto::Shadow, &f)
    );
    let swap = swap_in(&s, &f, true);
    assert_eq!(m[3..3 + swap.len()], swap[..]);
    assert_eq!(m[3 + swap.len()], create_stage(&s, &f));
    assert!(m.contains(&delete_staged(&s, &Flavor::new(Dialect::Mysql, "x"))));
    let fill = merge(
        &s,
        MergeShape {
            unchanged: true,
            ..MergeShape::default()
        },
        &f,
    );
    assert_eq!(m[m.len() - fill.len()..], fill[..]);
    // MySQL has the direct path (LOAD DATA ... REPLACE), SingleStore not.
    assert!(my.contains("REPLACE INTO TABLE"));
    assert!(!ss.contains("REPLACE INTO TABLE"));
    // The same statements otherwise: MySQL's 3 of the direct path, and
    // each dialect's swap.
    let ss_swap = swap_in(&s, &Flavor::new(Dialect::SingleStore, "x"), true);
    assert_eq!(m.len() - 3 - swap.len(), g.len() - ss_swap.len());
    // SingleStore's statements: its renames, whole-column keys, NULL clause.
    assert!(
        ss.contains("ALTER TABLE `dest`.`Order Lines__ingest_new` RENAME TO `dest`.`Order Lines`")
    );
    assert!(!ss.contains("(64)"));
    assert!(ss.contains("NULL DEFINED BY 'NULL'"));
    assert!(my.starts_with(
        "-- public.Order Lines -> dest.Order Lines (dialect mysql, collation utf8mb4_nopad_bin)\n"
    ));
}

#[test]
fn key_collations_are_read_back() {
    let s = schema();
    let ok = vec![
        ("id".to_string(), None),
        ("line`no".to_string(), Some("utf8mb4_nopad_bin".to_string())),
        ("doc".to_string(), Some("utf8mb4_general_ci".to_string())),
    ];
    assert_eq!(
        crate::dest::key_collation_problem(&s, &ok, "utf8mb4_nopad_bin"),
        None
    );
    let mut ignored = ok.clone();
    ignored[1].1 = Some("utf8mb4_general_ci".to_string());
    let p = crate::dest::key_collation_problem(&s, &ignored, "utf8mb4_nopad_bin").unwrap();
    assert!(
        p.starts_with("dest.Order Lines: key column line`no was created with collation utf8mb4_general_ci, not utf8mb4_nopad_bin"),
        "{p}"
    );
    // Binary key columns have no collation: fine on every dialect.
    let mut binary = ok.clone();
    binary[1].1 = None;
    assert_eq!(
        crate::dest::key_collation_problem(&s, &binary, "utf8mb4_bin"),
        None
    );
    // SingleStore's documented table-level collation clause.
    let ss = create_target(&s, &Flavor::new(Dialect::SingleStore, "utf8mb4_bin"));
    assert!(ss.ends_with("\n) COLLATE utf8mb4_bin"), "{ss}");
}

#[test]
fn keys_too_long_for_an_index_are_hashed() {
    let mut s = schema();
    assert!(
        !needs_key_hash(&s, Dialect::Mysql),
        "700 characters and a BIGINT fit 3072 bytes"
    );
    s.columns[1].dest_type = "VARCHAR(1000)".into();
    assert!(needs_key_hash(&s, Dialect::Mysql), "4000 bytes do not");
    // SingleStore has no per-key byte limit.
    assert!(!needs_key_hash(&s, Dialect::SingleStore));
    s.columns[1].dest_type = "LONGTEXT".into();
    assert!(needs_key_hash(&s, Dialect::Mysql));
    assert!(
        needs_key_hash(&s, Dialect::SingleStore),
        "unbounded: no index on either"
    );
    let h = shaped(&s, Dialect::Mysql);
    assert_eq!((h.key.clone(), h.hashed_key.clone()), (vec![4], vec![0, 1]));
    let f = Flavor::new(Dialect::Mysql, "utf8mb4_bin");
    let t = create_target(&h, &f);
    assert!(
        t.contains("`line``no` LONGTEXT NULL,")
            && t.contains(
                "`ingest_key_hash` BINARY(32) NOT NULL,\n  PRIMARY KEY (`ingest_key_hash`)"
            ),
        "{t}"
    );
    // Computed as each file is loaded, from the values as stored.
    let load = load_data(&h, "001.csv", LoadInto::Stage, &f);
    assert!(
        load.contains(
            "`doc`, @b3) SET `img` = UNHEX(@b3), `ingest_key_hash` = UNHEX(SHA2(CONCAT_WS('|', \
             IF(`id` IS NULL, 'n', CONCAT('v', LENGTH(`id`), ':', `id`))"
        ),
        "{load}"
    );
    assert!(create_stage(&h, &f).contains("PRIMARY KEY (`ingest_key_hash`, `_ingest_seq`)"));
    let m = merge(&h, MergeShape::default(), &f).join(";\n");
    assert!(
        m.contains("PARTITION BY `ingest_key_hash`")
            && m.contains("t.`ingest_key_hash` = s.`ingest_key_hash`"),
        "{m}"
    );
    // A history table's key is the hash and the start.
    s.history = Some(crate::schema::History {
        start: "ingest_start".into(),
        end: "ingest_end".into(),
        op: "ingest_op".into(),
        open_end: "9999-12-31 00:00:00".into(),
        keep_deleted: false,
        max_updates: 4,
    });
    let t = create_target(
        &shaped(&s, Dialect::SingleStore),
        &Flavor::new(Dialect::SingleStore, "utf8mb4_bin"),
    );
    assert!(
        t.contains(
            "PRIMARY KEY (`ingest_key_hash`, `ingest_start`),\n  SHARD KEY (`ingest_key_hash`)"
        ),
        "{t}"
    );
}

#[test]
fn a_table_named_s_gets_another_alias_for_its_lines() {
    // In ON DUPLICATE KEY UPDATE the target's name is in scope: `s.v`
    // would be ambiguous for a table named `s` (found by the option tests).
    let mut s = schema();
    s.dest_table = "S".into();
    let shape = MergeShape {
        keys_unique: true,
        ..Default::default()
    };
    let m = merge(&s, shape, &Flavor::new(Dialect::Mysql, "utf8mb4_bin"));
    let upsert = m.last().unwrap();
    assert!(
        upsert.contains("FROM `dest`.`S__ingest_delta` s_ WHERE s_.`_ingest_op` <> 'D'")
            && upsert.contains("`doc` = s_.`doc`"),
        "{upsert}"
    );
}
