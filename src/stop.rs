//! A stop asked for from outside: Ctrl-C, SIGTERM or SIGHUP (Unix), Ctrl-C
//! and Ctrl-Break and the console's close, logoff and shutdown events
//! (Windows), through `ctrlc`. The first request lets the current step end
//! safely (a delta ends after the batch it is merging; `ingest run` starts
//! nothing new); a second one exits at once. Windows does not wait for a
//! process after the close, logoff and shutdown events: it ends it as soon
//! as the handler returns. Ending at once is safe too: every step is
//! crash-safe and the next run resumes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    let r = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("ingest: stopping now");
            std::process::exit(130);
        }
        log::warn!("stop requested: ending after the current step (again to stop at once)");
    });
    if let Err(e) = r {
        log::debug!("stop handler not installed: {e}");
    }
}

pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Sleeps up to `d`, waking early on a stop request: whether it slept the
/// whole time.
pub fn sleep(d: Duration) -> bool {
    let end = Instant::now() + d;
    while !requested() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(200)));
    }
    false
}
