//! What changed between snapshots, per class.
//!
//! - [`class_stats`]: count, self size and retained size of every class in one snapshot. A
//!   class's retained size counts only its topmost instances in the dominator tree, so an
//!   instance held by another instance of the same class is not counted twice.
//! - [`compare`]: DevTools' comparison view — objects matched by node id (stable within one
//!   process): an id only in the base snapshot is deleted, only in the new one is new.
//!   Implemented with one table indexed by id (V8's object ids are consecutive odd
//!   numbers, so the table is about as long as the heap), filled from the base snapshot and
//!   probed by the new one on all cores; the few ids it cannot hold, and snapshots whose
//!   ids repeat, go by a merge of sorted ids. DevTools keeps per-class id lists instead.

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
        .zip(g.self_size.column().par_iter())
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

/// What matching the two snapshots' ids found.
struct Matches {
    tally: Tally,
    new_in_after: BitSet,
    /// Nodes with a size in each snapshot (the ones matched).
    before_ids: usize,
    after_ids: usize,
}

/// Sums of one part of the matching.
struct Tally {
    /// Per row: added count, added size, removed count, removed size.
    by_id: Vec<[u64; 4]>,
    /// Ids in both snapshots, and how many of those name the same class.
    common: u64,
    same: u64,
}

/// The two snapshots being matched and their classes' rows.
struct Sides<'a> {
    before: &'a HeapGraph,
    after: &'a HeapGraph,
    map_b: &'a [usize],
    map_a: &'a [usize],
    rows: usize,
}

impl Sides<'_> {
    fn row_b(&self, v: usize) -> usize {
        self.map_b[self.before.class_of[v] as usize]
    }
    fn row_a(&self, w: usize) -> usize {
        self.map_a[self.after.class_of[w] as usize]
    }
    fn tally(&self) -> Tally {
        Tally {
            by_id: vec![[0u64; 4]; self.rows],
            common: 0,
            same: 0,
        }
    }

    /// Match two lists of `id << 32 | ordinal`, each sorted, in one merge; new after-nodes
    /// are marked in `new` (the words of the whole after-snapshot's set).
    fn merge(&self, ids_b: &[u64], ids_a: &[u64], t: &mut Tally, new: &mut [u64]) {
        let ord = |x: u64| (x & 0xffff_ffff) as usize;
        let (mut i, mut j) = (0, 0);
        while i < ids_b.len() || j < ids_a.len() {
            let ib = ids_b.get(i).map(|x| x >> 32);
            let ia = ids_a.get(j).map(|x| x >> 32);
            match (ib, ia) {
                (Some(b), Some(a)) if b == a => {
                    t.shared(self, ord(ids_b[i]), ord(ids_a[j]), new, 0);
                    i += 1;
                    j += 1;
                }
                (Some(b), a) if a.is_none_or(|a| b < a) => {
                    t.removed(self, ord(ids_b[i]));
                    i += 1;
                }
                _ => {
                    t.added(self, ord(ids_a[j]), new, 0);
                    j += 1;
                }
            }
        }
    }

    /// Both snapshots' ids sorted, then one merge.
    fn match_sorted(&self) -> Matches {
        let (ids_b, ids_a) = rayon::join(|| sorted_ids(self.before), || sorted_ids(self.after));
        let mut tally = self.tally();
        let mut new_in_after = BitSet::new(self.after.node_count());
        self.merge(&ids_b, &ids_a, &mut tally, new_in_after.words_mut());
        Matches {
            tally,
            new_in_after,
            before_ids: ids_b.len(),
            after_ids: ids_a.len(),
        }
    }
}

impl Tally {
    /// Before-node `v` and after-node `w` have the same id. `new` holds the words of the
    /// after-nodes from `base` (a multiple of 64) on.
    #[inline]
    fn shared(&mut self, s: &Sides, v: usize, w: usize, new: &mut [u64], base: usize) {
        self.common += 1;
        if s.row_b(v) == s.row_a(w) {
            self.same += 1;
        } else {
            self.removed(s, v);
            self.added(s, w, new, base);
        }
    }
    /// Before-node `v`'s id is not in the after snapshot.
    #[inline]
    fn removed(&mut self, s: &Sides, v: usize) {
        let r = &mut self.by_id[s.row_b(v)];
        r[2] += 1;
        r[3] += s.before.self_size.get(v);
    }
    /// After-node `w`'s id is not in the before snapshot (or names another class there).
    #[inline]
    fn added(&mut self, s: &Sides, w: usize, new: &mut [u64], base: usize) {
        let r = &mut self.by_id[s.row_a(w)];
        r[0] += 1;
        r[1] += s.after.self_size.get(w);
        new[(w - base) >> 6] |= 1 << (w & 63);
    }
    fn add(&mut self, o: &Tally) {
        for (x, y) in self.by_id.iter_mut().zip(&o.by_id) {
            for k in 0..4 {
                x[k] += y[k];
            }
        }
        self.common += o.common;
        self.same += o.same;
    }
}

/// Nothing in this table slot yet.
const FREE: u32 = u32::MAX;
/// Set on a table slot's ordinal once an after-node matched it.
const SEEN: u32 = 1 << 31;

/// Match ids through a table indexed by id, without sorting: V8 numbers heap objects with
/// consecutive odd ids, so `id / 2` of nearly every node is below twice the node count.
/// The rest (even ids, and the few large ones V8 gives synthetic and native entries) are
/// matched by a merge of their sorted lists. The same result as one merge of both
/// snapshots' sorted ids (the sums do not depend on order); `None`, and the caller sorts,
/// when an id repeats within a snapshot (where the merge's pairing of repeats decides) or
/// ordinals do not fit beside the table's mark.
fn match_by_table(s: &Sides) -> Option<Matches> {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
    let (before, after) = (s.before, s.after);
    let (nb, na) = (before.node_count(), after.node_count());
    if nb >= SEEN as usize || na >= SEEN as usize {
        return None;
    }
    let cap = 2 * nb.max(na) + 1024;
    let dense = move |id: u32| id & 1 == 1 && ((id >> 1) as usize) < cap;
    // The table reaches only as far as the largest dense id either snapshot has.
    let top = |g: &HeapGraph| {
        g.node_id
            .par_iter()
            .zip(g.self_size.column().par_iter())
            .filter(|&(&id, &size)| size != 0 && dense(id))
            .map(|(&id, _)| (id >> 1) as usize + 1)
            .max()
            .unwrap_or(0)
    };
    let (tb, ta) = rayon::join(|| top(before), || top(after));
    let table: Vec<AtomicU32> = (0..tb.max(ta))
        .into_par_iter()
        .map(|_| AtomicU32::new(FREE))
        .collect();
    let repeated = AtomicBool::new(false);

    // The before-snapshot's ordinals by id; its other ids aside.
    let mut rest_b: Vec<u64> = (0..nb)
        .into_par_iter()
        .with_min_len(1 << 14)
        .filter_map(|v| {
            let id = before.node_id[v];
            if before.self_size.is_zero(v) {
                return None;
            }
            if !dense(id) {
                return Some((id as u64) << 32 | v as u64);
            }
            if table[(id >> 1) as usize].swap(v as u32, Relaxed) != FREE {
                repeated.store(true, Relaxed);
            }
            None
        })
        .collect();
    if repeated.load(Relaxed) {
        return None;
    }

    // The after-snapshot's nodes, in tasks of whole words of `new_in_after`, each with its
    // own sums; a slot an after-node finds is marked, so the before-nodes left unmarked
    // are the deleted ones.
    let mut new_in_after = BitSet::new(na);
    let words_per_task = na
        .div_ceil(64)
        .div_ceil(4 * rayon::current_num_threads())
        .max(1);
    let parts: Vec<(Tally, Vec<u64>, usize)> = new_in_after
        .words_mut()
        .par_chunks_mut(words_per_task)
        .enumerate()
        .map(|(k, new)| {
            let mut t = s.tally();
            let mut rest = Vec::new();
            let mut sized = 0;
            let base = k * words_per_task * 64;
            for w in base..na.min(base + words_per_task * 64) {
                let id = after.node_id[w];
                if after.self_size.is_zero(w) {
                    continue;
                }
                sized += 1;
                if !dense(id) {
                    rest.push((id as u64) << 32 | w as u64);
                    continue;
                }
                let slot = table[(id >> 1) as usize].fetch_or(SEEN, Relaxed);
                if slot == FREE {
                    t.added(s, w, new, base);
                } else if slot & SEEN != 0 {
                    repeated.store(true, Relaxed);
                } else {
                    t.shared(s, slot as usize, w, new, base);
                }
            }
            (t, rest, sized)
        })
        .collect();
    if repeated.load(Relaxed) {
        return None;
    }
    let before_ids = nb
        - before
            .self_size
            .column()
            .par_iter()
            .filter(|&&z| z == 0)
            .count();
    // Deleted: before-nodes whose slot no after-node marked.
    let tasks = 4 * rayon::current_num_threads();
    let removed: Vec<Tally> = (0..tasks)
        .into_par_iter()
        .map(|k| {
            let mut t = s.tally();
            for v in k * nb / tasks..(k + 1) * nb / tasks {
                let id = before.node_id[v];
                if !before.self_size.is_zero(v)
                    && dense(id)
                    && table[(id >> 1) as usize].load(Relaxed) & SEEN == 0
                {
                    t.removed(s, v);
                }
            }
            t
        })
        .collect();
    drop(table);
    let mut tally = s.tally();
    let mut rest_a = Vec::new();
    let mut after_ids = 0;
    for (t, rest, sized) in parts {
        tally.add(&t);
        rest_a.extend(rest);
        after_ids += sized;
    }
    for t in &removed {
        tally.add(t);
    }
    // The ids the table does not hold, by merge.
    rest_b.sort_unstable();
    rest_a.sort_unstable();
    s.merge(&rest_b, &rest_a, &mut tally, new_in_after.words_mut());
    Some(Matches {
        tally,
        new_in_after,
        before_ids,
        after_ids,
    })
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
    let side = Sides {
        before,
        after,
        map_b: &map_b,
        map_a: &map_a,
        rows: rows.len(),
    };
    let Matches {
        tally: Tally {
            by_id,
            common,
            same,
        },
        mut new_in_after,
        before_ids,
        after_ids,
    } = match_by_table(&side).unwrap_or_else(|| side.match_sorted());
    let min_shared = MIN_SHARED_IDS
        .min((before_ids.min(after_ids) / 100) as u64)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> HeapGraph {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/v8/service")
            .join(name);
        crate::load_v8(&p).unwrap()
    }

    /// Everything a matching found, comparable.
    fn summary(m: &Matches) -> (Vec<[u64; 4]>, u64, u64, Vec<u64>, usize, usize) {
        (
            m.tally.by_id.clone(),
            m.tally.common,
            m.tally.same,
            m.new_in_after.words().to_vec(),
            m.before_ids,
            m.after_ids,
        )
    }

    /// The table matching of `before` → `after` (`None` if it declined) and the merge of
    /// sorted ids it stands for.
    fn both(before: &HeapGraph, after: &HeapGraph) -> (Option<Matches>, Matches) {
        let mut rows = HashMap::new();
        let mut map = |names: &[String]| -> Vec<usize> {
            names
                .iter()
                .map(|n| {
                    let k = rows.len();
                    *rows.entry(n.clone()).or_insert(k)
                })
                .collect()
        };
        let (map_b, map_a) = (map(&before.class_names), map(&after.class_names));
        let s = Sides {
            before,
            after,
            map_b: &map_b,
            map_a: &map_a,
            rows: rows.len(),
        };
        (match_by_table(&s), s.match_sorted())
    }

    #[test]
    fn the_id_table_matches_as_the_sorted_merge_does() {
        let (b, mut a) = (load("s1.heapsnapshot.gz"), load("s3.heapsnapshot.gz"));
        let (table, merged) = both(&b, &a);
        let table = table.expect("a Node heap has dense ids");
        assert_eq!(summary(&table), summary(&merged));
        // A real pair: most ids shared, some new, some deleted.
        assert!(merged.tally.common > 10_000 && merged.tally.same == merged.tally.common);
        let added: u64 = merged.tally.by_id.iter().map(|r| r[0]).sum();
        let removed: u64 = merged.tally.by_id.iter().map(|r| r[2]).sum();
        assert!(added > 0 && removed > 0);

        // Ids the table does not hold (even, past its reach, the largest) go by the merge,
        // on either side, shared or not; one shared id changes class.
        let sized: Vec<usize> = (0..a.node_count())
            .filter(|&v| !a.self_size.is_zero(v))
            .collect();
        let far = [
            2,
            1 << 31,
            u32::MAX,
            u32::MAX - 1,
            (3 * a.node_count() as u32) | 1,
        ];
        for (k, &id) in far.iter().enumerate() {
            a.node_id[sized[100 * k + 7]] = id;
        }
        let shared_id = b.node_id[(0..b.node_count())
            .find(|&v| !b.self_size.is_zero(v))
            .unwrap()];
        let other_class = sized
            .iter()
            .copied()
            .find(|&w| a.class_names[a.class_of[w] as usize] != "(system)")
            .unwrap();
        if let Some(w) = (0..a.node_count()).find(|&w| a.node_id[w] == shared_id) {
            a.node_id[w] = 0;
        }
        a.node_id[other_class] = shared_id;
        let (table, merged) = both(&b, &a);
        assert_eq!(summary(&table.expect("no repeated ids")), summary(&merged));
    }

    #[test]
    fn a_repeated_id_leaves_the_matching_to_the_merge() {
        let (mut b, a) = (load("s1.heapsnapshot.gz"), load("s2.heapsnapshot.gz"));
        let sized: Vec<usize> = (0..b.node_count())
            .filter(|&v| !b.self_size.is_zero(v))
            .collect();
        b.node_id[sized[5]] = b.node_id[sized[6]];
        assert!(both(&b, &a).0.is_none(), "repeated before");
        let (b, mut a) = (load("s1.heapsnapshot.gz"), load("s2.heapsnapshot.gz"));
        let sized: Vec<usize> = (0..a.node_count())
            .filter(|&v| !a.self_size.is_zero(v))
            .collect();
        a.node_id[sized[5]] = a.node_id[sized[6]];
        assert!(both(&b, &a).0.is_none(), "repeated after");
        // And compare() still answers, by the merge.
        let cmp = compare(&b, &a);
        assert!(cmp.common_ids > 0);
    }
}
