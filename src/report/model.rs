//! The report model (serialised as-is by the JSON renderer) and how it is built from graphs.

use crate::diff::{self, ClassDelta};
use crate::graph::{distance::UNREACHABLE, HeapGraph};
use crate::input::v8::node_kind;
use serde::Serialize;

pub const FORMAT_VERSION: &str = "heapdiff/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One snapshot.
    Summary,
    /// Two snapshots.
    Comparison,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub input_kind: &'static str,
    pub mode: Mode,
    pub snapshots: Vec<SnapshotInfo>,
    pub classes: Vec<ClassRow>,
    /// Largest disjoint dominator subtrees (one snapshot only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dominators: Vec<DominatorRow>,
}

#[derive(Debug, Serialize)]
pub struct SnapshotInfo {
    pub path: String,
    pub node_count: u64,
    pub edge_count: u64,
    /// Sum of all self sizes, bytes.
    pub total_size: u64,
}

/// One class. In a summary the `_before` and delta fields are `null`.
#[derive(Debug, Serialize)]
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
}

#[derive(Debug, Serialize)]
pub struct DominatorRow {
    pub class: String,
    pub id: u32,
    pub self_size: u64,
    pub retained_size: u64,
    pub distance: Option<u32>,
}

pub fn snapshot_info(path: &str, g: &HeapGraph) -> SnapshotInfo {
    SnapshotInfo {
        path: path.to_string(),
        node_count: g.node_count() as u64,
        edge_count: g.edge_count() as u64,
        total_size: g.total_size(),
    }
}

/// How many dominator subtrees a summary lists.
pub const DOMINATOR_ROWS: usize = 20;

impl Report {
    pub fn summary(path: &str, g: &HeapGraph) -> Report {
        let (stats, dominators) = rayon::join(
            || diff::class_stats(g),
            || largest_dominators(g, DOMINATOR_ROWS),
        );
        let mut classes: Vec<ClassRow> = stats
            .iter()
            .enumerate()
            .map(|(c, s)| ClassRow {
                name: g.class_names[c].clone(),
                count_before: None,
                count_after: s.count,
                added_count: None,
                removed_count: None,
                count_delta: None,
                added_size: None,
                removed_size: None,
                size_delta: None,
                self_size_before: None,
                self_size_after: s.self_size,
                retained_size_before: None,
                retained_size_after: s.retained_size,
            })
            .collect();
        classes.sort_by(|a, b| {
            b.retained_size_after
                .cmp(&a.retained_size_after)
                .then(a.name.cmp(&b.name))
        });
        Report {
            format: FORMAT_VERSION,
            input_kind: "v8",
            mode: Mode::Summary,
            snapshots: vec![snapshot_info(path, g)],
            classes,
            dominators,
        }
    }

    pub fn comparison(paths: [&str; 2], before: &HeapGraph, after: &HeapGraph) -> Report {
        let rows = diff::compare(before, after);
        Report {
            format: FORMAT_VERSION,
            input_kind: "v8",
            mode: Mode::Comparison,
            snapshots: vec![
                snapshot_info(paths[0], before),
                snapshot_info(paths[1], after),
            ],
            classes: rows.iter().map(class_row).collect(),
            dominators: Vec::new(),
        }
    }
}

fn class_row(d: &ClassDelta) -> ClassRow {
    ClassRow {
        name: d.name.clone(),
        count_before: Some(d.before.count),
        count_after: d.after.count,
        added_count: Some(d.added_count),
        removed_count: Some(d.removed_count),
        count_delta: Some(d.count_delta()),
        added_size: Some(d.added_size),
        removed_size: Some(d.removed_size),
        size_delta: Some(d.size_delta()),
        self_size_before: Some(d.before.self_size),
        self_size_after: d.after.self_size,
        retained_size_before: Some(d.before.retained_size),
        retained_size_after: d.after.retained_size,
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
    // A bounded pool of the largest candidates, then pick disjoint ones in order.
    let pool = (k * 50).min(n);
    let mut idx: Vec<u32> = (0..n as u32).filter(|&i| candidate(i as usize)).collect();
    if idx.len() > pool {
        idx.select_nth_unstable_by(pool, |&a, &b| {
            g.retained_size[b as usize].cmp(&g.retained_size[a as usize])
        });
        idx.truncate(pool);
    }
    idx.sort_by(|&a, &b| {
        g.retained_size[b as usize]
            .cmp(&g.retained_size[a as usize])
            .then(a.cmp(&b))
    });
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
