//! Distance of every node from the root, as DevTools computes it.
//!
//! Two breadth-first passes over non-weak edges: first from the user roots (the root's
//! children that are not synthetic — the global objects — plus `(Document DOM trees)`) at
//! distance 1; then from the root, for what is left, starting at [`SYSTEM_BASE`], so objects
//! only V8 internals reach sort after everything a program can reach. Two edges are skipped
//! as DevTools does: a native context's `sloppy_function_map`, and the key slots of
//! `(map descriptors)` arrays. Unreachable nodes get [`UNREACHABLE`]. Cost: one pass over
//! the edges.

use super::parents::visibility;
use crate::input::v8::{edge_kind, node_kind, Strings};

pub const UNREACHABLE: u32 = u32::MAX;
/// Distance of the root in the second pass (DevTools' `baseSystemDistance`).
pub const SYSTEM_BASE: u32 = 100_000_000;

pub struct DistanceInput<'a> {
    pub root: u32,
    pub first_edge: &'a [u32],
    pub edge_to: &'a [u32],
    pub edge_type: &'a [u8],
    pub edge_name: &'a [u32],
    pub node_type: &'a [u8],
    pub node_name: &'a [u32],
    pub strings: &'a Strings,
}

/// How far ahead in the queue [`prefetch_ahead`] asks for each of the three dependent reads
/// of a node's turn: its edge offsets, its first edges, its targets' distances. Measured on
/// large-b (median of 9): none 377 ms, (24, 12, 4) 380, (40, 20, 8) 347, (64, 32, 12) 282,
/// (96, 48, 16) 339.
const AHEAD: [usize; 3] = [64, 32, 12];
/// Targets per node whose distance is asked for ahead.
const AHEAD_TARGETS: usize = 8;

/// A BFS node's turn costs three cache misses in a row (offsets, edges, distances of the
/// targets); the queue says which nodes come next, so each read is asked for while nodes
/// before it are handled, the later reads of a node from the earlier ones already cached.
#[inline(always)]
fn prefetch_ahead(g: &DistanceInput<'_>, queue: &[u32], head: usize, dist: &[u32]) {
    use super::prefetch;
    if let Some(&u) = queue.get(head + AHEAD[0]) {
        prefetch(&g.first_edge[u as usize]);
    }
    if let Some(&u) = queue.get(head + AHEAD[1]) {
        let first = g.first_edge[u as usize] as usize;
        if first < g.edge_to.len() {
            prefetch(&g.edge_to[first]);
            prefetch(&g.edge_type[first]);
        }
    }
    if let Some(&u) = queue.get(head + AHEAD[2]) {
        let (lo, hi) = (
            g.first_edge[u as usize] as usize,
            g.first_edge[u as usize + 1] as usize,
        );
        for &w in &g.edge_to[lo..hi.min(lo + AHEAD_TARGETS)] {
            prefetch(&dist[w as usize]);
        }
    }
}

/// Distances of every node; with `parents`, also the edge each node was reached by (the
/// first found; `u32::MAX` for the root and unreached nodes), for the path tree's prefixes.
pub fn compute_distances(g: &DistanceInput<'_>, mut parents: Option<&mut Vec<u32>>) -> Vec<u32> {
    let n = g.first_edge.len() - 1;
    let find = |s: &str| g.strings.position(s);
    let native_context = find("system / NativeContext");
    let sloppy = find("sloppy_function_map");
    let descriptors = find("(map descriptors)");
    let skip = |v: usize, e: usize| -> bool {
        let name = g.node_name[v];
        match g.node_type[v] {
            node_kind::HIDDEN => Some(name) == native_context && Some(g.edge_name[e]) == sloppy,
            node_kind::ARRAY if Some(name) == descriptors => {
                let i = match g.edge_type[e] {
                    edge_kind::ELEMENT | edge_kind::HIDDEN => Some(g.edge_name[e]),
                    _ => g.strings.get(g.edge_name[e]).parse().ok(),
                };
                i.is_some_and(|i| i >= 2 && i % 3 == 1)
            }
            _ => false,
        }
    };
    let mut dist = vec![UNREACHABLE; n];
    if let Some(p) = parents.as_deref_mut() {
        *p = super::filled(n, u32::MAX);
    }
    let mut queue: Vec<u32> = Vec::with_capacity(n);
    let r = g.root as usize;
    let mut user_roots = false;
    for e in g.first_edge[r] as usize..g.first_edge[r + 1] as usize {
        let t = g.edge_to[e] as usize;
        let user = g.node_type[t] != node_kind::SYNTHETIC
            || g.strings.get(g.node_name[t]) == "(Document DOM trees)";
        if user && dist[t] == UNREACHABLE && t != r {
            dist[t] = 1;
            if let Some(p) = parents.as_deref_mut() {
                p[t] = e as u32;
            }
            queue.push(t as u32);
            user_roots = true;
        }
    }
    let bfs = |queue: &mut Vec<u32>, dist: &mut Vec<u32>, mut parents: Option<&mut Vec<u32>>| {
        let mut head = 0;
        while head < queue.len() {
            prefetch_ahead(g, queue, head, dist);
            let v = queue[head] as usize;
            head += 1;
            let d = dist[v] + 1;
            for e in g.first_edge[v] as usize..g.first_edge[v + 1] as usize {
                let w = g.edge_to[e] as usize;
                let t = g.edge_type[e];
                if t == edge_kind::WEAK || w == v || skip(v, e) {
                    continue;
                }
                if dist[w] != UNREACHABLE {
                    // Another retainer one layer up: the more readable edge, then the first,
                    // is the parent (as `parents::path_parents` chooses).
                    if dist[w] == d {
                        if let Some(p) = parents.as_deref_mut() {
                            let old = p[w] as usize;
                            if old != u32::MAX as usize
                                && (visibility(t), e) < (visibility(g.edge_type[old]), old)
                            {
                                p[w] = e as u32;
                            }
                        }
                    }
                    continue;
                }
                dist[w] = d;
                if let Some(p) = parents.as_deref_mut() {
                    p[w] = e as u32;
                }
                queue.push(w as u32);
            }
        }
        queue.clear();
    };
    bfs(&mut queue, &mut dist, parents.as_deref_mut());
    if dist[r] == UNREACHABLE {
        dist[r] = if user_roots { SYSTEM_BASE } else { 0 };
    }
    queue.push(g.root);
    bfs(&mut queue, &mut dist, parents.as_deref_mut());
    if let Some(p) = parents {
        p[r] = u32::MAX;
    }
    dist
}
