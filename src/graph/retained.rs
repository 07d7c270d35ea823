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
/// list in `order` order.
pub fn dominator_children(idom: &[u32], order: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let n = idom.len();
    let mut first = vec![0u32; n + 1];
    for &v in order.iter().skip(1) {
        first[idom[v as usize] as usize + 1] += 1;
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    let mut fill = first.clone();
    let mut children = vec![0u32; n.saturating_sub(1)];
    for &v in order.iter().skip(1) {
        let d = idom[v as usize] as usize;
        children[fill[d] as usize] = v;
        fill[d] += 1;
    }
    (first, children)
}
