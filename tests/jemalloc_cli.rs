//! The jemalloc road through the command line: formats, gate and errors on the committed
//! dumps (fixtures/jemalloc/README.md explains the numbers: leak A 45 × calloc(1, 10000) =
//! 460,800 B in size classes, leak B 4096 × malloc(100) = 458,752 B, glibc's TLS block 320 B).

mod common;

use assert_cmd::Command;
use common::fixture;
use serde_json::Value;

fn dumps(kind: &str) -> [String; 2] {
    [
        fixture(&format!("jemalloc/{kind}.before.heap"))
            .to_string_lossy()
            .into_owned(),
        fixture(&format!("jemalloc/{kind}.after.heap"))
            .to_string_lossy()
            .into_owned(),
    ]
}

fn run(args: &[&str], inputs: &[String]) -> (i32, String, String) {
    let out = Command::cargo_bin("heapdiff")
        .unwrap()
        .args(args)
        .args(inputs)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn deltas(r: &Value) -> Vec<i64> {
    r["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["bytes_delta"].as_i64().unwrap())
        .collect()
}

#[test]
fn json_has_stacks_and_functions() {
    let (code, out, err) = run(&["--format", "json"], &dumps("exact"));
    assert_eq!(code, 0, "{err}");
    let r = common::schema::parse(out.as_bytes());
    assert_eq!(r["input_kind"], "jemalloc");
    assert_eq!(r["totals"]["size_delta"], 919_872);
    assert_eq!(deltas(&r), [460_800, 458_752, 320]);
    let s = &r["stacks"][0];
    for k in [
        "frames",
        "bytes_before",
        "bytes_after",
        "bytes_delta",
        "objects_before",
        "objects_after",
        "objects_delta",
    ] {
        assert!(s.get(k).is_some(), "stack key {k}");
    }
    assert_eq!(s["objects_delta"], 45);
    assert_eq!(r["stacks"][1]["objects_delta"], 4096);
    let flat: i64 = r["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flat_delta"].as_i64().unwrap())
        .sum();
    assert_eq!(flat, 919_872, "flat deltas add up to the total");
    for k in ["name", "flat_delta", "cum_delta"] {
        assert!(r["functions"][0].get(k).is_some(), "function key {k}");
    }
}

#[test]
fn two_processes_give_the_same_growth() {
    let (_, a, _) = run(&["--format", "json"], &dumps("exact"));
    let (_, b, _) = run(&["--format", "json"], &dumps("proc2"));
    let (a, b): (Value, Value) = (
        common::schema::parse(a.as_bytes()),
        common::schema::parse(b.as_bytes()),
    );
    assert_eq!(
        deltas(&a),
        deltas(&b),
        "diffed by symbolized stack, not by address"
    );
    assert_eq!(a["totals"]["size_delta"], b["totals"]["size_delta"]);
}

#[test]
fn every_format_renders_and_the_gate_works() {
    let (code, out, _) = run(&[], &dumps("exact"));
    assert_eq!(code, 0);
    assert!(
        out.contains("Stacks by growth") && out.contains("+461 kB"),
        "{out}"
    );
    let (code, out, _) = run(&["--format", "markdown"], &dumps("exact"));
    assert_eq!(code, 0);
    assert!(out.contains("## Top allocation stacks by growth"));
    let (code, out, _) = run(&["--format", "folded"], &dumps("exact"));
    assert_eq!(code, 0);
    let bytes: Vec<u64> = out
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(bytes.iter().sum::<u64>(), 919_872);
    let (code, _, _) = run(&["--fail-if-growth", "1MB"], &dumps("exact"));
    assert_eq!(code, 0);
    let (code, out, _) = run(&["--fail-if-growth", "900kB"], &dumps("exact"));
    assert_eq!(code, 1);
    assert!(out.contains("GATE BREACHED"));
}

#[test]
fn mixed_and_bad_inputs_exit_2() {
    let v8 = fixture("v8/service/s1.heapsnapshot.gz")
        .to_string_lossy()
        .into_owned();
    let [before, _] = dumps("exact");
    let (code, out, err) = run(&[], &[before.clone(), v8]);
    assert_eq!(code, 2);
    assert!(
        out.is_empty() && err.contains("mix V8 snapshots and jemalloc profiles"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.heap");
    let text = std::fs::read(&before).unwrap();
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let (code, out, err) = run(&[], &[cut.to_string_lossy().into_owned(), before]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cut.heap: "), "{err}");
}
