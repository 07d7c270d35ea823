//! Retained sizes and the dominator tree as children lists.
//!
//! Retained size = self size summed over the dominator subtree (DevTools' rule). Every node
//! follows its immediate dominator in `order`, so one reverse sweep adds each node's total
//! into its dominator. Cost: one pass over the nodes.

pub fn compute_retained_sizes(self_size: &[u32], idom: &[u32], order: &[u32]) -> Vec<u64> {
    let mut retained: Vec<u64> = self_size.iter().map(|&s| s as u64).collect();
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

/// Count, self size and retained size of every class. Nodes of zero self size are not
/// counted, as in DevTools: they are V8's synthetic roots and placeholders, not objects.
/// A class's retained size counts only its topmost instances (no dominator ancestor of the
/// same class), found by an iterative walk of the dominator tree that keeps how many
/// instances of each class are open on the current path; those instances are returned too.
pub fn compute_class_stats(
    root: u32,
    idom: &[u32],
    class_of: &[u32],
    self_size: &[u32],
    retained: &[u64],
    class_count: usize,
) -> (Vec<ClassStats>, super::BitSet) {
    let n = idom.len();
    let mut stats = vec![ClassStats::default(); class_count];
    for v in 0..n {
        if self_size[v] != 0 {
            let s = &mut stats[class_of[v] as usize];
            s.count += 1;
            s.self_size += self_size[v] as u64;
        }
    }
    let (first_child, children) = dominator_children(idom, root);
    let mut open = vec![0u32; class_count];
    let mut topmost = super::BitSet::new(n);
    let counted = |v: usize| self_size[v] != 0;
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
