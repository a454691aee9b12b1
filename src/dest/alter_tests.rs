//! Tests of `alter`: the sync-struct plan and its SQL.

use super::*;
use crate::schema::test_column;

fn schema(cols: &[(&str, &str)]) -> TableSchema {
    TableSchema {
        schema: "public".into(),
        name: "t".into(),
        dest_db: "d".into(),
        dest_table: "t".into(),
        columns: cols.iter().map(|(n, t)| test_column(n, t)).collect(),
        key: vec![0],
        min_year: 0,
        filter: None,
        bad_value_fail: false,
        history: None,
        keyless: false,
        hashed_key: vec![],
    }
}

fn have(cols: &[(&str, &str, bool)]) -> Vec<DestCol> {
    cols.iter()
        .map(|(n, t, nullable)| DestCol {
            name: n.to_string(),
            column_type: t.to_string(),
            nullable: *nullable,
        })
        .collect()
}

#[test]
fn types_compare_across_spellings_and_widen_only_upwards() {
    assert!(same_type("int(11)", "INT"));
    assert!(same_type("json", "LONGTEXT"));
    assert!(same_type("decimal(10,0)", "DECIMAL"));
    assert!(same_type("datetime", "DATETIME(0)"));
    assert!(!same_type("varchar(10)", "VARCHAR(20)"));
    assert!(widens("int(11)", "BIGINT"));
    assert!(widens("smallint(5) unsigned", "INT"));
    assert!(!widens("int unsigned", "INT"));
    assert!(!widens("bigint(20)", "INT"));
    assert!(!widens("int", "BIGINT UNSIGNED"));
    assert!(widens("varchar(10)", "VARCHAR(30)"));
    assert!(widens("varchar(10)", "LONGTEXT"));
    assert!(!widens("varchar(30)", "VARCHAR(10)"));
    assert!(!widens("char(10)", "VARCHAR(30)"));
    assert!(!widens("varbinary(10)", "LONGTEXT"));
    assert!(widens("decimal(10,2)", "DECIMAL(12,2)"));
    assert!(widens("decimal(10,2)", "DECIMAL(12,4)"));
    assert!(!widens("decimal(10,2)", "DECIMAL(12,1)"));
    assert!(!widens("decimal(10,2)", "DECIMAL(10,4)"));
    assert!(widens("float", "DOUBLE"));
    assert!(widens("datetime(3)", "DATETIME(6)"));
    assert!(!widens("datetime(6)", "DATETIME(3)"));
    assert!(!widens("int(11)", "VARCHAR(20)"));
    assert!(!widens("longtext", "VARCHAR(20)"));
}

fn ids(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(n, i)| (n.to_string(), *i)).collect()
}

#[test]
fn added_dropped_widened_and_renamed_columns() {
    let s = schema(&[("id", "BIGINT"), ("name", "VARCHAR(30)"), ("n", "INT")]);
    let d = have(&[
        ("id", "bigint(20)", false),
        ("title", "varchar(10)", true),
        ("gone", "int(11)", false),
    ]);
    // attnums: title (2) is now name; gone (3) dropped; n (4) new.
    let then = ids(&[("id", 1), ("title", 2), ("gone", 3)]);
    let now = ids(&[("id", 1), ("name", 2), ("n", 4)]);
    let o = origins(&s, &d, Some((&then, &now)), &[], &[]).unwrap();
    assert_eq!(o, vec![Some("id".into()), Some("title".into()), None]);
    let steps = plan(&s, &d, &o, true, &[], OnDrop::Keep).unwrap();
    assert_eq!(
        steps,
        vec![
            Step::Keep {
                name: "gone".into(),
                column_type: "int(11)".into(),
                nullable: false
            },
            Step::Rename {
                from: "title".into(),
                col: 1
            },
            Step::Widen {
                col: 1,
                from: "varchar(10)".into()
            },
            Step::Add { col: 2 },
        ]
    );
    let sql = statements(&s, &steps, Dialect::Mysql, &|c| {
        (c == 2).then(|| "'7'".to_string())
    });
    assert_eq!(
        sql,
        vec![
            "ALTER TABLE `d`.`t` MODIFY COLUMN `gone` int(11) NULL",
            "ALTER TABLE `d`.`t` CHANGE COLUMN `title` `name` VARCHAR(30) NULL",
            "ALTER TABLE `d`.`t` MODIFY COLUMN `name` VARCHAR(30) NULL",
            "ALTER TABLE `d`.`t` ADD COLUMN `n` INT NULL DEFAULT '7'",
        ]
    );
    let steps = plan(&s, &d, &o, true, &[], OnDrop::Drop).unwrap();
    assert_eq!(
        steps[0],
        Step::Drop {
            name: "gone".into()
        }
    );
    let sql = statements(&s, &steps, Dialect::SingleStore, &|_| None);
    assert_eq!(sql[0], "ALTER TABLE `d`.`t` DROP COLUMN `gone`");
    assert_eq!(sql[1], "ALTER TABLE `d`.`t` CHANGE `title` `name`");
}

#[test]
fn a_name_dropped_and_added_again_is_a_new_column() {
    let s = schema(&[("id", "BIGINT"), ("a", "INT")]);
    let d = have(&[("id", "bigint", false), ("a", "int", true)]);
    // PostgreSQL: `a` has another attnum now.
    let then = ids(&[("id", 1), ("a", 2)]);
    let now = ids(&[("id", 1), ("a", 3)]);
    let o = origins(&s, &d, Some((&then, &now)), &[], &[]).unwrap();
    assert_eq!(o, vec![Some("id".into()), None]);
    let e = plan(&s, &d, &o, true, &[], OnDrop::Keep).unwrap_err();
    assert!(
        e.contains("column a was dropped and a column a added"),
        "{e}"
    );
    let steps = plan(&s, &d, &o, true, &[], OnDrop::Drop).unwrap();
    assert_eq!(
        steps,
        vec![Step::Drop { name: "a".into() }, Step::Add { col: 1 }]
    );
    // A sync-struct cut short after adding it: the new attnum, and no old
    // column had the name.
    let d2 = have(&[("id", "bigint", false), ("b", "int", true)]);
    let s2 = schema(&[("id", "BIGINT"), ("b", "INT")]);
    let then = ids(&[("id", 1)]);
    let now = ids(&[("id", 1), ("b", 2)]);
    let o = origins(&s2, &d2, Some((&then, &now)), &[], &[]).unwrap();
    assert_eq!(o, vec![Some("id".into()), Some("b".into())]);
    // MySQL: the binlog said `a` was renamed away (or dropped), and an `a`
    // is there again: refused.
    let renames = [("a".to_string(), "z".to_string())];
    let e = origins(&s, &d, None, &renames, &[]).unwrap_err();
    assert!(e.contains("column a was renamed or dropped"), "{e}");
    let e = origins(&s, &d, None, &[], &["a".into()]).unwrap_err();
    assert!(e.contains("column a was renamed or dropped"), "{e}");
}

#[test]
fn renames_follow_chains_and_unexplained_swaps_are_refused() {
    let s = schema(&[("id", "BIGINT"), ("c", "INT")]);
    let d = have(&[("id", "bigint", false), ("a", "int", true)]);
    let chain = [
        ("a".to_string(), "b".to_string()),
        ("b".to_string(), "c".to_string()),
    ];
    let o = origins(&s, &d, None, &chain, &[]).unwrap();
    let steps = plan(&s, &d, &o, false, &[], OnDrop::Keep).unwrap();
    assert_eq!(
        steps,
        vec![Step::Rename {
            from: "a".into(),
            col: 1
        }]
    );
    // A column gone and one new, and nothing says which: refused.
    let o = origins(&s, &d, None, &[], &[]).unwrap();
    let e = plan(&s, &d, &o, false, &[], OnDrop::Keep).unwrap_err();
    assert!(e.contains("a are gone and c are new"), "{e}");
    // The log said `a` was dropped: a drop and an add.
    let steps = plan(&s, &d, &o, false, &["a".into()], OnDrop::Drop).unwrap();
    assert_eq!(
        steps,
        vec![Step::Drop { name: "a".into() }, Step::Add { col: 1 }]
    );
}

#[test]
fn narrowing_is_refused_with_the_column() {
    let s = schema(&[("id", "BIGINT"), ("v", "VARCHAR(5)")]);
    let d = have(&[("id", "bigint", false), ("v", "varchar(10)", true)]);
    let o = origins(&s, &d, None, &[], &[]).unwrap();
    let e = plan(&s, &d, &o, true, &[], OnDrop::Keep).unwrap_err();
    assert_eq!(
        e,
        "column v changed from varchar(10) to VARCHAR(5), which is not a wider type: the \
         destination cannot take it in place"
    );
    // The same structure: nothing to do.
    let d = have(&[("id", "bigint(20)", false), ("v", "varchar(5)", true)]);
    assert_eq!(plan(&s, &d, &o, true, &[], OnDrop::Keep), Ok(vec![]));
}
