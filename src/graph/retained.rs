//! Retained sizes and the dominator tree as children lists.
//!
//! Retained size = self size summed over the dominator subtree (DevTools' rule). Every node
//! follows its immediate dominator in `order`, so one reverse sweep adds each node's total
//! into its dominator. Cost: one pass over the nodes.

use super::SelfSizes;

pub fn compute_retained_sizes(self_size: &SelfSizes, idom: &[u32], order: &[u32]) -> Vec<u64> {
    let mut retained: Vec<u64> = self_size.column().iter().map(|&s| s as u64).collect();
    for &(v, s) in self_size.wide() {
        retained[v as usize] = s;
    }
    for &v in order.iter().skip(1).rev() {
        let d = idom[v as usize] as usize;
        retained[d] += retained[v as usize];
    }
    retained
}

/// Children of every node in the dominator tree, as CSR (`first_child`, `children`), each
/// list in node order. Cost: two passes over the nodes; 8 bytes per node while it lives.
pub fn dominator_children(idom: &[u32], root: u32) -> (Vec<u32>, Vec<u32>) {
    let n = idom.len();
    let mut first = vec![0u32; n + 1];
    for (v, &d) in idom.iter().enumerate() {
        if v as u32 != root {
            first[d as usize + 1] += 1;
        }
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    // Fill with `first[d]` as d's cursor (no second offsets array): afterwards each cursor
    // stands where the next node's list starts, so one shift restores the offsets.
    let mut children = vec![0u32; n.saturating_sub(1)];
    for (v, &d) in idom.iter().enumerate() {
        if v as u32 != root {
            children[first[d as usize] as usize] = v as u32;
            first[d as usize] += 1;
        }
    }
    first.copy_within(0..n, 1);
    first[0] = 0;
    (first, children)
}

/// One class in one snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassStats {
    pub count: u64,
    pub self_size: u64,
    /// Retained size of the topmost instances only.
    pub retained_size: u64,
}

/// Subtrees of the dominator tree retaining at most 1/`TASK_SHARE` of the heap are walked
/// as separate tasks by [`compute_class_stats`].
const TASK_SHARE: u64 = 64;

/// Count, self size and retained size of every class. Nodes of zero self size are not
/// counted, as in DevTools: they are V8's synthetic roots and placeholders, not objects.
/// A class's retained size counts only its topmost instances (no dominator ancestor of the
/// same class), found by walking the dominator tree while keeping how many instances of
/// each class are open on the current path; those instances are returned too.
///
/// The walk runs on all cores: the top of the tree (nodes retaining more than
/// 1/`TASK_SHARE` = 1/64 of the heap) is walked first, on one core; the subtrees hanging below it
/// are grouped into tasks, each carrying the classes open on its path from the root, and
/// walked by one worker per core. (A heap shaped like one long chain keeps most of the walk
/// in the top part; the result is the same either way.)
pub fn compute_class_stats(
    root: u32,
    idom: &[u32],
    class_of: &[u32],
    self_size: &SelfSizes,
    retained: &[u64],
    class_count: usize,
) -> (Vec<ClassStats>, super::BitSet) {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let n = idom.len();
    let ((first_child, children), mut stats) = rayon::join(
        || dominator_children(idom, root),
        || {
            let part = n.div_ceil(8).max(1);
            (0..n.div_ceil(part))
                .into_par_iter()
                .map(|k| {
                    let mut acc = vec![ClassStats::default(); class_count];
                    for v in k * part..n.min((k + 1) * part) {
                        if !self_size.is_zero(v) {
                            let s = &mut acc[class_of[v] as usize];
                            s.count += 1;
                            s.self_size += self_size.get(v);
                        }
                    }
                    acc
                })
                .reduce(
                    || vec![ClassStats::default(); class_count],
                    |mut a, b| {
                        for (x, y) in a.iter_mut().zip(b) {
                            x.count += y.count;
                            x.self_size += y.self_size;
                        }
                        a
                    },
                )
        },
    );
    let topmost: Vec<AtomicU64> = (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
    let mark = |v: usize| {
        topmost[v >> 6].fetch_or(1 << (v & 63), Ordering::Relaxed);
    };
    let counted = |v: usize| !self_size.is_zero(v);
    let kids = |v: usize| first_child[v] as usize..first_child[v + 1] as usize;
    let limit = retained[root as usize] / TASK_SHARE;

    // The top: a walk over nodes retaining more than `limit`, keeping the distinct open
    // classes as a stack (a class opened deeper is closed first). Below each such node, its
    // other children are grouped into tasks of about `limit` retained bytes.
    struct Task {
        kids: (u32, u32),
        context: (u32, u32),
    }
    let mut top_retained = vec![0u64; class_count];
    let mut open = vec![0u32; class_count];
    let mut open_list: Vec<u32> = Vec::new();
    let mut contexts: Vec<u32> = Vec::new();
    let mut tasks: Vec<Task> = Vec::new();
    // Entering a node opens its class (counting its retained size into `ret` and marking
    // it topmost if no instance was open); leaving closes it. Both say whether the class
    // went from closed to open, or back.
    let open_node = |v: usize, open: &mut [u32], ret: &mut [u64]| -> bool {
        if !counted(v) {
            return false;
        }
        let c = class_of[v] as usize;
        let first = open[c] == 0;
        if first {
            ret[c] += retained[v];
            mark(v);
        }
        open[c] += 1;
        first
    };
    let close_node = |v: usize, open: &mut [u32]| -> bool {
        if !counted(v) {
            return false;
        }
        let c = class_of[v] as usize;
        open[c] -= 1;
        open[c] == 0
    };
    let mut enter = |v: usize, open: &mut [u32], open_list: &mut Vec<u32>| {
        if open_node(v, open, &mut top_retained) {
            open_list.push(class_of[v]);
        }
    };
    let leave = |v: usize, open: &mut [u32], open_list: &mut Vec<u32>| {
        if close_node(v, open) {
            open_list.pop();
        }
    };
    let r = root as usize;
    enter(r, &mut open, &mut open_list);
    /// A node of the top part being walked.
    struct Frame {
        node: u32,
        /// Next child slot to look at.
        next: usize,
        /// First child slot of the group of small children not yet in a task, and its
        /// retained bytes.
        group: usize,
        group_bytes: u64,
        /// The open classes at this node, in `contexts`, once a task needed them.
        context: Option<(u32, u32)>,
    }
    let frame = |v: usize| Frame {
        node: v as u32,
        next: kids(v).start,
        group: kids(v).start,
        group_bytes: 0,
        context: None,
    };
    let mut stack = vec![frame(r)];
    while let Some(top) = stack.last_mut() {
        let v = top.node as usize;
        let end = kids(v).end;
        let mut deeper = None;
        while top.next < end {
            let w = children[top.next] as usize;
            top.next += 1;
            if retained[w] > limit {
                deeper = Some(w);
                break;
            }
            top.group_bytes += retained[w];
            // A group ends when it holds enough, or before an expanded child, or at the end.
            let last = top.next == end || retained[children[top.next] as usize] > limit;
            if top.group_bytes > limit || last {
                let context = *top.context.get_or_insert_with(|| {
                    let at = contexts.len() as u32;
                    contexts.extend_from_slice(&open_list);
                    (at, open_list.len() as u32)
                });
                tasks.push(Task {
                    kids: (top.group as u32, top.next as u32),
                    context,
                });
                top.group = top.next;
                top.group_bytes = 0;
            }
        }
        match deeper {
            Some(w) => {
                // The next group starts after the expanded child.
                top.group = top.next;
                top.group_bytes = 0;
                enter(w, &mut open, &mut open_list);
                stack.push(frame(w));
            }
            None => {
                leave(v, &mut open, &mut open_list);
                stack.pop();
            }
        }
    }

    // The tasks, biggest first, one worker per core pulling from a shared cursor.
    let weight = |t: &Task| -> u64 {
        children[t.kids.0 as usize..t.kids.1 as usize]
            .iter()
            .map(|&w| retained[w as usize])
            .sum()
    };
    tasks.sort_by_cached_key(|t| std::cmp::Reverse(weight(t)));
    let cursor = AtomicUsize::new(0);
    let workers = rayon::current_num_threads().clamp(1, tasks.len().max(1));
    let partial: Vec<Vec<u64>> = (0..workers)
        .into_par_iter()
        .map(|_| {
            let mut ret = vec![0u64; class_count];
            let mut open = vec![0u32; class_count];
            let mut stack: Vec<(u32, u32)> = Vec::new();
            loop {
                let k = cursor.fetch_add(1, Ordering::Relaxed);
                let Some(t) = tasks.get(k) else { break };
                let ctx = &contexts[t.context.0 as usize..(t.context.0 + t.context.1) as usize];
                for &c in ctx {
                    open[c as usize] += 1;
                }
                for &w in &children[t.kids.0 as usize..t.kids.1 as usize] {
                    open_node(w as usize, &mut open, &mut ret);
                    stack.push((w, first_child[w as usize]));
                    while let Some(top) = stack.last_mut() {
                        let v = top.0 as usize;
                        if top.1 < first_child[v + 1] {
                            let x = children[top.1 as usize];
                            top.1 += 1;
                            open_node(x as usize, &mut open, &mut ret);
                            stack.push((x, first_child[x as usize]));
                        } else {
                            close_node(v, &mut open);
                            stack.pop();
                        }
                    }
                }
                for &c in ctx {
                    open[c as usize] -= 1;
                }
            }
            ret
        })
        .collect();
    for (c, s) in stats.iter_mut().enumerate() {
        s.retained_size = top_retained[c] + partial.iter().map(|p| p[c]).sum::<u64>();
    }
    let words = topmost.into_iter().map(AtomicU64::into_inner).collect();
    (stats, super::BitSet { words })
}

/// The one-core walk [`compute_class_stats`] replaces: the reference its tests compare with.
#[cfg(test)]
fn class_stats_walk(
    root: u32,
    idom: &[u32],
    class_of: &[u32],
    self_size: &SelfSizes,
    retained: &[u64],
    class_count: usize,
) -> (Vec<ClassStats>, super::BitSet) {
    let n = idom.len();
    let mut stats = vec![ClassStats::default(); class_count];
    for v in 0..n {
        if !self_size.is_zero(v) {
            let s = &mut stats[class_of[v] as usize];
            s.count += 1;
            s.self_size += self_size.get(v);
        }
    }
    let (first_child, children) = dominator_children(idom, root);
    let mut open = vec![0u32; class_count];
    let mut topmost = super::BitSet::new(n);
    let counted = |v: usize| !self_size.is_zero(v);
    let mut enter = |v: usize, open: &mut [u32], topmost: &mut super::BitSet| {
        if !counted(v) {
            return;
        }
        let c = class_of[v] as usize;
        if open[c] == 0 {
            stats[c].retained_size += retained[v];
            topmost.set(v);
        }
        open[c] += 1;
    };
    let r = root as usize;
    enter(r, &mut open, &mut topmost);
    let mut stack: Vec<(u32, u32)> = vec![(root, first_child[r])];
    while let Some(top) = stack.last_mut() {
        let v = top.0 as usize;
        if top.1 < first_child[v + 1] {
            let w = children[top.1 as usize];
            top.1 += 1;
            enter(w as usize, &mut open, &mut topmost);
            stack.push((w, first_child[w as usize]));
        } else {
            if counted(v) {
                open[class_of[v] as usize] -= 1;
            }
            stack.pop();
        }
    }
    (stats, topmost)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random dominator trees (xorshift): a bushy one, a chain with leaves, and a star;
    /// few classes so that same-class nesting is common, some zero sizes, a few of 5 GiB.
    #[test]
    fn parallel_walk_equals_the_one_core_walk() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (n, shape) in [
            (20_000usize, 0u8),
            (20_000, 1),
            (5_000, 2),
            (1, 0),
            (300, 0),
        ] {
            let idom: Vec<u32> = (0..n)
                .map(|v| match (v, shape) {
                    (0, _) => 0,
                    (_, 0) => (next() % v as u64) as u32,
                    (_, 1) if v % 3 == 0 => v as u32 - 3, // the chain: 0, 3, 6, ...
                    (_, 1) => (v - v % 3) as u32,         // two leaves per chain node
                    _ => 0,
                })
                .collect();
            let class_of: Vec<u32> = (0..n).map(|_| (next() % 5) as u32).collect();
            // Some sizes of 4 GiB and more (the side table's), one exactly the sentinel.
            let sizes: Vec<u64> = (0..n)
                .map(|v| match next() % 7 {
                    _ if v == n / 2 => u32::MAX as u64,
                    0 => 0,
                    1 if next() % 50 == 0 => (5 << 30) + next() % 100,
                    _ => next() % 100,
                })
                .collect();
            let self_size: SelfSizes = sizes.iter().copied().collect();
            // Retained sizes: children have larger ordinals than their dominator here.
            let mut retained = sizes.clone();
            for v in (1..n).rev() {
                retained[idom[v] as usize] += retained[v];
            }
            let order: Vec<u32> = (0..n as u32).collect();
            assert_eq!(compute_retained_sizes(&self_size, &idom, &order), retained);
            let (a, ta) = compute_class_stats(0, &idom, &class_of, &self_size, &retained, 5);
            let (b, tb) = class_stats_walk(0, &idom, &class_of, &self_size, &retained, 5);
            assert_eq!(a, b, "n={n} shape={shape}");
            let total = |f: fn(&ClassStats) -> u64| a.iter().map(f).sum::<u64>();
            assert_eq!(total(|c| c.self_size), sizes.iter().sum::<u64>());
            assert!(
                (0..n).all(|v| ta.get(v) == tb.get(v)),
                "n={n} shape={shape}"
            );
        }
    }
}
