//! Keyed and indexed JS collections, as V8 lays them out, and how many entries each holds.
//! Shared by the `cache` and `unbounded_collection` detectors.
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

use super::owner;
use crate::graph::HeapGraph;
use crate::input::v8::{edge_kind, node_kind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How a collection stores its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Map,
    Set,
    Array,
    /// A plain object with many keys (used as a dictionary).
    Dictionary,
}

impl Shape {
    pub fn noun(self) -> &'static str {
        match self {
            Shape::Map => "Map",
            Shape::Set => "Set",
            Shape::Array => "Array",
            Shape::Dictionary => "object",
        }
    }
    /// What one entry is called in evidence.
    pub fn entries_word(self) -> &'static str {
        match self {
            Shape::Map => "entries",
            Shape::Set => "members",
            Shape::Array => "elements",
            Shape::Dictionary => "keys",
        }
    }
}

/// Classes whose many properties are not a program's data.
const NOT_DICTIONARIES: &[&str] = &["global", "Window", "WeakMap", "WeakSet", "Arguments"];
/// Property names that are never dictionary keys.
const NOT_KEYS: &[&str] = &["__proto__", "constructor"];

/// Entries of one collection.
#[derive(Debug, Default, Clone)]
pub struct Entries {
    pub count: u64,
    /// Entries whose value is an object (a JS object, closure or DOM node).
    pub object_values: u64,
    /// …of which functions.
    pub function_values: u64,
    /// Keys by name pattern (dictionaries only).
    pub key_patterns: HashMap<String, u64>,
    /// Value count by class index (of the snapshot measured).
    pub value_classes: HashMap<u32, u64>,
    /// Every node an entry points at (keys and values), for matching entries by id.
    pub targets: Vec<u32>,
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
    /// A plain object reads as a dictionary — data keyed by name — rather than a namespace or
    /// a prototype (many methods, named by hand): most keys share one data-like pattern
    /// (`order:<n>`), or most values are objects that are not functions.
    pub fn is_dictionary(&self) -> bool {
        let patterned = self
            .key_patterns
            .iter()
            .filter(|(p, _)| p.contains('<'))
            .map(|(_, &n)| n)
            .max()
            .unwrap_or(0);
        patterned * 2 >= self.count || (self.object_values - self.function_values) * 2 >= self.count
    }
    fn value(&mut self, g: &HeapGraph, v: u32) {
        if owner::is_object_value(g, v) {
            self.object_values += 1;
            if g.node_type[v as usize] == node_kind::CLOSURE {
                self.function_values += 1;
            }
        }
        *self
            .value_classes
            .entry(g.class_of[v as usize])
            .or_default() += 1;
    }
}

/// The collection shape of node `v`, by its class and type.
pub fn shape_of(g: &HeapGraph, v: u32) -> Option<Shape> {
    if g.node_type[v as usize] != node_kind::OBJECT {
        return None;
    }
    let class = g.class_names[g.class_of[v as usize] as usize].as_str();
    match class {
        "Map" => Some(Shape::Map),
        "Set" => Some(Shape::Set),
        "Array" => Some(Shape::Array),
        _ if class.starts_with("system / ")
            || class.starts_with("Detached ")
            || NOT_DICTIONARIES.contains(&class)
            || class.starts_with("Window") =>
        {
            None
        }
        _ => Some(Shape::Dictionary),
    }
}

/// The string ids a scan needs.
pub struct Names {
    table: Option<u32>,
    not_keys: Vec<Option<u32>>,
}

impl Names {
    pub fn of(g: &HeapGraph) -> Names {
        let mut ids = owner::string_ids(g, &["table", NOT_KEYS[0], NOT_KEYS[1]]);
        let table = ids.remove(0);
        Names {
            table,
            not_keys: ids,
        }
    }
    fn is_key(&self, g: &HeapGraph, e: usize) -> bool {
        let name = g.edge_name[e];
        !self.not_keys.contains(&Some(name)) && !g.strings.get(name).starts_with("<symbol ")
    }
}

/// The node a Map/Set keeps its hash table in.
fn table_of(g: &HeapGraph, names: &Names, v: u32) -> Option<u32> {
    let table = names.table?;
    let (a, b) = edge_range(g, v);
    (a..b)
        .find(|&e| g.edge_type[e] == edge_kind::INTERNAL && g.edge_name[e] == table)
        .map(|e| g.edge_to[e])
}

fn edge_range(g: &HeapGraph, v: u32) -> (usize, usize) {
    (
        g.first_edge[v as usize] as usize,
        g.first_edge[v as usize + 1] as usize,
    )
}

/// An upper bound of the entries of `v` from edge counts alone (no string work), so a scan
/// can skip small collections cheaply.
pub fn entries_upper_bound(g: &HeapGraph, names: &Names, v: u32, shape: Shape) -> u64 {
    match shape {
        Shape::Map | Shape::Set => table_of(g, names, v).map_or(0, |t| {
            let (a, b) = edge_range(g, t);
            (b - a) as u64
        }),
        Shape::Array | Shape::Dictionary => {
            let (a, b) = edge_range(g, v);
            (b - a) as u64
        }
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
            let (a, b) = edge_range(g, t);
            // (slot, target) of every slot edge, in slot order.
            let mut slots: Vec<(u32, u32)> = (a..b)
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
            let (a, b) = edge_range(g, v);
            for e in a..b {
                if g.edge_type[e] == edge_kind::ELEMENT {
                    out.count += 1;
                    out.targets.push(g.edge_to[e]);
                    out.value(g, g.edge_to[e]);
                }
            }
        }
        Shape::Dictionary => {
            let (a, b) = edge_range(g, v);
            for e in a..b {
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
                    out.count += 1;
                    out.targets.push(g.edge_to[e]);
                    out.value(g, g.edge_to[e]);
                }
            }
        }
    }
    out
}

/// Every collection of `g` with at least `min_entries` entries, in node order: one pass over
/// the nodes with cheap edge-count bounds, exact counts only for the big ones.
pub fn big_collections(g: &HeapGraph, min_entries: u64) -> Vec<(u32, Shape, Entries)> {
    let names = Names::of(g);
    let map = owner::class_ids(g, &["Map"]);
    let set = owner::class_ids(g, &["Set"]);
    let mut out = Vec::new();
    for v in 0..g.node_count() as u32 {
        if g.node_type[v as usize] != node_kind::OBJECT {
            continue;
        }
        let c = g.class_of[v as usize];
        let edges = (g.first_edge[v as usize + 1] - g.first_edge[v as usize]) as u64;
        // Map and Set keep entries in their table; anything else needs that many edges.
        let container = map.contains(&c) || set.contains(&c);
        if !container && edges < min_entries {
            continue;
        }
        let Some(shape) = shape_of(g, v) else {
            continue;
        };
        if entries_upper_bound(g, &names, v, shape) < min_entries {
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
/// are normal; a leak adds that many per step).
pub const MIN_ENTRY_GROWTH: u64 = 50;
/// …and as a share of what it held before: a million-entry table that gains 50 is noise.
pub const MIN_GROWTH_RATIO: f64 = 0.02;
/// Within one process, the share of the entries held before that must still be there:
/// a collection whose entries were replaced is churn (an LRU, a rolling window), not a leak.
pub const MIN_KEPT_RATIO: f64 = 0.5;

/// A collection that grew: the same owner (by key) in both snapshots.
pub struct Grown {
    pub shape: Shape,
    pub node: u32,
    pub owner: owner::Owner,
    pub before: Entries,
    pub after: Entries,
    pub retained_before: u64,
    pub retained_after: u64,
    /// Class of most values in the last snapshot.
    pub value_class: Option<String>,
}

/// Every collection that grew by the thresholds above, one per owner key, in a stable order
/// (by owner key). One linear pass finds the big collections of `after`; only those are
/// traced, and their owners resolved in `before` together.
pub fn grown_collections(cx: &super::DetectCtx<'_>) -> Vec<Grown> {
    let (before, after) = (cx.before, cx.after);
    let mut big = big_collections(after, MIN_ENTRY_GROWTH);
    if big.is_empty() {
        return Vec::new();
    }
    if big.len() > MAX_TRACED {
        big.sort_by(|x, y| y.2.count.cmp(&x.2.count).then(x.0.cmp(&y.0)));
        big.truncate(MAX_TRACED);
    }
    let mut tracer = crate::trace::Tracer::new(after);
    // One candidate per owner key: the biggest.
    let mut by_key: HashMap<String, (u32, Shape, Entries, owner::Owner)> = HashMap::new();
    for (v, shape, e) in big {
        let o = owner::Owner::trace(&mut tracer, v, cx.show_values);
        let key = format!("{}\u{1e}{}", shape.noun(), o.key());
        match by_key.get(&key) {
            Some((_, _, old, _)) if old.count >= e.count => {}
            _ => {
                by_key.insert(key, (v, shape, e, o));
            }
        }
    }
    let mut cands: Vec<(String, (u32, Shape, Entries, owner::Owner))> =
        by_key.into_iter().collect();
    cands.sort_by(|a, b| a.0.cmp(&b.0));
    let keys: Vec<&[crate::report::PathStep]> = cands
        .iter()
        .map(|(_, c)| c.3.key_steps.as_slice())
        .collect();
    let mut matches = owner::resolve_many(before, &keys);
    // An owner whose path has no name to search by is matched by node id (one process).
    let unnamed: Vec<usize> = (0..keys.len())
        .filter(|&k| !owner::resolvable(keys[k]))
        .collect();
    if !unnamed.is_empty() && cx.cmp.ids_comparable {
        let ids: Vec<u32> = unnamed
            .iter()
            .map(|&k| after.node_id[cands[k].1 .0 as usize])
            .collect();
        for (k, found) in unnamed.iter().zip(owner::nodes_by_id(before, &ids)) {
            matches[*k] = found.into_iter().collect();
        }
    }
    // Across processes an unnamed owner cannot be matched: no claim is made about it.
    let skip = |k: usize| !cx.cmp.ids_comparable && unnamed.contains(&k);
    let names_before = Names::of(before);
    let mut out = Vec::new();
    for (k, ((_, (v, shape, a, o)), found)) in cands.into_iter().zip(matches).enumerate() {
        if skip(k) {
            continue;
        }
        // The same owner before: the collection itself when the process is the same and it
        // was already there; otherwise the biggest of the same shape under the key.
        let same_id = found.iter().copied().find(|&u| {
            cx.cmp.ids_comparable && before.node_id[u as usize] == after.node_id[v as usize]
        });
        let found = same_id.map_or(found, |u| vec![u]);
        let mut b = Entries::default();
        let mut b_node = None;
        for u in found {
            if shape_of(before, u) != Some(shape) {
                continue;
            }
            let e = entries(before, &names_before, u, shape);
            if b_node.is_none() || e.count > b.count {
                b = e;
                b_node = Some(u);
            }
        }
        let grew = a.count.saturating_sub(b.count);
        if grew < MIN_ENTRY_GROWTH || (grew as f64) < MIN_GROWTH_RATIO * b.count as f64 {
            continue;
        }
        let value_class = a.main_value_class(after);
        // Engine bookkeeping that grows with warm-up is never a program's leak.
        let benign = value_class
            .as_deref()
            .is_some_and(|c| super::BENIGN_CLASSES.contains(&c));
        if benign || !owner::still_growing(cx, value_class.as_deref()) {
            continue;
        }
        if cx.cmp.ids_comparable && b.count > 0 && !kept_enough(before, after, &b, &a) {
            continue;
        }
        out.push(Grown {
            shape,
            node: v,
            value_class,
            retained_before: b_node.map_or(0, |u| before.retained_size[u as usize]),
            retained_after: after.retained_size[v as usize],
            owner: o,
            before: b,
            after: a,
        })
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

/// [`grown_collections`] computed once per comparison and shared by the `cache` and
/// `unbounded_collection` detectors (each reports its part of one scan). The result is kept
/// with the addresses of the graphs it was computed for, so a detector reused on another
/// comparison scans again. The second detector to ask waits for the first's scan.
#[derive(Clone, Default)]
pub struct SharedScan(Arc<Mutex<Option<Scanned>>>);

/// A scan and the addresses of the (before, after, comparison) it was made from.
type Scanned = ((usize, usize, usize), Arc<Vec<Grown>>);

impl SharedScan {
    pub fn get(&self, cx: &super::DetectCtx<'_>) -> Arc<Vec<Grown>> {
        let key = (
            cx.before as *const HeapGraph as usize,
            cx.after as *const HeapGraph as usize,
            cx.cmp as *const crate::diff::Comparison as usize,
        );
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, v)) = slot.as_ref() {
            if *k == key {
                return Arc::clone(v);
            }
        }
        let v = Arc::new(grown_collections(cx));
        *slot = Some((key, Arc::clone(&v)));
        v
    }
}
