//! Retainer paths, series and cross-process comparisons on the real Node series
//! (fixtures/v8/service/EXPECTED.md explains every number).

mod common;

use assert_cmd::Command;
use common::fixture;
use serde_json::Value;

fn path(rel: &str) -> String {
    fixture(rel).to_string_lossy().into_owned()
}

fn json(args: &[String]) -> Value {
    common::json_report(args, &[0])
}

fn class<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no class {name}"))
}

/// The edges of a path as `type:name` strings.
fn edges(p: &Value) -> Vec<String> {
    p["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s["edge_type"].as_str().unwrap(),
                s["edge"].as_str().unwrap()
            )
        })
        .collect()
}

/// (class, owner edges that must appear in order, in the top path)
const LEAKS: [(&str, &[&str]); 6] = [
    ("CacheEntry", &["context:sessionCache", "internal:table"]),
    ("LogRecord", &["context:auditLog", "element:[]"]),
    ("Order", &["context:orderIndex", "property:order:<n>"]),
    (
        "onTick()",
        &[
            "context:broker",
            "property:subs",
            "property:_events",
            "property:tick",
            "element:[]",
        ],
    ),
    ("Subscriber", &["context:subscribers", "internal:table"]),
    (
        "RequestContext",
        &[
            "context:broker",
            "property:tick",
            "internal:context",
            "context:ctx",
        ],
    ),
];

fn contains_in_order(hay: &[String], needles: &[&str]) -> bool {
    let mut it = hay.iter();
    needles.iter().all(|n| it.any(|h| h == n))
}

#[test]
fn top_path_of_each_leak_names_its_owner_and_explains_the_new_instances() {
    let r = json(&[
        path("v8/service/s1.heapsnapshot.gz"),
        path("v8/service/s2.heapsnapshot.gz"),
    ]);
    for (name, owner) in LEAKS {
        let c = class(&r, name);
        let top = &c["retainer_paths"][0];
        let e = edges(top);
        assert!(contains_in_order(&e, owner), "{name}: {e:?}");
        // Every new instance of each leak sits on that one path (the program leaks them all
        // into the same collection), so it explains 100% of them.
        assert_eq!(top["count"], c["added_count"], "{name}");
        let last = top["path"].as_array().unwrap().last().unwrap();
        assert_eq!(last["node"], name, "a path ends at its class");
        assert_eq!(
            top["count_after"].as_u64().unwrap() - top["count_before"].as_u64().unwrap(),
            c["added_count"].as_u64().unwrap(),
            "{name}"
        );
    }
    // Dictionary keys aggregate through the pattern; the raw keys are not shown.
    let order = &class(&r, "Order")["retainer_paths"][0];
    assert!(order["path"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s.get("example").is_none()));
    // Retained size of a path: 300 orders of 88 B each (self 56 + a 32 B string).
    assert_eq!(order["size"], 300 * 88);
}

#[test]
fn show_values_adds_examples_of_real_names() {
    let r = json(&[
        "--show-values".into(),
        path("v8/service/s1.heapsnapshot.gz"),
        path("v8/service/s2.heapsnapshot.gz"),
    ]);
    let order = &class(&r, "Order")["retainer_paths"][0];
    let step = order["path"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["edge"] == "order:<n>")
        .unwrap();
    let example = step["example"].as_str().unwrap();
    assert!(
        example.starts_with("order:") && example[6..].parse::<u64>().is_ok(),
        "{example}"
    );
}

#[test]
fn a_series_names_leak_candidates_and_trends() {
    let r = json(&[
        path("v8/service/s1.heapsnapshot.gz"),
        path("v8/service/s2.heapsnapshot.gz"),
        path("v8/service/s3.heapsnapshot.gz"),
    ]);
    assert_eq!(r["mode"], "series");
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 3);
    // (class, trend, candidates): leaks keep all of step 1's objects; the LRU evicts all of
    // them in step 2 and TempBuffer's batch is replaced, so neither has candidates.
    for (name, trend, candidates, monotonic) in [
        ("CacheEntry", [500, 1000, 1500], 500, true),
        ("LogRecord", [400, 800, 1200], 400, true),
        ("RequestContext", [120, 240, 360], 120, true),
        ("Timeout", [25, 50, 75], 25, true),
        ("LruEntry", [100, 100, 100], 0, false),
        ("TempBuffer", [1000, 1000, 1000], 0, false),
    ] {
        let c = class(&r, name);
        assert_eq!(c["trend"], serde_json::json!(trend), "{name}");
        assert_eq!(c["leak_candidates"], candidates, "{name}");
        assert_eq!(c["monotonic"], monotonic, "{name}");
    }
    let top = &class(&r, "CacheEntry")["retainer_paths"][0];
    assert_eq!(top["count"], 500, "paths count the candidates");
    assert!(contains_in_order(&edges(top), &["context:sessionCache"]));
}

#[test]
fn two_processes_are_detected_and_compared_by_class_and_path() {
    // s1 of one process against s2 of another run of the same program.
    let r = json(&[
        path("v8/service/s1.heapsnapshot.gz"),
        path("v8/service-other-process/s2.heapsnapshot.gz"),
    ]);
    assert_eq!(r["ids_comparable"], false);
    assert!(r["notes"][0]
        .as_str()
        .unwrap()
        .contains("different processes"));
    let c = class(&r, "CacheEntry");
    assert!(
        c["added_count"].is_null() && c["removed_count"].is_null(),
        "no id diff across processes"
    );
    assert_eq!(c["count_delta"], 500);
    assert_eq!(c["size_delta"], 500 * 56);
    let top = &c["retainer_paths"][0];
    assert_eq!(top["count"], 500, "growth by path signature");
    assert!(contains_in_order(&edges(top), &["context:sessionCache"]));
    // The same pair within one process is comparable.
    let same = json(&[
        path("v8/service/s1.heapsnapshot.gz"),
        path("v8/service/s2.heapsnapshot.gz"),
    ]);
    assert_eq!(same["ids_comparable"], true);
    assert!(same["notes"].as_array().unwrap().is_empty());
    // The table never shows id columns for two processes.
    let out = Command::cargo_bin("heapdiff")
        .unwrap()
        .args([
            path("v8/service/s1.heapsnapshot.gz"),
            path("v8/service-other-process/s2.heapsnapshot.gz"),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("# New") && text.contains("different processes"),
        "{text}"
    );
}

#[test]
fn a_restarted_heap_profiler_is_named_and_compared_by_class() {
    // One process, dumped by its own /debug/heap endpoint through two inspector sessions
    // (fixtures/v8/programs/admin-dump.js): the second session numbers every object anew.
    let r = json(&[
        path("v8/profiler-restart/s1.heapsnapshot.gz"),
        path("v8/profiler-restart/s2.heapsnapshot.gz"),
    ]);
    assert_eq!(r["ids_comparable"], false);
    let note = r["notes"][0].as_str().unwrap();
    assert!(
        note.starts_with("Object ids were renumbered")
            && note.contains("the heap profiler was restarted between them"),
        "{note}"
    );
    // The 100 requests between the dumps each leave a record in `recent`.
    let c = class(&r, "RequestRecord");
    assert_eq!(
        (c["count_before"].as_u64(), c["count_after"].as_u64()),
        (Some(100), Some(200))
    );
    assert!(c["added_count"].is_null());
    let f = &r["findings"][0];
    assert_eq!(
        (f["kind"].as_str(), f["owner"].as_str()),
        (Some("unbounded_collection"), Some("recent"))
    );
}

/// Tracing a snapshot in parts (each with its own tracer, merged by path) gives the same
/// paths as tracing it whole, down to the chosen example path of every group.
#[test]
fn paths_do_not_depend_on_how_the_tracing_is_split() {
    let (a, b) = (
        heapdiff::load_v8(&fixture("v8/service/s1.heapsnapshot.gz")).unwrap(),
        heapdiff::load_v8(&fixture("v8/service/s2.heapsnapshot.gz")).unwrap(),
    );
    let cmp = heapdiff::diff::compare(&a, &b);
    let ignored = vec![false; cmp.rows.len()];
    for show_values in [false, true] {
        let paths =
            |part| heapdiff::trace::class_paths_in_parts(&cmp, &a, &b, &ignored, show_values, part);
        let whole = paths(usize::MAX);
        assert!(whole.values().map(Vec::len).sum::<usize>() >= 10);
        for part in [300, 2_000, 20_000] {
            assert_eq!(paths(part), whole, "parts of {part} instances");
        }
    }
}
