//! Reverse CSR: for every node, the edges that point at it.
//!
//! A counting sort of all edges by target (DevTools' `buildRetainers`): count, prefix-sum,
//! then fill in edge order, so each node's retainers are ordered by source ordinal. The
//! sources are kept only while the dominators need them (`retainer_node`, given back
//! separately); after that [`super::csr::SourceIndex`] finds an edge's source.
//! Cost: two passes over the edges; memory: 4 bytes per edge plus 4 per node, and 4 more
//! per edge until the dominators' first pass is done.

pub struct Retainers {
    /// `first_retainer[i]..first_retainer[i+1]` index `retainer_edge`.
    pub first_retainer: Vec<u32>,
    pub retainer_edge: Vec<u32>,
}

/// The reverse CSR, and the source node of every retainer slot (a transient column).
pub fn build_retainers(first_edge: &[u32], edge_to: &[u32]) -> (Retainers, Vec<u32>) {
    let n = first_edge.len() - 1;
    let m = edge_to.len();
    let mut first = vec![0u32; n + 1];
    for &t in edge_to {
        first[t as usize + 1] += 1;
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    let mut fill = first.clone();
    let mut retainer_edge = vec![0u32; m];
    let mut retainer_node = vec![0u32; m];
    for src in 0..n {
        for e in first_edge[src]..first_edge[src + 1] {
            let t = edge_to[e as usize] as usize;
            let slot = fill[t] as usize;
            fill[t] += 1;
            retainer_edge[slot] = e;
            retainer_node[slot] = src as u32;
        }
    }
    (
        Retainers {
            first_retainer: first,
            retainer_edge,
        },
        retainer_node,
    )
}
