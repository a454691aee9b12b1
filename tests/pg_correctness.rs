//! PostgreSQL source: the ways to lose, misplace or refuse data that a
//! line-by-line read of the engine found (issue 9), each shown to hold.

mod common;
use common::Case;

fn edit_config(c: &Case, from: &str, to: &str) {
    let path = c.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in the config");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

fn expect_exit(c: &Case, args: &[&str], code: i32, needles: &[&str]) -> String {
    let out = c.ingest(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "ingest {args:?}: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "ingest {args:?}: no {n:?} in: {stderr}");
    }
    stderr
}

/// Deltas delete unfinished batch folders from the spool: only folders
/// named like batches, and never a spool that holds the state, the logs or
/// the configuration (`spool_dir = "."` once unlinked state.db).
#[test]
fn the_spool_folder_is_its_own() {
    let c = Case::new("spool_own");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');");
    for (spool, why) in [
        (".", "holds the state_dir"),
        ("state", "is the state_dir"),
        ("state/spool", "is inside the state_dir"),
    ] {
        edit_config(
            &c,
            "spool_dir = \"spool\"",
            &format!("spool_dir = \"{spool}\""),
        );
        expect_exit(&c, &["status"], 2, &["instance.spool_dir", why]);
        edit_config(
            &c,
            &format!("spool_dir = \"{spool}\""),
            "spool_dir = \"spool\"",
        );
    }
    // A folder or file of someone else's in the spool survives runs.
    c.ok(&["full-extract"]);
    let keep = c.dir.join("spool").join("keep-me");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("notes.txt"), "mine").unwrap();
    c.sql("UPDATE t SET v = 'b';");
    c.ok(&["delta"]);
    assert!(
        keep.join("notes.txt").exists(),
        "delta removed a folder that is no batch"
    );
    c.assert_same("public.t", "t", &["id"]);
}
