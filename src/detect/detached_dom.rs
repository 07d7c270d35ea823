//! `detached_dom`: DOM trees removed from the document but still reachable, grouped by what
//! keeps them alive — a JS array, Map or variable, or a closure (often an event listener).
//!
//! A node is detached when Blink marks it so (`detachedness` 2, which heapdiff's class names
//! show as `Detached …`) or, as DevTools has it, when it is native and only detached nodes
//! reach it ([`crate::graph::dom_state`]: an element's `Text`, its attribute data). A tree
//! is reported for the DOM nodes it gains and counted with its internals. The DOM nodes of
//! one tree hang under its *top*, the detached node whose dominator is outside every
//! detached tree. A tree's holders are the retainers of its top
//! that are outside detached trees (what sits inside — a listener on a button of the panel,
//! the panel's own data — is part of the tree, not a holder), each named for what owns it:
//! an engine array or hash table for the collection that owns it (`removedRows`), a scope
//! for its variable, a listener's closure for its DOM target and function
//! (`window (onResize listeners)`). A tree held by two holders (an array and a Map) names
//! both, and its size is shared: neither dominates it.
//!
//! Embedder objects that are marked detached in every healthy process (Node's
//! `Node / BindingData`) are data ([`BENIGN_DETACHED`]) and never counted.

use super::event_listeners::{blink_function, dom_target_name};
use super::util::{class, edges};
use super::{Candidate, DetectCtx, Detector};
use crate::graph::{BitSet, HeapGraph};
use crate::input::v8::{edge_kind, node_kind};
use crate::model::{Evidence, Holder, HolderKey, Kind, LeakNodes, Owner, PathStep};
use crate::trace::function_name;
use std::collections::{BTreeMap, HashMap};

pub struct DetachedDom;

/// Detached DOM nodes one holder must gain to be reported (a healthy page keeps none, or a
/// constant few).
pub const MIN_DETACHED_GROWTH: u64 = 3;

/// Class name prefixes (after `Detached `) of embedder objects that are detached by design.
pub const BENIGN_DETACHED: &[&str] = &["Node / "];
/// Native DOM node classes without a tag (`<li>` and the like are recognised by their `<`).
const DOM_NODE_CLASSES: &[&str] = &[
    "Text",
    "Comment",
    "CDATASection",
    "DocumentFragment",
    "ShadowRoot",
    "Attr",
];
const V8_LISTENER: &str = "V8EventListener";
const TARGET_DATA: &str = "blink::EventTargetData";
/// How far above a listener's function its `EventTargetData` may be.
const MAX_LISTENER_DEPTH: usize = 10;
/// How far up the dominator tree "is this inside a detached tree" is asked.
const MAX_INSIDE_WALK: usize = 256;

/// Per class: (named `Detached …`, benign by [`BENIGN_DETACHED`]).
fn class_flags(g: &HeapGraph) -> Vec<(bool, bool)> {
    g.class_names
        .iter()
        .map(|c| {
            let base = c.strip_prefix("Detached ");
            let benign = BENIGN_DETACHED
                .iter()
                .any(|p| base.unwrap_or(c).starts_with(p));
            (base.is_some(), benign)
        })
        .collect()
}

/// A DOM node (an element, a text node, …), detached or not: not an embedder internal.
fn is_dom_node(g: &HeapGraph, v: u32) -> bool {
    if g.node_type[v as usize] != node_kind::NATIVE {
        return false;
    }
    let c = class(g, v);
    let c = c.strip_prefix("Detached ").unwrap_or(c);
    c.starts_with('<') || DOM_NODE_CLASSES.contains(&c)
}

/// Part of a DOM tree: detached, or a native DOM node (one not marked detached, as when an
/// attached node still points into a removed tree).
fn in_dom_tree(g: &HeapGraph, detached: &BitSet, v: u32) -> bool {
    detached.get(v as usize) || is_dom_node(g, v)
}

/// What the holders of some trees keep, in one snapshot.
#[derive(Default)]
struct Group {
    holders: Vec<Holder>,
    holder_nodes: Vec<u32>,
    /// A node to trace for the finding's path.
    path_node: u32,
    /// Detached nodes, embedder internals included (the `Detached …` rows DevTools shows).
    count: u64,
    /// DOM nodes among them (elements, text, …, or a tree's own top): what must grow.
    dom_count: u64,
    retained: u64,
    shared: bool,
    classes: BTreeMap<String, u64>,
    nodes: Vec<u32>,
}

/// The detached trees of snapshot `i`, grouped by their holders' keys.
fn groups(cx: &DetectCtx<'_>, i: usize) -> BTreeMap<Vec<HolderKey>, Group> {
    let g = cx.graphs[i];
    let flags = class_flags(g);
    let mut detached = BitSet::new(g.node_count());
    let mut list = Vec::new();
    for &v in &cx.scan(i).detached {
        let (_, benign) = flags[g.class_of[v as usize] as usize];
        if !benign {
            detached.set(v as usize);
            list.push(v);
        }
    }
    let mut out: BTreeMap<Vec<HolderKey>, Group> = BTreeMap::new();
    if list.is_empty() {
        return out;
    }
    // Each detached DOM node's top: up the dominator tree while still in a DOM tree.
    let mut top_of: HashMap<u32, u32> = HashMap::new();
    let (dom, internal): (Vec<u32>, Vec<u32>) = list.iter().partition(|&&v| is_dom_node(g, v));
    for &v in &dom {
        let mut chain = vec![v];
        let mut u = v;
        let top = loop {
            if let Some(&t) = top_of.get(&u) {
                break t;
            }
            let up = g.idom[u as usize];
            if up == u || u == g.root || !in_dom_tree(g, &detached, up) {
                break u;
            }
            chain.push(up);
            u = up;
        };
        for c in chain {
            top_of.insert(c, top);
        }
    }
    // The embedder internals detached with them (an element's attribute data, a class
    // list) belong to the tree that reaches them, which their dominator need not be in
    // (data shared by two elements hangs under what holds both trees). They are counted
    // with that tree but never make one: a tree is reported for the DOM nodes it gains.
    let mut stack = dom.clone();
    while let Some(u) = stack.pop() {
        let top = top_of[&u];
        for e in g.first_edge[u as usize] as usize..g.first_edge[u as usize + 1] as usize {
            let t = g.edge_to[e];
            if matches!(g.edge_type[e], edge_kind::HIDDEN | edge_kind::WEAK)
                || !detached.get(t as usize)
                || top_of.contains_key(&t)
            {
                continue;
            }
            top_of.insert(t, top);
            stack.push(t);
        }
    }
    let inside = |x: u32| is_inside(g, &detached, x);
    let mut named: HashMap<u32, Vec<(Holder, u32)>> = HashMap::new();
    for v in dom.into_iter().chain(internal) {
        // A detached node no DOM node reaches (marked by the embedder itself) is a tree.
        let top = *top_of.entry(v).or_insert(v);
        // A top inside another tree (a panel kept by a listener on a button of another
        // detached panel) belongs to the outer tree's holders.
        let holders = named
            .entry(top)
            .or_insert_with(|| name_holders(g, &detached, top, &inside, cx.show_values))
            .clone();
        let key: Vec<HolderKey> = holders.iter().map(|(h, _)| h.key()).collect();
        let grp = out.entry(key).or_default();
        if grp.holders.is_empty() {
            grp.holders = holders.iter().map(|(h, _)| h.clone()).collect();
            grp.holder_nodes = holders.iter().map(|(_, n)| *n).collect();
            grp.path_node = holders.first().map_or(top, |(_, n)| *n);
            grp.shared = holders.len() > 1;
        }
        grp.count += 1;
        if top == v || is_dom_node(g, v) {
            grp.dom_count += 1;
        }
        grp.nodes.push(v);
        // Only the tops: their retained sizes include the rest.
        if top == v {
            grp.retained += g.retained_size[v as usize];
        }
        *grp.classes.entry(class(g, v).to_string()).or_default() += 1;
    }
    out
}

/// Whether `x` sits inside a detached tree: it is detached, or a detached node dominates it
/// (a listener record of a detached button, a closure only that listener keeps).
fn is_inside(g: &HeapGraph, detached: &BitSet, x: u32) -> bool {
    let mut u = x;
    for _ in 0..MAX_INSIDE_WALK {
        if detached.get(u as usize) {
            return true;
        }
        let up = g.idom[u as usize];
        if up == u || u == g.root {
            return false;
        }
        u = up;
    }
    false
}

/// The holders of the tree under `top`: its retainers outside detached trees, each named
/// (see the module comment), distinct, in a stable order.
fn name_holders(
    g: &HeapGraph,
    detached: &BitSet,
    top: u32,
    inside: &dyn Fn(u32) -> bool,
    show_values: bool,
) -> Vec<(Holder, u32)> {
    let mut out: Vec<(Holder, u32)> = Vec::new();
    for (e, r) in g.node(top).retainers() {
        let t = g.edge_type[e as usize];
        if t == edge_kind::WEAK || r.i == top || in_dom_tree(g, detached, r.i) || inside(r.i) {
            continue;
        }
        let h = holder_of(g, e, r.i, top, show_values);
        if !out.iter().any(|(o, _)| o.key() == h.0.key()) {
            out.push(h);
        }
    }
    if out.is_empty() {
        // Nothing outside holds the top strongly: its dominator (the root for a tree held
        // only weakly) says what keeps it.
        let d = g.idom[top as usize];
        out.push((
            Holder::Path(crate::trace::owner::owner_of(g, d, show_values)),
            d,
        ));
    }
    out.sort_by_key(|a| a.0.key());
    out
}

/// Name the holder that reaches the tree's top by edge `e` from `r`.
fn holder_of(g: &HeapGraph, e: u32, r: u32, top: u32, show_values: bool) -> (Holder, u32) {
    let mut h = r;
    // An engine array (elements store, hash table) stands for the collection owning it.
    while matches!(
        g.node_type[h as usize],
        node_kind::ARRAY | node_kind::HIDDEN
    ) && h != g.root
        && g.idom[h as usize] != h
    {
        h = g.idom[h as usize];
    }
    // A closure's scope stands for the closure, and a DOM listener's closure (or bound
    // function) for its target and function.
    let function = if class(g, h).starts_with("system / Context") {
        g.node(h)
            .retainers()
            .find(|(e, s)| {
                g.edge_type[*e as usize] == edge_kind::INTERNAL
                    && s.kind() == node_kind::CLOSURE
                    && g.strings.get(g.edge_name[*e as usize]) == "context"
            })
            .map(|(_, c)| c.i)
    } else if g.node_type[h as usize] == node_kind::CLOSURE {
        Some(h)
    } else {
        None
    };
    if let Some(f) = function {
        if let Some(target) = dom_listener_target(g, f) {
            return (
                Holder::DomListeners {
                    target,
                    function: function_name(g, f),
                },
                f,
            );
        }
    }
    let named = matches!(
        g.edge_type[e as usize],
        edge_kind::CONTEXT | edge_kind::PROPERTY
    );
    if h == r && named && super::collections::shape_of(g, r) != Some(crate::model::Shape::Array) {
        // A variable or property that names the top itself: the holder is that name.
        let mut o: Owner = crate::trace::owner::owner_of(g, r, show_values);
        let mut step = crate::trace::owner::typed_steps(g, &[(e, top)], show_values);
        o.steps.append(&mut step);
        return (Holder::Path(o), r);
    }
    (
        Holder::Path(crate::trace::owner::owner_of(g, h, show_values)),
        h,
    )
}

/// If closure `f` is a DOM event listener, the name of its target (`window`).
fn dom_listener_target(g: &HeapGraph, f: u32) -> Option<String> {
    // Blink nodes may retain themselves: skip self edges.
    let up = |v: u32| {
        g.node(v)
            .retainers()
            .find(|(e, s)| g.edge_type[*e as usize] != edge_kind::WEAK && s.i != v)
            .map(|(_, s)| s.i)
    };
    let listener = g
        .node(f)
        .retainers()
        .find(|(_, s)| s.class_name() == V8_LISTENER)
        .map(|(_, s)| s.i)?;
    let mut at = listener;
    for _ in 0..MAX_LISTENER_DEPTH {
        at = up(at)?;
        if class(g, at) == TARGET_DATA {
            let target = up(at)?;
            return Some(dom_target_name(class(g, target)));
        }
    }
    let _ = blink_function;
    None
}

impl Detector for DetachedDom {
    fn kind(&self) -> Kind {
        Kind::DetachedDom
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
        if cx.scan(cx.snapshots() - 1).detached.is_empty() {
            return;
        }
        let all: Vec<BTreeMap<Vec<HolderKey>, Group>> =
            (0..cx.snapshots()).map(|i| groups(cx, i)).collect();
        let last = cx.snapshots() - 1;
        let after = cx.after();
        for (key, a) in &all[last] {
            let counts: Vec<u64> = all
                .iter()
                .map(|gs| gs.get(key).map_or(0, |g| g.count))
                .collect();
            let dom_before = all[0].get(key).map_or(0, |g| g.dom_count);
            if a.dom_count.saturating_sub(dom_before) < MIN_DETACHED_GROWTH {
                continue;
            }
            let mut classes: Vec<(String, u64)> =
                a.classes.iter().map(|(c, n)| (c.clone(), *n)).collect();
            classes.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            let retained_before = all[0].get(key).map_or(0, |g| g.retained);
            let path: Vec<PathStep> = super::util::path_to(after, a.path_node, cx.show_values);
            out.push(Candidate {
                kind: Kind::DetachedDom,
                holders: a.holders.clone(),
                path,
                counts,
                retained_size_before: retained_before,
                retained_size_after: a.retained,
                shared: a.shared,
                evidence: Evidence::DetachedDom { classes },
                nodes: LeakNodes {
                    supporting: false,
                    holders: a.holder_nodes.clone(),
                    kept: a.nodes.clone(),
                },
            });
        }
        let _ = edges;
    }
}
