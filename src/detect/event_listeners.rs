//! `event_listeners`: listeners that accumulate on one emitter and event — the classic
//! "a listener per request, never removed".
//!
//! Four layouts, one finding per (target, event):
//! - Node `EventEmitter`: property `_events` → a (null-prototype) object with one property
//!   per event name → the listener function, or an `Array` of them.
//! - Node `EventTarget` (and `AbortSignal`): property `<symbol kEvents>` → a `Map` from event
//!   type to a list head `{ size, next }` → `Listener` objects chained by `next`.
//! - Chromium DOM targets: `blink::EventTargetData` → one listener vector per event type →
//!   `blink::RegisteredEventListener` → `EventListener` → `V8EventListener` → the function.
//!   Blink does not put the event type string in the graph, so the event is named by its
//!   listener function (`window (onResize listeners)`).
//! - jQuery: the target's expando property (`jQuery<digits>`) → a data object → `events` →
//!   one `Array` of handler records (`{ handler, … }`) per event, behind one DOM listener.
//!
//! Listener hosts come from the shared scan; only hosts with more listeners on one event
//! than Node's default warning level are traced, and the same host is found in the other
//! snapshots by its owner path (or by target and function), so this works across processes
//! too.

use super::util::{class, edge_to, edges, most_common, path_to};
use super::{Candidate, DetectCtx, Detector};
use crate::graph::HeapGraph;
use crate::input::v8::{edge_kind, node_kind};
use crate::model::{
    EdgeType, Evidence, FunctionName, Holder, Kind, LeakNodes, ListenerTarget, Owner, PathStep,
};
use crate::trace::{function_name, name_pattern};
use std::collections::{BTreeMap, HashMap};

pub struct EventListeners;

/// Node warns past 10 listeners on one event (`EventEmitter.defaultMaxListeners`): fewer are
/// never reported.
pub const MIN_LISTENERS: u64 = 11;
/// Listeners one target and function must gain to be reported…
pub const MIN_LISTENER_GROWTH: u64 = 10;
/// …or this many, and half of what it had: on a DOM target a few listeners more per step
/// already say something.
pub const MIN_SMALL_GROWTH: u64 = 2;
/// Longest `next` chain followed in an `EventTarget` listener list.
const MAX_CHAIN: usize = 10_000_000;

const BLINK_VECTOR_BACKING: &str = "blink::HeapVectorBacking<";
const BLINK_REGISTERED: &str = "blink::RegisteredEventListener";
const BLINK_V8_LISTENER: &str = "V8EventListener";
const BLINK_TARGET_DATA: &str = "blink::EventTargetData";
/// How far up from a listener vector its `EventTargetData` may be.
const BLINK_MAX_UP: usize = 4;

/// Listener counts of one event of one host.
#[derive(Default, Clone)]
struct EventCount {
    listeners: u64,
    /// Retained size of what holds the listeners (the array, the function, the list head).
    retained: u64,
    /// The node the event's listeners hang from (the array, or the single function).
    node: Option<u32>,
    /// The listener functions.
    functions: Vec<u32>,
}

/// String ids the scans need.
struct Names {
    table: Option<u32>,
    next: Option<u32>,
    callback: Option<u32>,
    proto: Option<u32>,
    handler: Option<u32>,
    events: Option<u32>,
}

impl Names {
    fn of(g: &HeapGraph) -> Names {
        let ids = super::util::string_ids(
            g,
            &[
                "table",
                "next",
                "callback",
                "__proto__",
                "handler",
                "events",
            ],
        );
        Names {
            table: ids[0],
            next: ids[1],
            callback: ids[2],
            proto: ids[3],
            handler: ids[4],
            events: ids[5],
        }
    }
}

fn is_listener(g: &HeapGraph, v: u32) -> bool {
    matches!(
        g.node_type[v as usize],
        node_kind::CLOSURE | node_kind::OBJECT
    )
}

/// Listener counts of an `_events` object (or a jQuery `events` object, whose arrays hold
/// handler records: the function is their `handler`).
fn emitter_events(g: &HeapGraph, names: &Names, host: u32) -> BTreeMap<String, EventCount> {
    let mut out = BTreeMap::new();
    for e in edges(g, host) {
        if g.edge_type[e] != edge_kind::PROPERTY || Some(g.edge_name[e]) == names.proto {
            continue;
        }
        let t = g.edge_to[e];
        let mut c = EventCount {
            node: Some(t),
            ..Default::default()
        };
        match g.node_type[t as usize] {
            node_kind::CLOSURE => {
                c.listeners = 1;
                c.functions.push(t);
            }
            node_kind::OBJECT if class(g, t) == "Array" => {
                for f in edges(g, t) {
                    let l = g.edge_to[f];
                    if g.edge_type[f] == edge_kind::ELEMENT && is_listener(g, l) {
                        c.listeners += 1;
                        let function = if g.node_type[l as usize] == node_kind::CLOSURE {
                            Some(l)
                        } else {
                            edge_to(g, l, edge_kind::PROPERTY, names.handler)
                                .or_else(|| edge_to(g, l, edge_kind::PROPERTY, names.callback))
                        };
                        c.functions.extend(function);
                    }
                }
            }
            _ => continue,
        }
        // The array (or the lone function) dominates what the listeners alone keep alive.
        c.retained = g.retained_size[t as usize];
        let name = name_pattern(g.strings.get(g.edge_name[e]));
        merge(&mut out, name, c);
    }
    out
}

/// Two events whose names share a pattern count as one (`order:<n>` listeners).
fn merge(out: &mut BTreeMap<String, EventCount>, name: String, c: EventCount) {
    let slot = out.entry(name).or_default();
    if slot.node.is_none() || c.listeners > slot.listeners {
        slot.node = c.node;
    }
    slot.listeners += c.listeners;
    slot.retained += c.retained;
    slot.functions.extend(c.functions);
}

/// Listener counts of an EventTarget's `kEvents` Map: (type string, list head) pairs in the
/// table, then the `Listener` chain from the head.
fn target_events(g: &HeapGraph, names: &Names, map: u32) -> BTreeMap<String, EventCount> {
    let mut out = BTreeMap::new();
    let Some(table) = edge_to(g, map, edge_kind::INTERNAL, names.table) else {
        return out;
    };
    let mut slots: Vec<(u32, u32)> = edges(g, table)
        .filter(|&e| g.edge_type[e] == edge_kind::INTERNAL)
        .filter_map(|e| Some((g.strings.get(g.edge_name[e]).parse().ok()?, g.edge_to[e])))
        .collect();
    slots.sort_unstable();
    for w in slots.windows(2) {
        let ((ks, key), (vs, head)) = (w[0], w[1]);
        if vs != ks + 1 || g.node_type[key as usize] != node_kind::STRING {
            continue;
        }
        // The head dominates the chain (each `Listener` is reached through the one before),
        // so its retained size is the whole list's.
        let mut c = EventCount {
            node: Some(head),
            retained: g.retained_size[head as usize],
            ..Default::default()
        };
        let mut at = head;
        for _ in 0..MAX_CHAIN {
            let Some(next) = edge_to(g, at, edge_kind::PROPERTY, names.next) else {
                break;
            };
            if g.node_type[next as usize] != node_kind::OBJECT || next == head {
                break;
            }
            c.listeners += 1;
            // Name listeners by their function, not by Node's `Listener` record.
            let f = edge_to(g, next, edge_kind::PROPERTY, names.callback)
                .filter(|&f| g.node_type[f as usize] == node_kind::CLOSURE)
                .unwrap_or(next);
            c.functions.push(f);
            at = next;
        }
        let name = name_pattern(g.strings.get(g.node_name[key as usize]));
        merge(&mut out, name, c);
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum HostKind {
    Emitter,
    Target,
}

fn host_events(
    g: &HeapGraph,
    names: &Names,
    node: u32,
    kind: HostKind,
) -> BTreeMap<String, EventCount> {
    match kind {
        HostKind::Emitter => emitter_events(g, names, node),
        HostKind::Target => target_events(g, names, node),
    }
}

/// The most common listener function of an event, named.
fn main_function(g: &HeapGraph, functions: &[u32]) -> Option<FunctionName> {
    let mut counts: HashMap<FunctionName, u64> = HashMap::new();
    for &f in functions {
        if g.node_type[f as usize] == node_kind::CLOSURE {
            *counts.entry(function_name(g, f)).or_default() += 1;
        }
    }
    most_common(&counts)
}

/// Node emitters and targets whose listeners grew.
fn node_findings(cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
    let last = cx.snapshots() - 1;
    let after = cx.after();
    let names_a = Names::of(after);
    let scan = cx.scan(last);
    let hosts: Vec<(u32, HostKind, BTreeMap<String, EventCount>)> = scan
        .emitter_hosts
        .iter()
        .map(|&v| (v, HostKind::Emitter))
        .chain(scan.target_hosts.iter().map(|&v| (v, HostKind::Target)))
        .map(|(v, k)| (v, k, host_events(after, &names_a, v, k)))
        .filter(|(_, _, ev)| ev.values().any(|c| c.listeners >= MIN_LISTENERS))
        .collect();
    if hosts.is_empty() {
        return;
    }
    let owners: Vec<Owner> = hosts
        .iter()
        .map(|h| crate::trace::owner::owner_of(after, h.0, cx.show_values))
        .collect();
    let owner_refs: Vec<&Owner> = owners.iter().collect();
    // Per earlier snapshot, per host: its events there (the most listeners per event over
    // the nodes its owner path leads to; the same node when the process is the same).
    let earlier: Vec<Vec<BTreeMap<String, u64>>> = (0..last)
        .map(|i| {
            let g = cx.graphs[i];
            let names = Names::of(g);
            let found = crate::trace::owner::resolve_many(g, &owner_refs);
            hosts
                .iter()
                .zip(found)
                .map(|((v, kind, _), nodes)| {
                    let same = nodes.iter().copied().find(|&u| {
                        cx.same_process() && g.node_id[u as usize] == after.node_id[*v as usize]
                    });
                    let nodes = same.map_or(nodes, |u| vec![u]);
                    let mut best: BTreeMap<String, u64> = BTreeMap::new();
                    for u in nodes {
                        for (ev, c) in host_events(g, &names, u, *kind) {
                            let b = best.entry(ev).or_default();
                            *b = (*b).max(c.listeners);
                        }
                    }
                    best
                })
                .collect()
        })
        .collect();
    let before_retained = |k: usize, event: &str| -> u64 {
        // Retained size of the same event's holder in the first snapshot.
        let g = cx.before();
        let names = Names::of(g);
        crate::trace::owner::resolve_many(g, &[owner_refs[k]])
            .into_iter()
            .flatten()
            .filter_map(|u| {
                host_events(g, &names, u, hosts[k].1)
                    .get(event)
                    .map(|c| c.retained)
            })
            .max()
            .unwrap_or(0)
    };
    for (k, ((_, kind, events), o)) in hosts.iter().zip(&owners).enumerate() {
        for (event, a) in events {
            if a.listeners < MIN_LISTENERS {
                continue;
            }
            let mut counts: Vec<u64> = earlier
                .iter()
                .map(|per| per[k].get(event).copied().unwrap_or(0))
                .collect();
            counts.push(a.listeners);
            if counts[0] >= a.listeners {
                continue;
            }
            let Some(node) = a.node else { continue };
            // The event is a step below the host: a property of `_events`, a key of the
            // `kEvents` Map.
            let event_step = PathStep {
                edge: event.clone(),
                edge_type: EdgeType::Property,
                node: class(after, node).to_string(),
                repeated: false,
                example: None,
            };
            let mut owner = o.clone();
            owner.steps.push(event_step.clone());
            let mut path = path_to(after, hosts[k].0, cx.show_values);
            path.push(event_step);
            out.push(Candidate {
                kind: Kind::EventListeners,
                holders: vec![Holder::Path(owner)],
                path,
                counts,
                retained_size_before: before_retained(k, event),
                retained_size_after: a.retained,
                shared: false,
                evidence: Evidence::Listeners {
                    target: match kind {
                        HostKind::Emitter => ListenerTarget::Emitter,
                        HostKind::Target => ListenerTarget::EventTarget,
                    },
                    event: Some(event.clone()),
                    listener: main_function(after, &a.functions),
                },
                nodes: LeakNodes {
                    supporting: false,
                    holders: vec![node],
                    kept: a.functions.clone(),
                },
            });
        }
    }
}

/// A DOM target's listeners of one function: a Blink listener vector, or a jQuery list.
struct Bucket {
    /// The vector (Blink) or the handler array (jQuery).
    node: u32,
    target: String,
    /// The target node.
    target_node: Option<u32>,
    function: FunctionName,
    count: u64,
    retained: u64,
    functions: Vec<u32>,
    /// The jQuery event name; `None` for Blink's vectors.
    event: Option<String>,
}

/// Every Blink listener vector of snapshot `i`, with its target and main listener
/// function.
fn blink_buckets(cx: &DetectCtx<'_>, i: usize) -> Vec<Bucket> {
    let g = cx.graphs[i];
    let mut out = Vec::new();
    for &v in &cx.scan(i).listener_vectors {
        let mut regs: Vec<u32> = Vec::new();
        for e in edges(g, v) {
            let t = g.edge_to[e];
            if class(g, t) == BLINK_REGISTERED {
                regs.push(t);
            } else if class(g, t).starts_with(BLINK_VECTOR_BACKING) {
                regs.extend(
                    edges(g, t)
                        .map(|f| g.edge_to[f])
                        .filter(|&r| class(g, r) == BLINK_REGISTERED),
                );
            }
        }
        if regs.is_empty() {
            continue;
        }
        let mut functions = Vec::new();
        let mut retained = 0;
        for &r in &regs {
            if let Some(f) = blink_function(g, r) {
                retained += g.retained_size[f as usize];
                functions.push(f);
            }
        }
        let function = main_function(g, &functions)
            .unwrap_or_else(|| FunctionName::named("(native listener)"));
        let (target, target_node) = blink_target(g, v);
        out.push(Bucket {
            node: v,
            target,
            target_node,
            function,
            count: regs.len() as u64,
            retained,
            functions,
            event: None,
        });
    }
    out
}

/// RegisteredEventListener → EventListener → V8EventListener → the JS function.
pub fn blink_function(g: &HeapGraph, reg: u32) -> Option<u32> {
    let mut frontier = vec![reg];
    for _ in 0..3 {
        let mut next = Vec::new();
        for &u in &frontier {
            for e in edges(g, u) {
                if g.edge_type[e] == edge_kind::WEAK {
                    continue;
                }
                let t = g.edge_to[e];
                if g.node_type[t as usize] == node_kind::CLOSURE && class(g, u) == BLINK_V8_LISTENER
                {
                    return Some(t);
                }
                // Stay on the listener objects (not into the target they point back at).
                if g.node_type[t as usize] == node_kind::NATIVE
                    && class(g, t).contains("EventListener")
                {
                    next.push(t);
                }
            }
        }
        frontier = next;
    }
    None
}

/// The target of a listener vector, as a name people know (`window`, `document`, the
/// target's class `<button>`), and its node.
fn blink_target(g: &HeapGraph, vector: u32) -> (String, Option<u32>) {
    let up = |v: u32| {
        g.node(v)
            .retainers()
            .find(|(e, s)| g.edge_type[*e as usize] != edge_kind::WEAK && s.i != v)
            .map(|(_, s)| s.i)
    };
    let mut at = vector;
    for _ in 0..BLINK_MAX_UP {
        let Some(u) = up(at) else { break };
        at = u;
        if class(g, at) == BLINK_TARGET_DATA {
            let target = up(at);
            let name = target.map_or(String::new(), |t| class(g, t).to_string());
            return (dom_target_name(&name), target);
        }
    }
    ("(unknown target)".to_string(), None)
}

/// `Window / https://…` → `window`, `HTMLDocument` → `document`, others unchanged.
pub fn dom_target_name(class: &str) -> String {
    let base = class.strip_prefix("Detached ").unwrap_or(class);
    if base.starts_with("Window") {
        "window".into()
    } else if base == "HTMLDocument" || base == "Document" || base == "#document" {
        "document".into()
    } else {
        base.to_string()
    }
}

/// jQuery's handler lists of snapshot `i`: targets' expando data → `events` → arrays.
fn jquery_buckets(cx: &DetectCtx<'_>, i: usize) -> Vec<Bucket> {
    let g = cx.graphs[i];
    let names = Names::of(g);
    let mut out = Vec::new();
    for &(target, data) in &cx.scan(i).jquery_data {
        let Some(events) = edge_to(g, data, edge_kind::PROPERTY, names.events) else {
            continue;
        };
        for (event, c) in emitter_events(g, &names, events) {
            let Some(node) = c.node else { continue };
            let function = main_function(g, &c.functions)
                .unwrap_or_else(|| FunctionName::named("(anonymous)"));
            out.push(Bucket {
                node,
                target: dom_target_name(class(g, target)),
                target_node: Some(target),
                function,
                count: c.listeners,
                retained: c.retained,
                functions: c.functions,
                event: Some(event),
            });
        }
    }
    out
}

/// DOM listeners (Blink's and jQuery's) that grew, per (target, function).
fn dom_findings(cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
    let all: Vec<Vec<Bucket>> = (0..cx.snapshots())
        .map(|i| {
            let mut b = blink_buckets(cx, i);
            b.extend(jquery_buckets(cx, i));
            b
        })
        .collect();
    // Per (target, function, jQuery?): the biggest bucket (one target and event, not a sum).
    type Key = (String, FunctionName, bool);
    let biggest = |bs: &[Bucket]| {
        let mut m: BTreeMap<Key, usize> = BTreeMap::new();
        for (i, b) in bs.iter().enumerate() {
            let k = (b.target.clone(), b.function.clone(), b.event.is_some());
            match m.get(&k) {
                Some(&j) if bs[j].count >= b.count => {}
                _ => {
                    m.insert(k, i);
                }
            }
        }
        m
    };
    let maps: Vec<BTreeMap<Key, usize>> = all.iter().map(|bs| biggest(bs)).collect();
    let last = cx.snapshots() - 1;
    let after = cx.after();
    for (key, &i) in &maps[last] {
        let a = &all[last][i];
        let counts: Vec<u64> = (0..=last)
            .map(|s| maps[s].get(key).map_or(0, |&j| all[s][j].count))
            .collect();
        if !super::grew_enough(&counts, MIN_LISTENER_GROWTH, MIN_SMALL_GROWTH) {
            continue;
        }
        let retained_before = maps[0].get(key).map_or(0, |&j| all[0][j].retained);
        let mut kept = a.functions.clone();
        kept.extend(a.target_node);
        out.push(Candidate {
            kind: Kind::EventListeners,
            holders: vec![Holder::DomListeners {
                target: a.target.clone(),
                function: a.function.clone(),
            }],
            path: path_to(after, a.node, cx.show_values),
            counts,
            retained_size_before: retained_before,
            retained_size_after: a.retained,
            shared: false,
            evidence: Evidence::Listeners {
                target: if a.event.is_some() {
                    ListenerTarget::JQuery
                } else {
                    ListenerTarget::Dom
                },
                event: a.event.clone(),
                listener: Some(a.function.clone()),
            },
            nodes: LeakNodes {
                supporting: false,
                holders: vec![a.node],
                kept,
            },
        });
    }
}

impl Detector for EventListeners {
    fn kind(&self) -> Kind {
        Kind::EventListeners
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
        let (mut node, dom) = rayon::join(
            || {
                let mut v = Vec::new();
                node_findings(cx, &mut v);
                v
            },
            || {
                let mut v = Vec::new();
                dom_findings(cx, &mut v);
                v
            },
        );
        out.append(&mut node);
        out.extend(dom);
    }
}
