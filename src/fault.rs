//! Test hook for crash tests: with `INGEST_TEST_STALL=<point>` in the
//! environment the process announces `ingest: stalled at <point>` on stderr
//! and sleeps there, so a test can kill it (SIGKILL) at a known moment.
//! Without the variable a point costs two environment lookups.
//!
//! With `INGEST_TEST_FAIL=<name>`, [`fail`] makes the named operation return
//! an error, for tests of failure paths that no server can be made to take
//! on cue (a state.db write failing, say).

pub fn point(name: &str) {
    if std::env::var("INGEST_TEST_STALL").is_ok_and(|v| v == name) {
        eprintln!("ingest: stalled at {name}");
        std::thread::sleep(std::time::Duration::from_secs(600));
    }
    if std::env::var("INGEST_TEST_PAUSE").is_ok_and(|v| v == name) {
        pause(name);
    }
}

/// `INGEST_TEST_PAUSE=<point>`: announces `ingest: paused at <point>` and
/// waits (at most 120 s) until the file `INGEST_TEST_RESUME` names exists,
/// so that a test can change the databases at that moment and let the run
/// go on.
fn pause(name: &str) {
    eprintln!("ingest: paused at {name}");
    let Ok(resume) = std::env::var("INGEST_TEST_RESUME") else {
        return;
    };
    let t = std::time::Instant::now();
    while !std::path::Path::new(&resume).exists() && t.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An injected error where `INGEST_TEST_FAIL` names this operation.
pub fn fail(name: &str) -> anyhow::Result<()> {
    if std::env::var("INGEST_TEST_FAIL").is_ok_and(|v| v == name) {
        anyhow::bail!("injected failure: {name}");
    }
    Ok(())
}

/// An injected error the first time the operation runs:
/// `INGEST_TEST_FAIL_ONCE=<name>:<file>` fails it while `<file>` does not
/// exist, and creates the file (tries after that go through).
pub fn fail_once(name: &str) -> anyhow::Result<()> {
    let Ok(v) = std::env::var("INGEST_TEST_FAIL_ONCE") else {
        return Ok(());
    };
    match v.split_once(':') {
        Some((n, file)) if n == name && !std::path::Path::new(file).exists() => {
            let _ = std::fs::write(file, name);
            anyhow::bail!("injected failure: {name}");
        }
        _ => Ok(()),
    }
}
