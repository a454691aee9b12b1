//! Crash safety: the process is killed (SIGKILL) at every step of a full
//! extract and of a delta, more changes arrive, and the next run converges
//! the destination to the source, with nothing lost and nothing doubled.

use crate::common::Case;

fn assert_all_same(c: &Case) {
    c.assert_same("public.big", "big", &["id"]);
    c.assert_same("public.small", "small", &["k1", "k2"]);
}

/// Changes touching both tables; `round` makes each call different.
fn changes(c: &Case, round: i32) {
    c.sql(&format!(
        "UPDATE big SET v = v || '+{round}', n = n + 1 WHERE id % 7 = {m};
         DELETE FROM big WHERE id % 97 = {m};
         INSERT INTO big SELECT g, 'new {round} ' || g, g FROM generate_series({lo}, {hi}) g;
         UPDATE big SET id = id + 1000000 WHERE id = {lo};
         INSERT INTO small VALUES ({round}, 'x', 'r{round}') ON CONFLICT (k1, k2) DO UPDATE SET v = excluded.v || '!';
         DELETE FROM small WHERE k1 = {round} - 3;",
        m = round % 7,
        lo = 100_000 + round * 1000,
        hi = 100_000 + round * 1000 + 499,
    ));
}

#[test]
fn killed_runs_converge_when_run_again() {
    let c = Case::new("crash");
    c.sql(
        "CREATE TABLE big (id int PRIMARY KEY, v text, n int);
         CREATE TABLE small (k1 int, k2 text, v text, PRIMARY KEY (k1, k2));
         INSERT INTO big SELECT g, repeat('v', g % 50) || ', \"' || g, g FROM generate_series(1, 20000) g;
         INSERT INTO small SELECT g, 'x', 'v' FROM generate_series(1, 5) g;",
    );
    // Full extract killed while writing the spool, before and inside the merge.
    for point in ["snapshot-row", "staged", "swap"] {
        c.kill_at(&["full-extract"], point);
    }
    c.ok(&["full-extract"]);
    assert_all_same(&c);

    // A delta killed at each step; more changes arrive before it runs again.
    let points = [
        "delta-row",
        "spooled",
        "manifest",
        "recorded",
        "staged",
        "mid-merge",
        "merged",
        "advanced",
    ];
    for (i, point) in points.iter().enumerate() {
        let round = i as i32 * 2 + 1;
        changes(&c, round);
        c.kill_at(&["delta"], point);
        changes(&c, round + 1);
        c.ok(&["delta"]);
        assert_all_same(&c);
    }

    // Kills at arbitrary moments of a larger delta.
    changes(&c, 40);
    c.sql("UPDATE big SET n = n * 2 WHERE id % 2 = 0;");
    for ms in [30u64, 120, 250, 400, 700] {
        let mut child = c.command(&["delta"]).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
        changes(&c, 40 + ms as i32);
    }
    c.ok(&["delta"]);
    assert_all_same(&c);
    // And once more: nothing left over, nothing changes.
    let out = c.ok(&["delta"]);
    assert!(out.contains("0 change(s)"), "{out}");
    assert_all_same(&c);
    let spool: Vec<_> = std::fs::read_dir(c.dir.join("spool")).unwrap().collect();
    assert!(spool.is_empty(), "spool not cleaned up: {spool:?}");
}
