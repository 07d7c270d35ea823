//! heapdiff's class numbers against Chrome DevTools' own heap snapshot worker.
//!
//! `tests/devtools/classes.mjs` runs the worker from the pinned npm package
//! `chrome-devtools-frontend` under Node, called as the Memory panel calls it: the Summary
//! (count, self size, retained size per class) of each snapshot and the Comparison (# New,
//! # Deleted, Alloc. Size, Freed Size per class) of a pair. Every class of every view must
//! equal heapdiff's, after the differences heapdiff documents (README, "How it counts") are
//! applied to DevTools' side, each by a named switch of the harness.
//!
//! Needs Node and the harness installed (`npm ci --prefix tests/devtools`, done by
//! `.ci/run`); without them the tests say so and pass, unless `HEAPDIFF_REQUIRE_DEVTOOLS`
//! is set (CI), where a missing harness fails.

mod common;

use common::fixture;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The documented differences, as the harness names them.
const SWITCHES: &[&str] = &[
    "v8-self-sizes",
    "no-property-set-names",
    "classes-by-name",
    "closures-by-name",
    "synthetic-by-name",
    "scopes-as-context",
];

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/devtools")
}

/// Whether the harness can run; builds its bundle on first use. `None` (with a note) when
/// Node or the installed package is missing and the environment does not require them.
fn harness() -> Option<PathBuf> {
    static BUILT: Mutex<Option<bool>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let dir = harness_dir();
    let ready = *built.get_or_insert_with(|| {
        let required = std::env::var_os("HEAPDIFF_REQUIRE_DEVTOOLS").is_some();
        let skip = |why: &str| {
            assert!(!required, "DevTools harness required but {why}");
            eprintln!("note: DevTools comparison skipped: {why}");
            false
        };
        if std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_err()
        {
            return skip("node is not installed");
        }
        if !dir.join("node_modules/chrome-devtools-frontend").is_dir() {
            return skip("the harness is not installed (npm ci --prefix tests/devtools)");
        }
        let out = std::process::Command::new("node")
            .arg(dir.join("build.mjs"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "bundling DevTools' worker failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        true
    });
    ready.then_some(dir)
}

/// DevTools' views of `files` (one or two snapshots), with the switches in `keep` left off.
fn devtools(dir: &Path, files: &[PathBuf], keep: &[&str]) -> Value {
    let mut cmd = std::process::Command::new("node");
    cmd.arg(dir.join("classes.mjs"));
    for k in keep {
        cmd.args(["--keep", k]);
    }
    let out = cmd.args(files).output().unwrap();
    assert!(
        out.status.success(),
        "DevTools' worker failed on {files:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn heapdiff(files: &[PathBuf]) -> Value {
    common::json_report(files, &[0])
}

type Rows = BTreeMap<String, Vec<u64>>;

fn rows_of(report: &Value, fields: &[&str]) -> Rows {
    report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let values = fields.iter().map(|f| c[*f].as_u64().unwrap()).collect();
            (c["name"].as_str().unwrap().to_string(), values)
        })
        .collect()
}

fn devtools_rows(v: &Value) -> Rows {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, r)| {
            let values = r.as_array().unwrap().iter().map(|x| x.as_u64().unwrap());
            (k.clone(), values.collect())
        })
        .collect()
}

/// Every class where the two sides differ, as `view class: heapdiff [..] DevTools [..]`. A
/// class one side lacks counts as zeros there when `absent_is_zero` (the Comparison lists
/// changed classes only), else as missing.
fn differences(view: &str, ours: &Rows, theirs: &Rows, absent_is_zero: bool) -> Vec<String> {
    let width = ours
        .values()
        .chain(theirs.values())
        .next()
        .map_or(0, Vec::len);
    let zero = vec![0; width];
    let mut out = Vec::new();
    for name in ours
        .keys()
        .chain(theirs.keys().filter(|k| !ours.contains_key(*k)))
    {
        let (a, b) = (ours.get(name), theirs.get(name));
        let same = if absent_is_zero {
            a.unwrap_or(&zero) == b.unwrap_or(&zero)
        } else {
            a == b
        };
        if !same {
            out.push(format!("{view} {name:?}: heapdiff {a:?}, DevTools {b:?}"));
        }
    }
    out
}

/// All differences between heapdiff and DevTools (switches in `keep` left off) on the pair
/// `before → after`: both Summaries and the Comparison. `None` when the harness is absent.
fn compare_pair(before: &str, after: &str, keep: &[&str]) -> Option<(Vec<String>, usize)> {
    let dir = harness()?;
    let files = [fixture(before), fixture(after)];
    let dt = devtools(&dir, &files, keep);
    let mut diffs = Vec::new();
    let mut classes = 0;
    for (i, f) in files.iter().enumerate() {
        let ours = rows_of(
            &heapdiff(std::slice::from_ref(f)),
            &["count_after", "self_size_after", "retained_size_after"],
        );
        let theirs = devtools_rows(&dt["summaries"][i]);
        classes += theirs.len();
        let view = format!("Summary of {}:", f.file_name().unwrap().to_string_lossy());
        diffs.extend(differences(&view, &ours, &theirs, false));
    }
    let ours = rows_of(
        &heapdiff(&files),
        &["added_count", "removed_count", "added_size", "removed_size"],
    );
    let theirs = devtools_rows(&dt["diff"]);
    classes += theirs.len();
    diffs.extend(differences("Comparison:", &ours, &theirs, true));
    Some((diffs, classes))
}

fn assert_same(before: &str, after: &str) {
    let Some((diffs, classes)) = compare_pair(before, after, &[]) else {
        return;
    };
    assert!(classes > 1000, "only {classes} class rows compared");
    assert!(
        diffs.is_empty(),
        "{before} → {after}: {} of {classes} class rows differ from DevTools:\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn node_service_equals_devtools() {
    assert_same(
        "v8/service/s1.heapsnapshot.gz",
        "v8/service/s2.heapsnapshot.gz",
    );
}

#[test]
fn node_ws_chat_equals_devtools() {
    assert_same(
        "zoo/node/ws-chat/s2.heapsnapshot.gz",
        "zoo/node/ws-chat/s3.heapsnapshot.gz",
    );
}

#[test]
fn node_express_sessions_equals_devtools() {
    assert_same(
        "zoo/node/express-sessions/s1.heapsnapshot.gz",
        "zoo/node/express-sessions/s3.heapsnapshot.gz",
    );
}

#[test]
fn chromium_detached_dom_equals_devtools() {
    assert_same(
        "chromium/dom/s1.heapsnapshot.gz",
        "chromium/dom/s2.heapsnapshot.gz",
    );
}

#[test]
fn chromium_react_store_equals_devtools() {
    assert_same(
        "zoo/chromium/react-store/s1.heapsnapshot.gz",
        "zoo/chromium/react-store/s2.heapsnapshot.gz",
    );
}

#[test]
fn chromium_web_components_equals_devtools() {
    assert_same(
        "zoo/chromium/web-components/s2.heapsnapshot.gz",
        "zoo/chromium/web-components/s3.heapsnapshot.gz",
    );
}

/// Each documented difference is real: with DevTools' own behaviour kept for one switch,
/// the fixture where it matters differs, and in the views that switch is about.
#[test]
fn each_documented_difference_changes_devtools_numbers() {
    let service = (
        "v8/service/s1.heapsnapshot.gz",
        "v8/service/s2.heapsnapshot.gz",
    );
    let dom = (
        "chromium/dom/s1.heapsnapshot.gz",
        "chromium/dom/s2.heapsnapshot.gz",
    );
    // (switch, pair, a class it must change)
    let cases = [
        // `(system)` internals moved into their owner (Node snapshots only: Chromium's root
        // holds no page object, and DevTools then moves nothing).
        ("v8-self-sizes", service, "(system)"),
        ("no-property-set-names", service, "Object"),
        // Two constructors named `TextEncoder` (Node's and one from a module).
        ("classes-by-name", service, "TextEncoder"),
        ("closures-by-name", service, "Function"),
        // Node's `Node / Environment` has a size and is `(synthetic)` in DevTools.
        ("synthetic-by-name", service, "Node / Environment"),
        ("scopes-as-context", dom, "system / Context"),
    ];
    assert_eq!(cases.len(), SWITCHES.len());
    for (switch, (before, after), class) in cases {
        let Some((diffs, _)) = compare_pair(before, after, &[switch]) else {
            return;
        };
        let needle = format!(" {class:?}:");
        assert!(
            diffs.iter().any(|d| d.contains(&needle)),
            "keeping DevTools' {switch} should change {class}; differences: {diffs:#?}"
        );
    }
}
