//! Keyed and indexed JS collections, as V8 lays them out, how many entries each holds, and
//! which grew. Shared by the `subscriptions`, `cache` and `unbounded_collection` detectors,
//! which report their part of one scan by what the entries are ([`Purpose`]).
//!
//! - `Map` / `Set`: an internal `table` edge to an `OrderedHashMap`/`OrderedHashSet` (a node
//!   of type `array`, edges named by slot index). A Map entry takes three slots (key, value,
//!   chain) and a Set entry two (key, chain); the chain and small integers (Smis) have no
//!   edge, and V8 leaves out edges to the hole of deleted entries. So Map entries are the
//!   visible slots less the adjacent (key, value) pairs, Set entries the visible slots. The
//!   table's capacity (its size, its slot numbers) says nothing: hash tables never shrink.
//! - `Array`: one `element` edge per element that is a heap object.
//! - An object used as a dictionary: one `property` edge per key on the object itself
//!   (integer keys are `element` edges), besides its `properties` backing store.
//!
//! Counting only what the graph shows means a Map of small integers to small integers counts
//! nothing; such Maps hold no memory worth a finding anyway.

use super::util::{self, class, edges, is_object_value};
use super::{Candidate, DetectCtx};
use crate::graph::HeapGraph;
use crate::input::v8::{edge_kind, node_kind};
use crate::model::{
    Anchor, EdgeType, Evidence, Holder, HolderKey, Kind, LeakNodes, Owner, Purpose, Shape,
};
use crate::trace::OwnerKey;
use std::collections::HashMap;
use std::sync::Arc;

/// Classes whose many properties are not a program's data.
const NOT_DICTIONARIES: &[&str] = &["global", "Window", "WeakMap", "WeakSet", "Arguments"];
/// Property names that are never dictionary keys.
const NOT_KEYS: &[&str] = &["__proto__", "constructor"];
/// Properties of a value object that make it a callback record (`{ handler }` in jQuery,
/// `{ callback }` in Node's EventTarget, `{ fn, ctx }` in hand-written buses).
const CALLBACK_PROPERTIES: &[&str] = &["handler", "callback", "listener", "fn", "cb", "func"];
/// Properties of a value object that make it a request waiting for an answer.
const PENDING_PROPERTIES: &[&str] = &["resolve", "reject"];

/// Entries of one collection. Counting is cheap; what the values are (their classes,
/// callback and pending-request records) is worked out by [`Entries::classify`], only for
/// the collections that grew.
#[derive(Debug, Default, Clone)]
pub struct Entries {
    pub count: u64,
    /// Entries whose value is an object (a JS object, closure or DOM node).
    pub object_values: u64,
    /// …of which functions (closures).
    pub closure_values: u64,
    /// …functions and records of a callback (`{ handler }`): after [`Entries::classify`].
    pub function_values: u64,
    /// …records of a pending request (`{ resolve, reject }`) or promises: after
    /// [`Entries::classify`].
    pub pending_values: u64,
    /// Keys by name pattern (dictionaries only).
    pub key_patterns: HashMap<String, u64>,
    /// Value count by class index (of the snapshot measured): after [`Entries::classify`].
    pub value_classes: HashMap<u32, u64>,
    /// The value of every entry.
    pub values: Vec<u32>,
    /// Every node an entry points at (keys and values), for matching entries by id.
    pub targets: Vec<u32>,
    /// A dictionary that is a plain `Object` (not an instance of a class).
    pub plain: bool,
}

impl Entries {
    /// The most common class among the values, by name.
    pub fn main_value_class(&self, g: &HeapGraph) -> Option<String> {
        self.value_classes
            .iter()
            .max_by(|a, b| {
                a.1.cmp(b.1)
                    .then_with(|| g.class_names[*b.0 as usize].cmp(&g.class_names[*a.0 as usize]))
            })
            .map(|(&c, _)| g.class_names[c as usize].clone())
    }
    /// The most common key pattern with data in it (`order:<n>`), for dictionaries.
    pub fn main_key_pattern(&self) -> Option<&str> {
        self.key_patterns
            .iter()
            .filter(|(p, _)| p.contains('<'))
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(p, _)| p.as_str())
    }
    /// Most values are objects: the collection maps keys to records (cache-like).
    pub fn values_are_objects(&self) -> bool {
        self.count > 0 && self.object_values * 2 >= self.count
    }
    /// What the entries are for, from what most of them hold (after [`Entries::classify`]).
    pub fn purpose(&self) -> Purpose {
        if self.count > 0 && self.function_values * 2 >= self.count {
            Purpose::Callbacks
        } else if self.count > 0 && self.pending_values * 2 >= self.count {
            Purpose::Pending
        } else if self.values_are_objects() {
            Purpose::Records
        } else {
            Purpose::Values
        }
    }
    /// An object reads as a dictionary — data keyed by name — rather than a namespace, a
    /// prototype (many methods, named by hand) or a record of a class (a customer's fields):
    /// most keys share one data-like pattern (`order:<n>`), or it is a plain `Object` whose
    /// values are mostly objects that are not functions.
    pub fn is_dictionary(&self) -> bool {
        let patterned = self
            .key_patterns
            .iter()
            .filter(|(p, _)| p.contains('<'))
            .map(|(_, &n)| n)
            .max()
            .unwrap_or(0);
        patterned * 2 >= self.count
            || (self.plain && (self.object_values - self.closure_values) * 2 >= self.count)
    }
    fn value(&mut self, g: &HeapGraph, v: u32) {
        if is_object_value(g, v) {
            self.object_values += 1;
            if g.node_type[v as usize] == node_kind::CLOSURE {
                self.closure_values += 1;
            }
        }
        self.values.push(v);
    }
    /// Work out what the values are: their classes, and which are callbacks or pending
    /// requests.
    pub fn classify(&mut self, g: &HeapGraph, names: &Names) {
        self.function_values = 0;
        self.pending_values = 0;
        self.value_classes.clear();
        for &v in &self.values {
            if is_object_value(g, v) {
                match g.node_type[v as usize] {
                    node_kind::CLOSURE => self.function_values += 1,
                    node_kind::OBJECT => match names.record_of(g, v) {
                        Record::Callback => self.function_values += 1,
                        Record::Pending => self.pending_values += 1,
                        Record::Other => {}
                    },
                    _ => {}
                }
            }
            *self
                .value_classes
                .entry(g.class_of[v as usize])
                .or_default() += 1;
        }
    }
}

/// Whether a key may be data (cheaply, before its pattern is worked out): it has a digit,
/// a separator, or is long.
fn may_be_data(key: &str) -> bool {
    key.len() >= 16
        || key.bytes().any(|b| {
            b.is_ascii_digit() || matches!(b, b':' | b'/' | b'@' | b'-' | b'.' | b' ' | b'_')
        })
}

/// The collection shape of node `v`, by its class and type.
pub fn shape_of(g: &HeapGraph, v: u32) -> Option<Shape> {
    if g.node_type[v as usize] != node_kind::OBJECT {
        return None;
    }
    shape_of_class(class(g, v))
}

/// The collection shape of an object of class `c`.
fn shape_of_class(c: &str) -> Option<Shape> {
    match c {
        "Map" => Some(Shape::Map),
        "Set" => Some(Shape::Set),
        "Array" => Some(Shape::Array),
        _ if c.starts_with("system / ")
            || c.starts_with("Detached ")
            || NOT_DICTIONARIES.contains(&c)
            || c.starts_with("Window") =>
        {
            None
        }
        _ => Some(Shape::Dictionary),
    }
}

/// What a value object is.
enum Record {
    Callback,
    Pending,
    Other,
}

/// The string ids a scan needs.
pub struct Names {
    table: Option<u32>,
    not_keys: Vec<Option<u32>>,
    callbacks: Vec<u32>,
    pending: Vec<u32>,
}

impl Names {
    pub fn of(g: &HeapGraph) -> Names {
        let mut all = vec!["table"];
        all.extend(NOT_KEYS);
        all.extend(CALLBACK_PROPERTIES);
        all.extend(PENDING_PROPERTIES);
        let ids = util::string_ids(g, &all);
        let (k, c) = (1 + NOT_KEYS.len(), CALLBACK_PROPERTIES.len());
        Names {
            table: ids[0],
            not_keys: ids[1..k].to_vec(),
            callbacks: ids[k..k + c].iter().flatten().copied().collect(),
            pending: ids[k + c..].iter().flatten().copied().collect(),
        }
    }
    fn is_key(&self, g: &HeapGraph, e: usize) -> bool {
        let name = g.edge_name[e];
        !self.not_keys.contains(&Some(name)) && !g.strings.get(name).starts_with("<symbol ")
    }
    /// Whether an object value is a callback record or a pending request.
    fn record_of(&self, g: &HeapGraph, v: u32) -> Record {
        if class(g, v) == "Promise" {
            return Record::Pending;
        }
        let mut pending = 0;
        for e in edges(g, v) {
            if g.edge_type[e] != edge_kind::PROPERTY
                || g.node_type[g.edge_to[e] as usize] != node_kind::CLOSURE
            {
                continue;
            }
            let n = g.edge_name[e];
            if self.callbacks.contains(&n) {
                return Record::Callback;
            }
            if self.pending.contains(&n) {
                pending += 1;
            }
        }
        if pending > 0 {
            Record::Pending
        } else {
            Record::Other
        }
    }
}

/// The node a Map/Set keeps its hash table in.
fn table_of(g: &HeapGraph, names: &Names, v: u32) -> Option<u32> {
    util::edge_to(g, v, edge_kind::INTERNAL, names.table)
}

/// An upper bound of the entries of `v` from edge counts alone (no string work), so a scan
/// can skip small collections cheaply.
pub fn entries_upper_bound(g: &HeapGraph, names: &Names, v: u32, shape: Shape) -> u64 {
    match shape {
        Shape::Map | Shape::Set => table_of(g, names, v).map_or(0, |t| edges(g, t).len() as u64),
        Shape::Array | Shape::Dictionary => edges(g, v).len() as u64,
    }
}

/// Count the entries of collection `v`.
pub fn entries(g: &HeapGraph, names: &Names, v: u32, shape: Shape) -> Entries {
    let mut out = Entries::default();
    match shape {
        Shape::Map | Shape::Set => {
            let Some(t) = table_of(g, names, v) else {
                return out;
            };
            // (slot, target) of every slot edge, in slot order.
            let mut slots: Vec<(u32, u32)> = edges(g, t)
                .filter(|&e| g.edge_type[e] == edge_kind::INTERNAL)
                .filter_map(|e| {
                    let slot = g.strings.get(g.edge_name[e]).parse::<u32>().ok()?;
                    Some((slot, g.edge_to[e]))
                })
                .collect();
            if !slots.windows(2).all(|w| w[0].0 < w[1].0) {
                slots.sort_unstable();
            }
            out.targets = slots.iter().map(|s| s.1).collect();
            let mut i = 0;
            while i < slots.len() {
                out.count += 1;
                if shape == Shape::Map && i + 1 < slots.len() && slots[i + 1].0 == slots[i].0 + 1 {
                    // Key and value of one entry.
                    out.value(g, slots[i + 1].1);
                    i += 2;
                } else {
                    out.value(g, slots[i].1);
                    i += 1;
                }
            }
        }
        Shape::Array => {
            for e in edges(g, v) {
                if g.edge_type[e] == edge_kind::ELEMENT {
                    out.count += 1;
                    out.targets.push(g.edge_to[e]);
                    out.value(g, g.edge_to[e]);
                }
            }
        }
        Shape::Dictionary => {
            // First without any string work: a record of a class (a customer's fields) is
            // most often not a dictionary, and is left at that.
            let (mut keys, mut data_like) = (0u64, 0u64);
            for e in edges(g, v) {
                match g.edge_type[e] {
                    edge_kind::PROPERTY if names.is_key(g, e) => {
                        keys += 1;
                        data_like += may_be_data(g.strings.get(g.edge_name[e])) as u64;
                        out.value(g, g.edge_to[e]);
                    }
                    edge_kind::ELEMENT => {
                        keys += 1;
                        data_like += 1;
                        out.value(g, g.edge_to[e]);
                    }
                    _ => {}
                }
            }
            out.count = keys;
            out.plain = class(g, v) == "Object";
            let objects = out.object_values - out.closure_values;
            if data_like * 2 < keys && !(out.plain && objects * 2 >= keys) {
                // Neither data-like keys nor record values: not a dictionary.
                return out;
            }
            for e in edges(g, v) {
                let keyed = match g.edge_type[e] {
                    edge_kind::PROPERTY if names.is_key(g, e) => {
                        let p = crate::trace::name_pattern(g.strings.get(g.edge_name[e]));
                        *out.key_patterns.entry(p).or_default() += 1;
                        true
                    }
                    edge_kind::ELEMENT => {
                        *out.key_patterns.entry("<n>".into()).or_default() += 1;
                        true
                    }
                    _ => false,
                };
                if keyed {
                    out.targets.push(g.edge_to[e]);
                }
            }
        }
    }
    out
}

/// Every collection of snapshot `i` with at least `min_entries` entries, in node order:
/// the scan's candidates, cheap edge-count bounds first, exact counts only for the big ones.
pub fn big_collections(
    cx: &DetectCtx<'_>,
    i: usize,
    min_entries: u64,
) -> Vec<(u32, Shape, Entries)> {
    let g = cx.graphs[i];
    let names = Names::of(g);
    // The shape of every class, worked out once.
    let shapes: Vec<Option<Shape>> = g.class_names.iter().map(|c| shape_of_class(c)).collect();
    let mut out = Vec::new();
    for &v in &cx.scan(i).collections {
        let Some(shape) = shapes[g.class_of[v as usize] as usize] else {
            continue;
        };
        let bound = entries_upper_bound(g, &names, v, shape);
        // Fewer entries than a small growth can be reported only for what they keep.
        if bound < min_entries
            || (bound < MIN_SMALL_GROWTH && g.retained_size[v as usize] < MIN_RETAINED_GROWTH)
        {
            continue;
        }
        let e = entries(g, &names, v, shape);
        if e.count >= min_entries && (shape != Shape::Dictionary || e.is_dictionary()) {
            out.push((v, shape, e));
        }
    }
    out
}

/// At most this many big collections are traced (the biggest first): collections that
/// share an owner path (one per instance of some class) collapse into one candidate anyway.
pub const MAX_TRACED: usize = 10_000;
/// Entries a collection must gain to be reported (a few dozen entries of churn or warm-up
/// are normal; a leak adds that many per step)…
pub const MIN_ENTRY_GROWTH: u64 = 50;
/// …and as a share of what it held before: a million-entry table that gains 50 is noise.
pub const MIN_GROWTH_RATIO: f64 = 0.02;
/// A collection that gains fewer entries is reported when it gained at least this many and
/// half of what it held (a cache of route data that grows by a dozen per navigation).
pub const MIN_SMALL_GROWTH: u64 = 10;
/// A collection that gains fewer entries is reported when what they keep grew by this much
/// (a few closures that each capture a large buffer).
pub const MIN_RETAINED_GROWTH: u64 = 1 << 20;
/// …and gained at least this many entries.
pub const MIN_FEW_ENTRIES: u64 = 5;
/// A list of callbacks that gained at least this many is kept as the possible cause of
/// another finding ([`crate::model::LeakNodes::supporting`]).
pub const MIN_SUPPORTING_GROWTH: u64 = 2;
/// Within one process, the share of the entries held before that must still be there:
/// a collection whose entries were replaced is churn (an LRU, a rolling window), not a leak.
pub const MIN_KEPT_RATIO: f64 = 0.5;

/// A collection that grew: the same owner in every snapshot.
pub struct Grown {
    pub shape: Shape,
    pub node: u32,
    pub owner: Owner,
    pub path: Vec<crate::model::PathStep>,
    /// Entries in every snapshot (0 where the owner was not found).
    pub counts: Vec<u64>,
    pub after: Entries,
    pub retained_before: u64,
    pub retained_after: u64,
    /// Class of most values in the last snapshot.
    pub value_class: Option<String>,
    /// Bytes outside the JS heap the collection keeps (ArrayBuffer stores), last snapshot.
    pub external_bytes: u64,
    /// Grew too little to be a finding by itself (see [`crate::model::LeakNodes::supporting`]).
    pub supporting: bool,
}

impl Grown {
    /// The candidate a detector reports for this collection.
    pub fn candidate(&self, kind: Kind) -> Candidate {
        Candidate {
            kind,
            holders: vec![Holder::Path(self.owner.clone())],
            path: self.path.clone(),
            counts: self.counts.clone(),
            retained_size_before: self.retained_before,
            retained_size_after: self.retained_after,
            shared: false,
            evidence: Evidence::Collection {
                collection: self.shape,
                purpose: self.after.purpose(),
                value_class: self.value_class.clone(),
                key_pattern: (self.shape == Shape::Dictionary)
                    .then(|| self.after.main_key_pattern().map(str::to_string))
                    .flatten(),
                external_bytes: self.external_bytes,
            },
            nodes: LeakNodes {
                supporting: self.supporting,
                holders: vec![self.node],
                kept: self.after.targets.clone(),
            },
        }
    }
}

/// Whether a collection is the runtime's own bookkeeping (Node's timer lists and queues):
/// held by the runtime with no program scope on the way.
fn runtime_owned(g: &HeapGraph, v: u32, (anchor, steps): &OwnerKey) -> bool {
    crate::trace::owner::is_runtime_node(g, v)
        || (matches!(anchor, Anchor::Runtime | Anchor::RuntimeVariable)
            && !steps
                .iter()
                .skip(1)
                .any(|s| s.edge_type == EdgeType::Context))
}

/// A traced collection: (shape, owner key) and (node, shape, entries, owner).
type Cand = ((u8, HolderKey), (u32, Shape, Entries, Owner));

/// Every collection that grew by the thresholds above, one per owner, in a stable order (by
/// owner). One pass over the scan's candidates finds the big collections of the last
/// snapshot; only those are traced, and their owners resolved in the other snapshots
/// together.
pub fn grown_collections(cx: &DetectCtx<'_>) -> Vec<Grown> {
    let last = cx.snapshots() - 1;
    let after = cx.after();
    let mut big = big_collections(cx, last, MIN_FEW_ENTRIES.min(MIN_SMALL_GROWTH));
    if big.is_empty() {
        return Vec::new();
    }
    if big.len() > MAX_TRACED {
        big.sort_by(|x, y| y.2.count.cmp(&x.2.count).then(x.0.cmp(&y.0)));
        big.truncate(MAX_TRACED);
    }
    // One candidate per (shape, owner): the biggest. Owners are keyed through one tracer,
    // so the many collections of one path (each record's own array) cost one walk.
    let mut tracer = crate::trace::Tracer::new(after);
    let mut by_key: HashMap<(u8, OwnerKey), (u32, Shape, Entries)> = HashMap::new();
    for (v, shape, e) in big {
        let sig = tracer.signature(v);
        let key = tracer.owner_key(sig);
        // The runtime's own bookkeeping is never the program's leak, and what only the
        // stack holds (a running function's local) is gone when the function returns.
        if runtime_owned(after, v, &key) || key.0 == Anchor::Stack {
            continue;
        }
        let key = (shape as u8, key);
        match by_key.get(&key) {
            Some((_, _, old)) if old.count >= e.count => {}
            _ => {
                by_key.insert(key, (v, shape, e));
            }
        }
    }
    let by_key: HashMap<(u8, HolderKey), (u32, Shape, Entries, Owner)> = by_key
        .into_values()
        .map(|(v, shape, e)| {
            let o = crate::trace::owner::owner_of(after, v, cx.show_values);
            (
                (shape as u8, Holder::Path(o.clone()).key()),
                (v, shape, e, o),
            )
        })
        .collect();
    let mut cands: Vec<Cand> = by_key.into_iter().collect();
    cands.sort_by(|a, b| a.0.cmp(&b.0));
    let resolvable: Vec<bool> = cands
        .iter()
        .map(|(_, c)| crate::trace::owner::resolvable(&c.3))
        .collect();
    // The same owner in every earlier snapshot: per snapshot, per candidate, the node and
    // its entries.
    let earlier: Vec<Vec<Option<(u32, Entries)>>> =
        (0..last).map(|i| same_collections(cx, i, &cands)).collect();
    let mut out = Vec::new();
    let names_after = Names::of(after);
    for (k, (_, (v, shape, mut a, o))) in cands.into_iter().enumerate() {
        let Some(found) = earlier
            .iter()
            .map(|per| per.get(k))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        // Across processes an owner without a name to search by cannot be matched: no claim.
        if !cx.same_process() && !resolvable[k] {
            continue;
        }
        let b = found[0].as_ref().map(|(_, e)| e);
        let b_count = b.map_or(0, |e| e.count);
        let grew = a.count.saturating_sub(b_count);
        if grew < MIN_SUPPORTING_GROWTH {
            continue;
        }
        a.classify(after, &names_after);
        let retained_before = found[0]
            .as_ref()
            .map_or(0, |(u, _)| cx.before().retained_size[*u as usize]);
        let retained_after = after.retained_size[v as usize];
        // One of many collections under one path (each record's own array) grows only by
        // the big measure: a few more entries in each record is what records do.
        let per_record = o
            .steps
            .iter()
            .any(|s| s.edge_type == EdgeType::Element || s.edge == "<n>");
        let big_growth = (grew >= MIN_ENTRY_GROWTH
            && (grew as f64) >= MIN_GROWTH_RATIO * b_count as f64)
            || (!per_record && grew >= MIN_SMALL_GROWTH && grew * 2 >= b_count);
        let heavy_growth = grew >= MIN_FEW_ENTRIES
            && retained_after.saturating_sub(retained_before) >= MIN_RETAINED_GROWTH;
        // A list of callbacks that grew a little is kept to name the cause of what its
        // callbacks keep alive, if anything else is reported.
        let supporting = !big_growth
            && !heavy_growth
            && grew >= MIN_SUPPORTING_GROWTH
            && a.purpose() == Purpose::Callbacks;
        if !big_growth && !heavy_growth && !supporting {
            continue;
        }
        let value_class = a.main_value_class(after);
        // Engine bookkeeping that grows with warm-up is never a program's leak.
        if value_class
            .as_deref()
            .is_some_and(|c| super::BENIGN_CLASSES.contains(&c))
        {
            continue;
        }
        if cx.same_process() {
            if let Some(b) = b.filter(|b| b.count > 0) {
                if !kept_enough(cx.before(), after, b, &a) {
                    continue;
                }
            }
        }
        let mut counts: Vec<u64> = found
            .iter()
            .map(|f| f.as_ref().map_or(0, |(_, e)| e.count))
            .collect();
        counts.push(a.count);
        out.push(Grown {
            shape,
            node: v,
            path: util::path_to(after, v, cx.show_values),
            value_class,
            external_bytes: 0,
            supporting,
            retained_before,
            retained_after,
            owner: o,
            counts,
            after: a,
        });
    }
    let nodes: Vec<u32> = out.iter().map(|g| g.node).collect();
    for (g, bytes) in out
        .iter_mut()
        .zip(external_bytes(after, &cx.scan(last).external, &nodes))
    {
        g.external_bytes = bytes;
    }
    out
}

/// For each candidate, its collection in snapshot `i` (not the last): the same node when the
/// process is the same and it was already there; otherwise the biggest of the same shape
/// found at the owner's path.
fn same_collections(cx: &DetectCtx<'_>, i: usize, cands: &[Cand]) -> Vec<Option<(u32, Entries)>> {
    let g = cx.graphs[i];
    let after = cx.after();
    let owners: Vec<&Owner> = cands.iter().map(|(_, c)| &c.3).collect();
    let mut found = crate::trace::owner::resolve_many(g, &owners);
    if cx.same_process() {
        // An owner with no name to search by is matched by node id.
        let unnamed: Vec<usize> = (0..owners.len())
            .filter(|&k| !crate::trace::owner::resolvable(owners[k]))
            .collect();
        let ids: Vec<u32> = unnamed
            .iter()
            .map(|&k| after.node_id[cands[k].1 .0 as usize])
            .collect();
        for (k, node) in unnamed.iter().zip(nodes_by_id(g, &ids)) {
            found[*k] = node.into_iter().collect();
        }
    }
    let names = Names::of(g);
    cands
        .iter()
        .zip(found)
        .map(|((_, (v, shape, _, _)), nodes)| {
            let same_id = nodes.iter().copied().find(|&u| {
                cx.same_process() && g.node_id[u as usize] == after.node_id[*v as usize]
            });
            let nodes = same_id.map_or(nodes, |u| vec![u]);
            let mut best: Option<(u32, Entries)> = None;
            for u in nodes {
                if shape_of(g, u) != Some(*shape) {
                    continue;
                }
                let e = entries(g, &names, u, *shape);
                if best.as_ref().is_none_or(|(_, b)| e.count > b.count) {
                    best = Some((u, e));
                }
            }
            best
        })
        .collect()
}

/// The node with each of `ids` in `g`, if any: one pass over the node ids.
pub fn nodes_by_id(g: &HeapGraph, ids: &[u32]) -> Vec<Option<u32>> {
    let want: HashMap<u32, usize> = ids.iter().enumerate().map(|(k, &id)| (id, k)).collect();
    let mut out = vec![None; ids.len()];
    if want.is_empty() {
        return out;
    }
    for (v, id) in g.node_id.iter().enumerate() {
        if let Some(&k) = want.get(id) {
            out[k] = Some(v as u32);
        }
    }
    out
}

/// Classes of the nodes V8 gives the size of memory kept outside the JS heap: ArrayBuffer
/// backing stores (a Buffer's bytes).
pub const EXTERNAL_CLASSES: &[&str] = &["system / JSArrayBufferData"];
/// How far up the dominator tree an external store's holders are looked for.
const MAX_DOMINATOR_WALK: usize = 10_000;

/// For each of `nodes`, the bytes of external stores (`stores`, from the scan) in its
/// dominator subtree: one walk up the dominator tree from every store.
pub fn external_bytes(g: &HeapGraph, stores: &[u32], nodes: &[u32]) -> Vec<u64> {
    let mut out = vec![0u64; nodes.len()];
    if nodes.is_empty() {
        return out;
    }
    let index: HashMap<u32, usize> = nodes.iter().enumerate().map(|(k, &v)| (v, k)).collect();
    for &v in stores {
        let size = g.self_size.get(v as usize);
        let mut x = v;
        for _ in 0..MAX_DOMINATOR_WALK {
            if let Some(&k) = index.get(&x) {
                out[k] += size;
            }
            let up = g.idom[x as usize];
            if up == x || x == g.root {
                break;
            }
            x = up;
        }
    }
    out
}

/// Whether most entries (by node id) held before are still held after.
fn kept_enough(before: &HeapGraph, after: &HeapGraph, b: &Entries, a: &Entries) -> bool {
    let now: std::collections::HashSet<u32> = a
        .targets
        .iter()
        .map(|&t| after.node_id[t as usize])
        .collect();
    let mut then: Vec<u32> = b
        .targets
        .iter()
        .map(|&t| before.node_id[t as usize])
        .collect();
    then.sort_unstable();
    then.dedup();
    if then.is_empty() {
        return true;
    }
    let kept = then.iter().filter(|id| now.contains(id)).count();
    kept as f64 >= MIN_KEPT_RATIO * then.len() as f64
}

/// [`grown_collections`] computed once and shared by the collection detectors (each reports
/// its part of one scan); the second detector to ask waits for the first's scan. One is
/// made per run of the detectors ([`super::detectors`]).
#[derive(Clone, Default)]
pub struct SharedScan(Arc<std::sync::OnceLock<Vec<Grown>>>);

impl SharedScan {
    pub fn get<'s>(&'s self, cx: &DetectCtx<'_>) -> &'s [Grown] {
        self.0.get_or_init(|| grown_collections(cx))
    }
}
