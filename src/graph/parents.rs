//! The edge every node's retainer path arrives by, for all nodes in one pass.
//!
//! A path step goes to a retainer one BFS layer closer to the root (see
//! [`super::distance`]); among those, user-visible edges win over internal ones, then the
//! lowest source ordinal, then the lowest edge index ([`crate::trace`] explains why). Edges
//! are grouped by source in ordinal order, so "lowest source, then lowest edge" is simply
//! "lowest edge index": each candidate is an atomic minimum of `(visibility, edge)` packed in
//! 32 bits, filled by a parallel pass over the forward edges. Walking retainers node by node
//! instead costs a source lookup and a distance lookup per retainer of every node on a path.

use super::distance::UNREACHABLE;
use super::HeapGraph;
use crate::input::v8::edge_kind;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// No path edge (the root, and nodes the root does not reach).
pub const NO_PARENT: u32 = u32::MAX;

/// Edges per graph this pass supports: the low 30 bits of a key hold the edge.
pub const MAX_EDGES: usize = 1 << 30;
const EDGE_BITS: u32 = 30;

/// Rank of an edge type when choosing among retainers: lower is more readable.
pub fn visibility(edge_type: u8) -> u8 {
    match edge_type {
        edge_kind::CONTEXT | edge_kind::PROPERTY => 0,
        edge_kind::ELEMENT => 1,
        edge_kind::INTERNAL | edge_kind::SHORTCUT => 2,
        _ => 3,
    }
}

/// The chosen retainer edge of every node, or [`NO_PARENT`]; `None` for graphs of
/// [`MAX_EDGES`] edges or more (callers then scan retainers one node at a time).
pub fn path_parents(g: &HeapGraph) -> Option<Vec<u32>> {
    path_parents_of(&ParentInput {
        root: g.root,
        first_edge: &g.first_edge,
        edge_type: &g.edge_type,
        edge_to: &g.edge_to,
        distance: &g.distance,
    })
}

/// What [`path_parents_of`] reads (so it can run before the graph is assembled).
pub struct ParentInput<'a> {
    pub root: u32,
    pub first_edge: &'a [u32],
    pub edge_type: &'a [u8],
    pub edge_to: &'a [u32],
    pub distance: &'a [u32],
}

/// [`path_parents`] from the columns it needs.
pub fn path_parents_of(g: &ParentInput<'_>) -> Option<Vec<u32>> {
    let n = g.first_edge.len() - 1;
    if g.edge_to.len() >= MAX_EDGES {
        return None;
    }
    let best: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(NO_PARENT)).collect();
    let root = g.root as usize;
    (0..n)
        .into_par_iter()
        .with_min_len(1 << 14)
        .for_each(|src| {
            let ds = g.distance[src];
            for e in g.first_edge[src]..g.first_edge[src + 1] {
                let t = g.edge_type[e as usize];
                let w = g.edge_to[e as usize] as usize;
                if t == edge_kind::WEAK || w == src || w == root {
                    continue;
                }
                let d = g.distance[w];
                // A user root (distance 1) hangs from the root, whose distance is the system
                // base; everything else from a node one layer up.
                let ok = if d == 1 {
                    src == root
                } else {
                    d != UNREACHABLE && ds != UNREACHABLE && ds + 1 == d
                };
                if ok {
                    let key = (visibility(t) as u32) << EDGE_BITS | e;
                    best[w].fetch_min(key, Ordering::Relaxed);
                }
            }
        });
    Some(
        best.into_iter()
            .map(|k| {
                let k = k.into_inner();
                if k == NO_PARENT {
                    k
                } else {
                    k & ((1 << EDGE_BITS) - 1)
                }
            })
            .collect(),
    )
}
