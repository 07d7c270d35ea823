//! The path tree: the edge every node's retainer path arrives by, with roots chosen the way
//! a person reads them (LeakCanary's shark chooses its paths the same way).
//!
//! A path is a shortest path over non-weak edges, but from the best kind of root first. Roots
//! come in tiers, each searched breadth-first to the end before the next one starts, so a
//! node gets a path from the best tier that reaches it:
//! 1. [`Tier::User`]: the program's own roots — its global objects (`global`, `Window`), the
//!    top-level scopes of its modules and scripts and the cells of ES module exports
//!    ([`super::scopes`]), wherever they hang in the graph;
//! 2. [`Tier::Embedder`]: what the embedder keeps alive (`(Global handles)`, Blink's
//!    persistents, Node's environment and C++ roots);
//! 3. [`Tier::Frames`]: the scopes and functions of running frames (contexts and closures
//!    held by `(Stack roots)` and `(Handle scope)` while a snapshot is taken mid-execution),
//!    so a variable's name is found before…
//! 4. [`Tier::Locals`]: …the anonymous values those roots hold directly (a stack slot);
//! 5. [`Tier::Internal`]: V8's own roots (strong roots, builtins, caches).
//!
//! Within a tier, among the retainers one layer closer, a named edge (a variable, a
//! property) wins over an element, an element over an internal edge, then the lowest edge
//! index, so paths are deterministic.
//!
//! A user root found in the middle of the graph (a module scope held by its functions, a
//! page's `Window` under `(Global handles)`) keeps the path DevTools would show to it (its
//! *prefix*, how it hangs: the parents the breadth-first search of [`super::distance`]
//! found); the nodes of that prefix are pinned before the search starts, so the tree has no
//! cycles. (Attaching such a root afterwards below a retainer it does not reach fails
//! where it matters: a page's `Window` reaches its own native context, the only way to it.)
//!
//! Cost: one breadth-first pass over the edges.

use super::parents::{visibility, NO_PARENT};
use super::scopes::{Owner, Scopes};
use super::{BitSet, HeapGraph};
use crate::input::v8::{edge_kind, node_kind};

/// Root tiers, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Tier {
    User = 0,
    Embedder = 1,
    Frames = 2,
    Locals = 3,
    Internal = 4,
    /// Not reached by any path (held only by weak edges, or not at all).
    Unreached = 5,
}

impl Tier {
    fn from_u8(t: u8) -> Tier {
        match t {
            0 => Tier::User,
            1 => Tier::Embedder,
            2 => Tier::Frames,
            3 => Tier::Locals,
            4 => Tier::Internal,
            _ => Tier::Unreached,
        }
    }
    /// Whether only running code holds a node of this tier (a stack slot, a handle scope).
    pub fn is_transient(self) -> bool {
        matches!(self, Tier::Frames | Tier::Locals)
    }
}

/// Synthetic roots whose edges hold what the embedder keeps alive.
pub const EMBEDDER_ROOTS: &[&str] = &[
    "(Global handles)",
    "(Traced handles)",
    "(Eternal handles)",
    "C++ roots",
    "C++ cross-thread roots",
    "C++ Persistent roots",
    "C++ CrossThreadPersistent roots",
    "Node / Environment",
];
/// Synthetic roots that hold what running code holds while the snapshot is written.
pub const TRANSIENT_ROOTS: &[&str] = &["(Stack roots)", "(Handle scope)", "(Micro tasks)"];
/// Synthetic roots whose targets DevTools counts as user roots.
pub const USER_SYNTHETIC_ROOTS: &[&str] = &["(Document DOM trees)"];

/// Every node's path edge and the tier its path starts from.
pub struct PathTree {
    /// The edge each node's path arrives by, [`NO_PARENT`] for the root and unreached nodes.
    pub parent: Vec<u32>,
    tier: Vec<u8>,
    /// Nodes whose edge was fixed before the search: the root, synthetic roots, the
    /// prefixes of user roots that hang in the middle of the graph.
    pinned: BitSet,
    /// The most steps any path takes below its seed: a long linked list or scope chain
    /// makes it as long as the chain.
    pub max_depth: u32,
}

impl PathTree {
    pub fn tier(&self, v: u32) -> Tier {
        Tier::from_u8(self.tier[v as usize])
    }
    /// Whether `v`'s path edge was fixed before the search (see [`PathTree::pinned`]).
    pub fn is_pinned(&self, v: u32) -> bool {
        self.pinned.get(v as usize)
    }
    pub fn heap_bytes(&self) -> usize {
        self.parent.capacity() * 4 + self.tier.capacity() + self.pinned.words().len() * 8
    }
}

/// An unseen node in [`Search::key`].
const UNSEEN: u32 = u32::MAX;
/// A pinned node whose edges the search has not followed yet, in [`Search::key`].
const WAITING: u32 = u32::MAX - 1;
const DEPTH_BITS: u32 = 28;
const DEPTH_MASK: u32 = (1 << DEPTH_BITS) - 1;

struct Search<'g> {
    g: &'g HeapGraph,
    /// Tier and depth (`tier << DEPTH_BITS | depth`) of every node the search has seen.
    key: Vec<u32>,
    parent: Vec<u32>,
    tier: Vec<u8>,
    /// Nodes whose path edge was fixed before the search (the root, synthetic roots, the
    /// prefixes of user roots); their key is [`WAITING`] until the search follows their
    /// edges.
    pinned: BitSet,
    queue: Vec<u32>,
    /// Layers of the deepest tier's search so far.
    max_depth: u32,
}

impl Search<'_> {
    /// Start tier `t` at node `v` (reached by `edge`, for a node not seen yet).
    fn seed(&mut self, t: Tier, edge: u32, v: u32) {
        let i = v as usize;
        let k = self.key[i];
        if k == UNSEEN || k == WAITING {
            self.key[i] = (t as u32) << DEPTH_BITS;
            self.tier[i] = t as u8;
            if k == UNSEEN {
                self.parent[i] = edge;
            }
            self.queue.push(v);
        }
    }
    /// Breadth-first from the queued seeds, in tier `t`, one layer at a time (two layers in
    /// memory, not a queue as long as the heap).
    fn run(&mut self, t: Tier) {
        let g = self.g;
        let mut layer = std::mem::take(&mut self.queue);
        let mut next_layer: Vec<u32> = Vec::new();
        let mut depth: u32 = 0;
        while !layer.is_empty() {
            depth += 1;
            for head in 0..layer.len() {
                prefetch_ahead(g, &layer, head, &self.key);
                let v = layer[head] as usize;
                // A chain deeper than the depth bits stays at the deepest key.
                let k = self.key[v];
                let next = if k & DEPTH_MASK == DEPTH_MASK {
                    k
                } else {
                    k + 1
                };
                for e in g.first_edge[v]..g.first_edge[v + 1] {
                    let ty = g.edge_type[e as usize];
                    let w = g.edge_to[e as usize] as usize;
                    if ty == edge_kind::WEAK || w == v {
                        continue;
                    }
                    let k = self.key[w];
                    if k == UNSEEN || k == WAITING {
                        self.key[w] = next;
                        self.tier[w] = t as u8;
                        if k == UNSEEN {
                            self.parent[w] = e;
                        }
                        next_layer.push(w as u32);
                    } else if k == next && !self.pinned.get(w) {
                        // Another retainer one layer up in this tier: the more readable
                        // edge wins.
                        let p = self.parent[w];
                        let better = (visibility(ty), e) < (visibility(g.edge_type[p as usize]), p);
                        if better {
                            self.parent[w] = e;
                        }
                    }
                }
            }
            layer.clear();
            std::mem::swap(&mut layer, &mut next_layer);
        }
        self.max_depth = self.max_depth.max(depth.saturating_sub(1));
        self.queue = layer;
    }
}

/// How far ahead in the queue each of the three dependent reads of a node's turn is asked
/// for (its edge offsets, its edges, its targets' keys), as the distance BFS does
/// ([`super::distance`]).
const AHEAD: [usize; 3] = [64, 32, 12];
/// Targets per node whose key is asked for ahead.
const AHEAD_TARGETS: usize = 8;

#[inline(always)]
fn prefetch_ahead(g: &HeapGraph, queue: &[u32], head: usize, key: &[u32]) {
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
            prefetch(&key[w as usize]);
        }
    }
}

/// The tier of a synthetic root's edges, by its name.
fn synthetic_tier(name: &str) -> Tier {
    if EMBEDDER_ROOTS.contains(&name) {
        Tier::Embedder
    } else if TRANSIENT_ROOTS.contains(&name) {
        Tier::Locals
    } else if USER_SYNTHETIC_ROOTS.contains(&name) {
        Tier::User
    } else {
        Tier::Internal
    }
}

/// Whether a node held by a transient root is a running frame's scope or function, whose
/// variables name what it holds.
fn is_frame(g: &HeapGraph, v: u32) -> bool {
    g.node_type[v as usize] == node_kind::CLOSURE
        || g.node(v).name().starts_with("system / Context")
}

/// Build the path tree of `g` (see the module comment). `plain` is the distance search's
/// parent edge of every node ([`super::distance::compute_distances`]).
pub fn path_tree(g: &HeapGraph, scopes: &Scopes, plain: &[u32]) -> PathTree {
    path_tree_with_keys(g, scopes, plain).0
}

/// [`path_tree`], and the search key of every node: `tier << 28 | depth` (`u32::MAX` for
/// nodes no path reaches), for tests that check the search.
pub fn path_tree_with_keys(g: &HeapGraph, scopes: &Scopes, plain: &[u32]) -> (PathTree, Vec<u32>) {
    let n = g.node_count();
    let root = g.root;
    // The synthetic roots under the root and under `(GC roots)` are pinned to their edges;
    // their edges are the seeds of their tiers.
    let mut pins: Vec<(u32, u32)> = vec![(root, NO_PARENT)];
    let mut seeds: [Vec<(u32, u32)>; 5] = Default::default();
    let mut synthetic: Vec<(u32, Tier)> = Vec::new();
    for (e, c) in g.node(root).edges() {
        let (ty, ci) = (g.edge_type[e as usize], c.i);
        if ty == edge_kind::WEAK || ci == root {
            continue;
        }
        if c.kind() == node_kind::SYNTHETIC {
            pins.push((ci, e));
            if c.name() == "(GC roots)" {
                for (f, d) in c.edges() {
                    if d.kind() == node_kind::SYNTHETIC
                        && g.edge_type[f as usize] != edge_kind::WEAK
                    {
                        pins.push((d.i, f));
                        synthetic.push((d.i, synthetic_tier(d.name())));
                    }
                }
            } else {
                synthetic.push((ci, synthetic_tier(c.name())));
            }
        } else if c.kind() == node_kind::NATIVE {
            // Node's native handles (a server's or a socket's wrap) hang from the root too:
            // what the embedder keeps alive.
            seeds[Tier::Embedder as usize].push((e, ci));
        } else {
            seeds[Tier::User as usize].push((e, ci));
        }
    }
    for &(r, tier) in &synthetic {
        for (e, t) in g.node(r).edges() {
            if g.edge_type[e as usize] == edge_kind::WEAK || t.i == r {
                continue;
            }
            let tier = if tier == Tier::Locals && is_frame(g, t.i) {
                Tier::Frames
            } else {
                tier
            };
            seeds[tier as usize].push((e, t.i));
        }
    }
    // User roots that hang in the middle of the graph keep the prefix DevTools shows: the
    // distance search's parents give it, and its nodes are pinned.
    let mut floating: Vec<u32> = scopes
        .globals
        .iter()
        .copied()
        .chain(
            scopes
                .top_level
                .iter()
                .filter(|(_, &o)| o == Owner::Program)
                .map(|(&c, _)| c),
        )
        // An ES module's exported bindings live in cells, not in its scope.
        .chain(scopes.export_cells.keys().copied())
        .collect();
    floating.sort_unstable_by_key(|&v| (g.distance[v as usize], v));
    floating.dedup();
    let mut pinned = BitSet::new(n);
    for &(v, _) in &pins {
        pinned.set(v as usize);
    }
    floating.retain(|&v| !pinned.get(v as usize));
    if plain.len() != n {
        floating.clear();
    }
    for &v in &floating {
        let mut x = v;
        while !pinned.get(x as usize) {
            let e = plain[x as usize];
            pinned.set(x as usize);
            pins.push((x, e));
            if e == NO_PARENT {
                break;
            }
            x = g.edge_source(e);
        }
    }
    let mut s = Search {
        g,
        key: super::filled(n, UNSEEN),
        parent: super::filled(n, NO_PARENT),
        tier: super::filled(n, Tier::Unreached as u8),
        pinned,
        queue: Vec::new(),
        max_depth: 0,
    };
    for &(v, e) in &pins {
        s.key[v as usize] = WAITING;
        s.parent[v as usize] = e;
    }
    s.key[root as usize] = 0;
    s.tier[root as usize] = Tier::User as u8;
    for t in [
        Tier::User,
        Tier::Embedder,
        Tier::Frames,
        Tier::Locals,
        Tier::Internal,
    ] {
        if t == Tier::User {
            for &v in &floating {
                s.seed(t, NO_PARENT, v);
            }
        }
        for &(e, v) in &seeds[t as usize] {
            s.seed(t, e, v);
        }
        s.run(t);
    }
    (
        PathTree {
            parent: s.parent,
            tier: s.tier,
            pinned: s.pinned,
            max_depth: s.max_depth,
        },
        s.key,
    )
}
