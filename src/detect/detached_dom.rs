//! `detached_dom`: DOM nodes removed from the document but still reachable, grouped by what
//! keeps them alive — a JS array or Map, or a closure (often an event listener).
//!
//! A node is detached when V8/Blink marks it so (`detachedness` 2, which heapdiff's class
//! names show as `Detached …`). Its *holder* is its nearest dominator that is not itself
//! part of a detached DOM tree; a holder that is an engine array (an elements store, a hash
//! table) stands for the collection that owns it, and a closure context for its closure.
//! Closures registered as DOM listeners are named like `event_listeners` names them
//! (`window (onResize listeners)`), everything else by its owner path (`removedRows`).
//! Both snapshots are grouped the same way and compared by holder, so one finding names
//! one holder.
//!
//! Embedder objects that are marked detached in every healthy process (Node's
//! `Node / BindingData`) are data ([`BENIGN_DETACHED`]) and never counted.

use super::event_listeners::{dom_listener_owner, dom_target_name};
use super::{owner, DetectCtx, Detector};
use crate::graph::{BitSet, HeapGraph};
use crate::input::v8::{edge_kind, node_kind};
use crate::report::units::bytes;
use crate::report::{Finding, PathStep};
use std::collections::{BTreeMap, HashMap};

pub struct DetachedDom;

pub const KIND: &str = "detached_dom";

/// Detached nodes one holder must gain to be reported.
pub const MIN_DETACHED_GROWTH: u64 = 10;

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

fn class(g: &HeapGraph, v: u32) -> &str {
    &g.class_names[g.class_of[v as usize] as usize]
}

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

/// Part of a DOM tree: detached, or a native DOM node (a text node under a detached element
/// is not itself marked).
fn in_dom_tree(g: &HeapGraph, detached: &BitSet, v: u32) -> bool {
    if detached.get(v as usize) {
        return true;
    }
    if g.node_type[v as usize] != node_kind::NATIVE {
        return false;
    }
    let c = class(g, v);
    c.starts_with('<') || DOM_NODE_CLASSES.contains(&c)
}

/// What one holder keeps alive.
#[derive(Default)]
struct Group {
    owner: String,
    path: Vec<PathStep>,
    count: u64,
    retained: u64,
    classes: BTreeMap<String, u64>,
}

/// Who holds a detached tree, named.
struct Holder {
    key: String,
    owner: String,
    /// The node to trace for the finding's path.
    node: u32,
}

/// Detached nodes of `g` grouped by holder key.
fn groups(g: &HeapGraph, show_values: bool) -> BTreeMap<String, Group> {
    let mut out: BTreeMap<String, Group> = BTreeMap::new();
    let mut detached = BitSet::new(g.node_count());
    let mut list = Vec::new();
    let flags = class_flags(g);
    for v in 0..g.node_count() as u32 {
        let (named, benign) = flags[g.class_of[v as usize] as usize];
        let marked = g.detachedness.get(v as usize) == Some(&2);
        if (marked || named) && !benign {
            detached.set(v as usize);
            list.push(v);
        }
    }
    if list.is_empty() {
        return out;
    }
    let mut tracer = crate::trace::Tracer::new(g);
    let mut holder_of: HashMap<u32, u32> = HashMap::new();
    let mut named: HashMap<u32, Holder> = HashMap::new();
    for &v in &list {
        // The nearest dominator outside the DOM tree.
        let mut chain = Vec::new();
        let mut u = g.idom[v as usize];
        let holder = loop {
            if let Some(&h) = holder_of.get(&u) {
                break h;
            }
            if u == g.root || g.idom[u as usize] == u || !in_dom_tree(g, &detached, u) {
                break u;
            }
            chain.push(u);
            u = g.idom[u as usize];
        };
        for c in chain {
            holder_of.insert(c, holder);
        }
        holder_of.insert(v, holder);
        let h = named
            .entry(holder)
            .or_insert_with(|| name_holder(g, &mut tracer, holder));
        let grp = out.entry(h.key.clone()).or_default();
        if grp.owner.is_empty() {
            grp.owner = h.owner.clone();
            let sig = tracer.signature(h.node);
            grp.path = tracer.steps(sig, show_values);
        }
        grp.count += 1;
        // Only the topmost detached nodes: their retained sizes include the rest.
        if !in_dom_tree(g, &detached, g.idom[v as usize]) {
            grp.retained += g.retained_size[v as usize];
        }
        *grp.classes.entry(class(g, v).to_string()).or_default() += 1;
    }
    out
}

/// Name the holder `h` of a detached tree (see the module comment).
fn name_holder(g: &HeapGraph, tracer: &mut crate::trace::Tracer<'_>, h: u32) -> Holder {
    if h == g.root {
        // Nothing holds the tree strongly (it hangs under the root of the dominator tree).
        return Holder {
            key: "(root)".into(),
            owner: "(no strong holder)".into(),
            node: h,
        };
    }
    let mut h = h;
    // An engine array (elements store, hash table) stands for the collection owning it.
    while matches!(
        g.node_type[h as usize],
        node_kind::ARRAY | node_kind::HIDDEN
    ) && h != g.root
        && g.idom[h as usize] != h
    {
        h = g.idom[h as usize];
    }
    // A closure context stands for its closure.
    if class(g, h).starts_with("system / Context") {
        if let Some((_, c)) = g.node(h).retainers().find(|(e, s)| {
            g.edge_type[*e as usize] == edge_kind::INTERNAL
                && s.kind() == node_kind::CLOSURE
                && g.strings.get(g.edge_name[*e as usize]) == "context"
        }) {
            h = c.i;
        }
    }
    if g.node_type[h as usize] == node_kind::CLOSURE {
        if let Some(target) = dom_listener_target(g, h) {
            let function = owner::function_name(class(g, h)).to_string();
            return Holder {
                key: format!("dom\u{1f}{target}\u{1f}{function}"),
                owner: dom_listener_owner(&target, &function),
                node: h,
            };
        }
    }
    let o = owner::Owner::trace(tracer, h, false);
    Holder {
        key: o.key(),
        owner: o.name.clone(),
        node: h,
    }
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
    None
}

impl Detector for DetachedDom {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Finding>) {
        let (before, after) = rayon::join(
            || groups(cx.before, false),
            || groups(cx.after, cx.show_values),
        );
        for (key, a) in after {
            let (bc, br) = before.get(&key).map_or((0, 0), |b| (b.count, b.retained));
            let grew = a.count.saturating_sub(bc);
            if grew < MIN_DETACHED_GROWTH {
                continue;
            }
            let mut classes: Vec<(&String, &u64)> = a.classes.iter().collect();
            classes.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
            let main = classes.first().map(|c| c.0.clone()).unwrap_or_default();
            let listing = classes
                .iter()
                .take(4)
                .map(|(c, n)| format!("{n} {c}"))
                .collect::<Vec<_>>()
                .join(", ");
            if !owner::still_growing(cx, Some(&main)) {
                continue;
            }
            let monotonic = owner::monotonic(cx, &main);
            let retained_growth = a.retained as i64 - br as i64;
            out.push(Finding {
                kind: KIND.to_string(),
                severity: super::severity(bc, a.count, retained_growth, monotonic),
                title: format!("{grew} detached DOM nodes kept alive by {}", a.owner),
                owner: a.owner.clone(),
                path: a.path,
                count_before: bc,
                count_after: a.count,
                retained_size_before: br,
                retained_size_after: a.retained,
                evidence: format!(
                    "detached DOM nodes held by {} {bc} → {} (+{grew}) {} ({listing}); \
                     retained {} → {}",
                    a.owner,
                    a.count,
                    owner::steps_text(cx.snapshots),
                    bytes(br),
                    bytes(a.retained)
                ),
                suggestion: format!(
                    "After removing nodes from the document, drop every reference to them: \
                     take them out of {} (or clear it), and remove listeners whose closures \
                     capture them (removeEventListener, or an AbortSignal).",
                    a.owner
                ),
                fingerprint: owner::fingerprint(KIND, &key),
            });
        }
    }
}
