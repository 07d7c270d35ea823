//! Inputs from anywhere: stdin (`-`), pipes, FIFOs and `<(…)` give the same report as the
//! file; gzip with zero padding is read; error lines are one line.
//!
//! FIFOs are made with `mkfifo`, process substitution with `bash`.

mod common;

use common::{fixture, gunzip_fixture};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("heapdiff")
}

fn s1() -> PathBuf {
    fixture("v8/service/s1.heapsnapshot.gz")
}

fn s2() -> PathBuf {
    fixture("v8/service/s2.heapsnapshot.gz")
}

/// Run heapdiff with `args` and `stdin`.
fn run(args: &[&Path], stdin: Stdio) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(stdin)
        .output()
        .unwrap()
}

/// The JSON report of `args`, asserting the run succeeded.
fn json(args: &[&Path], stdin: Stdio) -> String {
    let mut all: Vec<&Path> = vec![Path::new("--format"), Path::new("json")];
    all.extend_from_slice(args);
    let out = run(&all, stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `report` with the snapshot named `from` renamed to `to`: the one place reports of the same
/// bytes read from different places differ.
fn renamed(report: &str, from: &str, to: &Path) -> String {
    let from = format!("\"path\": {}", serde_json::to_string(from).unwrap());
    let to = format!(
        "\"path\": {}",
        serde_json::to_string(&to.display().to_string()).unwrap()
    );
    assert_eq!(
        report.matches(&from).count(),
        1,
        "{from} once in the report"
    );
    report.replacen(&from, &to, 1)
}

/// A pipe whose write end a thread fills with `bytes`, then closes.
fn piped(bytes: Vec<u8>) -> Stdio {
    let (reader, mut writer) = std::io::pipe().unwrap();
    std::thread::spawn(move || {
        // The reader may stop early (an error test); a broken pipe is expected then.
        let _ = writer.write_all(&bytes);
    });
    Stdio::from(reader)
}

/// Assert `out` failed with exit 2 and one line `heapdiff: error: …` holding `needle`;
/// return the line.
fn one_error_line(out: &Output, needle: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("heapdiff: error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    err
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

fn has_bash() -> bool {
    Command::new("bash")
        .arg("-c")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------------------
// Inputs

#[test]
fn stdin_from_a_file_and_from_a_pipe_plain_and_gzip() {
    let reference = json(&[&s1(), &s2()], Stdio::null());
    let dash = Path::new("-");

    // Redirected from the .gz file: mapped like any file.
    let from_file = json(&[dash, &s2()], Stdio::from(fs::File::open(s1()).unwrap()));
    assert_eq!(renamed(&from_file, "<stdin>", &s1()), reference);

    // Through a pipe, compressed (`ssh host cat s1.gz | heapdiff - s2.gz`).
    let gz = fs::read(s1()).unwrap();
    let from_pipe = json(&[dash, &s2()], piped(gz));
    assert_eq!(renamed(&from_pipe, "<stdin>", &s1()), reference);

    // Through a pipe, decompressed (`zcat s1.gz | heapdiff - s2.gz`), and as the second input.
    let plain = gunzip_fixture("v8/service/s1.heapsnapshot.gz");
    let from_plain_pipe = json(&[dash, &s2()], piped(plain));
    assert_eq!(renamed(&from_plain_pipe, "<stdin>", &s1()), reference);
    let second = json(&[&s1(), dash], piped(fs::read(s2()).unwrap()));
    assert_eq!(renamed(&second, "<stdin>", &s2()), reference);
}

#[test]
fn fifo_with_a_writer_thread() {
    let reference = json(&[&s1(), &s2()], Stdio::null());
    let dir = tempfile::tempdir().unwrap();
    for (label, bytes) in [
        ("gzip", fs::read(s1()).unwrap()),
        ("plain", gunzip_fixture("v8/service/s1.heapsnapshot.gz")),
    ] {
        let fifo = dir.path().join(format!("{label}.fifo"));
        mkfifo(&fifo);
        let path = fifo.clone();
        // Opening a FIFO for writing waits for its reader: heapdiff, here.
        let writer = std::thread::spawn(move || {
            fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .write_all(&bytes)
                .unwrap();
        });
        let report = json(&[&fifo, &s2()], Stdio::null());
        writer.join().unwrap();
        let name = fifo.display().to_string();
        assert_eq!(renamed(&report, &name, &s1()), reference, "{label}");
    }
}

#[test]
fn process_substitution_dev_fd() {
    if !has_bash() {
        eprintln!("note: skipping the <(…) test: no bash");
        return;
    }
    let reference = json(&[&s1(), &s2()], Stdio::null());
    for cat in ["cat", "zcat"] {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(r#"exec "$0" --format json <({cat} "$1") "$2""#))
            .arg(bin())
            .arg(s1())
            .arg(s2())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{cat}: {err}");
        let report = String::from_utf8(out.stdout).unwrap();
        let v: serde_json::Value = serde_json::from_str(&report).unwrap();
        let name = v["snapshots"][0]["path"].as_str().unwrap().to_string();
        assert!(name.starts_with("/dev/fd/"), "{name}");
        assert_eq!(renamed(&report, &name, &s1()), reference, "{cat}");
    }
}

#[test]
fn gzip_with_zero_padding_and_with_trailing_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let gz = fs::read(s1()).unwrap();
    let reference = json(&[&s1()], Stdio::null());

    // Padded to the next 512-byte block, and then some: what some uploaders write.
    let padded_path = dir.path().join("padded.heapsnapshot.gz");
    let mut padded = gz.clone();
    padded.resize(gz.len().div_ceil(512) * 512 + 65536, 0);
    fs::write(&padded_path, &padded).unwrap();
    let report = json(&[&padded_path], Stdio::null());
    assert_eq!(
        renamed(&report, &padded_path.display().to_string(), &s1()),
        reference
    );
    // The same through a pipe.
    let report = json(&[Path::new("-")], piped(padded.clone()));
    assert_eq!(renamed(&report, "<stdin>", &s1()), reference);

    // Bytes that are not zeros: an error at the first of them.
    let junk_path = dir.path().join("junk.heapsnapshot.gz");
    let mut junk = gz.clone();
    junk.extend_from_slice(b"PK\x03\x04 a zip glued on");
    fs::write(&junk_path, &junk).unwrap();
    let out = run(&[&junk_path], Stdio::null());
    one_error_line(
        &out,
        &format!(
            "junk.heapsnapshot.gz: data after the end of the gzip stream that is neither \
             another gzip member nor zero padding (at byte {})",
            gz.len()
        ),
    );
    let mut late = padded.clone();
    late.push(b'x');
    fs::write(&junk_path, &late).unwrap();
    let out = run(&[&junk_path], Stdio::null());
    one_error_line(&out, &format!("(at byte {})", padded.len()));
    let out = run(&[Path::new("-")], piped(late));
    one_error_line(
        &out,
        &format!("<stdin>: data after the end of the gzip stream that is neither another gzip member nor zero padding (at byte {})", padded.len()),
    );
}

#[test]
fn stdin_once_per_run() {
    let dash = Path::new("-");
    let out = run(&[dash, dash], Stdio::null());
    one_error_line(&out, "'-' (stdin) is given more than once");
    // The same pipe by two names.
    let out = run(
        &[dash, Path::new("/dev/stdin")],
        piped(fs::read(s1()).unwrap()),
    );
    one_error_line(
        &out,
        "<stdin> and /dev/stdin are the same pipe, which can be read only once",
    );
    let out = run(&[dash], piped(Vec::new()));
    one_error_line(&out, "<stdin>: input is empty (nothing was read)");
    let out = run(&[dash], piped(b"   \n".to_vec()));
    one_error_line(&out, "<stdin>: not a heap dump");
}

#[test]
fn control_characters_in_messages_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    // A key holding a newline and an ESC sequence, in a snapshot.
    let bad = dir.path().join("bad.heapsnapshot");
    let text = b"{\"snap\nshot\x1b[31m\" 1}";
    fs::write(&bad, text).unwrap();
    let out = run(&[&bad], Stdio::null());
    let line = one_error_line(&out, "");
    // The value `1` stands where the ':' should be, two bytes from the end.
    let colon_at = text.len() - 2;
    assert_eq!(
        line,
        format!(
            "heapdiff: error: {}: expected ':' after key \"snap\\nshot\\x1b[31m\" (at byte {colon_at})\n",
            bad.display()
        )
    );
    // A file name holding them.
    let named = dir.path().join("two\nlines\x1b]0;title\x07.heapsnapshot");
    let out = run(&[&named], Stdio::null());
    one_error_line(
        &out,
        "two\\nlines\\x1b]0;title\\x07.heapsnapshot: No such file",
    );
}

#[test]
fn jemalloc_profile_through_a_pipe() {
    let before = fixture("jemalloc/exact.before.heap");
    let after = fixture("jemalloc/exact.after.heap");
    let reference = json(&[&before, &after], Stdio::null());
    let report = json(&[&before, Path::new("-")], piped(fs::read(&after).unwrap()));
    assert_eq!(renamed(&report, "<stdin>", &after), reference);
}
