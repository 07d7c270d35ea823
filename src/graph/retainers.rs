//! Reverse CSR: for every node, the edges that point at it.
//!
//! A counting sort of all edges by target (DevTools' `buildRetainers`): count, prefix-sum,
//! then fill in edge order, so each node's retainers are ordered by source ordinal. The
//! sources themselves are not stored: [`super::csr::SourceIndex`] finds an edge's source.
//! Cost: two passes over the edges; memory: 4 bytes per edge plus 4 per node.

pub struct Retainers {
    /// `first_retainer[i]..first_retainer[i+1]` index `retainer_edge`.
    pub first_retainer: Vec<u32>,
    pub retainer_edge: Vec<u32>,
}

pub fn build_retainers(first_edge: &[u32], edge_to: &[u32]) -> Retainers {
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
    for (e, &t) in edge_to.iter().enumerate() {
        let slot = fill[t as usize] as usize;
        fill[t as usize] += 1;
        retainer_edge[slot] = e as u32;
    }
    Retainers {
        first_retainer: first,
        retainer_edge,
    }
}
