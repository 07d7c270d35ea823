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
///
/// In `parts` tasks, on all cores: the edges are cut into runs of whole 64-bit words of the
/// edge bit set, each run classified by one task into its own words, with its own marks of
/// which nodes it saw essential edges point at once and more than once; the marks are then
/// merged in order (a node is retained many times if some run says so, or if two runs each
/// say once). Each part beyond the first costs two bits per node while it runs; one part
/// is the plain sequential pass, for when the other cores are busy anyway.
pub fn essential_edges(g: &EdgeRules<'_>, parts: usize) -> (BitSet, EssentialRetainers) {
    use rayon::prelude::*;
    let m = g.edge_type.len();
    let n = g.first_edge.len() - 1;
    let tables = weakmap_table_ids(g.strings);
    let owned = page_owned(g);
    let mut bits = BitSet::new(m);
    let words_per_task = bits.words().len().div_ceil(parts.max(1)).max(1);
    let counts: Vec<EssentialRetainers> = bits
        .words_mut()
        .par_chunks_mut(words_per_task)
        .enumerate()
        .map(|(k, words)| {
            let lo = k * words_per_task * 64;
            let hi = m.min(lo + words.len() * 64);
            let mut once = BitSet::new(n);
            let mut many = BitSet::new(n);
            // The source of edge `lo`: the last node whose edges start at or before it.
            let mut src = g.first_edge.partition_point(|&f| f as usize <= lo) - 1;
            for e in lo..hi {
                while g.first_edge[src + 1] as usize <= e {
                    src += 1;
                }
                if is_essential(g, &tables, &owned, src, e) {
                    words[(e - lo) >> 6] |= 1 << (e & 63);
                    let t = g.edge_to[e] as usize;
                    if once.get(t) {
                        many.set(t);
                    } else {
                        once.set(t);
                    }
                }
            }
            EssentialRetainers { once, many }
        })
        .collect();
    let mut parts = counts.into_iter();
    let mut all = parts.next().unwrap_or_else(|| EssentialRetainers {
        once: BitSet::new(n),
        many: BitSet::new(n),
    });
    for part in parts {
        let (once, many) = (all.once.words_mut(), all.many.words_mut());
        for (w, (&o, &x)) in part.once.words().iter().zip(part.many.words()).enumerate() {
            many[w] |= x | (once[w] & o);
            once[w] |= o;
        }
    }
    (bits, all)
}

/// Whether edge `e` of node `src` counts for dominators.
#[inline(always)]
fn is_essential(
    g: &EdgeRules<'_>,
    tables: &HashMap<u32, u32>,
    owned: &BitSet,
    src: usize,
    e: usize,
) -> bool {
    let t = g.edge_to[e] as usize;
    let kind = g.edge_type[e];
    // The WeakMap table's side of an ephemeron pair (the key's side is kept).
    let weakmap_table_side = kind == edge_kind::INTERNAL
        && !tables.is_empty()
        && tables.get(&g.edge_name[e]) == Some(&g.node_id[src]);
    if weakmap_table_side || kind == edge_kind::WEAK || t == src {
        false
    } else if src as u32 == g.root {
        true
    } else {
        // Shortcuts count only from the root; nothing outside the page may dominate into it.
        let into_page_from_outside = owned.get(t) && !owned.get(src);
        kind != edge_kind::SHORTCUT && !into_page_from_outside
    }
}
