//! The report model, serialised as-is by the JSON renderer (schema `heapdiff/1`).

use serde::Serialize;

pub const FORMAT_VERSION: &str = "heapdiff/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One snapshot.
    Summary,
    /// Two snapshots.
    Comparison,
    /// Three or more snapshots of one process.
    Series,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub input_kind: &'static str,
    pub mode: Mode,
    /// Whether node ids of the snapshots can be matched (same process). `null` for one
    /// snapshot. When `false`, `added_count`/`removed_count`/`added_size`/`removed_size` are
    /// `null` and growth is by class totals and path signatures.
    pub ids_comparable: Option<bool>,
    pub snapshots: Vec<SnapshotInfo>,
    /// Total self size before and after (first and last snapshot); `null` for one snapshot.
    pub totals: Option<Totals>,
    pub classes: Vec<ClassRow>,
    /// Leak findings, most severe and largest first.
    pub findings: Vec<Finding>,
    /// Largest disjoint dominator subtrees (one snapshot only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dominators: Vec<DominatorRow>,
    /// The CI gate's verdict, when a gate flag was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateResult>,
    /// Things the reader must know (cross-process comparison, ignored classes, …).
    pub notes: Vec<String>,
    /// jemalloc: allocation stacks whose live bytes changed, by bytes delta.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stacks: Vec<crate::jemalloc_diff::StackDelta>,
    /// jemalloc: per function, flat (innermost frame) and cumulative byte deltas.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<crate::jemalloc_diff::FunctionDelta>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Totals {
    pub size_before: u64,
    pub size_after: u64,
    pub size_delta: i64,
}

pub use crate::model::{EdgeType, PathStep, Severity};

/// Instances of one class that share a retainer path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathRow {
    /// New instances (or leak candidates, in a series) this path holds.
    pub count: u64,
    /// Retained size of those instances (topmost instances of the class only).
    pub size: u64,
    pub count_before: u64,
    pub count_after: u64,
    pub retained_size_before: u64,
    pub retained_size_after: u64,
    /// From the root (first step) to the class (last step).
    pub path: Vec<PathStep>,
    /// Index of the first step of the owner part of `path` (where compact forms start).
    pub owner_start: usize,
}

/// One leak, named by its root cause (what holds it), with the words a reader needs.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: crate::model::Kind,
    pub severity: Severity,
    pub title: String,
    /// A readable name of the holder, e.g. `broker.subs._events.tick`; two holders are
    /// joined with ` + `.
    pub owner: String,
    /// The holders, typed: an anchor and path steps, or a DOM target and function, or a
    /// callback.
    pub holders: Vec<crate::model::Holder>,
    /// From the root to the (first) holder.
    pub path: Vec<PathStep>,
    /// Index of the first step of the owner part of `path`.
    pub owner_start: usize,
    pub count_before: u64,
    pub count_after: u64,
    /// In a series, the count in every snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<Vec<u64>>,
    /// How the growth looks: `one_step`, `appeared_once`, `every_step`, `last_step`.
    pub growth: crate::model::Growth,
    pub retained_size_before: u64,
    pub retained_size_after: u64,
    /// The retained sizes are shared with another holder.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    pub evidence: String,
    /// The evidence as data.
    pub details: crate::model::Evidence,
    /// What other detectors saw of the same root cause.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<crate::model::Related>,
    pub suggestion: String,
    /// Stable across snapshots and processes: a hash of the kind and the typed holders.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    pub breached: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    pub path: String,
    pub node_count: u64,
    pub edge_count: u64,
    /// Sum of all self sizes, bytes (jemalloc: un-sampled live bytes).
    pub total_size: u64,
    /// jemalloc: allocation stacks in the dump (`node_count`/`edge_count` are 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_count: Option<u64>,
    /// jemalloc: mean sampling interval in bytes (0 = every allocation recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_period: Option<u64>,
}

/// One class. In a summary the `_before` and delta fields are `null`.
#[derive(Debug, Default, Serialize)]
pub struct ClassRow {
    pub name: String,
    pub count_before: Option<u64>,
    pub count_after: u64,
    pub added_count: Option<u64>,
    pub removed_count: Option<u64>,
    pub count_delta: Option<i64>,
    pub added_size: Option<u64>,
    pub removed_size: Option<u64>,
    pub size_delta: Option<i64>,
    pub self_size_before: Option<u64>,
    pub self_size_after: u64,
    pub retained_size_before: Option<u64>,
    pub retained_size_after: u64,
    /// Retainer paths of the new instances (comparison and series, grown classes only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retainer_paths: Vec<PathRow>,
    /// Instance count in every snapshot of a series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<Vec<u64>>,
    /// Series: objects allocated between the first two snapshots and alive in the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak_candidates: Option<u64>,
    /// Series: the count grew at every step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monotonic: Option<bool>,
    /// Listed in the `--ignore` file: shown, but not counted by the gate.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
}

#[derive(Debug, Serialize)]
pub struct DominatorRow {
    pub class: String,
    pub id: u32,
    pub self_size: u64,
    pub retained_size: u64,
    pub distance: Option<u32>,
}
