//! Outages: the source or the destination goes away (every connection cut,
//! new ones refused for 3 s, through a proxy) during a full extract's
//! snapshot, a delta's read and a delta's merge, on both sources. The run
//! either rides it out (connections replaced, tried again) or fails
//! cleanly; the next run converges: nothing lost, nothing doubled.

use crate::common::{paused, Bin, Case, MyCase, Outage};

/// One outage at `point` of `args` (`outage` starts it, `back` returns
/// once the server is back), then runs until the command succeeds
/// (at most 3 more tries, 5 s apart); `check` compares both sides.
pub(crate) fn survive(
    bin: &Bin,
    (outage, back): crate::common::OutageFns,
    args: &[&str],
    point: &str,
    check: &dyn Fn(),
) {
    let (ok, out) = paused(bin, args, point, &*outage);
    back();
    eprintln!(
        "outage at {point} of {args:?}: {}",
        if ok {
            "ridden out"
        } else {
            "the run failed; the next one converges"
        }
    );
    if !ok {
        assert!(!out.contains("panicked"), "{out}");
        let mut done = false;
        for _ in 0..3 {
            std::thread::sleep(std::time::Duration::from_secs(5));
            if bin.ingest(args).status.success() {
                done = true;
                break;
            }
        }
        assert!(
            done,
            "{args:?} did not succeed after the outage at {point}:\n{out}"
        );
    }
    check();
}

/// The n-th `port = ` line of the configuration (0: the source's, 1: the
/// destination's) through `proxy`.
fn through(path: &std::path::Path, nth: usize, port: u16, proxy: u16) {
    let text = std::fs::read_to_string(path).unwrap();
    let from = format!("port = {port}");
    let at = text.match_indices(&from).nth(nth).expect("port line").0;
    let text = format!("{}port = {proxy}{}", &text[..at], &text[at + from.len()..]);
    std::fs::write(path, text).unwrap();
}

#[test]
fn postgres_outages_are_survived() {
    let c = Case::new("outage_pg");
    let src = Outage::to(c.env.pg_port);
    let dst = Outage::to(c.env.my_port);
    through(&c.config_path(), 0, c.env.pg_port, src.port);
    through(&c.config_path(), 0, c.env.my_port, dst.port);
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 3000) g;");
    let same = || c.assert_same("public.t", "t", &["id"]);
    survive(&c, src.outage(), &["full-extract"], "snapshot-row", &same);
    c.sql("UPDATE t SET v = 'a' WHERE id <= 100; DELETE FROM t WHERE id > 2900; INSERT INTO t VALUES (5000, 'n');");
    survive(&c, src.outage(), &["delta"], "delta-row", &same);
    c.sql("UPDATE t SET v = 'b' WHERE id <= 200; DELETE FROM t WHERE id BETWEEN 2800 AND 2850;");
    survive(&c, dst.outage(), &["delta"], "mid-merge", &same);
    let out = c.ok(&["delta"]);
    assert!(out.contains("0 change(s)"), "{out}");
}

#[test]
fn mysql_outages_are_survived() {
    let c = MyCase::new("outage_my");
    let path = c.dir.join("ingest.toml");
    let src = Outage::to(c.env.my_port);
    let dst = Outage::to(c.env.my_port);
    through(&path, 0, c.env.my_port, src.port);
    // The source's line changed: the destination's is now the first.
    through(&path, 0, c.env.my_port, dst.port);
    c.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_3000;",
    );
    let same = || c.assert_same("t", "id");
    survive(&c, src.outage(), &["full-extract"], "snapshot-row", &same);
    c.sql("UPDATE t SET v = 'a' WHERE id <= 100; DELETE FROM t WHERE id > 2900; INSERT INTO t VALUES (5000, 'n');");
    survive(&c, src.outage(), &["delta"], "delta-row", &same);
    c.sql("UPDATE t SET v = 'b' WHERE id <= 200; DELETE FROM t WHERE id BETWEEN 2800 AND 2850;");
    survive(&c, dst.outage(), &["delta"], "mid-merge", &same);
    let out = c.ok(&["delta"]);
    assert!(out.contains("0 change(s)"), "{out}");
}
