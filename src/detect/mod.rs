//! Leak findings: one small detector per leak shape, each behind [`Detector`], each in its
//! own file (like LeakCanary's inspectors). A finding names one root cause — what holds the
//! growth — never one object per step of a dominator chain.
//!
//! Detectors read a [`DetectCtx`]: every snapshot (two for a pair, more for a series), the
//! comparison of the first and last, and one shared [`scan::Scan`] per snapshot (one pass
//! over its nodes that sorts out what each detector looks at). Each reports
//! [`Candidate`]s: typed holders ([`crate::model::Holder`]), the count in every snapshot,
//! retained sizes and structured evidence. Then, in one place:
//! - [`judge`] decides from the counts how sure the growth is ([`Growth`], severity), and
//!   drops growth that stopped;
//! - [`merge::one_per_root_cause`] folds what several detectors saw of one root cause into
//!   one finding (a growing array that keeps detached DOM; listeners whose closures keep
//!   it; listeners inside a detached subtree);
//! - findings are sorted, most severe first.
//!
//! Detectors in the order they run (most specific first):
//! - `detached_dom`: detached DOM trees, by what keeps them (an array or Map, listener
//!   closures; two holders of the same trees named together);
//! - `event_listeners`: listeners on one target and event (Node `EventEmitter`,
//!   `EventTarget`/`AbortSignal`, DOM targets, jQuery);
//! - `observers`: Resize/Intersection/Mutation observers never disconnected;
//! - `timers`: Node timers and page timers (`DOMTimer`) never cleared, by callback;
//! - `promise_reactions`: a pending promise collecting reactions;
//! - `linked_chain`: a chain of objects each holding the one before;
//! - `subscriptions`, `cache`, `unbounded_collection`: growing collections, by what they
//!   hold (callbacks, records, anything).

pub mod cache;
pub mod collections;
pub mod detached_dom;
pub mod event_listeners;
pub mod linked_chain;
pub mod merge;
pub mod observers;
pub mod promise_reactions;
pub mod scan;
pub mod subscriptions;
pub mod timers;
pub mod unbounded_collection;
pub mod util;

use crate::diff::Comparison;
use crate::graph::HeapGraph;
use crate::model::{
    fingerprint, Evidence, Growth, Holder, Kind, Leak, LeakNodes, PathStep, Severity,
};
use std::sync::OnceLock;

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
    /// Every snapshot, oldest first.
    pub graphs: &'a [&'a HeapGraph],
    /// The first and last snapshots compared: rows, new objects, id agreement.
    pub cmp: &'a Comparison,
    /// Show real names (`--show-values`) in paths.
    pub show_values: bool,
    scans: Vec<OnceLock<scan::Scan>>,
}

impl<'a> DetectCtx<'a> {
    pub fn new(graphs: &'a [&'a HeapGraph], cmp: &'a Comparison, show_values: bool) -> Self {
        DetectCtx {
            graphs,
            cmp,
            show_values,
            scans: (0..graphs.len()).map(|_| OnceLock::new()).collect(),
        }
    }
    pub fn before(&self) -> &'a HeapGraph {
        self.graphs[0]
    }
    pub fn after(&self) -> &'a HeapGraph {
        self.graphs[self.graphs.len() - 1]
    }
    /// How many snapshots (2 for a pair).
    pub fn snapshots(&self) -> usize {
        self.graphs.len()
    }
    /// The shared scan of snapshot `i`, made by whichever detector asks first.
    pub fn scan(&self, i: usize) -> &scan::Scan {
        self.scans[i].get_or_init(|| scan::Scan::of(self.graphs[i]))
    }
    /// Whether node ids compare between the snapshots (one process).
    pub fn same_process(&self) -> bool {
        self.cmp.ids_comparable
    }
}

/// A leak as a detector reports it, before its growth is judged.
pub struct Candidate {
    pub kind: Kind,
    pub holders: Vec<Holder>,
    /// The path from the root to the (first) holder in the last snapshot.
    pub path: Vec<PathStep>,
    /// The count in every snapshot, oldest first.
    pub counts: Vec<u64>,
    pub retained_size_before: u64,
    pub retained_size_after: u64,
    pub shared: bool,
    pub evidence: Evidence,
    pub nodes: LeakNodes,
}

pub trait Detector: Sync {
    /// The finding kind this detector reports.
    fn kind(&self) -> Kind;
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>);
}

/// Every detector, most specific first.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    let collections = collections::SharedScan::default();
    vec![
        Box::new(detached_dom::DetachedDom),
        Box::new(event_listeners::EventListeners),
        Box::new(observers::Observers),
        Box::new(timers::Timers),
        Box::new(promise_reactions::PromiseReactions),
        Box::new(linked_chain::LinkedChain),
        Box::new(subscriptions::Subscriptions(collections.clone())),
        Box::new(cache::Cache(collections.clone())),
        Box::new(unbounded_collection::UnboundedCollection(collections)),
    ]
}

/// Run every detector (in parallel), judge the growth, keep one finding per root cause,
/// and sort: most severe first, then by retained growth, then kind and holders.
pub fn detect_all(cx: &DetectCtx<'_>) -> Vec<Leak> {
    use rayon::prelude::*;
    // Every snapshot's scan first, on all cores.
    (0..cx.snapshots()).into_par_iter().for_each(|i| {
        cx.scan(i);
    });
    let per_detector: Vec<Vec<Candidate>> = detectors()
        .par_iter()
        .map(|d| {
            let mut found = Vec::new();
            d.detect(cx, &mut found);
            found
        })
        .collect();
    let leaks: Vec<Leak> = per_detector
        .into_iter()
        .flatten()
        .filter_map(judge)
        .collect();
    let mut out = merge::one_per_root_cause(cx.after(), leaks);
    out.sort_by(|a, b| {
        let growth = |l: &Leak| l.retained_size_after as i64 - l.retained_size_before as i64;
        b.severity
            .cmp(&a.severity)
            .then(growth(b).cmp(&growth(a)))
            .then(a.key().cmp(&b.key()))
    });
    out
}

/// Whether counts (oldest first) grew enough to report: by `min` at least, or — where a
/// few more per step already say something (one callback's timers, one target's
/// listeners, a collection of records) — by `min_small` and by half of what there was.
pub fn grew_enough(counts: &[u64], min: u64, min_small: u64) -> bool {
    let (first, last) = (counts[0], counts[counts.len() - 1]);
    let grew = last.saturating_sub(first);
    grew >= min || (grew >= min_small && grew * 2 >= first)
}

/// A pair that grew from at most this share of its final count grew from (nearly) nothing.
pub const NEAR_ZERO: f64 = 0.05;

/// Judge a candidate's growth from its counts, and give it a severity:
/// - in a series, growth that stopped over the last step is no leak (a table built once);
/// - severity comes from the growth in count and retained bytes (one scale for every
///   kind), raised one level when it grew at every step of a series;
/// - `high` needs growth that continued: a pair, or a series that did not grow at every
///   step, is at most `medium`; a pair that went from (nearly) nothing to its size once is
///   `low`, since a table built once looks the same.
pub fn judge(c: Candidate) -> Option<Leak> {
    let t = &c.counts;
    let n = t.len();
    if n < 2 || t[n - 1] <= t[0] {
        return None;
    }
    let growth = if n >= 3 {
        if t[n - 1] <= t[n - 2] {
            return None;
        }
        if t.windows(2).all(|w| w[1] > w[0]) {
            Growth::EveryStep
        } else {
            Growth::LastStep
        }
    } else if (t[0] as f64) <= NEAR_ZERO * t[1] as f64 {
        Growth::AppearedOnce
    } else {
        Growth::OneStep
    };
    let grew = t[n - 1] - t[0];
    let retained_growth = c.retained_size_after as i64 - c.retained_size_before as i64;
    let base = if retained_growth >= 1 << 20 || grew >= 1000 {
        Severity::High
    } else if retained_growth >= 64 << 10 || grew >= 100 {
        Severity::Medium
    } else {
        Severity::Low
    };
    let severity = match growth {
        Growth::EveryStep if base == Severity::Medium => Severity::High,
        Growth::EveryStep => base,
        Growth::AppearedOnce => Severity::Low,
        Growth::OneStep | Growth::LastStep => base.min(Severity::Medium),
    };
    Some(Leak {
        kind: c.kind,
        severity,
        fingerprint: fingerprint(c.kind, &c.holders),
        holders: c.holders,
        path: c.path,
        count_before: t[0],
        count_after: t[n - 1],
        trend: (n >= 3).then(|| t.clone()),
        growth,
        retained_size_before: c.retained_size_before,
        retained_size_after: c.retained_size_after,
        shared: c.shared,
        evidence: c.evidence,
        related: Vec::new(),
        nodes: c.nodes,
    })
}
