//! The zoo (fixtures/zoo/README.md): real programs that leak the way real programs do, with
//! snapshots taken the ways people take them. Every case is scored as a pair (s1 s2) and as
//! a series (s1 s2 s3), against its truth file:
//! - every leak is reported exactly once, with its kind and owner, and grew;
//! - no finding is about a control (except, in a pair, a control marked `"pair":
//!   "appeared_once"`: a table built once between the two snapshots looks like a leak that
//!   started then, and may be reported as `low`, `appeared_once`, which says so);
//! - no finding matches nothing;
//! - a leak keeps its fingerprint from the pair to the series.

mod common;

use common::fixture;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn run(dir: &Path, snaps: &[&str]) -> Value {
    let files: Vec<PathBuf> = snaps
        .iter()
        .map(|s| dir.join(format!("{s}.heapsnapshot.gz")))
        .collect();
    common::json_report(&files, &[0])
}

/// The identifier-like words of an owner name (`cartStore.listeners` → `cartStore`,
/// `listeners`).
fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$' || c == '#'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether an owner names a control: the control's words appear in it, in a row.
fn names_control(owner: &str, control: &str) -> bool {
    let (o, c) = (words(owner), words(control));
    !c.is_empty() && o.windows(c.len()).any(|w| w == c.as_slice())
}

/// Score one case; returns the fingerprint of every leak (kind, owner) in this run.
fn score(case: &str, truth: &Value, report: &Value, mode: &str) -> Vec<(String, String)> {
    let findings = report["findings"].as_array().unwrap();
    let leaks = truth["leaks"].as_array().unwrap();
    let controls = truth["controls"].as_array().unwrap();
    let mut fingerprints = Vec::new();
    let show = || {
        findings
            .iter()
            .map(|f| format!("{} {} ({})", f["kind"], f["owner"], f["severity"]))
            .collect::<Vec<_>>()
            .join("; ")
    };
    for l in leaks {
        let matching: Vec<&Value> = findings
            .iter()
            .filter(|f| f["kind"] == l["kind"] && f["owner"] == l["owner"])
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{case} ({mode}): leak {} {} reported {} times; findings: {}",
            l["kind"],
            l["owner"],
            matching.len(),
            show()
        );
        let f = matching[0];
        assert!(
            f["count_after"].as_u64() > f["count_before"].as_u64(),
            "{case} ({mode}): {f}"
        );
        for key in ["title", "evidence", "suggestion", "fingerprint"] {
            assert!(
                f[key].as_str().is_some_and(|s| !s.is_empty()),
                "{case}: {key}"
            );
        }
        assert!(!f["path"].as_array().unwrap().is_empty(), "{case}: path");
        fingerprints.push((
            format!("{}:{}", l["kind"], l["owner"]),
            f["fingerprint"].as_str().unwrap().to_string(),
        ));
    }
    for f in findings {
        let is_leak = leaks
            .iter()
            .any(|l| f["kind"] == l["kind"] && f["owner"] == l["owner"]);
        let owner = f["owner"].as_str().unwrap();
        for c in controls {
            let named = c["names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| names_control(owner, n.as_str().unwrap()));
            if !named || is_leak {
                continue;
            }
            let allowed = mode == "pair"
                && c["pair"] == "appeared_once"
                && f["growth"] == "appeared_once"
                && f["severity"] == "low";
            assert!(
                allowed,
                "{case} ({mode}): a finding about the control {}: {} {} ({}, {})",
                c["names"], f["kind"], owner, f["severity"], f["growth"]
            );
        }
        let on_control = controls.iter().any(|c| {
            c["names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| names_control(owner, n.as_str().unwrap()))
        });
        assert!(
            is_leak || on_control,
            "{case} ({mode}): a finding that matches no leak: {} {} ({})",
            f["kind"],
            owner,
            f["evidence"]
        );
    }
    fingerprints
}

fn check(case: &str) {
    let dir = fixture("zoo").join(case);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let pair = score(case, &truth, &run(&dir, &["s1", "s2"]), "pair");
    let series = score(case, &truth, &run(&dir, &["s1", "s2", "s3"]), "series");
    assert_eq!(
        pair, series,
        "{case}: fingerprints differ between pair and series"
    );
}

macro_rules! zoo {
    ($($name:ident => $case:literal,)*) => {
        $(
            #[test]
            fn $name() {
                check($case);
            }
        )*
        const CASES: &[&str] = &[$($case),*];
    };
}

zoo! {
    node_abort_signal => "node/abort-signal",
    node_async_local_storage => "node/async-local-storage",
    node_closure_buffers => "node/closure-buffers",
    node_config_chain => "node/config-chain",
    node_express_sessions => "node/express-sessions",
    node_interval_per_client => "node/interval-per-client",
    node_never_settles => "node/never-settles",
    node_node_cache_ttl => "node/node-cache-ttl",
    node_pending_rpc => "node/pending-rpc",
    node_poller_class => "node/poller-class",
    node_startup_table => "node/startup-table",
    node_undo_history => "node/undo-history",
    node_ws_chat => "node/ws-chat",
    chromium_detached_two_holders => "chromium/detached-two-holders",
    chromium_es_module_registry => "chromium/es-module-registry",
    chromium_event_bus => "chromium/event-bus",
    chromium_jquery_widgets => "chromium/jquery-widgets",
    chromium_observers => "chromium/observers",
    chromium_page_timers => "chromium/page-timers",
    chromium_react_store => "chromium/react-store",
    chromium_web_components => "chromium/web-components",
}

#[test]
fn every_case_of_the_zoo_is_scored() {
    let mut found = Vec::new();
    for kind in ["node", "chromium"] {
        for e in std::fs::read_dir(fixture("zoo").join(kind)).unwrap() {
            let p = e.unwrap().path();
            if p.join("truth.json").exists() {
                found.push(format!(
                    "{kind}/{}",
                    p.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    found.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed);
    assert!(CASES.iter().filter(|c| c.starts_with("node/")).count() >= 12);
    assert!(CASES.iter().filter(|c| c.starts_with("chromium/")).count() >= 8);
}

#[test]
fn control_names_match_whole_words() {
    assert!(names_control("inventory.latencies", "inventory.latencies"));
    assert!(!names_control("inventory.pending", "inventory.latencies"));
    assert!(!names_control("recentRequests", "recent"));
    assert!(names_control("history + panelById", "panelById"));
    assert!(names_control(
        "poller._events.sample",
        "poller._events.sample"
    ));
}
