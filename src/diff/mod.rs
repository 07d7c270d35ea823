//! What changed between snapshots, per class.
//!
//! - [`class_stats`]: count, self size and retained size of every class in one snapshot. A
//!   class's retained size counts only its topmost instances in the dominator tree, so an
//!   instance held by another instance of the same class is not counted twice.
//! - [`compare`]: DevTools' comparison view — objects matched by node id (stable within one
//!   process): an id only in the base snapshot is deleted, only in the new one is new.
//!   Implemented as one merge-join of the two snapshots' ids sorted in parallel, instead of
//!   DevTools' per-class id lists.

use crate::graph::{retained::dominator_children, HeapGraph};
use rayon::prelude::*;
use std::collections::HashMap;

/// One class in one snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassStats {
    pub count: u64,
    pub self_size: u64,
    pub retained_size: u64,
}

/// Aggregate every class of `g` (indexed like `g.class_names`). Nodes of zero self size are
/// not counted, as in DevTools: they are V8's synthetic roots and placeholders, not objects.
pub fn class_stats(g: &HeapGraph) -> Vec<ClassStats> {
    let mut stats = vec![ClassStats::default(); g.class_names.len()];
    for (i, &c) in g.class_of.iter().enumerate() {
        if g.self_size[i] == 0 {
            continue;
        }
        let s = &mut stats[c as usize];
        s.count += 1;
        s.self_size += g.self_size[i] as u64;
    }
    for (c, r) in topmost_retained(g).into_iter().enumerate() {
        stats[c].retained_size = r;
    }
    stats
}

/// Retained size per class, counting only instances with no dominator ancestor of the same
/// class: an iterative walk of the dominator tree keeping how many instances of each class
/// are open on the current path.
pub fn topmost_retained(g: &HeapGraph) -> Vec<u64> {
    let (first_child, children) = dominator_children(&g.idom, &g.dom_order);
    let mut open = vec![0u32; g.class_names.len()];
    let mut out = vec![0u64; g.class_names.len()];
    // Stack of (node, next child slot); a node is "entered" when pushed.
    let root = g.root as usize;
    let mut stack: Vec<(u32, u32)> = Vec::new();
    // Zero-size nodes are not instances: they neither count nor hide nested instances.
    let counted = |v: usize| g.self_size[v] != 0;
    let enter = |v: usize, open: &mut [u32], out: &mut [u64]| {
        if !counted(v) {
            return;
        }
        let c = g.class_of[v] as usize;
        if open[c] == 0 {
            out[c] += g.retained_size[v];
        }
        open[c] += 1;
    };
    enter(root, &mut open, &mut out);
    stack.push((root as u32, first_child[root]));
    while let Some(top) = stack.last_mut() {
        let v = top.0 as usize;
        if top.1 < first_child[v + 1] {
            let w = children[top.1 as usize];
            top.1 += 1;
            enter(w as usize, &mut open, &mut out);
            stack.push((w, first_child[w as usize]));
        } else {
            if counted(v) {
                open[g.class_of[v] as usize] -= 1;
            }
            stack.pop();
        }
    }
    out
}

/// One class across a pair of snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassDelta {
    pub name: String,
    pub before: ClassStats,
    pub after: ClassStats,
    pub added_count: u64,
    pub removed_count: u64,
    pub added_size: u64,
    pub removed_size: u64,
}

impl ClassDelta {
    pub fn count_delta(&self) -> i64 {
        self.after.count as i64 - self.before.count as i64
    }
    pub fn size_delta(&self) -> i64 {
        self.added_size as i64 - self.removed_size as i64
    }
    pub fn retained_delta(&self) -> i64 {
        self.after.retained_size as i64 - self.before.retained_size as i64
    }
    fn changed(&self) -> bool {
        self.added_count != 0 || self.removed_count != 0 || self.before != self.after
    }
}

/// Node ordinals of `g` sorted by id (ties by ordinal), packed as `id << 32 | ordinal`.
/// Zero-size nodes are left out, as in [`class_stats`].
pub fn sorted_ids(g: &HeapGraph) -> Vec<u64> {
    let mut v: Vec<u64> = g
        .node_id
        .par_iter()
        .enumerate()
        .filter(|&(i, _)| g.self_size[i] != 0)
        .map(|(i, &id)| (id as u64) << 32 | i as u64)
        .collect();
    v.par_sort_unstable();
    v
}

/// Compare two snapshots of one process by node id. Classes with no change are dropped; the
/// rest are sorted by self-size growth, then count growth, then name.
pub fn compare(before: &HeapGraph, after: &HeapGraph) -> Vec<ClassDelta> {
    let ((ids_b, ids_a), (stats_b, stats_a)) = rayon::join(
        || rayon::join(|| sorted_ids(before), || sorted_ids(after)),
        || rayon::join(|| class_stats(before), || class_stats(after)),
    );
    // One class table for both snapshots, keyed by name.
    let mut rows: Vec<ClassDelta> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut unify = |names: &[String], rows: &mut Vec<ClassDelta>| -> Vec<usize> {
        names
            .iter()
            .map(|n| {
                *by_name.entry(n.clone()).or_insert_with(|| {
                    rows.push(ClassDelta {
                        name: n.clone(),
                        ..Default::default()
                    });
                    rows.len() - 1
                })
            })
            .collect()
    };
    let map_b = unify(&before.class_names, &mut rows);
    let map_a = unify(&after.class_names, &mut rows);
    for (c, s) in stats_b.iter().enumerate() {
        rows[map_b[c]].before = *s;
    }
    for (c, s) in stats_a.iter().enumerate() {
        rows[map_a[c]].after = *s;
    }
    let class_b = |x: u64| map_b[before.class_of[(x & 0xffff_ffff) as usize] as usize];
    let class_a = |x: u64| map_a[after.class_of[(x & 0xffff_ffff) as usize] as usize];
    let size_b = |x: u64| before.self_size[(x & 0xffff_ffff) as usize] as u64;
    let size_a = |x: u64| after.self_size[(x & 0xffff_ffff) as usize] as u64;
    let (mut i, mut j) = (0, 0);
    while i < ids_b.len() || j < ids_a.len() {
        let ib = ids_b.get(i).map(|x| x >> 32);
        let ia = ids_a.get(j).map(|x| x >> 32);
        match (ib, ia) {
            (Some(b), Some(a)) if b == a => {
                let (cb, ca) = (class_b(ids_b[i]), class_a(ids_a[j]));
                if cb != ca {
                    rows[cb].removed_count += 1;
                    rows[cb].removed_size += size_b(ids_b[i]);
                    rows[ca].added_count += 1;
                    rows[ca].added_size += size_a(ids_a[j]);
                }
                i += 1;
                j += 1;
            }
            (Some(b), a) if a.is_none_or(|a| b < a) => {
                let c = class_b(ids_b[i]);
                rows[c].removed_count += 1;
                rows[c].removed_size += size_b(ids_b[i]);
                i += 1;
            }
            _ => {
                let c = class_a(ids_a[j]);
                rows[c].added_count += 1;
                rows[c].added_size += size_a(ids_a[j]);
                j += 1;
            }
        }
    }
    rows.retain(|r| r.changed());
    rows.sort_by(|x, y| {
        y.size_delta()
            .cmp(&x.size_delta())
            .then(y.count_delta().cmp(&x.count_delta()))
            .then(y.retained_delta().cmp(&x.retained_delta()))
            .then(x.name.cmp(&y.name))
    });
    rows
}
