//! Leak findings: one small detector per leak shape, each behind [`Detector`], each in its
//! own file (like LeakCanary's inspectors). A finding names one root cause — the owning
//! collection or emitter — never one object per step of a dominator chain.
//!
//! Detectors read a [`DetectCtx`]: both analysed snapshots, the comparison (which objects
//! are new, per-class rows) and helpers to name owners. They decide only when reasonably
//! sure; thresholds are named constants in their files, and known benign patterns are data
//! ([`BENIGN_CLASSES`], [`detached_dom::BENIGN_DETACHED`]), not special cases.
//!
//! One file per kind, in the order they run:
//! - `event_listeners`: listeners piling up on one emitter and event (Node `EventEmitter`
//!   and `EventTarget`, Chromium DOM targets);
//! - `timers`: `Timeout`/`Immediate` objects piling up per callback (intervals never
//!   cleared);
//! - `detached_dom`: detached DOM nodes that grew, per holder (an array, a listener closure,
//!   a Map);
//! - `cache`: a `Map` or dictionary object whose entries (object values) grew;
//! - `unbounded_collection`: an `Array`, a `Set` or a non-cache Map whose elements grew.
//!
//! Owners are named and matched between snapshots by their retainer path from the nearest
//! variable ([`owner`]), so findings and their fingerprints are the same in a pair, a series
//! and across processes; node ids only sharpen that within one process (which of several
//! same-path collections is the same one, whether old entries are still there). Each
//! detector does its per-node work in linear passes over the columns and traces paths only
//! for the owners it may report.

pub mod cache;
pub mod collections;
pub mod detached_dom;
pub mod event_listeners;
pub mod owner;
pub mod timers;
pub mod unbounded_collection;

use crate::diff::Comparison;
use crate::graph::HeapGraph;
use crate::report::{Finding, Severity};

/// Classes that grow with warm-up in every V8 heap and are never a leak by themselves.
pub const BENIGN_CLASSES: &[&str] = &[
    "(compiled code)",
    "(system)",
    "(object shape)",
    "system / FeedbackVector",
    "system / FeedbackCell",
    "system / SharedFunctionInfo",
    "system / ScopeInfo",
    "system / BytecodeArray",
];

/// What every detector can read.
pub struct DetectCtx<'a> {
    pub before: &'a HeapGraph,
    pub after: &'a HeapGraph,
    /// Rows, `new_in_after` (new objects, or leak candidates in a series), id agreement.
    pub cmp: &'a Comparison,
    /// Number of snapshots behind this comparison (2 for a pair, more for a series).
    pub snapshots: usize,
    /// Per class name, its count in every snapshot of a series (absent for a pair).
    pub trends: Option<&'a std::collections::HashMap<String, Vec<u64>>>,
    /// Show real names (`--show-values`) in titles and evidence.
    pub show_values: bool,
}

pub trait Detector: Sync {
    /// The finding kind this detector reports (`event_listeners`, `cache`, …).
    fn kind(&self) -> &'static str;
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Finding>);
}

/// Every detector, in the order their findings are produced: the specific shapes first, the
/// generic collection detectors last (see [`GENERIC_KINDS`]).
pub fn detectors() -> Vec<Box<dyn Detector>> {
    let scan = collections::SharedScan::default();
    vec![
        Box::new(event_listeners::EventListeners),
        Box::new(timers::Timers),
        Box::new(detached_dom::DetachedDom),
        Box::new(cache::Cache(scan.clone())),
        Box::new(unbounded_collection::UnboundedCollection(scan)),
    ]
}

/// Kinds that describe *any* growing collection. A leak of a more specific shape also makes
/// a collection grow (an emitter's listener array, the array that holds detached DOM nodes),
/// so a finding of these kinds is dropped when another finding has the same owner: one
/// finding per root cause.
pub const GENERIC_KINDS: &[&str] = &[cache::KIND, unbounded_collection::KIND];

/// `(cause, effect)`: a finding of kind `cause` whose owner is also the owner of an `effect`
/// finding is one root cause seen twice (window listeners never removed, whose closures keep
/// detached DOM alive), so it is folded into the `effect` finding, which names what leaks.
pub const FOLDED_INTO: &[(&str, &str)] = &[(event_listeners::KIND, detached_dom::KIND)];

/// Fold the `cause` finding into `effect`: its title joins the evidence, the more severe of the
/// two severities stands, and the cause's fix comes first.
fn fold_cause(effect: &mut Finding, cause: Finding) {
    effect.severity = effect.severity.max(cause.severity);
    effect.evidence = format!(
        "{}; held by: {} ({})",
        effect.evidence, cause.title, cause.evidence
    );
    if !effect.suggestion.contains(&cause.suggestion) {
        effect.suggestion = format!("{} {}", cause.suggestion, effect.suggestion);
    }
}

/// Run every detector (in parallel), keep one finding per root cause, and sort: most severe
/// first, then by retained growth, then title.
pub fn detect_all(cx: &DetectCtx<'_>) -> Vec<Finding> {
    use rayon::prelude::*;
    let per_detector: Vec<Vec<Finding>> = detectors()
        .par_iter()
        .map(|d| {
            let mut found = Vec::new();
            d.detect(cx, &mut found);
            found
        })
        .collect();
    let mut out: Vec<Finding> = Vec::new();
    let mut fingerprints = std::collections::HashSet::new();
    for mut f in per_detector.into_iter().flatten() {
        let subsumed = GENERIC_KINDS.contains(&f.kind.as_str())
            && out
                .iter()
                .any(|o| o.owner == f.owner && !GENERIC_KINDS.contains(&o.kind.as_str()));
        if subsumed || !fingerprints.insert(f.fingerprint.clone()) {
            continue;
        }
        for &(cause, effect) in FOLDED_INTO {
            if f.kind == effect {
                if let Some(i) = out
                    .iter()
                    .position(|o| o.kind == cause && o.owner == f.owner)
                {
                    fold_cause(&mut f, out.remove(i));
                }
            }
        }
        out.push(f);
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(
                (b.retained_size_after as i64 - b.retained_size_before as i64)
                    .cmp(&(a.retained_size_after as i64 - a.retained_size_before as i64)),
            )
            .then(a.title.cmp(&b.title))
    });
    out
}

/// Severity from growth: shared by detectors so that one scale applies to every kind.
pub fn severity(
    count_before: u64,
    count_after: u64,
    retained_growth: i64,
    monotonic: Option<bool>,
) -> Severity {
    let grew = count_after.saturating_sub(count_before);
    let mut s = if retained_growth >= 1 << 20 || grew >= 1000 {
        Severity::High
    } else if retained_growth >= 64 << 10 || grew >= 100 {
        Severity::Medium
    } else {
        Severity::Low
    };
    // A series that grew at every step is stronger evidence; one that did not is weaker.
    match monotonic {
        Some(true) if s == Severity::Medium => s = Severity::High,
        Some(false) if s == Severity::High => s = Severity::Medium,
        _ => {}
    }
    s
}
