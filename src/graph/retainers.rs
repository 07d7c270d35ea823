//! Reverse CSR: for every node, the edges that point at it.
//!
//! A counting sort of edges by target (DevTools' `buildRetainers`): count, prefix-sum, then
//! fill in edge order (each node's offset serving as its cursor), so each node's retainers
//! are ordered by source ordinal. Two uses: the dominators' first pass reads only the
//! sources of the essential retainers of nodes with more than one ([`dominator_slots`]);
//! the whole reverse CSR, edges only, is for whatever walks retainers later
//! ([`build_retainers`]), with [`super::csr::SourceIndex`] to find an edge's source. Cost:
//! two passes over the edges; memory: 4 bytes per node and 4 per kept edge.

pub struct Retainers {
    /// `first_retainer[i]..first_retainer[i+1]` index `retainer_edge`.
    pub first_retainer: Vec<u32>,
    pub retainer_edge: Vec<u32>,
}

/// The dominators' retainer slots: the source of each kept retainer.
pub struct Slots {
    pub first_retainer: Vec<u32>,
    pub slots: Vec<u32>,
}

/// The whole reverse CSR.
pub fn build_retainers(first_edge: &[u32], edge_to: &[u32]) -> Retainers {
    let (first_retainer, retainer_edge) = by_target(first_edge, edge_to, |_, _| true, |e, _| e);
    Retainers {
        first_retainer,
        retainer_edge,
    }
}

/// The sources of only the edges `e` (into node `t`) for which `keep(e, t)` holds, each
/// node's in the same order as its retainers in the whole CSR. (The dominators keep the
/// essential retainers of nodes with more than one, so they never need the edge itself.)
pub fn dominator_slots(
    first_edge: &[u32],
    edge_to: &[u32],
    keep: impl Fn(usize, usize) -> bool,
) -> Slots {
    let (first_retainer, slots) = by_target(first_edge, edge_to, keep, |_, src| src);
    Slots {
        first_retainer,
        slots,
    }
}

/// The kept edges sorted by target (stable, so by source within a target), each as
/// `slot(edge, source)`, with the offsets of every node's run.
fn by_target<T: Copy + Default>(
    first_edge: &[u32],
    edge_to: &[u32],
    keep: impl Fn(usize, usize) -> bool,
    slot: impl Fn(u32, u32) -> T,
) -> (Vec<u32>, Vec<T>) {
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
    let mut slots = vec![T::default(); m];
    for src in 0..n {
        for e in first_edge[src]..first_edge[src + 1] {
            let t = edge_to[e as usize] as usize;
            if !keep(e as usize, t) {
                continue;
            }
            let at = first[t] as usize;
            first[t] += 1;
            slots[at] = slot(e, src as u32);
        }
    }
    first.copy_within(0..n, 1);
    first[0] = 0;
    (first, slots)
}
