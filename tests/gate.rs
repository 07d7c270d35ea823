//! The nightly CI gate: exit 0 when nothing breached, 1 when a gate is breached, 2 for usage
//! or input errors. s1 → s2 of the fixture grows by 207,624 bytes in total, 92,000 of them
//! `(string)` (per-class sizes are checked against an independent by-id count in tests/diff.rs).

mod common;

use assert_cmd::Command;
use common::fixture;
use serde_json::Value;

fn pair() -> [String; 2] {
    [
        fixture("v8/service/s1.heapsnapshot.gz")
            .to_string_lossy()
            .into_owned(),
        fixture("v8/service/s2.heapsnapshot.gz")
            .to_string_lossy()
            .into_owned(),
    ]
}

fn run(args: &[&str]) -> (i32, Value, String) {
    let out = Command::cargo_bin("heapdiff")
        .unwrap()
        .args(["--format", "json"])
        .args(args)
        .args(pair())
        .output()
        .unwrap();
    // A usage error writes no report.
    let v = if out.stdout.is_empty() {
        Value::Null
    } else {
        common::schema::parse(&out.stdout)
    };
    (
        out.status.code().unwrap(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn growth_gate_passes_and_breaches() {
    let (code, r, _) = run(&["--fail-if-growth", "1MB"]);
    assert_eq!(code, 0);
    assert_eq!(r["totals"]["size_delta"], 207_624);
    assert_eq!(r["gate"]["breached"], false);
    let (code, r, _) = run(&["--fail-if-growth", "200kB"]);
    assert_eq!(code, 1, "207.6 kB > 200 kB");
    assert_eq!(r["gate"]["breached"], true);
    assert!(r["gate"]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("exceeds --fail-if-growth 200 kB"));
    let (code, _, _) = run(&["--fail-if-growth", "208kB"]);
    assert_eq!(code, 0, "207.6 kB <= 208 kB");
}

#[test]
fn ignored_classes_do_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("accepted.txt");
    std::fs::write(
        &list,
        "# strings are expected to grow\n(string)\n  \nNoSuch*Class\n",
    )
    .unwrap();
    let (code, _, _) = run(&["--fail-if-growth", "150kB"]);
    assert_eq!(code, 1);
    let (code, r, _) = run(&[
        "--fail-if-growth",
        "150kB",
        "--ignore",
        list.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "207,624 - 92,000 = 115,624 < 150 kB");
    let s = r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "(string)")
        .unwrap();
    assert_eq!(s["ignored"], true);
    assert_eq!(s["size_delta"], 92_000);
    // A glob matches class names too.
    std::fs::write(&list, "(str*\n").unwrap();
    let (code, _, _) = run(&[
        "--fail-if-growth",
        "150kB",
        "--ignore",
        list.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
}

#[test]
fn no_gate_no_verdict() {
    let (code, r, _) = run(&[]);
    assert_eq!(code, 0);
    assert!(r.get("gate").is_none());
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["--fail-if-growth", "20parsecs"],
        vec!["--fail-if-growth", ""],
        vec!["--fail-on", "catastrophic"],
        vec!["--ignore", "/nonexistent/accepted.txt"],
    ] {
        let (code, r, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(r.is_null(), "no report on a usage error");
        assert_eq!(err.lines().count(), 1, "one error line: {err}");
        assert!(err.starts_with("heapdiff: error: "), "{err}");
    }
    // A gate needs something to compare.
    let one = fixture("v8/service/s1.heapsnapshot.gz");
    let out = Command::cargo_bin("heapdiff")
        .unwrap()
        .args(["--fail-on", "high"])
        .arg(one)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need two or more snapshots"));
}
