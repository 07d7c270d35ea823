//! `observers`: Resize, Intersection and Mutation observers that are never disconnected.
//! An observer stays alive while it observes an attached element (the element's document
//! keeps it), and with it its callback and everything the callback captures — typically
//! the view that created it, long removed from the page.
//!
//! Blink's observer (`ResizeObserver`, …) holds its callback as a
//! `V8ResizeObserverCallback` (`V8IntersectionObserverCallback`, …) → the JS function, and
//! its observations (`blink::ResizeObservation` → the observed element). Observers are
//! grouped by class and callback in every snapshot (from the shared scan).

use super::util::{class, edges};
use super::{Candidate, DetectCtx, Detector};
use crate::graph::HeapGraph;
use crate::input::v8::{edge_kind, node_kind};
use crate::model::{Evidence, FunctionName, Holder, Kind, LeakNodes};
use crate::trace::function_name;
use std::collections::{BTreeMap, HashMap};

pub struct Observers;

/// Observers of one callback must grow by this many to be reported…
pub const MIN_OBSERVER_GROWTH: u64 = 10;
/// …or this many, and half of what there was.
pub const MIN_SMALL_GROWTH: u64 = 2;
/// How far from an observer its observed elements are looked for.
const OBSERVED_DEPTH: usize = 4;

#[derive(Default)]
struct Group {
    count: u64,
    retained: u64,
    observers: Vec<u32>,
    callbacks: Vec<u32>,
    observed: HashMap<String, u64>,
}

/// How far from an observer its `V8…Callback` may be (an IntersectionObserver keeps it in
/// its delegate).
const CALLBACK_DEPTH: usize = 2;

/// An observer's callback function (observer → [delegate →] `V8…Callback` → closure).
fn callback_of(g: &HeapGraph, observer: u32) -> Option<u32> {
    let mut frontier = vec![observer];
    for _ in 0..CALLBACK_DEPTH {
        let mut next = Vec::new();
        for &u in &frontier {
            for e in edges(g, u) {
                if g.edge_type[e] == edge_kind::WEAK {
                    continue;
                }
                let t = g.edge_to[e];
                let c = class(g, t);
                if c.starts_with("V8") && c.ends_with("Callback") {
                    return edges(g, t)
                        .map(|f| g.edge_to[f])
                        .find(|&f| g.node_type[f as usize] == node_kind::CLOSURE);
                }
                if g.node_type[t as usize] == node_kind::NATIVE && c.ends_with("Delegate") {
                    next.push(t);
                }
            }
        }
        frontier = next;
    }
    None
}

/// Classes of the DOM elements an observer observes (a few steps into its observations).
fn observed(g: &HeapGraph, observer: u32, out: &mut HashMap<String, u64>) {
    let mut frontier = vec![observer];
    let mut seen = std::collections::HashSet::new();
    for _ in 0..OBSERVED_DEPTH {
        let mut next = Vec::new();
        for &u in &frontier {
            for e in edges(g, u) {
                let t = g.edge_to[e];
                if t == observer || !seen.insert(t) || g.node_type[t as usize] != node_kind::NATIVE
                {
                    continue;
                }
                let c = class(g, t);
                if c.starts_with('<') || c.starts_with("Detached <") {
                    *out.entry(c.to_string()).or_default() += 1;
                } else if c.contains("Observation") || c.starts_with("blink::Heap") {
                    next.push(t);
                }
            }
        }
        frontier = next;
    }
}

/// The observers of snapshot `i` by (class, callback).
fn groups(cx: &DetectCtx<'_>, i: usize) -> BTreeMap<(String, FunctionName), Group> {
    let g = cx.graphs[i];
    let mut out: BTreeMap<(String, FunctionName), Group> = BTreeMap::new();
    for &v in &cx.scan(i).observers {
        // The Blink object holds the callback; a JS wrapper of the same class may too.
        let Some(cb) = callback_of(g, v) else {
            continue;
        };
        let grp = out
            .entry((class(g, v).to_string(), function_name(g, cb)))
            .or_default();
        grp.count += 1;
        grp.retained += g.retained_size[v as usize];
        grp.observers.push(v);
        grp.callbacks.push(cb);
        observed(g, v, &mut grp.observed);
    }
    out
}

impl Detector for Observers {
    fn kind(&self) -> Kind {
        Kind::Observers
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
        if cx.scan(cx.snapshots() - 1).observers.is_empty() {
            return;
        }
        let all: Vec<_> = (0..cx.snapshots()).map(|i| groups(cx, i)).collect();
        let last = cx.snapshots() - 1;
        for (key, a) in &all[last] {
            let counts: Vec<u64> = all
                .iter()
                .map(|gs| gs.get(key).map_or(0, |g| g.count))
                .collect();
            if !super::grew_enough(&counts, MIN_OBSERVER_GROWTH, MIN_SMALL_GROWTH) {
                continue;
            }
            let mut observed: Vec<(String, u64)> =
                a.observed.iter().map(|(c, n)| (c.clone(), *n)).collect();
            observed.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            let mut kept = a.callbacks.clone();
            kept.extend(&a.observers);
            out.push(Candidate {
                kind: Kind::Observers,
                holders: vec![Holder::Callback {
                    what: key.0.clone(),
                    function: key.1.clone(),
                }],
                path: super::util::path_to(cx.after(), a.observers[0], cx.show_values),
                counts,
                retained_size_before: all[0].get(key).map_or(0, |g| g.retained),
                retained_size_after: a.retained,
                shared: false,
                evidence: Evidence::Observers {
                    observer: key.0.clone(),
                    callback: key.1.clone(),
                    observed,
                },
                nodes: LeakNodes {
                    supporting: false,
                    holders: a.observers.clone(),
                    kept,
                },
            });
        }
    }
}
