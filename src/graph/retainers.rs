//! Reverse CSR: for every node, the edges that point at it.
//!
//! A counting sort of all edges by target (DevTools' `buildRetainers`): count, prefix-sum,
//! then fill in edge order (each node's offset serving as its cursor), so each node's
//! retainers are ordered by source ordinal. Each slot is filled with its edge and its source
//! side by side (one random write per edge, not two): the dominators' first pass reads
//! both, then [`Slots::into_edges`] keeps the edges in place and frees the sources; after
//! that [`super::csr::SourceIndex`] finds an edge's source. Cost: two passes over the edges;
//! memory: 4 bytes per edge plus 4 per node, and 4 more per edge until the dominators' first
//! pass is done.

pub struct Retainers {
    /// `first_retainer[i]..first_retainer[i+1]` index `retainer_edge`.
    pub first_retainer: Vec<u32>,
    pub retainer_edge: Vec<u32>,
}

/// The retainer slots while the sources are still needed: `[edge, source]` per slot.
pub struct Slots {
    pub first_retainer: Vec<u32>,
    pub slots: Vec<[u32; 2]>,
}

impl Slots {
    /// Drop the sources: the edges are moved to the front of the same block, which is then
    /// shrunk where it is (its tail goes back to the system; nothing is copied).
    pub fn into_edges(self) -> Retainers {
        let m = self.slots.len();
        let mut v = self.slots.into_flattened();
        for i in 0..m {
            v[i] = v[2 * i];
        }
        v.truncate(m);
        v.shrink_to_fit();
        Retainers {
            first_retainer: self.first_retainer,
            retainer_edge: v,
        }
    }
}

/// The reverse CSR with the source of every slot beside its edge.
pub fn build_retainers(first_edge: &[u32], edge_to: &[u32]) -> Slots {
    build_retainers_where(first_edge, edge_to, |_, _| true)
}

/// [`build_retainers`] over only the edges `e` (into node `t`) for which `keep(e, t)` holds,
/// each node's kept retainers in the same order as in the whole CSR.
pub fn build_retainers_where(
    first_edge: &[u32],
    edge_to: &[u32],
    keep: impl Fn(usize, usize) -> bool,
) -> Slots {
    let n = first_edge.len() - 1;
    let mut first = vec![0u32; n + 1];
    let mut m = 0;
    for (e, &t) in edge_to.iter().enumerate() {
        if keep(e, t as usize) {
            first[t as usize + 1] += 1;
            m += 1;
        }
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    // Fill with `first[t]` as t's cursor (no second offsets array): afterwards each cursor
    // stands where the next node's list starts, so one shift restores the offsets.
    let mut slots = vec![[0u32; 2]; m];
    for src in 0..n {
        for e in first_edge[src]..first_edge[src + 1] {
            let t = edge_to[e as usize] as usize;
            if !keep(e as usize, t) {
                continue;
            }
            let slot = first[t] as usize;
            first[t] += 1;
            slots[slot] = [e, src as u32];
        }
    }
    first.copy_within(0..n, 1);
    first[0] = 0;
    Slots {
        first_retainer: first,
        slots,
    }
}
