//! Retainer paths: who holds an object, from a GC root down to it.
//!
//! The path to a node follows the path tree ([`crate::graph::paths`]): a shortest path from
//! the best kind of root (the program's globals and module scopes, then embedder handles,
//! then running frames, then V8's own roots), named edges preferred.
//!
//! Paths are compared by *signature*: each step is (edge type, edge name as a pattern, class
//! of the node reached). Element indexes become `[]` and names that are data (`order:1234`,
//! long tokens, e-mail addresses) become patterns (`order:<n>`), so every entry of one
//! dictionary shares a path; a step that repeats the one before it (a linked list) is folded
//! into it. Signatures are interned in a trie, one entry per distinct prefix, and memoised
//! per node, so tracing a million instances costs one walk per distinct node on their paths.
//! Paths are grouped and matched across snapshots by their owner part ([`owner`]), as typed
//! steps.

mod keys;
pub mod names;
pub mod owner;

pub use names::{edge_pattern, function_name, name_pattern};

use crate::diff::Comparison;
use crate::fasthash::FastMap;
use crate::graph::{prefetch, BitSet, HeapGraph};
use crate::input::v8::edge_kind;
use crate::model::{Anchor, EdgeType, PathStep, StepKey};
use crate::report::PathRow;
use rayon::prelude::*;
use std::collections::HashMap;
use std::ops::Range;

/// How many grown classes get retainer paths.
pub const PATH_CLASSES: usize = 10;
/// How many paths each of those classes shows.
pub const PATHS_PER_CLASS: usize = 5;

/// Longest run of steps folded when it repeats (a chain through closure contexts repeats
/// `fn → context → variable`, three steps).
pub const MAX_CYCLE: usize = 6;

/// Trie id of the empty path (the root itself).
pub const ROOT_SIG: u32 = 0;
/// Signature of nodes with no path from the root.
pub const UNREACHABLE_SIG: u32 = u32::MAX;

/// One step of a signature, all integers: (edge type, pattern id, class of the node reached).
type Step = (u8, u32, u32);

/// Per-node signatures in pages of [`MEMO_PAGE`] nodes, each allocated when a node in it
/// is first traced: the detectors trace a few thousand nodes each, beside the paths, and a
/// dense column per tracer would cost them 4 bytes per heap node each.
struct Memo {
    pages: Vec<Option<Box<[u32]>>>,
}

const MEMO_PAGE: usize = 1 << 12;

impl Memo {
    fn new(n: usize) -> Memo {
        Memo {
            pages: vec![None; n.div_ceil(MEMO_PAGE)],
        }
    }
    #[inline]
    fn get(&self, v: u32) -> u32 {
        let v = v as usize;
        match &self.pages[v / MEMO_PAGE] {
            Some(p) => p[v % MEMO_PAGE],
            None => UNTRACED,
        }
    }
    #[inline]
    fn set(&mut self, v: u32, sig: u32) {
        let v = v as usize;
        let page = self.pages[v / MEMO_PAGE]
            .get_or_insert_with(|| vec![UNTRACED; MEMO_PAGE].into_boxed_slice());
        page[v % MEMO_PAGE] = sig;
    }
}

/// Not traced yet, in [`Tracer::memo`].
const UNTRACED: u32 = u32::MAX - 1;

/// Interned path prefixes of one snapshot.
pub struct Tracer<'g> {
    g: &'g HeapGraph,
    /// Trie: (parent signature, step) → signature.
    ids: FastMap<(u32, u32), u32>,
    steps: Vec<Step>,
    step_ids: FastMap<Step, u32>,
    /// Edge-name patterns, interned; and the pattern of every name string seen.
    patterns: Vec<String>,
    pattern_ids: HashMap<String, u32>,
    pattern_of_string: FastMap<u32, u32>,
    /// For each signature: (parent signature, step id, repeated).
    nodes: Vec<(u32, u32, bool)>,
    /// For each signature, what its last step is to the owner rule ([`owner::step_role`]),
    /// decided on the first node whose path it is.
    roles: Vec<owner::StepRole>,
    /// The owner key of each signature asked for.
    owner_keys: FastMap<u32, OwnerKey>,
    /// Signature of every node traced so far ([`UNTRACED`] otherwise).
    memo: Memo,
    /// One real edge of each step, for `--show-values`.
    example_edge: Vec<u32>,
    /// Pattern ids of element (`[]`) and hidden (`<>`) edges, once interned.
    index_patterns: [Option<u32>; 2],
    /// Scratch for [`Tracer::signature`]'s walk up (node, edge into it).
    chain: Vec<(u32, u32)>,
    /// The signature one edge leads to from a signature, keyed by what decides it: (parent
    /// signature, class reached) and (edge type, edge name; 0 for element and hidden edges,
    /// whose pattern ignores it). One lookup instead of the three of a step's pattern, the
    /// step and the trie, for every instance of a path seen before.
    next: FastMap<(u64, u64), u32>,
}

/// Whether an edge of type `t` is one whose step ignores its name (an element or hidden
/// edge's index: all become one `[]` or `<>` pattern).
fn by_index(t: u8) -> bool {
    matches!(t, edge_kind::ELEMENT | edge_kind::HIDDEN)
}

/// The name part of a [`Tracer::next`] key: the string id, or [`NUMBER_NAME`] for a name that
/// is a plain number. V8 names the slots of a `Map`'s or `Set`'s table, and of other
/// internal arrays, by their index ("0" … "999999"): one string each, all one `<n>`
/// pattern, so keyed by string id a million-entry Map would miss the cache on every entry.
fn key_name(g: &HeapGraph, name: u32) -> u32 {
    let s = g.strings.get(name).as_bytes();
    if !s.is_empty() && s.len() <= 10 && s.iter().all(u8::is_ascii_digit) {
        NUMBER_NAME
    } else {
        name
    }
}

/// The key name shared by all names that are plain numbers (no string table is this long).
const NUMBER_NAME: u32 = u32::MAX;

/// Entries [`Tracer::next`] stops growing at (edges named by data, one name per instance,
/// would otherwise add one each without ever being looked up again).
const NEXT_CAP: usize = 1 << 20;

use crate::graph::parents::NO_PARENT;

impl<'g> Tracer<'g> {
    pub fn new(g: &'g HeapGraph) -> Tracer<'g> {
        Tracer {
            g,
            ids: FastMap::default(),
            steps: Vec::new(),
            step_ids: FastMap::default(),
            patterns: Vec::new(),
            pattern_ids: HashMap::new(),
            pattern_of_string: FastMap::default(),
            nodes: vec![(ROOT_SIG, u32::MAX, false)],
            roles: vec![owner::StepRole::Name],
            owner_keys: FastMap::default(),
            memo: Memo::new(g.node_count()),
            example_edge: Vec::new(),
            index_patterns: [None; 2],
            chain: Vec::new(),
            next: FastMap::default(),
        }
    }

    /// The retainer edge a path to `v` arrives by, as `(edge, source)`; `None` for the root
    /// and for nodes no path reaches.
    pub fn parent(&self, v: u32) -> Option<(u32, u32)> {
        let e = self.g.paths().parent[v as usize];
        (e != NO_PARENT).then(|| (e, self.g.edge_source(e)))
    }
}

impl<'g> Tracer<'g> {
    fn intern_pattern(&mut self, p: String) -> u32 {
        if let Some(&id) = self.pattern_ids.get(&p) {
            return id;
        }
        let id = self.patterns.len() as u32;
        self.patterns.push(p.clone());
        self.pattern_ids.insert(p, id);
        id
    }

    fn step_id(&mut self, e: u32, to: u32) -> u32 {
        let g = self.g;
        let t = g.edge_type[e as usize];
        let pattern = if by_index(t) {
            let k = (t == edge_kind::HIDDEN) as usize;
            match self.index_patterns[k] {
                Some(p) => p,
                None => {
                    let p = self.intern_pattern(edge_pattern(t, ""));
                    self.index_patterns[k] = Some(p);
                    p
                }
            }
        } else {
            let name = g.edge_name[e as usize];
            match self.pattern_of_string.get(&name) {
                Some(&p) => p,
                None => {
                    let p = self.intern_pattern(name_pattern(g.strings.get(name)));
                    self.pattern_of_string.insert(name, p);
                    p
                }
            }
        };
        let step = (t, pattern, g.class_of[to as usize]);
        if let Some(&id) = self.step_ids.get(&step) {
            return id;
        }
        let id = self.steps.len() as u32;
        self.steps.push(step);
        self.step_ids.insert(step, id);
        self.example_edge.push(e);
        id
    }

    /// The signature edge `e` (into `node`) leads to from signature `sig`, interning it.
    fn step_from(&mut self, sig: u32, e: u32, node: u32) -> u32 {
        let step = self.step_id(e, node);
        if let Some(back) = self.fold_back(sig, step) {
            return back;
        }
        let next = self.nodes.len() as u32;
        let s = *self.ids.entry((sig, step)).or_insert(next);
        if s == next {
            self.nodes.push((sig, step, false));
            let src = self.g.edge_source(e);
            self.roles.push(owner::step_role(self.g, e, src, node));
        }
        s
    }

    /// If `step` after the path of `sig` completes a second run of the last `k` steps
    /// (`k` up to [`MAX_CYCLE`]: a linked list, a chain through closure contexts), the
    /// signature the first run ends at, its steps marked repeated.
    fn fold_back(&mut self, sig: u32, step: u32) -> Option<u32> {
        // anc[j]: the j-th ancestor of sig (anc[0] = sig), while not the root.
        let mut anc = [ROOT_SIG; 2 * MAX_CYCLE];
        let mut depth = 0;
        let mut s = sig;
        while depth < 2 * MAX_CYCLE && s != ROOT_SIG {
            anc[depth] = s;
            depth += 1;
            s = self.nodes[s as usize].0;
        }
        // r[0] = step, r[j] = the step of anc[j - 1].
        let r = |j: usize| {
            if j == 0 {
                step
            } else {
                self.nodes[anc[j - 1] as usize].1
            }
        };
        for k in 1..=MAX_CYCLE {
            if 2 * k - 1 > depth {
                break;
            }
            if (0..k).all(|i| r(i) == r(i + k)) {
                for &a in &anc[k - 1..2 * k - 1] {
                    self.nodes[a as usize].2 = true;
                }
                return Some(anc[k - 1]);
            }
        }
        None
    }

    /// Signature of the path to `v` (interning every prefix on the way).
    pub fn signature(&mut self, v: u32) -> u32 {
        if v == self.g.root {
            return ROOT_SIG;
        }
        let known = self.memo.get(v);
        if known != UNTRACED {
            return known;
        }
        // Walk up to a node whose signature is known, then intern downwards.
        let mut chain = std::mem::take(&mut self.chain);
        let mut x = v;
        let mut sig = loop {
            if x == self.g.root {
                break ROOT_SIG;
            }
            let m = self.memo.get(x);
            if m != UNTRACED {
                break m;
            }
            match self.parent(x) {
                Some((e, src)) => {
                    chain.push((x, e));
                    x = src;
                }
                None => break UNREACHABLE_SIG,
            }
        };
        let g = self.g;
        while let Some((node, e)) = chain.pop() {
            if sig != UNREACHABLE_SIG {
                let t = g.edge_type[e as usize];
                let name = if by_index(t) {
                    0
                } else {
                    key_name(g, g.edge_name[e as usize])
                };
                let key = (
                    (sig as u64) << 32 | g.class_of[node as usize] as u64,
                    (t as u64) << 32 | name as u64,
                );
                sig = match self.next.get(&key) {
                    Some(&s) => s,
                    None => {
                        let s = self.step_from(sig, e, node);
                        if self.next.len() < NEXT_CAP {
                            self.next.insert(key, s);
                        }
                        s
                    }
                };
            }
            self.memo.set(node, sig);
        }
        self.chain = chain;
        sig
    }

    /// The steps of a signature, root first.
    pub fn steps(&self, sig: u32, show_values: bool) -> Vec<PathStep> {
        if sig == UNREACHABLE_SIG {
            return vec![PathStep {
                edge: String::new(),
                edge_type: EdgeType::None,
                node: "(unreachable)".into(),
                repeated: false,
                example: None,
            }];
        }
        let mut out = Vec::new();
        let mut s = sig;
        while s != ROOT_SIG {
            let (parent, step, repeated) = self.nodes[s as usize];
            let (t, pattern, class) = self.steps[step as usize];
            out.push(PathStep {
                edge: self.patterns[pattern as usize].clone(),
                edge_type: EdgeType::of(t),
                node: self.g.class_names[class as usize].clone(),
                repeated,
                example: if show_values {
                    Some(self.g.edge_label(self.example_edge[step as usize]))
                } else {
                    None
                },
            });
            s = parent;
        }
        out.reverse();
        out
    }

    /// The owner part of a signature's path (see [`owner`]), as typed data comparable
    /// across snapshots and processes: the signature's steps up from its end to the first
    /// whose role anchors an owner, by the same rule as [`owner::owner_of`].
    pub fn owner_key(&mut self, sig: u32) -> OwnerKey {
        if sig == UNREACHABLE_SIG || sig == ROOT_SIG {
            return (Anchor::Unnamed, Vec::new());
        }
        if let Some(k) = self.owner_keys.get(&sig) {
            return k.clone();
        }
        let (anchor, steps) = self.owner_steps(sig);
        let up = steps
            .into_iter()
            .map(|(s, export)| {
                let (t, pattern, class) = self.steps[self.nodes[s as usize].1 as usize];
                let key = StepKey {
                    edge_type: EdgeType::of(t),
                    edge: self.patterns[pattern as usize].clone(),
                    node: self.g.class_names[class as usize].clone(),
                };
                match export {
                    Some(name) => StepKey {
                        edge_type: EdgeType::Context,
                        edge: self.g.strings.get(name).to_string(),
                        ..key
                    },
                    None => key,
                }
            })
            .collect();
        let k = (anchor, up);
        self.owner_keys.insert(sig, k.clone());
        k
    }

    /// The one owner rule on a signature's path (see [`owner`]): the walk up from its end to
    /// the first step whose role anchors an owner. The anchor, and the owner part's steps
    /// root first, each as the signature it ends and, for an exported variable, the
    /// variable's name, which stands in for that step's edge.
    pub fn owner_steps(&self, sig: u32) -> (Anchor, Vec<(u32, Option<u32>)>) {
        let mut up = Vec::new();
        if sig == UNREACHABLE_SIG || sig == ROOT_SIG {
            return (Anchor::Unnamed, up);
        }
        let mut s = sig;
        let anchor = loop {
            if s == ROOT_SIG {
                break Anchor::Unnamed;
            }
            match self.roles[s as usize] {
                owner::StepRole::Name => up.push((s, None)),
                owner::StepRole::Anchor(a) => {
                    up.push((s, None));
                    break a;
                }
                owner::StepRole::AnchorBelow(a) => {
                    if up.is_empty() {
                        up.push((s, None));
                    }
                    break a;
                }
                owner::StepRole::Export(name) => {
                    up.push((s, Some(name)));
                    break Anchor::Variable;
                }
            }
            if up.len() >= owner::MAX_OWNER_WALK {
                break Anchor::Unnamed;
            }
            s = self.nodes[s as usize].0;
        };
        up.reverse();
        if matches!(anchor, Anchor::Unnamed | Anchor::Stack) && up.len() > owner::UNANCHORED_STEPS {
            up.drain(..up.len() - owner::UNANCHORED_STEPS);
        }
        (anchor, up)
    }

    /// Where the owner part starts in `sig`'s steps ([`Tracer::steps`]).
    pub fn owner_start(&mut self, sig: u32) -> usize {
        let len = self.steps(sig, false).len();
        let owner_len = self.owner_key(sig).1.len();
        len.saturating_sub(owner_len)
    }

    /// The steps of `sig`'s path as (edge type, edge pattern, class), root first: what
    /// identifies it in any tracer of the same snapshot.
    fn step_tuples(&self, sig: u32) -> Vec<(u8, &str, u32)> {
        let mut out = Vec::new();
        let mut s = sig;
        while s != ROOT_SIG && s != UNREACHABLE_SIG {
            let (parent, step, _) = self.nodes[s as usize];
            let (t, pattern, class) = self.steps[step as usize];
            out.push((t, self.patterns[pattern as usize].as_str(), class));
            s = parent;
        }
        out.reverse();
        out
    }

    /// This tracer's id of a step, if it has seen it.
    fn find_step(&self, (t, pattern, class): (u8, &str, u32)) -> Option<u32> {
        let p = *self.pattern_ids.get(pattern)?;
        self.step_ids.get(&(t, p, class)).copied()
    }
}

/// The owner part of a path: its anchor and its steps' keys (repeat marks left out:
/// whether a step was seen repeating depends on what else was traced, not on the path).
pub type OwnerKey = (Anchor, Vec<StepKey>);

/// The steps of a path traced in several parts (`parts[p]`'s signature `sig`), as one
/// tracer of the whole snapshot would show them: a step is marked repeated if it is in any
/// part (a mark that depends on which paths a tracer has seen), and its example edge is
/// the one the earliest part that saw the step chose.
fn merged_steps(parts: &[&Tracer], p: usize, sig: u32, show_values: bool) -> Vec<PathStep> {
    let mut steps = parts[p].steps(sig, show_values);
    if parts.len() == 1 || sig == UNREACHABLE_SIG {
        return steps;
    }
    let tuples = parts[p].step_tuples(sig);
    for t in parts {
        let mut at = ROOT_SIG;
        for (i, &tuple) in tuples.iter().enumerate() {
            let Some(next) = t
                .find_step(tuple)
                .and_then(|st| t.ids.get(&(at, st)).copied())
            else {
                break;
            };
            steps[i].repeated |= t.nodes[next as usize].2;
            at = next;
        }
    }
    if show_values {
        for (i, &tuple) in tuples.iter().enumerate() {
            let first = parts
                .iter()
                .find_map(|t| t.find_step(tuple).map(|st| (t, st)));
            if let Some((t, st)) = first {
                steps[i].example = Some(t.g.edge_label(t.example_edge[st as usize]));
            }
        }
    }
    steps
}

/// Per path signature: (instances, retained size of topmost instances, new instances,
/// retained size of the topmost new ones).
#[derive(Default, Clone, Copy)]
struct Agg {
    count: u64,
    retained: u64,
    new_count: u64,
    new_retained: u64,
}

impl Agg {
    fn add(&mut self, o: &Agg) {
        self.count += o.count;
        self.retained += o.retained;
        self.new_count += o.new_count;
        self.new_retained += o.new_retained;
    }
}

/// Selected instances per tracing task: a snapshot with more is traced in parts (node
/// ranges), each by its own tracer on its own core, and the parts are merged by path key.
const TRACE_PART: usize = 3 << 20;
/// A path tree deeper than 1/`DEEP_SHARE` of a part is traced in one part.
const DEEP_SHARE: usize = 16;

/// One part of a snapshot's tracing: its tracer and, per selected class, the aggregates by
/// signature (signatures of this tracer).
type Traced<'g> = (Tracer<'g>, Vec<FastMap<u32, Agg>>);

/// Which class slot (index into the selected classes) node `v` counts for, if any.
fn slot_of(g: &HeapGraph, v: usize, row_of: &[usize], slot_of_row: &[usize]) -> Option<usize> {
    if g.self_size.is_zero(v) {
        return None;
    }
    let row = row_of[g.class_of[v] as usize];
    (row != usize::MAX && slot_of_row[row] != usize::MAX).then(|| slot_of_row[row])
}

/// How many nodes ahead [`trace_range`] asks for a node's path edge.
const PREFETCH_AHEAD: usize = 16;

/// How one snapshot is traced: the node ranges of its parts.
fn trace_parts(
    g: &HeapGraph,
    row_of: &[usize],
    slot_of_row: &[usize],
    part: usize,
) -> Vec<Range<usize>> {
    let n = g.node_count();
    let selected = (0..n)
        .into_par_iter()
        .filter(|&v| slot_of(g, v, row_of, slot_of_row).is_some())
        .count();
    // Each part's tracer walks up from its nodes until it meets a path it has traced, so
    // parts share no work: on a heap whose paths are long chains (a linked list of
    // millions) every part would walk the chain again. Deep trees get one part.
    let deep = g.paths().max_depth as usize > part / DEEP_SHARE;
    let parts = if deep {
        1
    } else {
        selected.div_ceil(part.max(1)).max(1)
    };
    (0..parts)
        .map(|p| p * n / parts..(p + 1) * n / parts)
        .collect()
}

/// Trace the instances of the selected classes among nodes `range` of one snapshot and
/// aggregate them by signature.
fn trace_range<'g>(
    g: &'g HeapGraph,
    range: Range<usize>,
    row_of: &[usize],
    slot_of_row: &[usize],
    slots: usize,
    new: Option<&BitSet>,
    topmost: &BitSet,
) -> Traced<'g> {
    let mut tracer = Tracer::new(g);
    let mut per_slot: Vec<FastMap<u32, Agg>> = vec![FastMap::default(); slots];
    let parents = Some(&g.paths().parent[..]);
    let end = range.end;
    for v in range {
        // The path edge of a node a little ahead: its type and name are random reads.
        if let Some(&e) = parents.and_then(|p| p.get(v + PREFETCH_AHEAD)) {
            if e != NO_PARENT && v + PREFETCH_AHEAD < end {
                prefetch(&g.edge_name[e as usize]);
                prefetch(&g.edge_type[e as usize]);
            }
        }
        let Some(slot) = slot_of(g, v, row_of, slot_of_row) else {
            continue;
        };
        let sig = tracer.signature(v as u32);
        let a = per_slot[slot].entry(sig).or_default();
        let retained = if topmost.get(v) {
            g.retained_size[v]
        } else {
            0
        };
        a.count += 1;
        a.retained += retained;
        if new.is_some_and(|n| n.get(v)) {
            a.new_count += 1;
            a.new_retained += retained;
        }
    }
    (tracer, per_slot)
}

/// Retainer paths for the classes that grew most (rows of `cmp`, in order; `ignored` rows
/// are skipped). Within one process a path's `count`/`size` are the *new* instances it
/// holds; across processes, its growth by signature (after minus before, at least 0).
/// Keys of the result are row indexes.
pub fn class_paths(
    cmp: &Comparison,
    before: &HeapGraph,
    after: &HeapGraph,
    ignored: &[bool],
    show_values: bool,
) -> HashMap<usize, Vec<PathRow>> {
    class_paths_in_parts(cmp, before, after, ignored, show_values, TRACE_PART)
}

/// [`class_paths`], tracing each snapshot in parts of about `part` selected instances (the
/// result does not depend on it; tests check that).
pub fn class_paths_in_parts(
    cmp: &Comparison,
    before: &HeapGraph,
    after: &HeapGraph,
    ignored: &[bool],
    show_values: bool,
    part: usize,
) -> HashMap<usize, Vec<PathRow>> {
    let selected: Vec<usize> = (0..cmp.rows.len())
        .filter(|&k| !ignored[k] && cmp.rows[k].count_delta() > 0 && cmp.rows[k].size_delta() > 0)
        .take(PATH_CLASSES)
        .collect();
    if selected.is_empty() {
        return HashMap::new();
    }
    let mut slot_of_row = vec![usize::MAX; cmp.rows.len()];
    for (slot, &k) in selected.iter().enumerate() {
        slot_of_row[k] = slot;
    }
    let slots = selected.len();
    // Both snapshots' parts as one list of tasks, traced on all cores.
    let sides: [(&HeapGraph, &[usize], Option<&BitSet>, &BitSet); 2] = [
        (
            after,
            &cmp.row_of_after,
            Some(&cmp.new_in_after),
            &cmp.topmost_after,
        ),
        (before, &cmp.row_of_before, None, &cmp.topmost_before),
    ];
    let tasks: Vec<(usize, Range<usize>)> = sides
        .iter()
        .enumerate()
        .flat_map(|(k, &(g, row_of, _, _))| {
            trace_parts(g, row_of, &slot_of_row, part)
                .into_iter()
                .map(move |r| (k, r))
        })
        .collect();
    let traced: Vec<(usize, Traced)> = tasks
        .into_par_iter()
        .map(|(k, range)| {
            let (g, row_of, new, topmost) = sides[k];
            (
                k,
                trace_range(g, range, row_of, &slot_of_row, slots, new, topmost),
            )
        })
        .collect();
    let (mut after_parts, mut before_parts): (Vec<_>, Vec<_>) =
        traced.into_iter().partition(|(k, _)| *k == 0);
    // Every signature's full path and owner key as integers, shared by all parts of both
    // snapshots; then the step keys ranked, for the orders below.
    let mut keys = keys::Keys::new();
    let mut intern = |parts: &mut Vec<(usize, Traced)>, full: bool| -> Vec<keys::TracerKeys> {
        parts
            .iter_mut()
            .map(|(_, (t, aggs))| {
                let mut tk = keys::Keys::for_tracer(t);
                for sig in aggs.iter().flat_map(|m| m.keys()) {
                    if full {
                        keys.path(t, &mut tk, *sig);
                    }
                    keys.owner(t, &mut tk, *sig);
                }
                tk
            })
            .collect()
    };
    let mut after_keys = intern(&mut after_parts, true);
    let mut before_keys = intern(&mut before_parts, false);
    keys.rank_steps();
    let mut out = HashMap::new();
    for (slot, &row) in selected.iter().enumerate() {
        // Group by owner key; each group is shown by its most common full path (ties: the
        // first in step order).
        let mut before_by_key: FastMap<u32, Agg> = FastMap::default();
        for ((_, (t, aggs)), tk) in before_parts.iter().zip(&mut before_keys) {
            for (&sig, a) in &aggs[slot] {
                let owner = keys.owner(t, tk, sig);
                before_by_key.entry(owner).or_default().add(a);
            }
        }
        // The same full path may have a signature in several parts: merge those first.
        let mut by_path: FastMap<u32, (Agg, (usize, u32))> = FastMap::default();
        for (p, ((_, (t, aggs)), tk)) in after_parts.iter().zip(&mut after_keys).enumerate() {
            for (&sig, a) in &aggs[slot] {
                let full = keys.path(t, tk, sig);
                by_path
                    .entry(full)
                    .or_insert((Agg::default(), (p, sig)))
                    .0
                    .add(a);
            }
        }
        type Group = (Agg, (usize, u32), Vec<u32>, u64);
        let mut after_by_key: FastMap<u32, Group> = FastMap::default();
        for (full, (a, (p, sig))) in by_path {
            let key = keys.owner(&after_parts[p].1 .0, &mut after_keys[p], sig);
            let e = after_by_key
                .entry(key)
                .or_insert((Agg::default(), (p, sig), Vec::new(), 0));
            e.0.add(&a);
            let weight = a.new_count.max(a.count);
            if weight >= e.3 {
                let ranks = keys.path_ranks(full);
                if weight > e.3 || ranks < e.2 {
                    e.1 = (p, sig);
                    e.2 = ranks;
                    e.3 = weight;
                }
            }
        }
        let groups: Vec<(u32, Group)> = after_by_key.into_iter().collect();
        // Rank every group, then spell out only the paths that are shown.
        // (after, before, count, size, shown signature, owner id)
        type Ranked = (Agg, Agg, u64, u64, (usize, u32), u32);
        let mut ranked: Vec<Ranked> = Vec::new();
        for (key, (a, at, _, _)) in groups {
            let b = before_by_key.get(&key).copied().unwrap_or_default();
            let (count, size) = if cmp.ids_comparable {
                (a.new_count, a.new_retained)
            } else {
                (
                    a.count.saturating_sub(b.count),
                    a.retained.saturating_sub(b.retained),
                )
            };
            if count == 0 {
                continue;
            }
            ranked.push((a, b, count, size, at, key));
        }
        ranked.sort_by(|x, y| {
            y.2.cmp(&x.2)
                .then(y.3.cmp(&x.3))
                .then_with(|| keys.cmp_owners(x.5, y.5))
        });
        ranked.truncate(PATHS_PER_CLASS);
        let starts: Vec<usize> = ranked
            .iter()
            .map(|r| after_parts[r.4 .0].1 .0.owner_start(r.4 .1))
            .collect();
        let after_tracers: Vec<&Tracer> = after_parts.iter().map(|(_, (t, _))| t).collect();
        let paths: Vec<PathRow> = ranked
            .into_iter()
            .zip(starts)
            .map(|((a, b, count, size, (p, sig), _), owner_start)| PathRow {
                count,
                size,
                count_before: b.count,
                count_after: a.count,
                retained_size_before: b.retained,
                retained_size_after: a.retained,
                path: merged_steps(&after_tracers, p, sig, show_values),
                owner_start,
            })
            .collect();
        out.insert(row, paths);
    }
    out
}
