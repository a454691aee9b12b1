//! The spool's disk: `min_free_disk` is checked before extracting and
//! watched while writing (a small tmpfs as the spool folder), and a disk
//! that fills up while a batch is written loses nothing: the run stops,
//! the partial batch is discarded, and once there is room the next delta
//! lands every change. Needs root (mount).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::Case;

/// A tmpfs mounted at a folder for the test's time.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "mounting a tmpfs at {} (the disk tests run as root)",
            at.display()
        );
        Tmpfs(at.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remounting {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn spool_files(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            for f in std::fs::read_dir(&p).unwrap() {
                out.push(f.unwrap().path().display().to_string());
            }
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

fn with_min_free(c: &Case, min: &str) {
    let path = c.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let text = match text.find("min_free_disk") {
        Some(_) => text
            .lines()
            .map(|l| {
                if l.starts_with("min_free_disk") {
                    format!("min_free_disk = \"{min}\"")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => text.replacen(
            "spool_dir = \"spool\"",
            &format!("spool_dir = \"spool\"\nmin_free_disk = \"{min}\""),
            1,
        ),
    };
    std::fs::write(&path, text).unwrap();
}

#[test]
fn a_short_or_full_spool_disk_stops_the_run_and_loses_nothing() {
    let c = Case::new("disk");
    let spool = c.dir.join("spool");
    let fs = Tmpfs::mount(&spool, "40m");
    c.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (0, 'first');");
    with_min_free(&c, "30MB");
    c.ok(&["full-extract"]);

    // About 45 MB of changes: below 30 MB free while writing, the run
    // stops (exit 2) naming the folder.
    c.sql("INSERT INTO t SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 200000) g;");
    let out = c.expect(
        &["delta"],
        2,
        &[
            "has",
            "free, less than min_free_disk (28.6 MiB) while writing",
        ],
    );
    assert!(out.contains(&spool.display().to_string()), "{out}");
    // Asked for more than there is: stopped before reading anything.
    with_min_free(&c, "1GiB");
    c.expect(
        &["delta"],
        2,
        &["less than min_free_disk (1.0 GiB) before extracting"],
    );

    // No check, and the disk fills up while the batch is written: the run
    // fails, and nothing of the batch counts.
    with_min_free(&c, "0");
    fs.resize("20m");
    let out = c.ingest(&["delta"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    c.sql("UPDATE t SET v = 'after' WHERE id <= 10; DELETE FROM t WHERE id = 11;");

    // Room again: the next delta lands every change, and the spool ends
    // empty.
    fs.resize("400m");
    with_min_free(&c, "30MB");
    c.ok(&["delta"]);
    c.assert_same("public.t", "t", &["id"]);
    assert_eq!(c.dest_count("t"), 200_000);
    assert!(spool_files(&spool).is_empty(), "{:?}", spool_files(&spool));
}
