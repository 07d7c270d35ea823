//! Every bad input ends in one error line naming the file and the problem, exit code 2, and
//! nothing on stdout: never a panic, never a huge allocation from a header number.

mod common;

use assert_cmd::Command;
use common::{gunzip_fixture, Builder};
use std::io::Write;
use std::path::Path;

fn heapdiff() -> Command {
    Command::cargo_bin("heapdiff").unwrap()
}

/// Run on `paths`, expect exit 2 and a single `heapdiff: error: <path>: …` line containing
/// `needle`.
fn fails_with(args: &[&Path], needle: &str) -> String {
    let out = heapdiff().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout not empty: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("heapdiff: error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    stderr
}

fn small_snapshot() -> Vec<u8> {
    gunzip_fixture("v8/service/s1.heapsnapshot.gz")
}

#[test]
fn missing_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.heapsnapshot");
    let e = fails_with(&[&missing], "nope.heapsnapshot");
    assert!(e.contains("No such file"), "{e}");
    fails_with(&[dir.path()], "is a directory");
}

#[test]
fn empty_and_whitespace_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.heapsnapshot");
    std::fs::write(&empty, b"").unwrap();
    fails_with(&[&empty], "empty.heapsnapshot: file is empty");
    let ws = dir.path().join("ws.heapsnapshot");
    std::fs::write(&ws, b"  \n ").unwrap();
    fails_with(&[&ws], "not a heap dump");
}

#[test]
fn truncated_at_many_offsets() {
    let full = small_snapshot();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.heapsnapshot");
    // Offsets spread over every section, plus the edges of the file.
    let mut cuts: Vec<usize> = (1..40).map(|k| full.len() * k / 40).collect();
    cuts.extend([
        1,
        2,
        10,
        100,
        full.len() - 1,
        full.len() - 2,
        full.len() - 3,
    ]);
    for cut in cuts {
        std::fs::write(&p, &full[..cut]).unwrap();
        let out = heapdiff().arg(&p).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "cut at {cut}: {stderr}");
        assert!(out.stdout.is_empty(), "cut at {cut}");
        assert_eq!(stderr.lines().count(), 1, "cut at {cut}: {stderr}");
        assert!(
            stderr.contains("cut.heapsnapshot: "),
            "cut at {cut}: {stderr}"
        );
    }
    // A cut inside the nodes array says where and what.
    let nodes_at = full.windows(9).position(|w| w == b"\"nodes\":[").unwrap();
    std::fs::write(&p, &full[..nodes_at + 1000]).unwrap();
    fails_with(
        &[&p],
        &format!(
            "file ends inside the \"nodes\" section (truncated?) (at byte {})",
            nodes_at + 1000
        ),
    );
}

#[test]
fn json_that_is_not_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("package.json");
    std::fs::write(
        &p,
        br#"{"name": "app", "version": "1.0.0", "dependencies": {}}"#,
    )
    .unwrap();
    fails_with(&[&p], "not a V8 heap snapshot");
    let arr = dir.path().join("array.json");
    std::fs::write(&arr, b"[1, 2, 3]").unwrap();
    fails_with(&[&arr], "not a heap dump");
}

#[test]
fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("random.bin");
    // A fixed xorshift stream: deterministic "random" bytes.
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&p, &bytes).unwrap();
    fails_with(&[&p], "random.bin: ");
    // Random bytes after a plausible start.
    let mut v = small_snapshot()[..5000].to_vec();
    v.extend_from_slice(&bytes);
    std::fs::write(&p, &v).unwrap();
    fails_with(&[&p], "random.bin: ");
}

#[test]
fn header_claiming_two_billion_nodes() {
    let full = String::from_utf8(small_snapshot()).unwrap();
    let start = full.find("\"node_count\":").unwrap() + "\"node_count\":".len();
    let end = start + full[start..].find(',').unwrap();
    let real = &full[start..end];
    let hostile = format!("{}2000000000{}", &full[..start], &full[end..]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hostile.heapsnapshot");
    std::fs::write(&p, hostile).unwrap();
    fails_with(
        &[&p],
        &format!("snapshot.node_count says 2000000000 nodes but the \"nodes\" array holds {real}"),
    );
}

#[test]
fn edge_pointing_outside_the_node_array() {
    let mut b = Builder::new();
    let r = b.node("synthetic", "", 1, 0);
    let a = b.node("object", "A", 3, 10);
    b.edge(r, "element", "1", a);
    let json = b.json();
    // The one edge points at offset 7 (node 1); make it 7 * 50 (node 50, which does not exist).
    let json = json.replace("\"edges\":[1,1,7]", "\"edges\":[1,1,350]");
    assert!(json.contains("350"));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("edge.heapsnapshot");
    std::fs::write(&p, &json).unwrap();
    fails_with(&[&p], "edge 0 points to node 50 but there are only 2 nodes");
    // An offset that is not a multiple of the node field count.
    std::fs::write(&p, json.replace("[1,1,350]", "[1,1,8]")).unwrap();
    fails_with(&[&p], "not a multiple of the 7 node fields");
}

#[test]
fn names_and_types_out_of_range() {
    let mut b = Builder::new();
    let r = b.node("synthetic", "", 1, 0);
    let _ = r;
    let json = b.json();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("names.heapsnapshot");
    // Node 0 names string 99 (there are two strings).
    std::fs::write(&p, json.replace("\"nodes\":[9,1,", "\"nodes\":[9,99,")).unwrap();
    fails_with(&[&p], "node 0 names string 99");
    std::fs::write(&p, json.replace("\"nodes\":[9,1,", "\"nodes\":[77,1,")).unwrap();
    fails_with(&[&p], "node 0 has type 77");
}

#[test]
fn corrupt_and_truncated_gzip() {
    let gz = std::fs::read(common::fixture("v8/service/s1.heapsnapshot.gz")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.heapsnapshot.gz");
    let mut corrupt = gz.clone();
    for i in (gz.len() / 3..gz.len() / 3 + 64).step_by(3) {
        corrupt[i] ^= 0x5a;
    }
    std::fs::write(&p, &corrupt).unwrap();
    fails_with(&[&p], "corrupt gzip stream");
    std::fs::write(&p, &gz[..gz.len() / 2]).unwrap();
    fails_with(&[&p], "corrupt gzip stream");
    // A valid gzip of something that is not a snapshot.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(b"hello world").unwrap();
    std::fs::write(&p, enc.finish().unwrap()).unwrap();
    fails_with(&[&p], "not a heap dump");
}

#[test]
fn first_bad_input_of_a_pair_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.heapsnapshot");
    std::fs::write(&bad, b"{}").unwrap();
    let good = common::fixture("v8/service/s1.heapsnapshot.gz");
    fails_with(
        &[&good, &bad],
        "bad.heapsnapshot: JSON but not a V8 heap snapshot",
    );
}

#[test]
fn wrong_flags_are_usage_errors() {
    let good = common::fixture("v8/service/s1.heapsnapshot.gz");
    for args in [
        vec!["--format", "xml"],
        vec!["--top", "many"],
        vec!["--no-such-flag"],
    ] {
        let out = heapdiff().args(&args).arg(&good).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one error line: {err}");
    }
    let out = heapdiff().output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no input is a usage error");
    let out = heapdiff().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Examples:"));
}

#[test]
fn failed_run_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.heapsnapshot");
    std::fs::write(&bad, b"{\"snapshot\":").unwrap();
    let out_file = dir.path().join("report.json");
    let out = heapdiff()
        .arg("-o")
        .arg(&out_file)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!out_file.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left behind"
    );
}
