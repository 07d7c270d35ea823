//! Immediate dominators over essential edges, by Semi-NCA (Georgiadis' simplification of
//! Lengauer–Tarjan: semidominators with path compression, then each idom as the nearest
//! common ancestor walk `idom[w] = idom[idom[w]]` while above `semi[w]`).
//!
//! Everything is iterative (an explicit DFS stack and an explicit compression path), so a
//! 10M-node chain cannot overflow the call stack. Nodes the DFS from the root does not reach
//! are handled as DevTools does: those with no essential retainer (held only weakly) start
//! their own DFS under the root, so they still dominate what only they hold; what is left
//! (unreachable cycles) hangs directly under the root. Both are the root's children through
//! virtual edges, which is the graph the test oracle checks against.
//! Two phases: [`number_nodes`] (the DFS, forward edges only), then the semidominators over
//! essential retainers and the NCA climb. The semidominators take two passes: [`first_pass`],
//! parallel, over the retainers, settles every candidate not needing the forest
//! (predecessors numbered below the vertex, single-retainer vertices), and [`finish`] runs
//! the sequential link-eval pass over the rest (on a 9M-node Node heap, 10.7M of 29M edges;
//! a vertex with many of them has them evaluated on all cores, see `MANY_CANDIDATES`),
//! then the NCA climb.
//! Cost: O(m α(m, n)); memory while running: 4 bytes per retainer (its source, first pass
//! only), 16 per node for the forest, 4 per forest candidate.

use super::BitSet;

pub struct Dominators {
    /// Immediate dominator of every node (node ordinals); the root's is itself.
    pub idom: Vec<u32>,
    /// Every node in DFS preorder (root first): each comes after its immediate dominator, so
    /// a reverse sweep accumulates subtree sums.
    pub order: Vec<u32>,
    /// How many nodes the DFS reached from the root over essential edges.
    pub reached: usize,
}

/// A DFS preorder numbering of every node (phase one; needs forward edges only, so it runs
/// while the retainers are being built).
pub struct Numbering {
    /// Preorder number of every node (1-based).
    pub pre: Vec<u32>,
    /// Node of every preorder number (`vertex[0]` unused).
    pub vertex: Vec<u32>,
    /// The link-eval forest's record of every preorder number, holding only the DFS
    /// parent's preorder number so far (1 for the root's children, real or virtual); the
    /// first pass adds the semidominators. Made here, so that the records never sit beside
    /// separate parent and semidominator columns (the start of the link-eval pass is the
    /// peak of a big load).
    forest: Vec<Vertex>,
    pub reached: usize,
}

/// The blocks [`number_nodes`] fills, allocated (not yet touched) before it starts, so that
/// another task can give them pages while the DFS runs ([`DfsMemory::ranges`]).
pub struct DfsMemory {
    vertex: Vec<u32>,
    forest: Vec<Vertex>,
}

impl DfsMemory {
    /// For a graph of `n` nodes.
    pub fn new(n: usize) -> DfsMemory {
        DfsMemory {
            vertex: vec![0u32; n + 1],
            forest: zeroed_forest(n + 1),
        }
    }
    /// The blocks as (address, bytes), in the order the DFS fills them (each from its start).
    pub fn ranges(&self) -> [(usize, usize); 2] {
        [
            (self.vertex.as_ptr() as usize, self.vertex.len() * 4),
            (
                self.forest.as_ptr() as usize,
                std::mem::size_of_val(&self.forest[..]),
            ),
        ]
    }
}

/// Phase one: number every node in DFS preorder over essential edges, in edge order, from the
/// root; then the DevTools passes for nodes the root does not reach. `has_essential_retainer`
/// marks nodes that some essential edge points at.
pub fn number_nodes(
    root: u32,
    first_edge: &[u32],
    edge_to: &[u32],
    essential: &BitSet,
    has_essential_retainer: &BitSet,
) -> Numbering {
    let n = first_edge.len() - 1;
    number_nodes_in(
        DfsMemory::new(n),
        root,
        first_edge,
        edge_to,
        essential,
        has_essential_retainer,
    )
}

/// [`number_nodes`] into blocks allocated beforehand.
pub fn number_nodes_in(
    mem: DfsMemory,
    root: u32,
    first_edge: &[u32],
    edge_to: &[u32],
    essential: &BitSet,
    has_essential_retainer: &BitSet,
) -> Numbering {
    let n = first_edge.len() - 1;
    let root = root as usize;
    // Preorder numbers start at 1; 0 means "not reached" and is the forest's null link.
    let mut pre = super::filled(n, 0u32);
    let DfsMemory {
        mut vertex,
        mut forest,
    } = mem;
    assert_eq!(vertex.len(), n + 1, "DFS memory for another graph");
    let mut count = 1u32;
    pre[root] = 1;
    vertex[1] = root as u32;
    let mut stack: Vec<(u32, u32)> = Vec::new();
    let mut dfs =
        |start: usize, count: &mut u32, pre: &mut [u32], vertex: &mut [u32], f: &mut [Vertex]| {
            stack.push((start as u32, first_edge[start]));
            while let Some(top) = stack.last_mut() {
                let v = top.0 as usize;
                let end = first_edge[v + 1];
                let mut next = None;
                while top.1 < end {
                    let e = top.1;
                    top.1 += 1;
                    if !essential.get(e as usize) {
                        continue;
                    }
                    let w = edge_to[e as usize] as usize;
                    if pre[w] == 0 {
                        *count += 1;
                        pre[w] = *count;
                        vertex[*count as usize] = w as u32;
                        f[*count as usize].parent = pre[v];
                        next = Some(w as u32);
                        break;
                    }
                }
                match next {
                    Some(w) => stack.push((w, first_edge[w as usize])),
                    None => {
                        stack.pop();
                    }
                }
            }
        };
    dfs(root, &mut count, &mut pre, &mut vertex, &mut forest);
    let reached = count as usize;
    if reached < n {
        // Pass A: nodes with no essential retainer at all (held only weakly, or not at all)
        // hang under the root with what they alone hold below them.
        for v in 0..n {
            if pre[v] == 0 && !has_essential_retainer.get(v) {
                count += 1;
                pre[v] = count;
                vertex[count as usize] = v as u32;
                forest[count as usize].parent = 1;
                dfs(v, &mut count, &mut pre, &mut vertex, &mut forest);
            }
        }
        // Pass B: what is left only holds itself (unreachable cycles): each under the root.
        for (v, p) in pre.iter_mut().enumerate() {
            if *p == 0 {
                count += 1;
                *p = count;
                vertex[count as usize] = v as u32;
                forest[count as usize].parent = 1;
            }
        }
    }
    Numbering {
        pre,
        vertex,
        forest,
        reached,
    }
}

/// What phase two reads: the numbering and the essential retainers.
pub struct DomInput<'a> {
    /// The sources of the essential retainers of the nodes with more than one
    /// ([`super::retainers::dominator_slots`]; no other retainer may be there); freed when
    /// the first pass is done.
    pub retainers: super::retainers::Slots,
    /// Nodes with more than one essential retainer; the others' only one is their DFS
    /// parent, which is then their semidominator and immediate dominator.
    pub many_retainers: &'a BitSet,
}

/// What the parallel first pass leaves for the sequential rest.
pub struct FirstPass {
    vertex: Vec<u32>,
    /// The forest's records, each with its DFS parent and its semidominator so far (final
    /// where no forest candidate is left).
    forest: Vec<Vertex>,
    /// Per chunk of vertices: each vertex's forest candidates, then the vertex itself with
    /// [`ENDS`] set (vertices with no candidate have no entry).
    later: Vec<Vec<u32>>,
    chunk: usize,
    reached: usize,
}

/// The semidominators' first pass, on all cores: every candidate that does not depend on the
/// link-eval forest. A predecessor v numbered below w is not linked when w is processed, so
/// eval(v) = v: the smallest such v goes straight into semi(w). Predecessors numbered above
/// w (already processed, so eval needs the forest as it is when w's turn comes) are listed
/// for the sequential pass, per chunk of `chunk` vertices in increasing w, each vertex's
/// list ended by `w | ENDS`. Vertices whose semidominator is their DFS parent (the root's children,
/// real or virtual, and nodes with one essential retainer) are settled here.
///
/// Memory is what bounds this step on big heaps (it is the peak of a load), so the
/// retainers' sources are first turned into preorder numbers in place, which frees `pre`.
pub fn first_pass(num: Numbering, g: DomInput<'_>, chunk: usize) -> FirstPass {
    use rayon::prelude::*;
    let Numbering {
        pre,
        vertex,
        mut forest,
        reached,
    } = num;
    let mut r = g.retainers;
    r.slots
        .par_chunks_mut(1 << 16)
        .for_each(|c| c.iter_mut().for_each(|x| *x = pre[*x as usize]));
    drop(pre);
    let (first_retainer, slots_of) = (&r.first_retainer, &r.slots);
    let later: Vec<Vec<u32>> = forest
        .par_chunks_mut(chunk)
        .enumerate()
        .map(|(k, records)| {
            let mut later = Vec::new();
            for (j, fw) in records.iter_mut().enumerate() {
                let w = (k * chunk + j) as u32;
                let sw = &mut fw.semi;
                *sw = w;
                if w < 2 {
                    continue;
                }
                let p = fw.parent;
                if p == 1 {
                    *sw = 1;
                    continue;
                }
                let node = vertex[w as usize] as usize;
                if !g.many_retainers.get(node) {
                    // One essential retainer: the DFS came in through it.
                    *sw = p;
                    continue;
                }
                let mut s = w;
                let mut waiting = false;
                let slots = first_retainer[node] as usize..first_retainer[node + 1] as usize;
                for &v in &slots_of[slots] {
                    if v < w {
                        s = s.min(v);
                    } else {
                        later.push(v);
                        waiting = true;
                    }
                }
                if waiting {
                    later.push(w | ENDS);
                }
                *sw = s;
            }
            later
        })
        .collect();
    drop(r);
    FirstPass {
        vertex,
        forest,
        later,
        chunk,
        reached,
    }
}

/// The sequential rest: the forest candidates by link-eval in reverse preorder, then each
/// immediate dominator by the NCA climb, then back to node ordinals.
pub fn finish(fp: FirstPass) -> Dominators {
    finish_with(fp, MANY_CANDIDATES)
}

/// [`finish`], with the vertices of at least `many` forest candidates evaluated by
/// [`eval_many`] (tests run both ways).
fn finish_with(fp: FirstPass, many: usize) -> Dominators {
    let FirstPass {
        vertex,
        forest: mut f,
        later,
        chunk,
        reached,
    } = fp;
    let numbered = vertex.len() - 1;

    // Second pass, sequential, in reverse preorder: the forest candidates, then link.
    let mut path: Vec<u32> = Vec::new();
    for (k, chunk_later) in later.into_iter().enumerate().rev() {
        let mut end = chunk_later.len();
        let lo = (k * chunk).max(2);
        let hi = ((k + 1) * chunk).min(numbered + 1);
        for w in (lo..hi).rev() {
            let mut s = f[w].semi;
            if end > 0 && chunk_later[end - 1] == w as u32 | ENDS {
                let mut start = end - 1;
                while start > 0 && chunk_later[start - 1] & ENDS == 0 {
                    start -= 1;
                }
                let candidates = &chunk_later[start..end - 1];
                if candidates.len() >= many {
                    // Many candidates: most evaluated at once, the long paths left for
                    // compress.
                    let (m, long) = eval_many(candidates, w as u32, &f);
                    s = s.min(m);
                    for &v in &long {
                        compress(v, w as u32, &mut f, &mut path);
                        s = s.min(f[v as usize].best);
                    }
                } else {
                    // Last to first, so that entries are met in the order the pass walks
                    // down this chunk's list, and the record of the entry `AHEAD` further
                    // down (a candidate of this vertex or of one after it, or a vertex) can
                    // be asked for now: that first read is most of a candidate's cost, half
                    // of them having no forest path to walk. (A vertex's candidates may be
                    // taken in any order: compressing one path changes no other eval.)
                    for p in (start..end - 1).rev() {
                        if let Some(&a) = chunk_later.get(p.wrapping_sub(AHEAD)) {
                            super::prefetch(&f[(a & !ENDS) as usize]);
                        }
                        let v = chunk_later[p];
                        compress(v, w as u32, &mut f, &mut path);
                        s = s.min(f[v as usize].best);
                    }
                }
                end = start;
            }
            f[w].best = s;
            f[w].semi = s;
            f[w].ancestor = f[w].parent;
        }
    }

    // Immediate dominators in preorder space: start from the DFS parent and climb while
    // above the semidominator. `parent` becomes `idom` in place.
    f[1].parent = 1;
    for w in 2..=numbered {
        let mut d = f[w].parent;
        let semi = f[w].semi;
        while d > semi {
            d = f[d as usize].parent;
        }
        f[w].parent = d;
    }

    // Back to node ordinals.
    let mut idom = vec![0u32; numbered];
    for w in 1..=numbered {
        idom[vertex[w] as usize] = vertex[f[w].parent as usize];
    }
    drop(f);
    let mut order: Vec<u32> = vertex;
    order.remove(0);
    Dominators {
        idom,
        order,
        reached,
    }
}

/// How far ahead in a list of forest candidates the link-eval pass asks for a candidate's
/// record (the first of its reads, and the one a cache miss is most certain for). Measured
/// on large-b, one core, median of 5: the whole link-eval pass 697 -> 495 ms with 16.
const AHEAD: usize = 16;

/// Vertices per task in the semidominators' parallel first pass.
pub const SEMI_CHUNK: usize = 1 << 16;

/// Marks the entry that ends a vertex's candidates in [`FirstPass::later`] (preorder
/// numbers stay below it: a heap of 2^31 nodes would not fit in memory).
const ENDS: u32 = 1 << 31;

/// `len` forest records, all zero, in memory the allocator hands out already cleared (the
/// kernel's fresh pages, or one memset): not written a record at a time first, on the
/// DFS's lane, only to be written again by the DFS.
fn zeroed_forest(len: usize) -> Vec<Vertex> {
    // `[u32; 4]` is a type the standard library knows to be all-zero bits, so this is one
    // zeroed allocation.
    let words = std::mem::ManuallyDrop::new(vec![[0u32; 4]; len]);
    let (ptr, len, cap) = (words.as_ptr() as *mut Vertex, words.len(), words.capacity());
    // SAFETY: `Vertex` is `repr(C)` of four `u32`, so it has the size and alignment of
    // `[u32; 4]` (the layout the block was allocated with and will be freed with), and all
    // zero bits are a valid `Vertex`; the original vector is never dropped.
    unsafe { Vec::from_raw_parts(ptr, len, cap) }
}

/// A vertex of the link-eval forest, by preorder number: one record per vertex keeps a
/// forest step to one cache miss on a 9M-node heap.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Vertex {
    semi: u32,
    /// The smallest semidominator on the compressed forest path from this vertex up to
    /// (not including) its forest ancestor. The textbook keeps the vertex that has it (a
    /// "label") and looks its semidominator up; only the value is ever used, so keeping the
    /// value saves two random reads per compression step.
    best: u32,
    ancestor: u32,
    /// DFS parent; becomes the immediate dominator.
    parent: u32,
}

/// Path compression for `eval` while `w` is being processed, iteratively: walk up while the
/// grandparent link exists, then fold the smallest semidominators back down from the top,
/// exactly as the recursive version would. Vertices are linked in reverse preorder, so a
/// vertex has a forest ancestor exactly when it is numbered above `w` (the root never has
/// one): the test for a grandparent needs the ancestor's number, not its record, which saves
/// a cache miss for the half of the candidates whose ancestor is a forest root.
fn compress(v: u32, w: u32, f: &mut [Vertex], path: &mut Vec<u32>) {
    let mut x = v;
    while f[x as usize].ancestor > w {
        path.push(x);
        x = f[x as usize].ancestor;
    }
    while let Some(y) = path.pop() {
        let y = y as usize;
        let a = f[y].ancestor as usize;
        f[y].best = f[y].best.min(f[a].best);
        f[y].ancestor = f[a].ancestor;
    }
}

/// Vertices with at least this many forest candidates have them evaluated by [`eval_many`].
/// On large-b a few hundred vertices (hidden classes, shared contexts: up to 1.03M candidates
/// each) hold most of the 10.7M candidates, and they come last in reverse preorder, when
/// the other lane of the build is done: finish() 631 -> 483 ms (median of 6) on two cores,
/// 688 -> 664 on one (thresholds 64 to 10,000 measured within 10% of each other).
const MANY_CANDIDATES: usize = 1000;
/// Forest steps [`eval_many`] takes before leaving a candidate to [`compress`].
const SHORT_PATH: usize = 4;
/// Candidates per task in [`eval_many`].
const EVAL_TASK: usize = 1 << 13;

/// The smallest `eval` over many candidates of one vertex `w`, read-only and on all cores:
/// each candidate's forest path is walked without compressing it, up to [`SHORT_PATH`] steps;
/// the candidates with longer paths are returned for [`compress`]. The forest does not change
/// while `w`'s candidates are evaluated (linking `w` comes after), so the order and the
/// missing compressions change no result, only later walks' lengths.
fn eval_many(candidates: &[u32], w: u32, f: &[Vertex]) -> (u32, Vec<u32>) {
    use rayon::prelude::*;
    candidates
        .par_chunks(EVAL_TASK)
        .map(|c| {
            let mut m = u32::MAX;
            let mut long = Vec::new();
            'next: for (i, &v) in c.iter().enumerate() {
                if let Some(&a) = c.get(i + AHEAD) {
                    super::prefetch(&f[a as usize]);
                }
                let mut x = v as usize;
                let mut best = f[x].best;
                for _ in 0..SHORT_PATH {
                    if f[x].ancestor <= w {
                        m = m.min(best);
                        continue 'next;
                    }
                    x = f[x].ancestor as usize;
                    best = best.min(f[x].best);
                }
                long.push(v);
            }
            (m, long)
        })
        .reduce(
            || (u32::MAX, Vec::new()),
            |(m1, mut l1), (m2, l2)| {
                l1.extend(l2);
                (m1.min(m2), l1)
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pseudo-random graph (xorshift), every edge essential: forward CSR and what phase
    /// two reads.
    fn graph(n: usize, m: usize, seed: u64) -> (Vec<u32>, Vec<u32>) {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut edges: Vec<(u32, u32)> = (1..n as u32)
            .map(|v| ((next() % v as u64) as u32, v)) // a spanning tree from node 0
            .collect();
        for _ in 0..m {
            let (a, b) = ((next() % n as u64) as u32, (next() % n as u64) as u32);
            if a != b {
                edges.push((a, b));
            }
        }
        csr(n, edges)
    }

    fn idoms(first_edge: &[u32], edge_to: &[u32], chunk: usize) -> Vec<u32> {
        idoms_with(first_edge, edge_to, chunk, MANY_CANDIDATES)
    }

    fn idoms_with(first_edge: &[u32], edge_to: &[u32], chunk: usize, at_once: usize) -> Vec<u32> {
        let n = first_edge.len() - 1;
        let mut essential = BitSet::new(edge_to.len());
        let (mut once, mut many) = (BitSet::new(n), BitSet::new(n));
        for (e, &t) in edge_to.iter().enumerate() {
            essential.set(e);
            if once.get(t as usize) {
                many.set(t as usize);
            }
            once.set(t as usize);
        }
        let retainers = super::super::retainers::dominator_slots(first_edge, edge_to, |_, _| true);
        let num = number_nodes(0, first_edge, edge_to, &essential, &once);
        let input = DomInput {
            retainers,
            many_retainers: &many,
        };
        finish_with(first_pass(num, input, chunk), at_once).idom
    }

    /// Edges sorted by source as CSR.
    fn csr(n: usize, mut edges: Vec<(u32, u32)>) -> (Vec<u32>, Vec<u32>) {
        edges.sort();
        let mut first_edge = vec![0u32; n + 1];
        for &(a, _) in &edges {
            first_edge[a as usize + 1] += 1;
        }
        for i in 0..n {
            first_edge[i + 1] += first_edge[i];
        }
        (first_edge, edges.iter().map(|&(_, b)| b).collect())
    }

    #[test]
    fn evaluating_many_candidates_at_once_changes_no_dominator() {
        // Random graphs, and hub graphs: long chains from the root whose every node also
        // points at one of a few shared nodes, so the shared nodes have thousands of forest
        // candidates with forest paths far longer than SHORT_PATH.
        let mut cases = vec![graph(3000, 9000, 42), graph(5000, 30000, 9)];
        for (chains, len, hubs) in [(40, 100, 3), (5, 800, 1), (300, 10, 7)] {
            let n = 1 + hubs + chains * len;
            let mut edges = Vec::new();
            let mut x = 7u64;
            for h in 0..hubs {
                edges.push((0, 1 + h as u32));
            }
            for c in 0..chains {
                let first = (1 + hubs + c * len) as u32;
                edges.push((0, first));
                for k in 0..len as u32 {
                    let v = first + k;
                    if k + 1 < len as u32 {
                        edges.push((v, v + 1));
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    edges.push((v, 1 + (x % hubs as u64) as u32));
                    // Cross links back into an earlier chain.
                    if x.is_multiple_of(5) && c > 0 {
                        edges.push((v, (1 + hubs) as u32 + (x >> 20) as u32 % first));
                    }
                }
            }
            // Hubs point into the chains too, so they are not leaves.
            for h in 0..hubs {
                edges.push((1 + h as u32, (1 + hubs + h * len) as u32));
            }
            edges.retain(|&(a, b)| a != b);
            edges.dedup();
            cases.push(csr(n, edges));
        }
        for (first_edge, edge_to) in &cases {
            let one_by_one = idoms_with(first_edge, edge_to, SEMI_CHUNK, usize::MAX);
            for many in [1, 2, 100] {
                assert_eq!(
                    idoms_with(first_edge, edge_to, SEMI_CHUNK, many),
                    one_by_one,
                    "many={many}"
                );
            }
        }
    }

    #[test]
    fn chunk_boundaries_do_not_change_the_dominators() {
        for (n, m, seed) in [(50, 120, 1), (400, 1500, 7), (3000, 9000, 42), (2000, 0, 3)] {
            let (first_edge, edge_to) = graph(n, m, seed);
            let whole = idoms(&first_edge, &edge_to, SEMI_CHUNK);
            for chunk in [1, 2, 3, 64, 999] {
                assert_eq!(
                    idoms(&first_edge, &edge_to, chunk),
                    whole,
                    "n={n} chunk={chunk}"
                );
            }
            // A plain check of the result: every idom is reachable and not the node itself
            // (but the root's).
            assert_eq!(whole[0], 0);
            assert!((1..n).all(|v| whole[v] as usize != v));
        }
    }
}
