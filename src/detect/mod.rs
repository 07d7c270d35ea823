//! Leak findings: one small detector per leak shape, each behind [`Detector`], each in its
//! own file (like LeakCanary's inspectors). A finding names one root cause — the owning
//! collection or emitter — never one object per step of a dominator chain.
//!
//! Detectors read a [`DetectCtx`]: both analysed snapshots, the comparison (which objects
//! are new, per-class rows) and helpers to name owners. They decide only when reasonably
//! sure; thresholds are named constants in their files, and known benign patterns are data
//! ([`BENIGN_CLASSES`]), not special cases.

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

/// Every detector, in the order their findings are produced.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    Vec::new()
}

/// Run every detector and sort: most severe first, then by retained growth, then title.
pub fn detect_all(cx: &DetectCtx<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for d in detectors() {
        d.detect(cx, &mut out);
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then((b.retained_size_after as i64 - b.retained_size_before as i64).cmp(&(a.retained_size_after as i64 - a.retained_size_before as i64)))
            .then(a.title.cmp(&b.title))
    });
    out
}

/// Severity from growth: shared by detectors so that one scale applies to every kind.
pub fn severity(count_before: u64, count_after: u64, retained_growth: i64, monotonic: Option<bool>) -> Severity {
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
