//! Which edges count for dominators ("essential" edges, DevTools' `isEssentialEdge`).
//!
//! Not essential: weak edges; shortcut edges except from the root (V8 adds shortcuts from
//! the root to give user roots a short path; elsewhere they duplicate real references); and
//! the ephemeron edge from a WeakMap's backing table to a value — only the key→value edge
//! keeps a WeakMap value alive, so counting the table would wrongly make the map its
//! dominator. Also not essential: self edges, and edges from an object outside the page
//! into one owned by the page (reachable from a global object or the DOM trees): those are
//! debugger and handle-scope references, and counting them would make `(GC roots)` subroots
//! dominate user objects. Computed once as a bit per edge and shared by the dominator DFS
//! and the predecessor scan.

use super::BitSet;
use crate::input::v8::{edge_kind, node_kind, Strings};
use std::collections::HashMap;

/// For each string that is a V8 ephemeron edge name, the id of the WeakMap table it names.
/// V8 names these edges `… pair in WeakMap (table @<id>)`.
pub fn weakmap_table_ids(strings: &Strings) -> HashMap<u32, u32> {
    const NAME: &[u8] = b"pair in WeakMap (table @";
    let mut out = HashMap::new();
    for (i, p) in strings.containing(NAME) {
        let rest = &strings.get(i)[p + NAME.len()..];
        let digits: &str = &rest[..rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len())];
        if let Ok(id) = digits.parse::<u32>() {
            if rest[digits.len()..].starts_with(')') {
                out.insert(i, id);
            }
        }
    }
    out
}

/// The columns the essential-edge rules read.
pub struct EdgeRules<'a> {
    pub first_edge: &'a [u32],
    pub edge_type: &'a [u8],
    pub edge_name: &'a [u32],
    pub edge_to: &'a [u32],
    pub node_type: &'a [u8],
    pub node_name: &'a [u32],
    pub node_id: &'a [u32],
    pub root: u32,
    pub strings: &'a Strings,
}

/// Nodes owned by the page: seeded by the root's shortcut targets (the global objects) and
/// by `(Document DOM trees)`, spread over every non-weak edge.
pub fn page_owned(g: &EdgeRules<'_>) -> BitSet {
    let n = g.first_edge.len() - 1;
    let mut owned = BitSet::new(n);
    let mut stack = Vec::new();
    let r = g.root as usize;
    for e in g.first_edge[r] as usize..g.first_edge[r + 1] as usize {
        let t = g.edge_to[e] as usize;
        let seed = match g.edge_type[e] {
            edge_kind::SHORTCUT => true,
            edge_kind::ELEMENT => {
                g.node_type[t] == node_kind::SYNTHETIC
                    && g.strings.get(g.node_name[t]) == "(Document DOM trees)"
            }
            _ => false,
        };
        if seed && !owned.get(t) {
            owned.set(t);
            stack.push(t as u32);
        }
    }
    while let Some(v) = stack.pop() {
        let v = v as usize;
        for e in g.first_edge[v] as usize..g.first_edge[v + 1] as usize {
            let t = g.edge_to[e] as usize;
            if g.edge_type[e] != edge_kind::WEAK && !owned.get(t) {
                owned.set(t);
                stack.push(t as u32);
            }
        }
    }
    owned
}

/// Which nodes essential edges point at: at least once, and more than once.
pub struct EssentialRetainers {
    pub once: BitSet,
    pub many: BitSet,
}

/// The essential edges, and how many of them point at each node (none, one, many).
pub fn essential_edges(g: &EdgeRules<'_>) -> (BitSet, EssentialRetainers) {
    let m = g.edge_type.len();
    let mut bits = BitSet::new(m);
    let n = g.first_edge.len() - 1;
    let mut once = BitSet::new(n);
    let mut many = BitSet::new(n);
    let tables = weakmap_table_ids(g.strings);
    let owned = page_owned(g);
    for src in 0..n {
        let (lo, hi) = (g.first_edge[src] as usize, g.first_edge[src + 1] as usize);
        let from_root = src as u32 == g.root;
        for e in lo..hi {
            let t = g.edge_to[e] as usize;
            let kind = g.edge_type[e];
            // The WeakMap table's side of an ephemeron pair (the key's side is kept).
            let weakmap_table_side = kind == edge_kind::INTERNAL
                && !tables.is_empty()
                && tables.get(&g.edge_name[e]) == Some(&g.node_id[src]);
            let ok = if weakmap_table_side || kind == edge_kind::WEAK || t == src {
                false
            } else if from_root {
                true
            } else {
                // Shortcuts count only from the root; nothing outside the page may
                // dominate into it.
                let into_page_from_outside = owned.get(t) && !owned.get(src);
                kind != edge_kind::SHORTCUT && !into_page_from_outside
            };
            if ok {
                bits.set(e);
                if once.get(t) {
                    many.set(t);
                } else {
                    once.set(t);
                }
            }
        }
    }
    (bits, EssentialRetainers { once, many })
}
