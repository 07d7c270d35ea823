//! The comparison on real Node series: per-class counts and sizes equal a by-id count done
//! the slow, obvious way, and the leaking classes grow by exactly what the program leaked
//! (fixtures/v8/service/EXPECTED.md explains every number).

mod common;

use assert_cmd::Command;
use common::{fixture, gunzip_fixture, read_plain};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

fn json_report(args: &[&str]) -> Value {
    common::json_report(args, &[0])
}

fn path(rel: &str) -> String {
    fixture(rel).to_string_lossy().into_owned()
}

fn class<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("class {name} not in report"))
}

/// (added_count, removed_count, added_size, removed_size) per class, by id, from serde_json.
fn by_id(before: &str, after: &str) -> BTreeMap<String, (u64, u64, u64, u64)> {
    let b = read_plain(&gunzip_fixture(before));
    let a = read_plain(&gunzip_fixture(after));
    let index = |p: &common::Plain| -> HashMap<u64, usize> {
        (0..p.ids.len())
            .filter(|&i| p.self_sizes[i] > 0)
            .map(|i| (p.ids[i], i))
            .collect()
    };
    let (ib, ia) = (index(&b), index(&a));
    let mut out: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for (id, &i) in &ia {
        let same = ib.get(id).is_some_and(|&j| b.class(j) == a.class(i));
        if !same {
            let e = out.entry(a.class(i)).or_default();
            e.0 += 1;
            e.2 += a.self_sizes[i];
        }
    }
    for (id, &j) in &ib {
        let same = ia.get(id).is_some_and(|&i| b.class(j) == a.class(i));
        if !same {
            let e = out.entry(b.class(j)).or_default();
            e.1 += 1;
            e.3 += b.self_sizes[j];
        }
    }
    out
}

fn check_against_by_id(before: &str, after: &str) {
    let report = json_report(&[&path(before), &path(after)]);
    let want = by_id(before, after);
    let mut got: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for c in report["classes"].as_array().unwrap() {
        let t = (
            c["added_count"].as_u64().unwrap(),
            c["removed_count"].as_u64().unwrap(),
            c["added_size"].as_u64().unwrap(),
            c["removed_size"].as_u64().unwrap(),
        );
        if t != (0, 0, 0, 0) {
            got.insert(c["name"].as_str().unwrap().to_string(), t);
        }
    }
    assert_eq!(got, want, "{before} -> {after}");
}

#[test]
fn per_class_counts_equal_a_by_id_count() {
    check_against_by_id(
        "v8/service/s1.heapsnapshot.gz",
        "v8/service/s2.heapsnapshot.gz",
    );
    check_against_by_id(
        "v8/service/s2.heapsnapshot.gz",
        "v8/service/s3.heapsnapshot.gz",
    );
    check_against_by_id(
        "v8/service/s1.heapsnapshot.gz",
        "v8/service/s3.heapsnapshot.gz",
    );
}

#[test]
fn leaking_classes_grow_by_what_the_program_leaked() {
    let r = json_report(&[
        &path("v8/service/s1.heapsnapshot.gz"),
        &path("v8/service/s2.heapsnapshot.gz"),
    ]);
    // (class, new per step, self size of one instance) from fixtures/v8/service/EXPECTED.md.
    for (name, n, size) in [
        ("RequestContext", 120, 48),
        ("onTick()", 120, 64),
        ("CacheEntry", 500, 56),
        ("Order", 300, 56),
        ("Subscriber", 150, 48),
        ("LogRecord", 400, 48),
        ("PollState", 25, 48),
        ("poll()", 25, 64),
        ("Timeout", 25, 120),
    ] {
        let c = class(&r, name);
        assert_eq!(c["added_count"], n, "{name}");
        assert_eq!(c["removed_count"], 0, "{name}");
        assert_eq!(c["count_delta"], n, "{name}");
        assert_eq!(c["added_size"], n * size, "{name}");
        assert_eq!(
            c["count_after"].as_u64().unwrap() - c["count_before"].as_u64().unwrap(),
            n,
            "{name}"
        );
    }
    // Controls: the LRU churns 100 in, 100 out; the one-time table does not change at all.
    let lru = class(&r, "LruEntry");
    assert_eq!(
        (
            lru["added_count"].as_u64(),
            lru["removed_count"].as_u64(),
            lru["count_delta"].as_i64()
        ),
        (Some(100), Some(100), Some(0))
    );
    assert!(
        r["classes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "Country"),
        "Country did not change"
    );
    let boot = class(&r, "BootstrapJob");
    assert_eq!(
        (
            boot["added_count"].as_u64(),
            boot["removed_count"].as_u64(),
            boot["removed_size"].as_u64()
        ),
        (Some(0), Some(800), Some(800 * 40))
    );
}

#[test]
fn classes_are_sorted_by_growth() {
    let r = json_report(&[
        &path("v8/service/s1.heapsnapshot.gz"),
        &path("v8/service/s2.heapsnapshot.gz"),
    ]);
    let deltas: Vec<i64> = r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size_delta"].as_i64().unwrap())
        .collect();
    assert!(deltas.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn json_schema_keys_are_stable() {
    let r = json_report(&[
        &path("v8/service/s1.heapsnapshot.gz"),
        &path("v8/service/s2.heapsnapshot.gz"),
    ]);
    assert_eq!(r["format"], "heapdiff/1");
    assert_eq!(r["input_kind"], "v8");
    let s = &r["snapshots"][1];
    assert_eq!(s["node_count"], 68002);
    assert_eq!(s["edge_count"], 260147);
    assert!(s["path"].as_str().unwrap().ends_with("s2.heapsnapshot.gz"));
    let total: u64 = read_plain(&gunzip_fixture("v8/service/s2.heapsnapshot.gz"))
        .self_sizes
        .iter()
        .sum();
    assert_eq!(s["total_size"], total);
    for key in [
        "name",
        "count_before",
        "count_after",
        "added_count",
        "removed_count",
        "count_delta",
        "added_size",
        "removed_size",
        "size_delta",
        "retained_size_before",
        "retained_size_after",
    ] {
        assert!(r["classes"][0].get(key).is_some(), "missing {key}");
    }
}

#[test]
fn summary_counts_each_class_in_one_snapshot() {
    let r = json_report(&[&path("v8/service/s2.heapsnapshot.gz")]);
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 1);
    for (name, n) in [
        ("CacheEntry", 1000),
        ("Country", 5000),
        ("LruEntry", 100),
        ("RequestContext", 240),
        ("BootstrapJob", 0),
    ] {
        let found = r["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name);
        assert_eq!(
            found.map_or(0, |c| c["count_after"].as_u64().unwrap()),
            n,
            "{name}"
        );
    }
    let c = class(&r, "CacheEntry");
    assert!(
        c["count_before"].is_null() && c["added_count"].is_null(),
        "no diff fields in a summary"
    );
    // Each CacheEntry dominates its own value string, so the class retains more than its self size.
    assert!(c["retained_size_after"].as_u64().unwrap() > c["self_size_after"].as_u64().unwrap());
    let retained: Vec<u64> = r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["retained_size_after"].as_u64().unwrap())
        .collect();
    assert!(
        retained.windows(2).all(|w| w[0] >= w[1]),
        "sorted by retained size"
    );
}

#[test]
fn table_output_shows_the_comparison() {
    let out = Command::cargo_bin("heapdiff")
        .unwrap()
        .args([
            &path("v8/service/s1.heapsnapshot.gz"),
            &path("v8/service/s2.heapsnapshot.gz"),
            "--top",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("# New") && text.contains("Retained after"),
        "{text}"
    );
    let row = text.lines().find(|l| l.contains(" CacheEntry ")).unwrap();
    let cells: Vec<&str> = row
        .split(['│', '┆'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        &cells[..7],
        &[
            "CacheEntry",
            "500",
            "0",
            "+500",
            "28.0 kB",
            "0 B",
            "+28.0 kB"
        ]
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes when not a terminal"
    );
}

#[test]
fn gzip_and_plain_inputs_give_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("s2.heapsnapshot");
    std::fs::write(&plain, gunzip_fixture("v8/service/s2.heapsnapshot.gz")).unwrap();
    let a = json_report(&[&path("v8/service/s2.heapsnapshot.gz")]);
    let b = json_report(&[plain.to_str().unwrap()]);
    assert_eq!(a["classes"], b["classes"]);
}

#[test]
fn output_file_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("r.json");
    let st = Command::cargo_bin("heapdiff")
        .unwrap()
        .args([
            "--format",
            "json",
            "-o",
            out_file.to_str().unwrap(),
            &path("v8/service/s1.heapsnapshot.gz"),
        ])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(0));
    assert!(st.stdout.is_empty());
    let v = common::schema::parse(&std::fs::read(&out_file).unwrap());
    assert_eq!(v["mode"], "summary");
}
