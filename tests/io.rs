//! Inputs from anywhere and outputs that never surprise: stdin (`-`), pipes, FIFOs and
//! `<(…)` give the same report as the file; gzip with zero padding is read; `-o` does what
//! the README says for each kind of path; a report that cannot be written is one error line
//! and exit 2; a signal during the write leaves no temporary file; error lines are one line.
//!
//! FIFOs, umasks, closed descriptors and file size limits are made with the system's own
//! tools (`mkfifo`, `bash`); the signal test builds a tiny `LD_PRELOAD` library with `cc`
//! and is skipped, with a note, where there is none.

mod common;

use common::{fixture, gunzip_fixture};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
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
    common::schema::parse(&out.stdout);
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

/// Files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
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
        let v = common::schema::parse(report.as_bytes());
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

// ---------------------------------------------------------------------------------------
// Outputs

/// The JSON report of s1, as stdout gets it.
fn s1_report() -> Vec<u8> {
    json(&[&s1()], Stdio::null()).into_bytes()
}

fn write_report(out_path: &Path) -> Output {
    run(
        &[
            Path::new("--format"),
            Path::new("json"),
            Path::new("-o"),
            out_path,
            &s1(),
        ],
        Stdio::null(),
    )
}

/// `bash -c SCRIPT heapdiff ARGS…` (`$0` is the binary): for umasks, limits and closed
/// descriptors set the way a user sets them.
fn bash(script: &str, args: &[&Path]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(bin())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn output_onto_a_symlink_replaces_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.json");
    fs::write(&target, b"old").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink("target.json", &link).unwrap();
    let out = write_report(&link);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("target.json"));
    assert_eq!(fs::read(&target).unwrap(), s1_report());
    assert_eq!(
        fs::metadata(&target).unwrap().mode() & 0o777,
        0o640,
        "mode kept"
    );
    assert_eq!(listing(dir.path()), ["link.json", "target.json"]);

    // A symlink to nothing is refused (give the file's own path to create it).
    let dangling = dir.path().join("dangling.json");
    std::os::unix::fs::symlink("nowhere.json", &dangling).unwrap();
    let out = write_report(&dangling);
    one_error_line(
        &out,
        "dangling.json: cannot write report: is a symlink to a file that does not exist",
    );
    assert_eq!(
        listing(dir.path()),
        ["dangling.json", "link.json", "target.json"]
    );
}

#[test]
fn symlink_planted_in_a_shared_directory_is_not_followed() {
    // Only root can plant a symlink owned by someone else; that is also whom it threatens.
    if effective_uid() != 0 {
        eprintln!("note: skipping the planted-symlink test: it needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let precious = dir.path().join("precious");
    fs::write(&precious, b"keep me").unwrap();
    let planted = shared.join("report.json");
    std::os::unix::fs::symlink(&precious, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(65534), Some(65534)).unwrap();
    let out = write_report(&planted);
    one_error_line(
        &out,
        "report.json: cannot write report: is a symlink owned by another user in a shared \
         directory",
    );
    assert_eq!(fs::read(&precious).unwrap(), b"keep me");
}

/// The effective uid: the owner of a file this process creates.
fn effective_uid() -> u32 {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("me");
    fs::write(&f, b"").unwrap();
    fs::metadata(&f).unwrap().uid()
}

#[test]
fn output_into_a_fifo_with_a_reader_thread() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("report.fifo");
    mkfifo(&fifo);
    let path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        fs::File::open(&path)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        got
    });
    let out = write_report(&fifo);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(reader.join().unwrap(), s1_report());
    assert!(
        fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "still a FIFO"
    );
    assert_eq!(listing(dir.path()), ["report.fifo"]);
}

#[test]
fn output_onto_character_devices() {
    let null = Path::new("/dev/null");
    let before = fs::metadata(null).unwrap();
    let out = write_report(null);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let after = fs::metadata(null).unwrap();
    assert!(after.file_type().is_char_device());
    assert_eq!((after.ino(), after.rdev()), (before.ino(), before.rdev()));
    if Path::new("/dev/full").exists() {
        let out = write_report(Path::new("/dev/full"));
        one_error_line(
            &out,
            "/dev/full: cannot write report: No space left on device (os error 28)",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = write_report(dir.path());
    one_error_line(&out, "cannot write report: is a directory");
    // Not created as a file named "new".
    let out = write_report(&dir.path().join("new/"));
    one_error_line(&out, "new/: cannot write report: names a directory");
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn new_report_mode_follows_the_umask_and_a_replaced_one_keeps_its_mode() {
    if !has_bash() {
        eprintln!("note: skipping the umask test: no bash");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (umask, mode) in [
        ("022", 0o644),
        ("027", 0o640),
        ("077", 0o600),
        ("002", 0o664),
    ] {
        let out_path = dir.path().join(format!("umask-{umask}.json"));
        let out = bash(
            &format!(r#"umask {umask}; exec "$0" --format json -o "$1" "$2""#),
            &[&out_path, &s1()],
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let meta = fs::metadata(&out_path).unwrap();
        assert_eq!(meta.mode() & 0o777, mode, "umask {umask}");
        assert_eq!(fs::read(&out_path).unwrap(), s1_report());
    }
    // Replacing: the old file's mode, not the umask's.
    let old = dir.path().join("umask-077.json");
    fs::set_permissions(&old, fs::Permissions::from_mode(0o604)).unwrap();
    let out = bash(
        r#"umask 077; exec "$0" --format json -o "$1" "$2""#,
        &[&old, &s1()],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(fs::metadata(&old).unwrap().mode() & 0o777, 0o604);
    assert_eq!(listing(dir.path()).len(), 4, "no temporary file left");
}

/// heapdiff run as `uid` (root can become anyone; others run as themselves).
fn write_report_as(uid: u32, out_path: &Path) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(["--format", "json", "-o"])
        .arg(out_path)
        .arg(s1())
        .stdin(Stdio::null());
    if uid != effective_uid() {
        // Only root gets here; `nobody`'s group has the same number.
        cmd.uid(uid).gid(uid);
    }
    cmd.output().unwrap()
}

#[test]
fn read_only_target_and_read_only_directory() {
    let me = effective_uid();
    // As root, the checks run as `nobody` (root may write anything, as with `>`); others
    // run as themselves, in their own group.
    let (user, group) = if me == 0 {
        (65534, Some(65534))
    } else {
        (me, None)
    };
    let own = |p: &Path| std::os::unix::fs::chown(p, Some(user), group).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    fs::set_permissions(base, fs::Permissions::from_mode(0o755)).unwrap();

    // A read-only file in a writable directory: refused, as `>` would refuse it.
    let writable = base.join("writable");
    fs::create_dir(&writable).unwrap();
    let target = writable.join("report.json");
    fs::write(&target, b"old").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o444)).unwrap();
    own(&writable);
    own(&target);
    let out = write_report_as(user, &target);
    one_error_line(
        &out,
        "report.json: cannot write report: Permission denied (os error 13)",
    );
    assert_eq!(fs::read(&target).unwrap(), b"old");
    assert_eq!(listing(&writable), ["report.json"]);

    // A read-only directory: no temporary file, so no report, even over a writable file.
    let locked = base.join("locked");
    fs::create_dir(&locked).unwrap();
    let inside = locked.join("report.json");
    fs::write(&inside, b"old").unwrap();
    fs::set_permissions(&inside, fs::Permissions::from_mode(0o644)).unwrap();
    own(&inside);
    own(&locked);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    let out = write_report_as(user, &inside);
    one_error_line(
        &out,
        &format!(
            "report.json: cannot write report: cannot create a temporary file in {}: \
             Permission denied (os error 13)",
            locked.display()
        ),
    );
    assert_eq!(fs::read(&inside).unwrap(), b"old");
    let new = locked.join("new.json");
    let out = write_report_as(user, &new);
    one_error_line(
        &out,
        "new.json: cannot write report: cannot create a temporary file",
    );
    assert_eq!(listing(&locked), ["report.json"]);

    if me == 0 {
        // Root replaces the read-only file, as `>` would, keeping its mode and owner.
        let out = write_report_as(0, &target);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let meta = fs::metadata(&target).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o444);
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(fs::read(&target).unwrap(), s1_report());
    }
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn no_temporary_file_after_a_failed_write() {
    if !has_bash() {
        eprintln!("note: skipping the file size limit test: no bash");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("report.json");
    fs::write(&target, b"old").unwrap();
    // A 100 KiB file size limit; the report is 0.9 MB.
    let out = bash(
        r#"ulimit -f 100; exec "$0" --format json -o "$1" "$2""#,
        &[&target, &s1()],
    );
    one_error_line(
        &out,
        "report.json: cannot write report: File too large (os error 27)",
    );
    assert_eq!(
        fs::read(&target).unwrap(),
        b"old",
        "the old report stays whole"
    );
    assert_eq!(listing(dir.path()), ["report.json"]);
}

/// A library for `LD_PRELOAD` whose `write` waits forever (on a FIFO nobody writes) before
/// the first write to heapdiff's temporary file: the run is then certainly inside the write
/// when the signal comes, whatever the machine's speed. `None` without `cc`.
fn stall_library(dir: &Path) -> Option<PathBuf> {
    const SOURCE: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
ssize_t write(int fd, const void *buf, size_t n) {
    static ssize_t (*real_write)(int, const void *, size_t);
    if (!real_write) real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    const char *gate = getenv("STALL_GATE");
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, target, sizeof target - 1);
    if (gate && len > 0) {
        target[len] = 0;
        if (strstr(target, ".heapdiff-")) {
            char c;
            int g = open(gate, O_RDONLY);
            if (g >= 0) { read(g, &c, 1); close(g); }
        }
    }
    return real_write(fd, buf, n);
}
"#;
    let src = dir.join("stall.c");
    let lib = dir.join("stall.so");
    fs::write(&src, SOURCE).unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .output();
    match built {
        Ok(o) if o.status.success() => Some(lib),
        _ => None,
    }
}

#[test]
fn signal_during_the_write_leaves_no_temporary_file() {
    let tools = tempfile::tempdir().unwrap();
    let Some(lib) = stall_library(tools.path()) else {
        eprintln!("note: skipping the signal test: it needs cc to build an LD_PRELOAD library");
        return;
    };
    let gate = tools.path().join("gate");
    mkfifo(&gate);
    for (sig, name) in [(libc::SIGTERM, "TERM"), (libc::SIGINT, "INT")] {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.json");
        fs::write(&target, b"old").unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["--format", "json", "-o"])
            .arg(&target)
            .arg(s1())
            .env("LD_PRELOAD", &lib)
            .env("STALL_GATE", &gate)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // heapdiff leaves a signal its parent ignores ignored (`nohup`, a background job's
        // SIGINT), so the child starts with the default action whatever this test runs
        // under: started as `cmd &` from a script, SIGINT would be ignored and the run
        // would stall forever.
        // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(|| {
                for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                    libc::signal(s, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        // The temporary file appears once the analysis is done; the first write to it then
        // stalls until the process ends.
        while listing(dir.path()).len() < 2 {
            if let Some(st) = child.try_wait().unwrap() {
                panic!("heapdiff ended before writing: {st:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let tmp = listing(dir.path());
        assert!(
            tmp.iter().any(|n| n.starts_with(".report.json.heapdiff-")),
            "{tmp:?}"
        );
        let st = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(sig), "ended by SIG{name}: {status:?}");
        assert_eq!(listing(dir.path()), ["report.json"], "SIG{name}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
    }
}

#[test]
fn failed_writes_to_stdout() {
    // /dev/full: ENOSPC.
    if Path::new("/dev/full").exists() {
        let out = Command::new(bin())
            .args(["--format", "json"])
            .arg(s1())
            .stdout(fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        one_error_line(
            &out,
            "<stdout>: cannot write report: No space left on device (os error 28)",
        );
    }
    // Closed (`>&-`).
    if has_bash() {
        let out = bash(r#"exec "$0" --format json "$1" >&-"#, &[&s1()]);
        one_error_line(&out, "<stdout>: cannot write report: stdout is closed");
        // Closed, but the report goes to a file: no error.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("r.json");
        let out = bash(
            r#"exec "$0" --format json -o "$1" "$2" >&-"#,
            &[&target, &s1()],
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(fs::read(&target).unwrap(), s1_report());
    }
    // A reader that goes away (`| head -c 0`): the report (0.9 MB) is larger than a pipe's
    // buffer, so the write fails whenever the reader closes.
    let mut child = Command::new(bin())
        .args(["--format", "json"])
        .arg(s1())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    one_error_line(
        &out,
        "<stdout>: cannot write report: Broken pipe (os error 32)",
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
