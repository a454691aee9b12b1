//! MySQL/MariaDB source: the ways to lose, misplace or refuse data that a
//! line-by-line read of the engine found (issue 9), each shown to hold.

mod common;
use common::MyCase;

/// Source columns named like the helper tables' bookkeeping columns
/// replicate on every merge path.
#[test]
fn bookkeeping_names_are_free_for_source_columns() {
    let c = MyCase::new("bk_names");
    c.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, _op VARCHAR(20), _seq INT, _ts DATETIME(6), _unch TEXT, _rn INT);
         INSERT INTO t SELECT seq, CONCAT('op', seq), seq, NOW(6), 'u', seq FROM seq_1_to_20;",
    );
    c.ok(&["full-extract"]);
    c.sql("UPDATE t SET _op = 'changed' WHERE id <= 5; DELETE FROM t WHERE id = 20;");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
    c.sql("UPDATE t SET _seq = -1 WHERE id = 6; UPDATE t SET _seq = -2 WHERE id = 6; TRUNCATE t; INSERT INTO t (id, _op) VALUES (1, 'after');");
    c.ok(&["delta"]);
    c.assert_same("t", "id");
}
