//! Live processes for the tests that need them (capture, the HTML page in a browser): a
//! child killed when the test ends, with its output lines on channels; Chromium, when
//! installed, started headless with a DevTools endpoint.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A child process killed when the test ends, with its output lines on channels.
pub struct Proc {
    pub child: Child,
    pub stdout: mpsc::Receiver<String>,
    pub stderr: mpsc::Receiver<String>,
}

impl Proc {
    pub fn start(cmd: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(cmd)
            .args(args)
            // tests/capture/session-service.js listens on $PORT when set: here, a free port.
            .env_remove("PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd}: {e}"));
        let lines = |r: Box<dyn Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Proc {
            child,
            stdout,
            stderr,
        }
    }
    /// The first line on `stream` that `f` maps to a value.
    pub fn wait_for<T>(
        rx: &mpsc::Receiver<String>,
        what: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(v) = f(&line) {
                        return v;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no {what} within 60 s");
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in `…ws://127.0.0.1:PORT/…` (Node's "Debugger listening on", Chrome's "DevTools
/// listening on").
pub fn ws_port(line: &str) -> Option<u16> {
    let rest = line.split("ws://127.0.0.1:").nth(1)?;
    rest.split('/').next()?.parse().ok()
}

pub fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| have(c, "--version"));
    if found.is_none() {
        eprintln!("note: no chromium or google-chrome; the Chromium capture test is skipped");
    }
    found
}

/// Headless Chromium with a DevTools endpoint on a free port, showing `url`, and that
/// endpoint's `127.0.0.1:PORT`; the profile directory lives as long as the process.
pub fn start_chromium(browser: &str, url: &str) -> (Proc, String, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let b = Proc::start(
        browser,
        &[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-extensions",
            &format!("--user-data-dir={}", profile.path().display()),
            "--remote-debugging-port=0",
            url,
        ],
    );
    let port = Proc::wait_for(&b.stderr, "DevTools port", ws_port);
    (b, format!("127.0.0.1:{port}"), profile)
}
