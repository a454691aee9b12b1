//! The manual's events (its appendix "SingleStore Flow Events"): what a
//! run did, as JSON objects with the manual's attribute names, appended to
//! `state_dir/log/events-YYYY-MM.jsonl`, and handed to `[notify]`: POSTed to
//! `webhook_url` and piped to `command`, on a thread of their own.
//!
//! The jsonl file is the record: an event is written there before anything
//! else sees it, and a webhook that is down loses nothing (it is tried
//! [`TRIES`] times, then left). A run never waits for a webhook: at the end
//! of the process the thread gets at most [`FLUSH_WAIT`] to finish.
//!
//! Events: `TableExtracted` (a table's full extract landed), `ExtractCompleted`
//! (a batch was extracted), `TableLoaded` (a table of a batch merged, or
//! failed to), `LoadCompleted` (a batch's loads ended), `HaltError` (the
//! scheduler turned itself off), `RetryError` (a run is tried again).
//! `LogFileProcessed` is the manual's Oracle-only event: not emitted.
//! Like the logger, the sink is the program's global: set once per process
//! by [`init`]; without it (unit tests) events go nowhere.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender};
use serde_json::{json, Map, Value};

/// Deliveries of one event to the webhook before it is left to the jsonl.
pub const TRIES: u32 = 3;
/// How long the end of the process waits for deliveries still under way.
pub const FLUSH_WAIT: Duration = Duration::from_secs(3);

/// Events waiting for the webhook or the command, at most; more are left
/// to the events file (a webhook that is down must not fill the memory).
pub const QUEUE: usize = 1000;
/// After this many events in a row the webhook did not take, it is left
/// alone for [`PAUSE`].
const FAILS_BEFORE_PAUSE: u32 = 3;
const PAUSE: Duration = Duration::from_secs(60);
/// A notify command that runs longer is stopped.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where events go (`[notify]`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Notify {
    pub webhook_url: Option<String>,
    pub command: Option<String>,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("webhook_url", &self.webhook_url.as_deref().map(redact_url))
            .field("command", &self.command)
            .finish()
    }
}

struct Sink {
    instance: String,
    dir: PathBuf,
    file: Mutex<()>,
    tx: Option<Sender<Value>>,
    done: Option<Receiver<()>>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sets where this process's events go.
pub fn init(instance: &str, log_dir: PathBuf, notify: &Notify) {
    let (tx, done) = if notify.webhook_url.is_some() || notify.command.is_some() {
        let (tx, rx) = channel::bounded::<Value>(QUEUE);
        let (done_tx, done_rx) = channel::bounded::<()>(1);
        let notify = notify.clone();
        std::thread::spawn(move || {
            let mut hook = Hook::default();
            for ev in rx {
                if ev.is_null() {
                    // flush(): everything before it is delivered or left.
                    let _ = done_tx.try_send(());
                    continue;
                }
                deliver(&notify, &ev, &mut hook);
            }
        });
        (Some(tx), Some(done_rx))
    } else {
        (None, None)
    };
    let _ = SINK.set(Sink {
        instance: instance.to_string(),
        dir: log_dir,
        file: Mutex::new(()),
        tx,
        done,
    });
}

/// Emits an event of `kind` with `fields` (the manual's attributes beyond
/// `type`, `generated`, `source` and `sourceType`, which are added).
pub fn emit(kind: &str, fields: Value) {
    let Some(sink) = SINK.get() else { return };
    let mut ev = Map::new();
    ev.insert("type".into(), json!(kind));
    ev.insert("generated".into(), json!(crate::clock::now()));
    ev.insert("source".into(), json!(sink.instance));
    ev.insert("sourceType".into(), json!("CDC"));
    if let Value::Object(f) = fields {
        ev.extend(f);
    }
    let ev = Value::Object(ev);
    let path = sink
        .dir
        .join(format!("events-{}.jsonl", crate::clock::this_month()));
    {
        // One write of the whole line: a crash leaves no half event.
        let line = format!("{ev}\n");
        let _one_writer = sink.file.lock().unwrap_or_else(|p| p.into_inner());
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            log::warn!("writing event {kind} to {}: {e}", path.display());
        }
    }
    if let Some(tx) = &sink.tx {
        if tx.try_send(ev).is_err() {
            log::warn!("event {kind}: {QUEUE} events wait for [notify]; this one stays in the events file only");
        }
    }
}

/// At the end of the process: lets deliveries under way finish, for at
/// most [`FLUSH_WAIT`].
pub fn flush() {
    let Some(sink) = SINK.get() else { return };
    if sink.tx.is_none() {
        return;
    }
    // The sender lives in the static: a sentinel marks the end.
    if let Some(tx) = &sink.tx {
        let _ = tx.send(Value::Null);
    }
    if let Some(done) = &sink.done {
        let _ = done.recv_timeout(FLUSH_WAIT);
    }
}

/// The webhook's recent failures.
#[derive(Default)]
struct Hook {
    fails: u32,
    paused_until: Option<std::time::Instant>,
}

fn deliver(notify: &Notify, ev: &Value, hook: &mut Hook) {
    let body = ev.to_string();
    let paused = hook
        .paused_until
        .is_some_and(|t| std::time::Instant::now() < t);
    if let Some(url) = notify.webhook_url.as_ref().filter(|_| !paused) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let mut wait = Duration::from_millis(200);
        for n in 1..=TRIES {
            match agent
                .post(url)
                .header("Content-Type", "application/json")
                .send(body.as_bytes())
            {
                Ok(_) => {
                    hook.fails = 0;
                    break;
                }
                Err(e) if n == TRIES => {
                    hook.fails += 1;
                    log::warn!(
                        "event {}: webhook {} failed {TRIES} times ({e}); it stays in the events file",
                        ev["type"],
                        redact_url(url)
                    );
                    if hook.fails >= FAILS_BEFORE_PAUSE {
                        log::warn!(
                            "webhook {}: {} events in a row not taken; left alone for {} s",
                            redact_url(url),
                            hook.fails,
                            PAUSE.as_secs()
                        );
                        hook.paused_until = Some(std::time::Instant::now() + PAUSE);
                        hook.fails = 0;
                    }
                }
                Err(_) => {
                    std::thread::sleep(wait);
                    wait *= 2;
                }
            }
        }
    }
    if let Some(cmd) = &notify.command {
        if let Err(e) = run_command(cmd, &body) {
            log::warn!("event {}: notify.command: {e}", ev["type"]);
        }
    }
}

/// Runs `cmd` through the system's shell with the event on stdin.
fn run_command(cmd: &str, body: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    let mut c = std::process::Command::new("sh");
    #[cfg(unix)]
    c.arg("-c").arg(cmd);
    #[cfg(windows)]
    let mut c = std::process::Command::new("cmd");
    #[cfg(windows)]
    c.arg("/C").arg(cmd);
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body.as_bytes())?;
        stdin.write_all(b"\n")?;
    }
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if start.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other(format!(
                "stopped after {} s",
                COMMAND_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "`{cmd}` exited with {status}"
        )));
    }
    Ok(())
}

/// A URL for the log: scheme and host only (webhook URLs carry their
/// secret in the user part or in the path).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(a webhook URL)".into();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    format!("{scheme}://{host}/...")
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_secrets_in_the_log() {
        assert_eq!(
            super::redact_url("https://u:se@cret@hooks.example/x/TOKEN"),
            "https://hooks.example/..."
        );
        assert_eq!(super::redact_url("http://h:9/x?k=1"), "http://h:9/...");
    }
}
