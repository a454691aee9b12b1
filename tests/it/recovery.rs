//! `[recovery] dir`: after each successful run a copy of the configuration
//! and state.db; `ingest restore --from DIR` puts them in place in a new
//! folder, and the next delta there reads only what changed since the last
//! committed run: nothing lost, nothing read again.

use crate::common::{Bin, Case};

#[test]
fn a_restored_instance_goes_on_from_the_last_committed_run() {
    let c = Case::new("recovery");
    let copy = c.dir.with_file_name("ingest-it-recovery-copy");
    let new = c.dir.with_file_name("ingest-it-recovery-new");
    for d in [&copy, &new] {
        let _ = std::fs::remove_dir_all(d);
    }
    c.write_config(
        &format!(
            "[recovery]\ndir = \"{}\"\n\n[[table]]\nname = \"public.*\"\n",
            copy.display()
        ),
        "",
    );
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;");
    c.ok(&["full-extract"]);
    assert!(copy.join("state.db").is_file() && copy.join("ingest.toml").is_file());
    c.sql("UPDATE t SET v = 'changed' WHERE id <= 5; DELETE FROM t WHERE id = 100;");
    let out = c.ok(&["delta"]);
    assert!(out.contains("1 table(s), 6 change(s)"), "{out}");
    // A failed run leaves the copy as it was.
    let before = std::fs::read(copy.join("state.db")).unwrap();
    let good = std::fs::read_to_string(c.config_path()).unwrap();
    std::fs::write(
        c.config_path(),
        good.replace(
            &format!("password = \"{}\"\nschema", c.env.my_password),
            "password = \"wrong\"\nschema",
        ),
    )
    .unwrap();
    c.expect(&["delta"], 3, &[]);
    assert_eq!(std::fs::read(copy.join("state.db")).unwrap(), before);

    // The machine is gone; a new one restores the copy.
    std::fs::remove_dir_all(&c.dir).unwrap();
    let restored = Bin {
        config: new.join("ingest.toml"),
    };
    let said = restored.ok(&["restore", "--from", &copy.display().to_string()]);
    assert!(
        said.contains("goes on from the last committed position"),
        "{said}"
    );
    assert!(new.join("state/state.db").is_file());
    // Restoring over an instance is refused.
    restored.expect(
        &["restore", "--from", &copy.display().to_string()],
        2,
        &["exists already"],
    );
    c.sql(
        "INSERT INTO t VALUES (101, 'new'), (102, 'new'); UPDATE t SET v = 'again' WHERE id = 50;",
    );
    let out = restored.ok(&["delta"]);
    assert!(
        out.contains("1 table(s), 3 change(s)"),
        "only the new changes: {out}"
    );
    c.assert_same("public.t", "t", &["id"]);
    let _ = std::fs::remove_dir_all(&new);
    let _ = std::fs::remove_dir_all(&copy);
}
