//! Leak findings (issue 4) on real snapshots: every leak of the Node service fixture
//! (fixtures/v8/service/EXPECTED.md) reported exactly once, with its kind and owner, from a
//! pair, from a series and across processes; the controls (a bounded LRU, a startup table,
//! churn, objects freed once) and Node's own detached embedder objects never reported; the
//! Chromium page's detached DOM grouped by holder. Synthetic snapshots cover shapes the
//! fixtures do not have (EventTarget listeners, churn that grows, benign detached natives).

mod common;

use assert_cmd::Command;
use common::{fixture, Taken, V8Heap};
use serde_json::Value;
use std::collections::BTreeSet;

fn path(rel: &str) -> String {
    fixture(rel).to_string_lossy().into_owned()
}

fn run(args: &[String]) -> (i32, Value) {
    let out = Command::cargo_bin("heapdiff")
        .unwrap()
        .args(["--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, common::schema::parse(&out.stdout))
}

fn findings(args: &[String]) -> Vec<Value> {
    run(args).1["findings"].as_array().unwrap().clone()
}

/// `(kind, owner, count_before, count_after)` of every finding, in report order.
fn summary(fs: &[Value]) -> Vec<(String, String, u64, u64)> {
    fs.iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["owner"].as_str().unwrap().to_string(),
                f["count_before"].as_u64().unwrap(),
                f["count_after"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The service's leaks: (kind, owner, count per step).
const SERVICE_LEAKS: [(&str, &str, u64); 6] = [
    ("event_listeners", "broker.subs._events.tick", 120),
    ("cache", "sessionCache", 500),
    ("cache", "orderIndex", 300),
    ("unbounded_collection", "subscribers", 150),
    ("unbounded_collection", "auditLog", 400),
    ("timers", "poll", 25),
];

/// Exactly the service's six leaks, each once, with counts `k_before` → `k_after` steps.
fn assert_service_findings(fs: &[Value], k_before: u64, k_after: u64) {
    let got: BTreeSet<(String, String, u64, u64)> = summary(fs).into_iter().collect();
    let want: BTreeSet<(String, String, u64, u64)> = SERVICE_LEAKS
        .iter()
        .map(|(k, o, n)| (k.to_string(), o.to_string(), n * k_before, n * k_after))
        .collect();
    assert_eq!(
        fs.len(),
        want.len(),
        "one finding per leak: {:#?}",
        summary(fs)
    );
    assert_eq!(got, want);
    for f in fs {
        for key in ["title", "evidence", "suggestion", "fingerprint", "severity"] {
            assert!(
                f[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key} of {f}"
            );
        }
        assert!(!f["path"].as_array().unwrap().is_empty(), "path of {f}");
        assert!(
            f["retained_size_after"].as_u64().unwrap()
                > f["retained_size_before"].as_u64().unwrap()
        );
    }
}

fn by_owner<'a>(fs: &'a [Value], kind: &str, owner: &str) -> &'a Value {
    fs.iter()
        .find(|f| f["kind"] == kind && f["owner"] == owner)
        .unwrap_or_else(|| panic!("no {kind} finding for {owner}"))
}

fn service_pair() -> Vec<String> {
    vec![
        path("v8/service/s1.heapsnapshot.gz"),
        path("v8/service/s2.heapsnapshot.gz"),
    ]
}

fn service_series() -> Vec<String> {
    vec![
        path("v8/service/s1.heapsnapshot.gz"),
        path("v8/service/s2.heapsnapshot.gz"),
        path("v8/service/s3.heapsnapshot.gz"),
    ]
}

#[test]
fn service_pair_reports_each_leak_once() {
    let fs = findings(&service_pair());
    assert_service_findings(&fs, 1, 2);
    // Evidence names what was measured.
    let cache = by_owner(&fs, "cache", "sessionCache");
    let ev = cache["evidence"].as_str().unwrap();
    assert!(
        ev.starts_with("entries 500 → 1000 (+500) in 1 step"),
        "{ev}"
    );
    assert!(ev.contains("values are CacheEntry"), "{ev}");
    let dict = by_owner(&fs, "cache", "orderIndex");
    assert!(dict["evidence"].as_str().unwrap().contains("order:<n>"));
    let listeners = by_owner(&fs, "event_listeners", "broker.subs._events.tick");
    assert!(listeners["title"].as_str().unwrap().contains("'tick'"));
    assert!(listeners["evidence"]
        .as_str()
        .unwrap()
        .contains("listeners are onTick"));
    assert!(listeners["suggestion"]
        .as_str()
        .unwrap()
        .contains("AbortSignal"));
    let timers = by_owner(&fs, "timers", "poll");
    assert!(timers["title"].as_str().unwrap().contains("intervals"));
    assert!(timers["suggestion"]
        .as_str()
        .unwrap()
        .contains("clearInterval"));
    // Findings come most severe first.
    let sev: Vec<u8> = fs
        .iter()
        .map(|f| match f["severity"].as_str().unwrap() {
            "high" => 0,
            "medium" => 1,
            _ => 2,
        })
        .collect();
    assert!(sev.windows(2).all(|w| w[0] <= w[1]), "{sev:?}");
}

#[test]
fn service_series_reports_the_same_leaks_with_the_same_fingerprints() {
    let pair = findings(&service_pair());
    let series = findings(&service_series());
    assert_service_findings(&series, 1, 3);
    for f in &series {
        let p = by_owner(
            &pair,
            f["kind"].as_str().unwrap(),
            f["owner"].as_str().unwrap(),
        );
        assert_eq!(p["fingerprint"], f["fingerprint"], "{}", f["owner"]);
    }
    // Growing at every step raises a medium finding to high.
    assert_eq!(
        by_owner(&series, "cache", "sessionCache")["severity"],
        "high"
    );
    assert_eq!(
        by_owner(&pair, "cache", "sessionCache")["severity"],
        "medium"
    );
}

#[test]
fn other_process_pair_reports_the_same_leaks() {
    let args = vec![
        path("v8/service/s1.heapsnapshot.gz"),
        path("v8/service-other-process/s2.heapsnapshot.gz"),
    ];
    let (_, r) = run(&args);
    assert_eq!(r["ids_comparable"], false);
    let fs = r["findings"].as_array().unwrap();
    assert_service_findings(fs, 1, 2);
    let pair = findings(&service_pair());
    for f in fs {
        let p = by_owner(
            &pair,
            f["kind"].as_str().unwrap(),
            f["owner"].as_str().unwrap(),
        );
        assert_eq!(p["fingerprint"], f["fingerprint"], "{}", f["owner"]);
    }
}

#[test]
fn controls_and_node_internals_are_never_findings() {
    for args in [service_pair(), service_series()] {
        let text = serde_json::to_string(&findings(&args)).unwrap();
        for control in [
            "LruEntry",
            "lruCache",
            "Country",
            "countryTable",
            "TempBuffer",
            "lastBatch",
            "BootstrapJob",
            "pendingJobs",
            "BindingData",
            "detached_dom",
        ] {
            assert!(!text.contains(control), "{control} in {text}");
        }
    }
}

#[test]
fn findings_never_show_data_and_show_values_adds_only_examples() {
    let mut args = service_pair();
    let plain = findings(&args);
    args.insert(0, "--show-values".into());
    let shown = findings(&args);
    for (a, b) in plain.iter().zip(&shown) {
        assert_eq!(a["owner"], b["owner"]);
        assert_eq!(a["fingerprint"], b["fingerprint"]);
    }
    for f in &plain {
        for step in f["path"].as_array().unwrap() {
            assert!(step.get("example").is_none(), "{step}");
            let edge = step["edge"].as_str().unwrap();
            assert!(
                !edge.chars().any(|c| c.is_ascii_digit()),
                "raw data in {edge}"
            );
        }
    }
    for f in plain.iter().chain(&shown) {
        assert!(!f.to_string().contains("HDSECRET"));
    }
}

#[test]
fn fail_on_follows_the_severities() {
    let code = |fail_on: &str, args: Vec<String>| {
        let mut a = vec!["--fail-on".to_string(), fail_on.to_string()];
        a.extend(args);
        run(&a).0
    };
    // Pair: five medium findings and one low, nothing high.
    assert_eq!(code("high", service_pair()), 0);
    assert_eq!(code("medium", service_pair()), 1);
    assert_eq!(code("low", service_pair()), 1);
    // Series: leaks that grew at every step are high.
    assert_eq!(code("high", service_series()), 1);
    let (_, r) = run(&[
        "--fail-on".to_string(),
        "medium".to_string(),
        path("v8/service/s1.heapsnapshot.gz"),
        path("v8/service/s2.heapsnapshot.gz"),
    ]);
    let reasons = r["gate"]["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 5, "{reasons:?}");
}

fn chromium() -> Option<Vec<String>> {
    let files: Vec<String> = ["s1", "s2", "s3"]
        .iter()
        .map(|s| path(&format!("chromium/dom/{s}.heapsnapshot.gz")))
        .collect();
    if files.iter().all(|f| std::path::Path::new(f).exists()) {
        Some(files)
    } else {
        eprintln!("note: fixtures/chromium/dom is absent; Chromium detector tests skipped");
        None
    }
}

#[test]
fn chromium_detached_dom_is_grouped_by_holder() {
    let Some(files) = chromium() else { return };
    // Per step the page detaches 60 <li> (+ their <ul>) kept by `removedRows`, and 25
    // <section>s each captured by a window 'resize' listener (page.html). The rows' tree
    // counts as DevTools shows it: per step 60 <li>, their 60 `Text`, the <ul> and one
    // `blink::UniqueElementData` per element (61), so 182; plus the two class lists all
    // rows of every step share (`row`, `rows`: `blink::SpaceSplitString::Data`).
    for (args, k_before, k_after) in [(files.clone(), 1, 3), (files[..2].to_vec(), 1, 2)] {
        let fs = findings(&args);
        let got: BTreeSet<(String, String, u64, u64)> = summary(&fs).into_iter().collect();
        let want: BTreeSet<(String, String, u64, u64)> = [
            (
                "detached_dom",
                "removedRows",
                182 * k_before + 2,
                182 * k_after + 2,
            ),
            (
                "event_listeners",
                "window (onResize listeners)",
                25 * k_before,
                25 * k_after,
            ),
        ]
        .iter()
        .map(|(k, o, b, a)| (k.to_string(), o.to_string(), *b, *a))
        .collect();
        // The resize listeners and the <section>s their closures keep are one leak: the
        // detached DOM is the evidence of the listeners never removed (one finding per root
        // cause); the array that keeps removed rows is told by the rows it keeps.
        assert_eq!(fs.len(), 2, "{:#?}", summary(&fs));
        assert_eq!(got, want);
        let rows = by_owner(&fs, "detached_dom", "removedRows");
        assert!(rows["evidence"].as_str().unwrap().contains("Detached <li>"));
        let resize = by_owner(&fs, "event_listeners", "window (onResize listeners)");
        assert_eq!(
            resize["title"],
            format!(
                "{} onResize listeners added to window and never removed",
                25 * (k_after - k_before)
            )
        );
        let evidence = resize["evidence"].as_str().unwrap();
        assert!(evidence.contains("Detached <section>"), "{evidence}");
        assert_eq!(resize["related"][0]["kind"], "detached_dom");
        assert!(resize["suggestion"]
            .as_str()
            .unwrap()
            .starts_with("Remove the listener"));
        // The toasts' click listeners and the keydown listener were removed: no finding.
        let text = serde_json::to_string(&fs).unwrap();
        assert!(!text.contains("onToastClick") && !text.contains("onKeyDown"));
    }
}

// ---- synthetic snapshots, laid out as V8 writes them ------------------------------------

/// Records `Record` with ids `from`, `from + 4`, …
fn records(from: u32, n: u32) -> Vec<(u32, &'static str)> {
    (0..n).map(|i| (from + 4 * i, "Record")).collect()
}

#[test]
fn a_map_whose_entries_are_all_replaced_is_churn_not_a_cache() {
    let dir = tempfile::tempdir().unwrap();
    // `recent` grows from 60 to 120 entries, all replaced; `store` keeps its 60 and adds 60.
    let snap = |recent: Vec<(u32, &'static str)>, store: Vec<(u32, &'static str)>| {
        let mut h = V8Heap::node(Taken::Idle);
        let r = h.var("recent", "object", "Map");
        h.map_entries(r, &recent);
        let s = h.var("store", "object", "Map");
        h.map_entries(s, &store);
        h
    };
    let before = snap(records(100_001, 60), records(500_001, 60));
    let after = snap(records(300_001, 120), records(500_001, 120));
    let args = vec![before.write(dir.path(), "a"), after.write(dir.path(), "b")];
    let (_, r) = run(&args);
    assert_eq!(r["ids_comparable"], true);
    let fs = r["findings"].as_array().unwrap();
    assert_eq!(
        summary(fs),
        vec![("cache".to_string(), "store".to_string(), 60, 120)]
    );
}

#[test]
fn caches_held_by_the_stack_while_code_runs_are_named_by_their_variables() {
    // `v8.writeHeapSnapshot()` from a handler: the stack and a handle scope hold both Maps
    // directly (the handler's locals) and the module scope that names them. Each is named by
    // its variable, and both are reported, with different fingerprints.
    let dir = tempfile::tempdir().unwrap();
    let snap = |n: u32| {
        let mut h = V8Heap::node(Taken::Running);
        let users = h.var("users", "object", "Map");
        h.map_entries(users, &records(100_001, n));
        let orders = h.var("orders", "object", "Map");
        h.map_entries(orders, &records(500_001, n));
        h.on_stack(users);
        h.on_stack(orders);
        h
    };
    let args = vec![
        snap(60).write(dir.path(), "a"),
        snap(120).write(dir.path(), "b"),
    ];
    let fs = findings(&args);
    let got: BTreeSet<(String, String, u64, u64)> = summary(&fs).into_iter().collect();
    let want: BTreeSet<(String, String, u64, u64)> =
        [("cache", "users", 60, 120), ("cache", "orders", 60, 120)]
            .iter()
            .map(|(k, o, b, a)| (k.to_string(), o.to_string(), *b, *a))
            .collect();
    assert_eq!(got, want);
    assert_ne!(fs[0]["fingerprint"], fs[1]["fingerprint"]);
    for f in &fs {
        // The path comes from the module scope the stack holds, not from a stack slot.
        let path = f["path"].as_array().unwrap();
        assert!(path.iter().any(|s| s["edge_type"] == "context"), "{path:?}");
        assert!(!f["owner"].as_str().unwrap().contains("[]"));
    }
}

#[test]
fn a_collection_only_the_stack_holds_is_not_a_leak() {
    // A running function's local array (nothing else holds it) grows between snapshots:
    // it is gone when the function returns.
    let dir = tempfile::tempdir().unwrap();
    let snap = |n: u32| {
        let mut h = V8Heap::node(Taken::Running);
        let batch = h.obj("object", "Array", 32);
        h.on_stack(batch);
        for i in 0..n {
            let r = h.obj("object", "Event", 48);
            h.b.edge(batch, "element", &i.to_string(), r);
        }
        h
    };
    let args = vec![
        snap(100).write(dir.path(), "a"),
        snap(400).write(dir.path(), "b"),
    ];
    assert_eq!(summary(&findings(&args)), vec![]);
}

#[test]
fn chromium_globals_hang_under_global_handles_and_name_what_they_hold() {
    // The root's only child is (GC roots): `removedRows` (a global property) and `cart` (a
    // script-level const) are still the page's own roots.
    let dir = tempfile::tempdir().unwrap();
    let snap = |n: u32| {
        let mut h = V8Heap::chromium();
        let rows = h.global_prop("removedRows", "object", "Array");
        let cart = h.var("cart", "object", "Map");
        h.map_entries(cart, &records(100_001, n));
        for i in 0..n {
            let tr = h.obj("native", "<tr class=row>", 96);
            h.b.detached(tr, 2);
            h.b.edge(rows, "element", &i.to_string(), tr);
        }
        h
    };
    let args = vec![
        snap(20).write(dir.path(), "a"),
        snap(80).write(dir.path(), "b"),
    ];
    let got: BTreeSet<(String, String, u64, u64)> = summary(&findings(&args)).into_iter().collect();
    let want: BTreeSet<(String, String, u64, u64)> = [
        ("cache", "cart", 20, 80),
        ("detached_dom", "removedRows", 20, 80),
    ]
    .iter()
    .map(|(k, o, b, a)| (k.to_string(), o.to_string(), *b, *a))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn a_detached_tree_held_by_two_holders_names_both_and_shares_its_size() {
    // Each detached panel is an element of `history` and a value of `panelById`: no one of
    // them dominates it, (GC roots)' subtree does. One finding names both.
    let dir = tempfile::tempdir().unwrap();
    let snap = |n: u32| {
        let mut h = V8Heap::chromium();
        let history = h.var("history", "object", "Array");
        let by_id = h.var("panelById", "object", "Map");
        let table = h.obj("array", "", 16 + 24 * n);
        h.b.edge(by_id, "internal", "table", table);
        for i in 0..n {
            let panel = h.obj("native", "<section class=panel>", 120);
            h.b.detached(panel, 2);
            let button = h.obj("native", "<button>", 96);
            h.b.detached(button, 2);
            h.b.edge(panel, "element", "1", button);
            h.b.edge(history, "element", &i.to_string(), panel);
            let key = h.obj("string", &format!("panel:{i}"), 32);
            h.b.edge(table, "internal", &(5 + 3 * i).to_string(), key);
            h.b.edge(table, "internal", &(6 + 3 * i).to_string(), panel);
        }
        h
    };
    let args = vec![
        snap(4).write(dir.path(), "a"),
        snap(12).write(dir.path(), "b"),
    ];
    let fs = findings(&args);
    assert_eq!(
        summary(&fs),
        vec![(
            "detached_dom".to_string(),
            "history + panelById".to_string(),
            8,
            24
        )]
    );
    assert_eq!(fs[0]["shared"], true);
    assert!(fs[0]["evidence"]
        .as_str()
        .unwrap()
        .contains("shared by 2 holders"));
    assert!(fs[0]["retained_size_after"].as_u64().unwrap() > 0);
}

#[test]
fn event_target_listeners_are_counted_along_their_list() {
    let dir = tempfile::tempdir().unwrap();
    let snap = |listeners: u32| {
        let mut h = V8Heap::node(Taken::Idle);
        let target = h.var("target", "object", "EventTarget");
        let map = h.obj("object", "Map", 32);
        h.b.edge(target, "property", "<symbol kEvents>", map);
        let table = h.obj("array", "", 152);
        h.b.edge(map, "internal", "table", table);
        let key = h.obj("string", "ping", 24);
        let head = h.obj("object", "Object", 48);
        h.b.edge(table, "internal", "5", key);
        h.b.edge(table, "internal", "6", head);
        let mut prev = head;
        h.ids_from(100_001);
        for _ in 0..listeners {
            let l = h.obj("object", "Listener", 64);
            let f = h.function("onPing", "/srv/app.js");
            h.b.edge(prev, "property", "next", l);
            h.b.edge(l, "property", "previous", prev);
            h.b.edge(l, "property", "callback", f);
            h.b.edge(l, "property", "listener", f);
            prev = l;
        }
        h
    };
    let args = vec![
        snap(12).write(dir.path(), "a"),
        snap(40).write(dir.path(), "b"),
    ];
    let fs = findings(&args);
    assert_eq!(
        summary(&fs),
        vec![(
            "event_listeners".to_string(),
            "target[kEvents].ping".to_string(),
            12,
            40
        )]
    );
    assert!(fs[0]["evidence"]
        .as_str()
        .unwrap()
        .contains("listeners are onPing"));
    // Fewer listeners than Node's warning level are never reported.
    let args = vec![
        snap(0).write(dir.path(), "c"),
        snap(10).write(dir.path(), "d"),
    ];
    assert!(findings(&args).is_empty());
}

#[test]
fn node_embedder_objects_marked_detached_are_not_detached_dom() {
    let dir = tempfile::tempdir().unwrap();
    let snap = |n: u32| {
        // Node's environment keeps its binding data through global handles; Node marks
        // them detached in every healthy process.
        let mut h = V8Heap::node(Taken::Idle);
        let handles = h.global_handles;
        for i in 0..n {
            let d = h.obj("native", "Node / BindingData", 48);
            h.b.detached(d, 2);
            h.b.edge(handles, "element", &(10 + i).to_string(), d);
        }
        h
    };
    let args = vec![
        snap(5).write(dir.path(), "a"),
        snap(40).write(dir.path(), "b"),
    ];
    assert!(findings(&args).is_empty());
}

#[test]
fn a_namespace_of_functions_is_not_a_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    // An object that gains 60 methods with hand-written names (a lazily filled prototype).
    let snap = |n: u32| {
        let mut h = V8Heap::node(Taken::Idle);
        let proto = h.var("api", "object", "Object");
        for i in 0..n {
            let name: String = [b'a' + (i / 26) as u8, b'a' + (i % 26) as u8]
                .iter()
                .map(|&c| c as char)
                .collect();
            let f = h.function(&name, "/srv/app.js");
            h.b.edge(proto, "property", &name, f);
        }
        h
    };
    let args = vec![
        snap(0).write(dir.path(), "a"),
        snap(60).write(dir.path(), "b"),
    ];
    assert!(findings(&args).is_empty());
}
