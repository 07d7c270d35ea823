//! The heap as a graph of flat arrays: node columns, forward and reverse CSR edges, and the
//! derived columns every analysis needs (distance, immediate dominator, retained size,
//! class). No object per heap node: a 9M-node heap is a few dozen vectors.
//!
//! [`HeapGraph::build_with`] runs the phases in order, each in its own file:
//! `build_edge_index → essential_edges → dominator_slots (the dominators' retainers) ∥
//! number_nodes → dominators (first pass) → dominators (link-eval) ∥ {dom_state::propagate →
//! compute_classes, compute_distances} → compute_retained_sizes → compute_class_stats`; the whole reverse
//! CSR (`build_retainers`) is left for first use.

pub mod classes;
pub mod csr;
pub mod distance;
pub mod dom_state;
pub mod dominators;
pub mod essential;
pub mod parents;
pub mod paths;
pub mod retained;
pub mod retainers;
pub mod scopes;

pub use crate::input::v8::SelfSizes;
use crate::input::v8::{edge_kind, node_kind, Location, Snapshot, Strings};
use std::time::{Duration, Instant};

/// A hint to bring `x`'s cache line in; no effect on what the program computes.
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing the program sees.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(x as *const T as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// A vector of `n` copies of `value`, every page written on all cores before it is returned.
///
/// `vec![0; n]` gets untouched zero pages from the allocator; an array that is then read
/// before it is written (a visited mark, a counter) has its pages mapped to the shared zero
/// page first, and every later write costs a copy-on-write fault and a TLB flush on the other
/// cores, a 4 KiB page at a time (huge pages are lost too). Writing the pages up front makes
/// each fault an ordinary first touch, spread over the cores.
pub(crate) fn filled<T: Copy + Send + Sync>(n: usize, value: T) -> Vec<T> {
    use rayon::prelude::*;
    let mut v: Vec<T> = Vec::with_capacity(n);
    v.spare_capacity_mut()[..n]
        .par_chunks_mut(1 << 16)
        .for_each(|c| c.iter_mut().for_each(|x| _ = x.write(value)));
    // SAFETY: the first `n` elements were all written just above.
    unsafe { v.set_len(n) };
    v
}

/// A fixed-size bit set.
#[derive(Debug, Clone)]
pub struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    pub fn new(len: usize) -> BitSet {
        BitSet {
            words: filled(len.div_ceil(64), 0),
        }
    }
    #[inline]
    pub fn set(&mut self, i: usize) {
        self.words[i >> 6] |= 1 << (i & 63);
    }
    #[inline]
    pub fn clear(&mut self, i: usize) {
        self.words[i >> 6] &= !(1 << (i & 63));
    }
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.words[i >> 6] & (1 << (i & 63)) != 0
    }
    /// The set's 64-bit words, bit `i` of the set being bit `i % 64` of word `i / 64`.
    pub(crate) fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }
}

/// One heap snapshot, analysed.
pub struct HeapGraph {
    pub node_type: Vec<u8>,
    pub node_name: Vec<u32>,
    pub node_id: Vec<u32>,
    /// Self sizes, 64-bit, read with [`SelfSizes::get`] (32 bits a node, the rare size of
    /// 4 GiB or more aside).
    pub self_size: SelfSizes,
    /// 0 unknown, 1 attached, 2 detached: the file's marks spread over native nodes
    /// ([`dom_state`]).
    pub detachedness: Vec<u8>,
    pub first_edge: Vec<u32>,
    pub edge_type: Vec<u8>,
    pub edge_name: Vec<u32>,
    pub edge_to: Vec<u32>,
    /// The reverse CSR ([`HeapGraph::reverse`]), built on first use.
    reverse: std::sync::OnceLock<retainers::Retainers>,
    /// Finds the source of an edge (see [`csr::SourceIndex`]); built with the graph when
    /// its paths will be traced, on first use otherwise.
    sources: std::sync::OnceLock<csr::SourceIndex>,
    pub essential: BitSet,
    pub strings: Strings,
    pub locations: Vec<Location>,
    pub root: u32,
    pub node_type_names: Vec<String>,
    pub edge_type_names: Vec<String>,
    pub distance: Vec<u32>,
    pub idom: Vec<u32>,
    pub retained_size: Vec<u64>,
    pub class_of: Vec<u32>,
    pub class_names: Vec<String>,
    /// Count, self size and (topmost-instance) retained size of every class.
    pub class_stats: Vec<retained::ClassStats>,
    /// Instances with no dominator ancestor of their own class.
    pub topmost: BitSet,
    /// Wall time of each phase, for `--timings` and the benchmark.
    pub timings: Vec<(&'static str, Duration)>,
    /// Module and script scopes, global objects, scripts ([`scopes::Scopes::find`]),
    /// found on first use.
    scopes: std::sync::OnceLock<scopes::Scopes>,
    /// The retainer-path tree ([`paths::path_tree`]), built on first use.
    paths: std::sync::OnceLock<paths::PathTree>,
    /// The distance search's parents, kept from the build for the path tree (taken by it).
    plain_parents: std::sync::Mutex<Option<Vec<u32>>>,
    /// How long the path tree took to build.
    paths_time: std::sync::OnceLock<Duration>,
    /// String ids looked up so far by [`HeapGraph::string_ids`].
    string_ids: std::sync::Mutex<crate::fasthash::FastMap<String, Option<u32>>>,
}

impl HeapGraph {
    /// Run every phase on a parsed snapshot.
    pub fn build(s: Snapshot) -> HeapGraph {
        Self::build_with(s, false)
    }

    /// [`HeapGraph::build`]; with `paths`, also the edge-source index the retainer paths
    /// read (built beside the DFS). For graphs whose paths will be traced; their path tree
    /// is built on first use ([`HeapGraph::paths`]; a comparison builds both beside its
    /// class diff).
    ///
    /// The dominators get only the retainers they read: the essential retainers of nodes
    /// with more than one (a fifth of a Node heap's nodes, two fifths of its edges),
    /// collected once the essential edges are known, beside the DFS. The whole reverse CSR
    /// ([`HeapGraph::reverse`]) is built on first use.
    pub fn build_with(mut s: Snapshot, paths: bool) -> HeapGraph {
        fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
            let t = Instant::now();
            let v = f();
            (v, t.elapsed())
        }
        let first_edge = csr::build_edge_index(s.edge_count);
        // Spread beside the dominators, with the classes that read it.
        let mut detachedness = std::mem::take(&mut s.detachedness);
        let rules = essential::EdgeRules {
            first_edge: &first_edge,
            edge_type: &s.edge_type,
            edge_name: &s.edge_name,
            edge_to: &s.edge_to,
            node_type: &s.node_type,
            node_name: &s.node_name,
            node_id: &s.node_id,
            root: s.root,
            strings: &s.strings,
        };
        // The essential edges on all cores, then two lanes: the retainers the dominators read
        // (the essential ones of nodes with more than one) beside the DFS numbering, which
        // needs forward edges only. Then both cores on the dominators' first pass, then two
        // lanes again. The first pass is the peak of a load (the forest candidates and the
        // retainers' sources are alive together), so whatever can wait does: the classes
        // and the distances run beside the sequential rest of the dominators. The whole
        // reverse CSR is not built here: the summary reads no retainers, and a comparison of
        // Node snapshots neither (paths go by the path parents; only the DOM detectors ask),
        // so it is built on first use.
        let parts = 2 * rayon::current_num_threads();
        let ((essential, retained_by), t_essential) =
            timed(|| essential::essential_edges(&rules, parts));
        // The DFS is the longer lane, and a third of it is first touches of its own blocks:
        // the other lane, once done, gives those blocks pages from their ends until the DFS
        // is through.
        let dfs_memory = dominators::DfsMemory::new(s.node_type.len());
        let dfs_ranges = dfs_memory.ranges();
        let dfs_done = std::sync::atomic::AtomicBool::new(false);
        let (((retainer_slots, sources), t_retainers), (numbering, t_number)) = rayon::join(
            || {
                let out = timed(|| {
                    (
                        retainers::dominator_slots(&first_edge, &s.edge_to, |e, t| {
                            essential.get(e) && retained_by.many.get(t)
                        }),
                        // Paths look up edge sources: the index is small, build it here.
                        paths.then(|| csr::SourceIndex::new(&first_edge)),
                    )
                });
                crate::arena::prefault_backwards(&dfs_ranges, &dfs_done);
                out
            },
            || {
                let out = timed(|| {
                    dominators::number_nodes_in(
                        dfs_memory,
                        s.root,
                        &first_edge,
                        &s.edge_to,
                        &essential,
                        &retained_by.once,
                    )
                });
                dfs_done.store(true, std::sync::atomic::Ordering::Relaxed);
                out
            },
        );
        let many_retainers = retained_by.many;
        let mut timings = vec![
            ("essential edges", t_essential),
            ("dominators' retainers", t_retainers),
            ("DFS", t_number),
        ];
        let (first, t_first) = timed(|| {
            dominators::first_pass(
                numbering,
                dominators::DomInput {
                    retainers: retainer_slots,
                    many_retainers: &many_retainers,
                },
                dominators::SEMI_CHUNK,
            )
        });
        let ((dom, t_dom), ((cls, (distance, plain)), t_side)) = rayon::join(
            || timed(|| dominators::finish(first)),
            || {
                timed(|| {
                    dom_state::propagate(
                        &s.node_type,
                        &first_edge,
                        &s.edge_to,
                        &s.edge_type,
                        &mut detachedness,
                    );
                    let cls = classes::compute_classes(
                        &s.node_type,
                        &s.node_name,
                        &detachedness,
                        &s.strings,
                        &s.node_type_names,
                    );
                    // For graphs whose paths will be traced, the search's parents too: the
                    // path tree's prefixes ([`paths`]).
                    let mut plain = Vec::new();
                    let distance = distance::compute_distances(
                        &distance::DistanceInput {
                            root: s.root,
                            first_edge: &first_edge,
                            edge_to: &s.edge_to,
                            edge_type: &s.edge_type,
                            edge_name: &s.edge_name,
                            node_type: &s.node_type,
                            node_name: &s.node_name,
                            strings: &s.strings,
                        },
                        paths.then_some(&mut plain),
                    );
                    (cls, (distance, plain))
                })
            },
        );
        let (retained, (class_stats, topmost), t_stats) = {
            let (v, t) = timed(|| {
                let retained =
                    retained::compute_retained_sizes(&s.self_size, &dom.idom, &dom.order);
                drop(dom.order);
                let stats = retained::compute_class_stats(
                    s.root,
                    &dom.idom,
                    &cls.class_of,
                    &s.self_size,
                    &retained,
                    cls.names.len(),
                );
                (retained, stats)
            });
            (v.0, v.1, t)
        };
        timings.extend([
            ("dominators, first pass", t_first),
            ("dominators, link-eval", t_dom),
            ("classes + distances", t_side),
            ("retained + class totals", t_stats),
        ]);
        HeapGraph {
            node_type: s.node_type,
            node_name: s.node_name,
            node_id: s.node_id,
            self_size: s.self_size,
            detachedness,
            first_edge,
            edge_type: s.edge_type,
            edge_name: s.edge_name,
            edge_to: s.edge_to,
            reverse: std::sync::OnceLock::new(),
            sources: match sources {
                Some(s) => std::sync::OnceLock::from(s),
                None => std::sync::OnceLock::new(),
            },
            essential,
            strings: s.strings,
            locations: s.locations,
            root: s.root,
            node_type_names: s.node_type_names,
            edge_type_names: s.edge_type_names,
            distance,
            idom: dom.idom,
            class_stats,
            topmost,
            retained_size: retained,
            class_of: cls.class_of,
            class_names: cls.names,
            timings,
            scopes: std::sync::OnceLock::new(),
            paths: std::sync::OnceLock::new(),
            plain_parents: std::sync::Mutex::new(paths.then_some(plain)),
            string_ids: Default::default(),
            paths_time: std::sync::OnceLock::new(),
        }
    }

    /// How long the path tree took to build, once built (for `--timings`).
    pub fn paths_time(&self) -> Option<Duration> {
        self.paths_time.get().copied()
    }

    pub fn node_count(&self) -> usize {
        self.node_type.len()
    }
    /// The string index of each of `names` (`None` when absent). V8 writes each distinct
    /// string once, so one index per name is enough. Names looked up before are remembered;
    /// the others are found in one pass over the strings.
    pub fn string_ids(&self, names: &[&str]) -> Vec<Option<u32>> {
        let mut cache = self.string_ids.lock().unwrap_or_else(|e| e.into_inner());
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !cache.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            for (n, id) in missing.iter().zip(self.strings.positions(&missing)) {
                cache.insert(n.to_string(), id);
            }
        }
        names
            .iter()
            .map(|n| cache.get(*n).copied().flatten())
            .collect()
    }
    /// The module and script scopes and global objects. Found once, on first use.
    pub fn scopes(&self) -> &scopes::Scopes {
        self.scopes.get_or_init(|| scopes::Scopes::find(self))
    }
    /// The retainer-path tree. Built once, on first use, by whichever caller comes first
    /// (the others wait).
    pub fn paths(&self) -> &paths::PathTree {
        self.paths.get_or_init(|| {
            let t = Instant::now();
            let kept = self
                .plain_parents
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            // Kept from the build, or (a graph loaded without paths) the plain parents'
            // pass over the distances; a graph too big for that pass gets none (its user
            // roots found in the middle of the graph then stay where the search finds them).
            let plain = kept
                .or_else(|| parents::path_parents(self))
                .unwrap_or_default();
            let tree = paths::path_tree(self, self.scopes(), &plain);
            let _ = self.paths_time.set(t.elapsed());
            tree
        })
    }
    pub fn edge_count(&self) -> usize {
        self.edge_to.len()
    }
    /// The node that owns edge `e`.
    pub fn edge_source(&self, e: u32) -> u32 {
        self.sources
            .get_or_init(|| csr::SourceIndex::new(&self.first_edge))
            .source(&self.first_edge, e)
    }
    /// The reverse CSR: every node's incoming edges, ordered by source.
    pub fn reverse(&self) -> &retainers::Retainers {
        self.reverse
            .get_or_init(|| retainers::build_retainers(&self.first_edge, &self.edge_to))
    }
    pub fn node(&self, i: u32) -> NodeRef<'_> {
        NodeRef { g: self, i }
    }
    /// Sum of all self sizes (what DevTools calls the snapshot's total size); at most
    /// [`crate::input::v8::MAX_TOTAL_SIZE`], checked when parsed.
    pub fn total_size(&self) -> u64 {
        self.self_size.total().unwrap_or(u64::MAX)
    }
    /// Display name of an edge: its property / variable name, or `[index]` for elements.
    pub fn edge_label(&self, e: u32) -> String {
        let e = e as usize;
        match self.edge_type[e] {
            edge_kind::ELEMENT => format!("[{}]", self.edge_name[e]),
            edge_kind::HIDDEN => format!("<{}>", self.edge_name[e]),
            _ => self.strings.get(self.edge_name[e]).to_string(),
        }
    }
    pub fn edge_type_name(&self, e: u32) -> &str {
        self.edge_type_names
            .get(self.edge_type[e as usize] as usize)
            .map_or("unknown", |s| s.as_str())
    }
    /// Approximate heap bytes held by the graph (for `--timings`).
    pub fn heap_bytes(&self) -> usize {
        let n = self.node_count();
        let m = self.edge_count();
        // Per node: type, name, id, self size, first edge, distance, idom, class, retained
        // size; per edge: type, name, target, essential bit; then the reverse CSR if built.
        let reverse = self.reverse.get().map_or(0, |r| {
            (r.first_retainer.capacity() + r.retainer_edge.capacity()) * 4
        });
        n * (1 + 4 + 4 + 4 + 4 + 4 + 4 + 8)
            + self.self_size.heap_bytes()
            + self.detachedness.len()
            + m * (1 + 4 + 4)
            + m / 8
            + reverse
            + self.sources.get().map_or(0, |s| s.heap_bytes())
            + self.strings.heap_bytes()
    }
}

/// A handle on one node for code off the hot path (reports, paths, detectors).
#[derive(Clone, Copy)]
pub struct NodeRef<'g> {
    pub g: &'g HeapGraph,
    pub i: u32,
}

impl<'g> NodeRef<'g> {
    pub fn kind(&self) -> u8 {
        self.g.node_type[self.i as usize]
    }
    pub fn type_name(&self) -> &'g str {
        self.g
            .node_type_names
            .get(self.kind() as usize)
            .map_or("unknown", |s| s.as_str())
    }
    pub fn name(&self) -> &'g str {
        self.g.strings.get(self.g.node_name[self.i as usize])
    }
    pub fn id(&self) -> u32 {
        self.g.node_id[self.i as usize]
    }
    pub fn self_size(&self) -> u64 {
        self.g.self_size.get(self.i as usize)
    }
    pub fn retained_size(&self) -> u64 {
        self.g.retained_size[self.i as usize]
    }
    pub fn class_name(&self) -> &'g str {
        &self.g.class_names[self.g.class_of[self.i as usize] as usize]
    }
    pub fn distance(&self) -> u32 {
        self.g.distance[self.i as usize]
    }
    pub fn idom(&self) -> NodeRef<'g> {
        self.g.node(self.g.idom[self.i as usize])
    }
    pub fn is_root(&self) -> bool {
        self.i == self.g.root
    }
    /// Outgoing edges as `(edge index, target)`.
    pub fn edges(&self) -> impl Iterator<Item = (u32, NodeRef<'g>)> + 'g {
        let g = self.g;
        let i = self.i as usize;
        (g.first_edge[i]..g.first_edge[i + 1]).map(move |e| (e, g.node(g.edge_to[e as usize])))
    }
    /// Incoming edges as `(edge index, source)`.
    pub fn retainers(&self) -> impl Iterator<Item = (u32, NodeRef<'g>)> + 'g {
        let g = self.g;
        let i = self.i as usize;
        let rev = g.reverse();
        (rev.first_retainer[i] as usize..rev.first_retainer[i + 1] as usize).map(move |r| {
            let e = rev.retainer_edge[r];
            (e, g.node(g.edge_source(e)))
        })
    }
    /// V8 internals a person does not own: hidden, code, synthetic, object shapes.
    pub fn is_internal(&self) -> bool {
        matches!(
            self.kind(),
            node_kind::HIDDEN | node_kind::CODE | node_kind::SYNTHETIC | node_kind::OBJECT_SHAPE
        )
    }
}
