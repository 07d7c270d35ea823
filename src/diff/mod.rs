//! What changed between snapshots, per class.
//!
//! - [`class_stats`]: count, self size and retained size of every class in one snapshot. A
//!   class's retained size counts only its topmost instances in the dominator tree, so an
//!   instance held by another instance of the same class is not counted twice.
//! - [`compare`]: DevTools' comparison view — objects matched by node id (stable within one
//!   process): an id only in the base snapshot is deleted, only in the new one is new.
//!   Implemented as one merge-join of the two snapshots' ids sorted in parallel, instead of
//!   DevTools' per-class id lists.

use crate::graph::{BitSet, HeapGraph};
use rayon::prelude::*;
use std::collections::HashMap;

pub use crate::graph::retained::ClassStats;

/// Count, self size and retained size of every class of `g` (indexed like
/// `g.class_names`); computed with the graph (see [`crate::graph::retained`]).
pub fn class_stats(g: &HeapGraph) -> Vec<ClassStats> {
    g.class_stats.clone()
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
    /// Whether the added/removed fields come from matching ids (same process).
    pub by_id: bool,
}

impl ClassDelta {
    pub fn count_delta(&self) -> i64 {
        self.after.count as i64 - self.before.count as i64
    }
    /// Self-size growth: allocated minus freed when ids match, else the change in totals.
    pub fn size_delta(&self) -> i64 {
        if self.by_id {
            self.added_size as i64 - self.removed_size as i64
        } else {
            self.after.self_size as i64 - self.before.self_size as i64
        }
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
    // One slot per node (an indexed collect writes in place, on all cores); nodes without a
    // size get the largest key and are cut off after sorting.
    const NONE: u64 = u64::MAX;
    let mut v: Vec<u64> = g
        .node_id
        .par_iter()
        .zip(g.self_size.par_iter())
        .enumerate()
        .map(|(i, (&id, &size))| {
            if size != 0 {
                (id as u64) << 32 | i as u64
            } else {
                NONE
            }
        })
        .collect();
    // Ordinals are generated in order, so a snapshot whose ids follow its node order (a
    // first snapshot of a process usually does) is already sorted once the cuts are gone.
    let sorted = v.iter().filter(|&&x| x != NONE).is_sorted();
    v.retain(|&x| x != NONE);
    if !sorted {
        v.par_sort_unstable();
    }
    v
}

/// The outcome of comparing two snapshots.
pub struct Comparison {
    /// Changed classes, sorted by self-size growth, then count growth, then name.
    pub rows: Vec<ClassDelta>,
    /// Ids present in both snapshots, and how many of those name the same class.
    pub common_ids: u64,
    pub same_class_ids: u64,
    /// Whether ids can be matched: practically every shared id names the same class within
    /// one process (100% measured), far fewer across processes (~30% measured).
    pub ids_comparable: bool,
    /// After-snapshot nodes that are new (id absent before, or now of another class).
    pub new_in_after: BitSet,
    /// Topmost instances of their class, per snapshot.
    pub topmost_before: BitSet,
    pub topmost_after: BitSet,
    /// Row index of every class of each snapshot.
    pub row_of_before: Vec<usize>,
    pub row_of_after: Vec<usize>,
}

/// Share of shared ids that must name the same class for a pair to count as one process.
pub const SAME_PROCESS_ID_AGREEMENT: f64 = 0.9;
/// Fewer shared ids than this (or than 1% of the smaller snapshot) cannot prove one process.
pub const MIN_SHARED_IDS: u64 = 1000;

/// Compare two snapshots. Within one process, objects are matched by node id (DevTools'
/// comparison view); across processes ids mean nothing, so only class totals change.
pub fn compare(before: &HeapGraph, after: &HeapGraph) -> Comparison {
    let (ids_b, ids_a) = rayon::join(|| sorted_ids(before), || sorted_ids(after));
    let (stats_b, stats_a) = (&before.class_stats, &after.class_stats);
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
    let ord = |x: u64| (x & 0xffff_ffff) as usize;
    let class_b = |x: u64| map_b[before.class_of[ord(x)] as usize];
    let class_a = |x: u64| map_a[after.class_of[ord(x)] as usize];
    // One merge of the two id lists: how many shared ids agree on their class, and (kept
    // only if that says the ids are comparable) new and deleted objects per class.
    let size_b = |x: u64| before.self_size[ord(x)] as u64;
    let size_a = |x: u64| after.self_size[ord(x)] as u64;
    let mut by_id = vec![[0u64; 4]; rows.len()]; // added count, size; removed count, size
    let mut new_in_after = BitSet::new(after.node_count());
    let (mut common, mut same) = (0u64, 0u64);
    let (mut i, mut j) = (0, 0);
    while i < ids_b.len() || j < ids_a.len() {
        let ib = ids_b.get(i).map(|x| x >> 32);
        let ia = ids_a.get(j).map(|x| x >> 32);
        match (ib, ia) {
            (Some(b), Some(a)) if b == a => {
                let (cb, ca) = (class_b(ids_b[i]), class_a(ids_a[j]));
                common += 1;
                if cb == ca {
                    same += 1;
                } else {
                    by_id[cb][2] += 1;
                    by_id[cb][3] += size_b(ids_b[i]);
                    by_id[ca][0] += 1;
                    by_id[ca][1] += size_a(ids_a[j]);
                    new_in_after.set(ord(ids_a[j]));
                }
                i += 1;
                j += 1;
            }
            (Some(b), a) if a.is_none_or(|a| b < a) => {
                let c = class_b(ids_b[i]);
                by_id[c][2] += 1;
                by_id[c][3] += size_b(ids_b[i]);
                i += 1;
            }
            _ => {
                let c = class_a(ids_a[j]);
                by_id[c][0] += 1;
                by_id[c][1] += size_a(ids_a[j]);
                new_in_after.set(ord(ids_a[j]));
                j += 1;
            }
        }
    }
    let min_shared = MIN_SHARED_IDS
        .min((ids_b.len().min(ids_a.len()) / 100) as u64)
        .max(1);
    let ids_comparable =
        common >= min_shared && same as f64 >= SAME_PROCESS_ID_AGREEMENT * common as f64;
    if ids_comparable {
        for (r, [ac, asz, rc, rsz]) in rows.iter_mut().zip(by_id) {
            (r.added_count, r.added_size, r.removed_count, r.removed_size) = (ac, asz, rc, rsz);
        }
    } else {
        new_in_after = BitSet::new(after.node_count());
    }
    for r in rows.iter_mut() {
        r.by_id = ids_comparable;
    }
    // Keep row indexes stable for the maps: sort a permutation, then apply it.
    let mut perm: Vec<usize> = (0..rows.len()).filter(|&k| rows[k].changed()).collect();
    perm.sort_by(|&x, &y| {
        let (x, y) = (&rows[x], &rows[y]);
        y.size_delta()
            .cmp(&x.size_delta())
            .then(y.count_delta().cmp(&x.count_delta()))
            .then(y.retained_delta().cmp(&x.retained_delta()))
            .then(x.name.cmp(&y.name))
    });
    let mut new_index = vec![usize::MAX; rows.len()];
    for (k, &old) in perm.iter().enumerate() {
        new_index[old] = k;
    }
    let mut slots: Vec<Option<ClassDelta>> = rows.into_iter().map(Some).collect();
    let rows: Vec<ClassDelta> = perm
        .iter()
        .map(|&old| slots[old].take().unwrap_or_default())
        .collect();
    Comparison {
        rows,
        common_ids: common,
        same_class_ids: same,
        ids_comparable,
        new_in_after,
        topmost_before: before.topmost.clone(),
        topmost_after: after.topmost.clone(),
        row_of_before: map_b.iter().map(|&r| new_index[r]).collect(),
        row_of_after: map_a.iter().map(|&r| new_index[r]).collect(),
    }
}
