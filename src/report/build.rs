//! Building the report model from analysed snapshots: the one place where diff, trace and
//! detect results are put together. Renderers only read what this produces.

use super::model::*;
use crate::diff::{self, ClassDelta, Comparison};
use crate::graph::{distance::UNREACHABLE, HeapGraph};
use crate::input::v8::node_kind;
use crate::model::EdgeType;
use crate::{detect, trace};
use std::collections::HashMap;

/// How many dominator subtrees a summary lists.
pub const DOMINATOR_ROWS: usize = 20;

/// What the caller may vary in a report's content (not its rendering).
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Show real edge names next to their patterns (never string contents otherwise).
    pub show_values: bool,
    /// Classes and paths the gate ignores (`--ignore FILE`).
    pub ignore: IgnoreList,
}

/// Patterns from an `--ignore` file: one per line, `#` starts a comment, `*` matches any
/// run of characters. A pattern matches a class name, a finding's owner name, or a
/// retainer path written as `edge → Class → edge → Class` (a variable's edge may be written
/// `name (variable)`). Paths are matched step by step on their typed steps: each `→`
/// separated part of the pattern matches one edge or class, and a part that is only `*`
/// matches any number of them.
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    pub patterns: Vec<String>,
}

impl IgnoreList {
    pub fn parse(text: &str) -> IgnoreList {
        let patterns = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        IgnoreList { patterns }
    }
    /// Whether a class name (or an owner name) is listed.
    pub fn matches(&self, text: &str) -> bool {
        self.patterns
            .iter()
            .filter(|p| !p.contains('→'))
            .any(|p| glob(p, text))
    }
    /// Whether a path pattern matches `steps`, or its owner part from `owner_start`.
    pub fn matches_path(&self, steps: &[PathStep], owner_start: usize) -> bool {
        let tokens: Vec<(String, String)> = steps
            .iter()
            .map(|s| {
                let edge = match s.edge_type {
                    EdgeType::Element => "[]".to_string(),
                    _ => s.edge.clone(),
                };
                (edge, s.node.clone())
            })
            .collect();
        self.patterns.iter().filter(|p| p.contains('→')).any(|p| {
            let parts: Vec<&str> = p.split('→').map(str::trim).collect();
            let start = owner_start.min(tokens.len());
            (0..=start).any(|from| {
                let words: Vec<(&str, bool)> = tokens[from..]
                    .iter()
                    .flat_map(|(e, n)| [(e.as_str(), true), (n.as_str(), false)])
                    .collect();
                match_parts(&parts, &words)
            })
        })
    }
}

/// Whether pattern parts match a sequence of (word, is an edge) tokens, whole.
fn match_parts(parts: &[&str], words: &[(&str, bool)]) -> bool {
    match parts.split_first() {
        None => words.is_empty(),
        Some((&"*", rest)) => (0..=words.len()).any(|k| match_parts(rest, &words[k..])),
        Some((p, rest)) => match words.split_first() {
            None => false,
            Some(((w, is_edge), tail)) => {
                let p = if *is_edge {
                    p.strip_suffix(" (variable)").unwrap_or(p)
                } else {
                    p
                };
                glob(p, w) && match_parts(rest, tail)
            }
        },
    }
}

/// `*` matches any run (including none); everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(k) => rest = &rest[k + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// A retainer path written for people and for `--ignore` patterns.
pub fn path_text(steps: &[PathStep]) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        if i > 0 {
            out.push_str(" → ");
        }
        let edge = match s.edge_type {
            EdgeType::Context => format!("{} (variable)", s.edge),
            EdgeType::Element => "[]".to_string(),
            _ => s.edge.clone(),
        };
        out.push_str(&edge);
        out.push_str(" → ");
        out.push_str(&s.node);
        if s.repeated {
            out.push_str(" (repeated)");
        }
    }
    out
}

/// A path for a line of text: from its owner part (`owner_start`, found by the owner rule
/// in [`crate::trace::owner`]) to its end, `… → ` in front when steps were left out.
pub fn compact_path_text(steps: &[PathStep], owner_start: usize) -> String {
    let start = owner_start.min(steps.len().saturating_sub(1));
    let text = path_text(&steps[start..]);
    if start > 0 {
        format!("… → {text}")
    } else {
        text
    }
}

/// The class diff of two snapshots, with their path trees built beside it (the paths and
/// the detectors need them; the diff does not).
fn compare_and_trace(before: &HeapGraph, after: &HeapGraph) -> Comparison {
    rayon::join(
        || diff::compare(before, after),
        || {
            rayon::join(|| before.paths(), || after.paths());
        },
    )
    .0
}

pub fn snapshot_info(path: &str, g: &HeapGraph) -> SnapshotInfo {
    SnapshotInfo {
        path: path.to_string(),
        node_count: g.node_count() as u64,
        edge_count: g.edge_count() as u64,
        total_size: g.total_size(),
        stack_count: None,
        sample_period: None,
    }
}

impl Report {
    fn empty(mode: Mode, snapshots: Vec<SnapshotInfo>) -> Report {
        Report {
            format: FORMAT_VERSION,
            input_kind: "v8",
            mode,
            ids_comparable: None,
            snapshots,
            totals: None,
            classes: Vec::new(),
            findings: Vec::new(),
            dominators: Vec::new(),
            gate: None,
            notes: Vec::new(),
            stacks: Vec::new(),
            functions: Vec::new(),
        }
    }

    /// jemalloc: one profile (everything as growth from nothing) or a pair, diffed by
    /// symbolized stack so that two processes compare correctly.
    pub fn jemalloc(
        paths: &[String],
        profiles: &[crate::input::jemalloc::Profile],
        d: crate::jemalloc_diff::JemallocDiff,
    ) -> Report {
        let mode = if profiles.len() == 1 {
            Mode::Summary
        } else {
            Mode::Comparison
        };
        let side = |i: usize, p: &crate::input::jemalloc::Profile| SnapshotInfo {
            path: paths[i].clone(),
            node_count: 0,
            edge_count: 0,
            total_size: if profiles.len() == 1 || i == 1 {
                d.totals.bytes_after
            } else {
                d.totals.bytes_before
            },
            stack_count: Some(p.stack_count() as u64),
            sample_period: Some(d.sample_period[if profiles.len() == 1 { 1 } else { i }]),
        };
        let mut r = Report::empty(
            mode,
            profiles
                .iter()
                .enumerate()
                .map(|(i, p)| side(i, p))
                .collect(),
        );
        r.input_kind = "jemalloc";
        if profiles.len() == 2 {
            r.totals = Some(Totals {
                size_before: d.totals.bytes_before,
                size_after: d.totals.bytes_after,
                size_delta: d.totals.bytes_delta,
            });
        }
        r.notes = d.warnings;
        r.stacks = d.stacks;
        r.functions = d.functions;
        r
    }

    pub fn summary(path: &str, g: &HeapGraph) -> Report {
        let (stats, dominators) = rayon::join(
            || diff::class_stats(g),
            || largest_dominators(g, DOMINATOR_ROWS),
        );
        let mut classes: Vec<ClassRow> = stats
            .iter()
            .enumerate()
            .filter(|(_, s)| s.count > 0)
            .map(|(c, s)| ClassRow {
                name: g.class_names[c].clone(),
                count_after: s.count,
                self_size_after: s.self_size,
                retained_size_after: s.retained_size,
                ..Default::default()
            })
            .collect();
        classes.sort_by(|a, b| {
            b.retained_size_after
                .cmp(&a.retained_size_after)
                .then(a.name.cmp(&b.name))
        });
        let mut r = Report::empty(Mode::Summary, vec![snapshot_info(path, g)]);
        r.classes = classes;
        r.dominators = dominators;
        r
    }

    pub fn comparison(
        paths: [&str; 2],
        before: &HeapGraph,
        after: &HeapGraph,
        opts: &ReportOptions,
    ) -> Report {
        let cmp = compare_and_trace(before, after);
        let mut r = Report::empty(
            Mode::Comparison,
            vec![
                snapshot_info(paths[0], before),
                snapshot_info(paths[1], after),
            ],
        );
        r.fill_growth(&cmp, &[before, after], opts, None);
        r
    }

    /// What a comparison and a series share: totals, the two-processes note, class rows
    /// with retainer paths (traced beside the leak detectors), findings.
    fn fill_growth(
        &mut self,
        cmp: &Comparison,
        graphs: &[&HeapGraph],
        opts: &ReportOptions,
        trends: Option<&HashMap<String, Vec<u64>>>,
    ) {
        let (before, after) = (graphs[0], graphs[graphs.len() - 1]);
        let (b, a) = (before.total_size(), after.total_size());
        self.totals = Some(Totals {
            size_before: b,
            size_after: a,
            size_delta: a as i64 - b as i64,
        });
        self.ids_comparable = Some(cmp.ids_comparable);
        if !cmp.ids_comparable {
            self.notes.push(cross_process_note(cmp));
        }
        let ignored: Vec<bool> = cmp
            .rows
            .iter()
            .map(|d| opts.ignore.matches(&d.name))
            .collect();
        let (mut paths, leaks) = rayon::join(
            || trace::class_paths(cmp, before, after, &ignored, opts.show_values),
            || detect::detect_all(&detect::DetectCtx::new(graphs, cmp, opts.show_values)),
        );
        self.findings = leaks.iter().map(finding).collect();
        self.classes = cmp
            .rows
            .iter()
            .enumerate()
            .map(|(k, d)| {
                let mut row = class_row(d);
                row.ignored = ignored[k];
                row.retainer_paths = paths.remove(&k).unwrap_or_default();
                if let Some(t) = trends.and_then(|t| t.get(&d.name)) {
                    row.monotonic = Some(t.windows(2).all(|w| w[1] > w[0]));
                    row.trend = Some(t.clone());
                }
                row
            })
            .collect();
    }
}

/// A leak in the report's terms: its words written ([`super::words`]), its data kept.
pub fn finding(l: &crate::model::Leak) -> Finding {
    Finding {
        kind: l.kind,
        severity: l.severity,
        title: super::words::title(l),
        owner: super::words::holders_name(&l.holders),
        holders: l.holders.clone(),
        path: l.path.clone(),
        owner_start: super::words::owner_start(l),
        count_before: l.count_before,
        count_after: l.count_after,
        trend: l.trend.clone(),
        growth: l.growth,
        retained_size_before: l.retained_size_before,
        retained_size_after: l.retained_size_after,
        shared: l.shared,
        evidence: super::words::evidence(l),
        details: l.evidence.clone(),
        related: l.related.clone(),
        suggestion: super::words::suggestion(l),
        fingerprint: l.fingerprint.clone(),
    }
}

/// What a series keeps of a snapshot between the first and the last: its summary, its class
/// counts, and (for the second) its ids, which define the leak candidates.
pub struct SeriesPoint {
    pub info: SnapshotInfo,
    pub counts: HashMap<String, u64>,
    /// Sorted node ids (the second snapshot only).
    pub ids: Vec<u32>,
}

impl SeriesPoint {
    pub fn of(path: &str, g: &HeapGraph, keep_ids: bool) -> SeriesPoint {
        let counts = diff::class_stats(g)
            .iter()
            .enumerate()
            .filter(|(_, s)| s.count > 0)
            .map(|(c, s)| (g.class_names[c].clone(), s.count))
            .collect();
        let ids = if keep_ids {
            diff::sorted_ids(g)
                .into_iter()
                .map(|x| (x >> 32) as u32)
                .collect()
        } else {
            Vec::new()
        };
        SeriesPoint {
            info: snapshot_info(path, g),
            counts,
            ids,
        }
    }
}

impl Report {
    /// Three or more snapshots of one process, oldest first. Leak candidates are objects
    /// allocated between the first and the second snapshot that are still alive in the last
    /// (one-time warm-up before the first, and short-lived objects, drop out); with more
    /// snapshots, a class whose count grows at every step is flagged monotonic. The
    /// detectors see every snapshot, so a leak's own count is followed through the series.
    pub fn series(paths: &[String], graphs: &[&HeapGraph], opts: &ReportOptions) -> Report {
        let n = graphs.len();
        let (first, last) = (graphs[0], graphs[n - 1]);
        let middle: Vec<SeriesPoint> = graphs[1..n - 1]
            .iter()
            .enumerate()
            .map(|(i, g)| SeriesPoint::of(&paths[i + 1], g, i == 0))
            .collect();
        let mut cmp = compare_and_trace(first, last);
        let mut snapshots = vec![snapshot_info(&paths[0], first)];
        snapshots.extend(middle.iter().map(|p| p.info.clone()));
        snapshots.push(snapshot_info(&paths[n - 1], last));
        let mut r = Report::empty(Mode::Series, snapshots);
        // Candidates: ids new in the second snapshot (not in the first) still present in the last.
        let mut candidate_count = vec![0u64; cmp.rows.len()];
        if cmp.ids_comparable {
            let mut candidates = crate::graph::BitSet::new(last.node_count());
            let first_ids: Vec<u32> = diff::sorted_ids(first)
                .into_iter()
                .map(|x| (x >> 32) as u32)
                .collect();
            let second = &middle[0].ids;
            for v in 0..last.node_count() {
                let id = last.node_id[v];
                if !last.self_size.is_zero(v)
                    && second.binary_search(&id).is_ok()
                    && first_ids.binary_search(&id).is_err()
                {
                    candidates.set(v);
                    let row = cmp.row_of_after[last.class_of[v] as usize];
                    if row != usize::MAX {
                        candidate_count[row] += 1;
                    }
                }
            }
            cmp.new_in_after = candidates;
        }
        let trends: HashMap<String, Vec<u64>> = cmp
            .rows
            .iter()
            .map(|d| {
                let mut t = vec![d.before.count];
                t.extend(
                    middle
                        .iter()
                        .map(|p| p.counts.get(&d.name).copied().unwrap_or(0)),
                );
                t.push(d.after.count);
                (d.name.clone(), t)
            })
            .collect();
        r.fill_growth(&cmp, graphs, opts, Some(&trends));
        for (row, &n) in r.classes.iter_mut().zip(&candidate_count) {
            row.leak_candidates = cmp.ids_comparable.then_some(n);
        }
        r
    }
}

/// Judge the CI gate: total growth (less what accepted classes grew) against
/// `--fail-if-growth`, and findings at or above `--fail-on` that the ignore list does not
/// accept. `None` when no gate flag was given.
pub fn evaluate_gate(
    r: &Report,
    fail_if_growth: Option<u64>,
    fail_on: Option<Severity>,
    ignore: &IgnoreList,
) -> Option<GateResult> {
    if fail_if_growth.is_none() && fail_on.is_none() {
        return None;
    }
    let mut reasons = Vec::new();
    if let (Some(limit), Some(t)) = (fail_if_growth, r.totals) {
        let accepted: i64 = r
            .classes
            .iter()
            .filter(|c| c.ignored)
            .map(|c| c.size_delta.unwrap_or(0).max(0))
            .sum();
        let growth = t.size_delta - accepted;
        // Compared wide: a limit past i64::MAX (a `--fail-if-growth` of 9.3 EB) must not wrap.
        if i128::from(growth) > i128::from(limit) {
            let mut why = format!(
                "total growth {} exceeds --fail-if-growth {}",
                super::units::signed_bytes(growth),
                super::units::bytes(limit)
            );
            if accepted > 0 {
                why.push_str(&format!(
                    " (not counting {} in ignored classes)",
                    super::units::bytes(accepted as u64)
                ));
            }
            reasons.push(why);
        }
    }
    if let Some(min) = fail_on {
        for f in &r.findings {
            if f.severity >= min
                && !ignore.matches(&f.owner)
                && !ignore.matches_path(&f.path, f.owner_start)
            {
                reasons.push(format!(
                    "{} finding: {} (owner {})",
                    f.severity.name(),
                    f.title,
                    f.owner
                ));
            }
        }
    }
    Some(GateResult {
        breached: !reasons.is_empty(),
        reasons,
    })
}

fn cross_process_note(cmp: &Comparison) -> String {
    let pct = if cmp.common_ids == 0 {
        0.0
    } else {
        100.0 * cmp.same_class_ids as f64 / cmp.common_ids as f64
    };
    format!(
        "Object ids were renumbered between the snapshots: of {} node ids present in both, only {:.0}% name \
         the same class (one heap profiler keeps every object's id: 100%). They come from different processes, \
         or the heap profiler was restarted between them (a new DevTools or inspector session; \
         `v8.writeHeapSnapshot()`, `--heapsnapshot-signal` and one DevTools session keep ids). Objects cannot \
         be matched by id, so new/deleted counts are not shown; growth is by class totals and by retainer-path \
         signatures.",
        cmp.common_ids, pct
    )
}

pub fn class_row(d: &ClassDelta) -> ClassRow {
    let by_id = |v: u64| if d.by_id { Some(v) } else { None };
    ClassRow {
        name: d.name.clone(),
        count_before: Some(d.before.count),
        count_after: d.after.count,
        added_count: by_id(d.added_count),
        removed_count: by_id(d.removed_count),
        count_delta: Some(d.count_delta()),
        added_size: by_id(d.added_size),
        removed_size: by_id(d.removed_size),
        size_delta: Some(d.size_delta()),
        self_size_before: Some(d.before.self_size),
        self_size_after: d.after.self_size,
        retained_size_before: Some(d.before.retained_size),
        retained_size_after: d.after.retained_size,
        ..Default::default()
    }
}

/// The `k` largest dominator subtrees that do not contain one another, skipping V8's
/// synthetic roots and internal nodes (they dominate everything and explain nothing).
pub fn largest_dominators(g: &HeapGraph, k: usize) -> Vec<DominatorRow> {
    let n = g.node_count();
    let candidate = |i: usize| {
        i as u32 != g.root
            && !matches!(g.node_type[i], node_kind::SYNTHETIC | node_kind::HIDDEN)
            && g.idom[i] != i as u32
    };
    // A bounded pool of the largest candidates, then pick disjoint ones in order. The pool is
    // the first `k * 50` candidates by (retained size descending, node ascending), gathered
    // on all cores: each block keeps its own best in a min-heap, and the blocks' bests are
    // merged by the same order.
    use rayon::prelude::*;
    use std::cmp::Reverse;
    let pool = k * 50;
    let rank = |i: usize| (g.retained_size[i], Reverse(i as u32));
    let best_of = |range: std::ops::Range<usize>| {
        let mut heap: std::collections::BinaryHeap<Reverse<(u64, Reverse<u32>)>> =
            Default::default();
        for i in range.filter(|&i| candidate(i)) {
            if heap.len() < pool {
                heap.push(Reverse(rank(i)));
            } else if heap.peek().is_some_and(|m| m.0 < rank(i)) {
                heap.pop();
                heap.push(Reverse(rank(i)));
            }
        }
        heap.into_iter().map(|r| r.0 .1 .0).collect::<Vec<u32>>()
    };
    const BLOCK: usize = 1 << 20;
    let mut idx: Vec<u32> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .flat_map_iter(|b| best_of(b * BLOCK..n.min((b + 1) * BLOCK)))
        .collect();
    idx.sort_by_key(|&v| Reverse(rank(v as usize)));
    idx.truncate(pool);
    let mut chosen: Vec<u32> = Vec::new();
    let mut picked = std::collections::HashSet::new();
    for v in idx {
        if chosen.len() == k {
            break;
        }
        // Skip v if one of its dominators is already listed.
        let mut a = g.idom[v as usize];
        let mut inside = false;
        while a != g.root {
            if picked.contains(&a) {
                inside = true;
                break;
            }
            let up = g.idom[a as usize];
            if up == a {
                break;
            }
            a = up;
        }
        if !inside {
            picked.insert(v);
            chosen.push(v);
        }
    }
    chosen
        .into_iter()
        .map(|v| {
            let node = g.node(v);
            DominatorRow {
                class: node.class_name().to_string(),
                id: node.id(),
                self_size: node.self_size(),
                retained_size: node.retained_size(),
                distance: Some(node.distance()).filter(|&d| d != UNREACHABLE),
            }
        })
        .collect()
}
