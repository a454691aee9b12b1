//! Test hook for crash tests: with `INGEST_TEST_STALL=<point>` in the
//! environment the process announces `ingest: stalled at <point>` on stderr
//! and sleeps there, so a test can kill it (SIGKILL) at a known moment.
//! Without the variable a point costs one environment lookup.

pub fn point(name: &str) {
    if std::env::var("INGEST_TEST_STALL").is_ok_and(|v| v == name) {
        eprintln!("ingest: stalled at {name}");
        std::thread::sleep(std::time::Duration::from_secs(600));
    }
}
