//! `heapdiff capture` against live processes: real Node services started with `--inspect`
//! (or opened by pid), driven between snapshots the way a nightly check drives load, and
//! real headless Chromium where it is installed. Skipped, with a note, without Node.

mod common;

use common::live::{chromium, have, start_chromium, ws_port, Proc};
use common::schema;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn heapdiff() -> Command {
    Command::new(env!("CARGO_BIN_EXE_heapdiff"))
}

fn program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/capture")
        .join(name)
}

fn node_or_skip() -> bool {
    let ok = have("node", "--version");
    if !ok {
        eprintln!("note: node is not installed; capture tests skipped");
    }
    ok
}

/// A Node service under the inspector: (process, inspector port, service port).
fn start_service() -> (Proc, u16, u16) {
    let p = Proc::start(
        "node",
        &[
            "--inspect=127.0.0.1:0",
            program("session-service.js").to_str().unwrap(),
        ],
    );
    let inspector = Proc::wait_for(&p.stderr, "inspector port", ws_port);
    let port = Proc::wait_for(&p.stdout, "service port", |l| {
        l.strip_prefix("listening ")?.parse().ok()
    });
    (p, inspector, port)
}

fn get(port: u16, path: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
}

fn logins(port: u16, n: usize) {
    for _ in 0..n {
        get(port, "/login");
        get(port, "/health");
    }
}

fn wait_for_file(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_node_service_leak_is_captured_reported_and_gated() {
    if !node_or_skip() {
        return;
    }
    let (_svc, inspector, port) = start_service();
    logins(port, 50);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("snaps");
    let cap = heapdiff()
        .args(["capture", &format!("127.0.0.1:{inspector}")])
        .args(["-n", "3", "--interval", "4s", "--format", "json", "--quiet"])
        .args(["--fail-on", "high", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Load between the snapshots: 100 more logins after the first, 100 after the second.
    wait_for_file(&out.join("1.heapsnapshot.gz"));
    logins(port, 100);
    wait_for_file(&out.join("2.heapsnapshot.gz"));
    logins(port, 100);
    let res = cap.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    // The cache finding is high: the gate is breached.
    assert_eq!(res.status.code(), Some(1), "{stderr}");
    assert_eq!(
        files_in(&out),
        [
            "1.heapsnapshot.gz",
            "2.heapsnapshot.gz",
            "3.heapsnapshot.gz"
        ]
    );
    let r = schema::parse(&res.stdout);
    assert_eq!(r["mode"], "series");
    assert_eq!(r["ids_comparable"], true, "one session keeps the ids");
    let cache = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["owner"] == "sessions")
        .unwrap_or_else(|| panic!("no finding for sessions: {:#}", r["findings"]));
    assert_eq!(cache["kind"], "cache");
    assert_eq!(cache["severity"], "high");
    // 50 logins before the first snapshot, 100 between each: one Session each.
    assert_eq!(cache["trend"], serde_json::json!([50, 150, 250]));
    let session = r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Session")
        .unwrap();
    assert_eq!(
        (&session["count_before"], &session["count_after"]),
        (&Value::from(50), &Value::from(250))
    );
    // Every object allocated by the 200 logins is new by id, none deleted.
    assert_eq!(
        (&session["added_count"], &session["removed_count"]),
        (&Value::from(200), &Value::from(0))
    );
}

#[test]
fn a_node_process_is_opened_by_pid_and_told_so() {
    if !node_or_skip() {
        return;
    }
    // No --inspect: SIGUSR1 opens the inspector, on a free port (--inspect-port=0).
    let p = Proc::start(
        "node",
        &[
            "--inspect-port=0",
            program("session-service.js").to_str().unwrap(),
        ],
    );
    let port: u16 = Proc::wait_for(&p.stdout, "service port", |l| {
        l.strip_prefix("listening ")?.parse().ok()
    });
    logins(port, 10);
    let dir = tempfile::tempdir().unwrap();
    let res = heapdiff()
        .args(["capture", &format!("pid:{}", p.pid())])
        .args([
            "-n",
            "2",
            "--interval",
            "200ms",
            "--no-report",
            "--quiet",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{stderr}");
    assert!(res.stdout.is_empty(), "--no-report writes no report");
    // What was done, and how to undo it, in one line (said even with --quiet).
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("pid:{}: sent SIGUSR1", p.pid()))
            && stderr.contains("require('node:inspector').close()"),
        "{stderr}"
    );
    assert_eq!(
        files_in(dir.path()),
        ["1.heapsnapshot.gz", "2.heapsnapshot.gz"]
    );
    // The snapshots are whole: the pair compares by id, 10 sessions in each.
    let r = schema::parse(
        &heapdiff()
            .args(["-q", "-f", "json"])
            .arg(dir.path().join("1.heapsnapshot.gz"))
            .arg(dir.path().join("2.heapsnapshot.gz"))
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(r["ids_comparable"], true);
    // A second capture finds the inspector already open and does not signal again.
    let again = heapdiff()
        .args(["capture", &format!("pid:{}", p.pid())])
        .args(["-n", "1", "--no-report", "--out"])
        .arg(dir.path().join("again"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("already open"), "{stderr}");
    // Not on a terminal and not --quiet: one line per snapshot, for a CI log.
    assert!(
        stderr
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("heapdiff: snapshot 1/1 written: ")
                && l.contains("1.heapsnapshot.gz")),
        "{stderr}"
    );
}

#[test]
fn a_target_killed_mid_snapshot_is_one_error_and_leaves_no_file() {
    if !node_or_skip() {
        return;
    }
    let mut p = Proc::start(
        "node",
        &[
            "--inspect=127.0.0.1:0",
            program("big-heap.js").to_str().unwrap(),
        ],
    );
    let inspector = Proc::wait_for(&p.stderr, "inspector port", ws_port);
    Proc::wait_for(&p.stdout, "ready", |l| (l == "ready").then_some(()));
    let dir = tempfile::tempdir().unwrap();
    let cap = heapdiff()
        .args(["capture", &format!("127.0.0.1:{inspector}")])
        .args(["-n", "1", "--no-gc", "--no-report", "--out"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the target once the snapshot has started to arrive.
    let partial = dir.path().join(".1.heapsnapshot.gz.partial");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "the snapshot never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    p.child.kill().unwrap();
    let res = cap.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "heapdiff: error: 127.0.0.1:{inspector}: snapshot 1 of 1 failed after "
        )) && stderr.contains("the connection closed"),
        "{stderr}"
    );
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[test]
fn a_full_disk_is_one_error_and_leaves_no_file() {
    if !node_or_skip() {
        return;
    }
    let (_svc, inspector, _) = start_service();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = heapdiff();
    cmd.args(["capture", &format!("127.0.0.1:{inspector}")])
        .args(["-n", "1", "--no-report", "--out"])
        .arg(dir.path());
    // A 64 KiB file size limit stands in for a full disk: the write fails (EFBIG) partway.
    // SAFETY: setrlimit(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64 << 10,
                rlim_max: 64 << 10,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            Ok(())
        });
    }
    let res = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let want = format!(
        "heapdiff: error: {}: cannot write snapshot: File too large",
        dir.path().join("1.heapsnapshot.gz").display()
    );
    assert!(stderr.starts_with(&want), "{stderr}");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[test]
fn unreachable_or_wrong_targets_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let res = heapdiff()
            .arg("capture")
            .args(args)
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&res.stderr).into_owned();
        assert_eq!(res.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(res.stdout.is_empty());
        stderr
    };
    // Nothing listens on port 1.
    let e = run(&["127.0.0.1:1"]);
    assert!(
        e.starts_with("heapdiff: error: cannot connect to 127.0.0.1:1"),
        "{e}"
    );
    let e = run(&["localhost"]);
    assert!(e.contains("not a target: give HOST:PORT"), "{e}");
    let e = run(&["127.0.0.1:9229", "-n", "0"]);
    assert!(e.contains("--count must be at least 1"), "{e}");
    // A process that is not Node is never signalled (SIGUSR1 would end it).
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let e = run(&[&format!("pid:{}", sleeper.id())]);
    assert!(e.contains("is not a Node process"), "{e}");
    assert!(
        sleeper.try_wait().unwrap().is_none(),
        "sleep was not signalled"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    if node_or_skip() {
        let (_svc, inspector, _) = start_service();
        let e = run(&[
            &format!("127.0.0.1:{inspector}"),
            "--target",
            "no-such-page",
        ]);
        assert!(
            e.contains("no target matches --target \"no-such-page\" (targets: node "),
            "{e}"
        );
    }
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn a_chromium_page_leaking_detached_dom_is_captured() {
    let Some(browser) = chromium() else { return };
    let page = format!("file://{}", program("page.html").display());
    let (_browser, authority, _profile) = start_chromium(browser, &page);
    // The page's own debugger URL, to drive it between snapshots (as a test runner would).
    let deadline = Instant::now() + Duration::from_secs(30);
    let ws = loop {
        let targets = heapdiff::capture::endpoint::list_targets(&authority).unwrap();
        if let Some(t) = targets
            .iter()
            .find(|t| t.kind == "page" && t.url.ends_with("page.html"))
        {
            break t.ws_url.clone().unwrap();
        }
        assert!(Instant::now() < deadline, "the page never loaded");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut driver = heapdiff::capture::cdp::Session::connect(&ws).unwrap();
    let mut eval = |expression: &str| -> Value {
        let r = driver
            .call(
                "Runtime.evaluate",
                serde_json::json!({"expression": expression, "returnByValue": true}),
                &mut |_, _| Ok(()),
            )
            .unwrap();
        assert!(r["exceptionDetails"].is_null(), "{expression}: {r:#}");
        r["result"]["value"].clone()
    };
    // The page is listed before its script has run.
    while eval("typeof step") != "function" {
        assert!(Instant::now() < deadline, "the page's script never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut step = |times: usize| {
        for _ in 0..times {
            eval("step()");
        }
    };
    step(2);
    let dir = tempfile::tempdir().unwrap();
    let cap = heapdiff()
        .args(["capture", &authority, "--target", "page.html"])
        .args([
            "-n",
            "3",
            "--interval",
            "3s",
            "--format",
            "json",
            "--quiet",
            "--out",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_file(&dir.path().join("1.heapsnapshot.gz"));
    step(3);
    wait_for_file(&dir.path().join("2.heapsnapshot.gz"));
    step(3);
    let res = cap.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{stderr}");
    let r = schema::parse(&res.stdout);
    assert_eq!(r["ids_comparable"], true);
    let dom = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "detached_dom")
        .unwrap_or_else(|| panic!("no detached_dom finding: {:#}", r["findings"]));
    assert_eq!(dom["owner"], "closedPanels");
    // Panels closed: 2, 5, 8. Each is a detached tree of a <section> (its attributes, its
    // `dataset` map and the node data behind it: UniqueElementData, DOMStringMap,
    // NodeRareData and its DataFieldWrapper), a <ul>, 20 <li> and their 20 Text nodes: 46
    // nodes; and all share the `panel` class list (one SpaceSplitString::Data).
    assert_eq!(
        dom["trend"],
        serde_json::json!([2 * 46 + 1, 5 * 46 + 1, 8 * 46 + 1])
    );
    let count = |name: &str| {
        r["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["trend"].clone())
    };
    let panels = |per: u64| Some(serde_json::json!([2 * per, 5 * per, 8 * per]));
    assert_eq!(count("Detached <section>"), panels(1));
    assert_eq!(count("Detached <li>"), panels(20));
    assert_eq!(count("Detached Text"), panels(20));
}
