//! `event_listeners`: listeners that accumulate on one emitter and event — the classic
//! "a listener per request, never removed".
//!
//! Three layouts, one finding per (target, event):
//! - Node `EventEmitter`: property `_events` → a (null-prototype) object with one property
//!   per event name → the listener function, or an `Array` of them.
//! - Node `EventTarget` (and `AbortSignal`): property `<symbol kEvents>` → a `Map` from event
//!   type to a list head `{ size, next }` → `Listener` objects chained by `next`.
//! - Chromium DOM targets: `blink::EventTargetData` → one listener vector per event type →
//!   `blink::RegisteredEventListener` → `EventListener` → `V8EventListener` → the function.
//!   Blink does not put the event type string in the graph, so the event is named by its
//!   listener function (`window (onResize listeners)`).
//!
//! A listener host is found in one linear pass over the edges (by the interned name of
//! `_events` / `kEvents`) or the nodes (by the listener vector's class); only hosts with more
//! listeners on one event than Node's default warning level are traced, and the same host is
//! found in the earlier snapshot by its owner path, so this works across processes too.

use super::{owner, DetectCtx, Detector};
use crate::graph::HeapGraph;
use crate::input::v8::{edge_kind, node_kind};
use crate::report::units::bytes;
use crate::report::{Finding, PathStep};
use std::collections::{BTreeMap, HashMap};

pub struct EventListeners;

pub const KIND: &str = "event_listeners";

/// Node warns past 10 listeners on one event (`EventEmitter.defaultMaxListeners`): fewer are
/// never reported.
pub const MIN_LISTENERS: u64 = 11;
/// Listeners one (target, event) must gain to be reported.
pub const MIN_LISTENER_GROWTH: u64 = 10;
/// Longest `next` chain followed in an `EventTarget` listener list.
const MAX_CHAIN: usize = 10_000_000;

/// Blink's per-event-type listener vector (class name prefix).
const BLINK_LISTENER_VECTOR: &str = "blink::BasicHeapVector<blink::internal::HeapCollectionType::kGCed, cppgc::internal::BasicMember<blink::RegisteredEventListener,";
const BLINK_VECTOR_BACKING: &str = "blink::HeapVectorBacking<";
const BLINK_REGISTERED: &str = "blink::RegisteredEventListener";
const BLINK_V8_LISTENER: &str = "V8EventListener";
const BLINK_TARGET_DATA: &str = "blink::EventTargetData";
/// How far up from a listener vector its `EventTargetData` may be.
const BLINK_MAX_UP: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostKind {
    /// The `_events` object of an EventEmitter.
    Emitter,
    /// The `kEvents` Map of an EventTarget.
    Target,
}

/// Listener counts per event of one host node.
struct Host {
    node: u32,
    kind: HostKind,
    /// Event name (as a pattern) → its listeners.
    events: BTreeMap<String, EventCount>,
}

#[derive(Default, Clone)]
struct EventCount {
    listeners: u64,
    /// Retained size of what holds the listeners (the array, the function, the list head).
    retained: u64,
    /// The node the event's listeners hang from (the array, or the single function).
    node: Option<u32>,
    /// Class of most listener functions.
    class: Option<u32>,
}

/// String ids the scans need.
struct Names {
    events: Option<u32>,
    k_events: Option<u32>,
    table: Option<u32>,
    next: Option<u32>,
    callback: Option<u32>,
    proto: Option<u32>,
}

impl Names {
    fn of(g: &HeapGraph) -> Names {
        let ids = owner::string_ids(
            g,
            &[
                "_events",
                "<symbol kEvents>",
                "table",
                "next",
                "callback",
                "__proto__",
            ],
        );
        Names {
            events: ids[0],
            k_events: ids[1],
            table: ids[2],
            next: ids[3],
            callback: ids[4],
            proto: ids[5],
        }
    }
}

fn edges(g: &HeapGraph, v: u32) -> std::ops::Range<usize> {
    g.first_edge[v as usize] as usize..g.first_edge[v as usize + 1] as usize
}

/// The target of `v`'s property edge named `name`.
fn property(g: &HeapGraph, v: u32, name: Option<u32>) -> Option<u32> {
    edges(g, v)
        .find(|&e| g.edge_type[e] == edge_kind::PROPERTY && Some(g.edge_name[e]) == name)
        .map(|e| g.edge_to[e])
}

fn is_listener(g: &HeapGraph, v: u32) -> bool {
    matches!(
        g.node_type[v as usize],
        node_kind::CLOSURE | node_kind::OBJECT
    )
}

/// Listener counts of an `_events` object.
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
                c.class = Some(g.class_of[t as usize]);
            }
            node_kind::OBJECT if g.class_names[g.class_of[t as usize] as usize] == "Array" => {
                let mut classes: HashMap<u32, u64> = HashMap::new();
                for f in edges(g, t) {
                    let l = g.edge_to[f];
                    if g.edge_type[f] == edge_kind::ELEMENT && is_listener(g, l) {
                        c.listeners += 1;
                        *classes.entry(g.class_of[l as usize]).or_default() += 1;
                    }
                }
                c.class = main_class(&classes);
            }
            _ => continue,
        }
        // The array (or the lone function) dominates what the listeners alone keep alive.
        c.retained = g.retained_size[t as usize];
        let name = crate::trace::name_pattern(g.strings.get(g.edge_name[e]));
        merge(&mut out, name, c);
    }
    out
}

fn main_class(classes: &HashMap<u32, u64>) -> Option<u32> {
    classes
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(&c, _)| c)
}

/// Two events whose names share a pattern count as one (`order:<n>` listeners).
fn merge(out: &mut BTreeMap<String, EventCount>, name: String, c: EventCount) {
    let slot = out.entry(name).or_default();
    if slot.node.is_none() || c.listeners > slot.listeners {
        slot.node = c.node;
        slot.class = c.class;
    }
    slot.listeners += c.listeners;
    slot.retained += c.retained;
}

/// Listener counts of an EventTarget's `kEvents` Map: (type string, list head) pairs in the
/// table, then the `Listener` chain from the head.
fn target_events(g: &HeapGraph, names: &Names, map: u32) -> BTreeMap<String, EventCount> {
    let mut out = BTreeMap::new();
    let Some(table) = edges(g, map)
        .find(|&e| g.edge_type[e] == edge_kind::INTERNAL && Some(g.edge_name[e]) == names.table)
        .map(|e| g.edge_to[e])
    else {
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
        let mut classes: HashMap<u32, u64> = HashMap::new();
        let mut at = head;
        for _ in 0..MAX_CHAIN {
            let Some(next) = property(g, at, names.next) else {
                break;
            };
            if g.node_type[next as usize] != node_kind::OBJECT || next == head {
                break;
            }
            c.listeners += 1;
            // Name listeners by their function, not by Node's `Listener` record.
            let f = property(g, next, names.callback)
                .filter(|&f| g.node_type[f as usize] == node_kind::CLOSURE)
                .unwrap_or(next);
            *classes.entry(g.class_of[f as usize]).or_default() += 1;
            at = next;
        }
        c.class = main_class(&classes);
        let name = crate::trace::name_pattern(g.strings.get(g.node_name[key as usize]));
        merge(&mut out, name, c);
    }
    out
}

/// Every Node listener host of `g`: one pass over the edges for `_events` and `kEvents`.
fn node_hosts(g: &HeapGraph, names: &Names) -> Vec<(u32, HostKind)> {
    let mut out = Vec::new();
    if names.events.is_none() && names.k_events.is_none() {
        return out;
    }
    for v in 0..g.node_count() {
        if g.node_type[v] != node_kind::OBJECT {
            continue;
        }
        for e in edges(g, v as u32) {
            if g.edge_type[e] != edge_kind::PROPERTY {
                continue;
            }
            let n = Some(g.edge_name[e]);
            let t = g.edge_to[e];
            if g.node_type[t as usize] != node_kind::OBJECT {
                continue;
            }
            if n == names.events {
                out.push((t, HostKind::Emitter));
            } else if n == names.k_events {
                out.push((t, HostKind::Target));
            }
        }
    }
    out.sort_unstable_by_key(|h| h.0);
    out.dedup_by_key(|h| h.0);
    out
}

fn host_events(g: &HeapGraph, names: &Names, node: u32, kind: HostKind) -> Host {
    let events = match kind {
        HostKind::Emitter => emitter_events(g, names, node),
        HostKind::Target => target_events(g, names, node),
    };
    Host { node, kind, events }
}

/// One (target, event) whose listeners grew.
struct Grown {
    owner: String,
    /// The emitter or target, for the title.
    emitter: String,
    key: String,
    path: Vec<PathStep>,
    event: String,
    target_note: String,
    before: EventCount,
    after: EventCount,
    class: Option<String>,
}

fn node_findings(cx: &DetectCtx<'_>) -> Vec<Grown> {
    let (before, after) = (cx.before, cx.after);
    let names_a = Names::of(after);
    let hosts: Vec<Host> = node_hosts(after, &names_a)
        .into_iter()
        .map(|(v, k)| host_events(after, &names_a, v, k))
        .filter(|h| h.events.values().any(|c| c.listeners >= MIN_LISTENERS))
        .collect();
    if hosts.is_empty() {
        return Vec::new();
    }
    let mut tracer = crate::trace::Tracer::new(after);
    let owners: Vec<owner::Owner> = hosts
        .iter()
        .map(|h| owner::Owner::trace(&mut tracer, h.node, cx.show_values))
        .collect();
    let keys: Vec<&[PathStep]> = owners.iter().map(|o| o.key_steps.as_slice()).collect();
    let names_b = Names::of(before);
    let found = owner::resolve_many(before, &keys);
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for ((h, o), matches) in hosts.iter().zip(&owners).zip(found) {
        let before_hosts: Vec<Host> = matches
            .into_iter()
            .map(|u| host_events(before, &names_b, u, h.kind))
            .collect();
        for (event, a) in &h.events {
            if a.listeners < MIN_LISTENERS {
                continue;
            }
            // The same host before: the one with the most listeners on this event.
            let b = before_hosts
                .iter()
                .filter_map(|bh| bh.events.get(event))
                .max_by_key(|c| c.listeners)
                .cloned()
                .unwrap_or_default();
            if a.listeners.saturating_sub(b.listeners) < MIN_LISTENER_GROWTH {
                continue;
            }
            let key = format!("{}\u{1f}event:{event}", o.key());
            if !seen.insert(key.clone()) {
                continue;
            }
            let (owner, mut path) = (format!("{}.{event}", o.name), o.path.clone());
            let emitter = match h.kind {
                HostKind::Emitter => o.name.strip_suffix("._events"),
                HostKind::Target => o.name.strip_suffix("[kEvents]"),
            }
            .unwrap_or(&o.name)
            .to_string();
            if let Some(n) = a.node {
                path.push(PathStep {
                    edge: event.clone(),
                    edge_type: match h.kind {
                        HostKind::Emitter => "property".into(),
                        HostKind::Target => "internal".into(),
                    },
                    node: after.class_names[after.class_of[n as usize] as usize].clone(),
                    repeated: false,
                    example: None,
                });
            }
            let target_note = match h.kind {
                HostKind::Emitter => "EventEmitter".to_string(),
                HostKind::Target => "EventTarget".to_string(),
            };
            out.push(Grown {
                owner,
                emitter,
                key,
                path,
                event: event.clone(),
                target_note,
                class: a.class.map(|c| after.class_names[c as usize].clone()),
                before: b,
                after: a.clone(),
            });
        }
    }
    out
}

/// A Chromium listener bucket (one event type of one target).
struct Bucket {
    vector: u32,
    target: String,
    function: String,
    count: u64,
    retained: u64,
}

/// Every Blink listener vector of `g`, with its target and main listener function: one pass
/// over the nodes (by class), then a few steps per vector.
fn blink_buckets(g: &HeapGraph) -> Vec<Bucket> {
    let vector_classes: Vec<bool> = g
        .class_names
        .iter()
        .map(|n| n.starts_with(BLINK_LISTENER_VECTOR))
        .collect();
    if !vector_classes.iter().any(|&b| b) {
        return Vec::new();
    }
    let name_of = |v: u32| g.class_names[g.class_of[v as usize] as usize].as_str();
    let mut out = Vec::new();
    for v in 0..g.node_count() as u32 {
        if !vector_classes[g.class_of[v as usize] as usize] {
            continue;
        }
        let mut regs: Vec<u32> = Vec::new();
        for e in edges(g, v) {
            let t = g.edge_to[e];
            if name_of(t) == BLINK_REGISTERED {
                regs.push(t);
            } else if name_of(t).starts_with(BLINK_VECTOR_BACKING) {
                regs.extend(
                    edges(g, t)
                        .map(|f| g.edge_to[f])
                        .filter(|&r| name_of(r) == BLINK_REGISTERED),
                );
            }
        }
        if regs.is_empty() {
            continue;
        }
        let mut functions: BTreeMap<String, u64> = BTreeMap::new();
        let mut retained = 0;
        for &r in &regs {
            let f = blink_function(g, r);
            if let Some(f) = f {
                retained += g.retained_size[f as usize];
            }
            let name = f.map_or("(native listener)".to_string(), |f| {
                owner::function_name(name_of(f)).to_string()
            });
            *functions.entry(name).or_default() += 1;
        }
        let function = functions
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        out.push(Bucket {
            vector: v,
            target: blink_target(g, v),
            function,
            count: regs.len() as u64,
            retained,
        });
    }
    out
}

/// RegisteredEventListener → EventListener → V8EventListener → the JS function.
fn blink_function(g: &HeapGraph, reg: u32) -> Option<u32> {
    let mut frontier = vec![reg];
    for _ in 0..3 {
        let mut next = Vec::new();
        for &u in &frontier {
            for e in edges(g, u) {
                if g.edge_type[e] == edge_kind::WEAK {
                    continue;
                }
                let t = g.edge_to[e];
                if g.node_type[t as usize] == node_kind::CLOSURE
                    && g.class_names[g.class_of[u as usize] as usize] == BLINK_V8_LISTENER
                {
                    return Some(t);
                }
                // Stay on the listener objects (not into the target they point back at).
                if g.node_type[t as usize] == node_kind::NATIVE
                    && g.class_names[g.class_of[t as usize] as usize].contains("EventListener")
                {
                    next.push(t);
                }
            }
        }
        frontier = next;
    }
    None
}

/// The target of a listener vector, as a name people know: `window`, `document`, or the
/// target's class (`<button>`).
fn blink_target(g: &HeapGraph, vector: u32) -> String {
    let mut at = vector;
    for _ in 0..BLINK_MAX_UP {
        let Some(up) = g
            .node(at)
            .retainers()
            .find(|(e, s)| g.edge_type[*e as usize] != edge_kind::WEAK && s.i != at)
            .map(|(_, s)| s.i)
        else {
            break;
        };
        at = up;
        if g.node(at).class_name() == BLINK_TARGET_DATA {
            let target = g
                .node(at)
                .retainers()
                .find(|(e, s)| g.edge_type[*e as usize] != edge_kind::WEAK && s.i != at)
                .map(|(_, s)| s.class_name().to_string())
                .unwrap_or_default();
            return dom_target_name(&target);
        }
    }
    "(unknown target)".to_string()
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

/// The owner name of a DOM listener bucket (and of what its closures keep alive).
pub fn dom_listener_owner(target: &str, function: &str) -> String {
    format!("{target} ({function} listeners)")
}

fn dom_findings(cx: &DetectCtx<'_>) -> Vec<Grown> {
    let (before, after) = rayon::join(|| blink_buckets(cx.before), || blink_buckets(cx.after));
    // Per (target, function): the biggest bucket (one target and event, not a sum).
    let biggest = |bs: &[Bucket]| {
        let mut m: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (i, b) in bs.iter().enumerate() {
            let k = (b.target.clone(), b.function.clone());
            match m.get(&k) {
                Some(&j) if bs[j].count >= b.count => {}
                _ => {
                    m.insert(k, i);
                }
            }
        }
        m
    };
    let (mb, ma) = (biggest(&before), biggest(&after));
    let mut tracer = None;
    let mut out = Vec::new();
    for ((target, function), &i) in &ma {
        let a = &after[i];
        let b = mb
            .get(&(target.clone(), function.clone()))
            .map(|&j| &before[j]);
        let (bc, br) = b.map_or((0, 0), |b| (b.count, b.retained));
        if a.count < MIN_LISTENERS || a.count.saturating_sub(bc) < MIN_LISTENER_GROWTH {
            continue;
        }
        let tracer = tracer.get_or_insert_with(|| crate::trace::Tracer::new(cx.after));
        let sig = tracer.signature(a.vector);
        out.push(Grown {
            owner: dom_listener_owner(target, function),
            emitter: target.clone(),
            key: format!("dom\u{1f}{target}\u{1f}{function}"),
            path: tracer.steps(sig, cx.show_values),
            event: String::new(),
            target_note: format!("{target} (DOM)"),
            before: EventCount {
                listeners: bc,
                retained: br,
                ..Default::default()
            },
            after: EventCount {
                listeners: a.count,
                retained: a.retained,
                ..Default::default()
            },
            class: Some(format!("{function}()")),
        });
    }
    out
}

impl Detector for EventListeners {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Finding>) {
        let (node, dom) = rayon::join(|| node_findings(cx), || dom_findings(cx));
        for g in node.into_iter().chain(dom) {
            if !owner::still_growing(cx, g.class.as_deref()) {
                continue;
            }
            let (b, a) = (g.before.listeners, g.after.listeners);
            let grew = a - b;
            let monotonic = g.class.as_deref().and_then(|c| owner::monotonic(cx, c));
            let retained_growth = g.after.retained as i64 - g.before.retained as i64;
            let listeners = match &g.class {
                Some(c) => format!("; listeners are {c}"),
                None => String::new(),
            };
            let (title, event_note) = if g.event.is_empty() {
                (
                    format!(
                        "{grew} {} listeners added to {} and never removed",
                        g.class.as_deref().unwrap_or("function"),
                        g.emitter
                    ),
                    "the event type is not recorded in Chromium snapshots; listeners are \
                     grouped by target and listener vector"
                        .to_string(),
                )
            } else {
                (
                    format!(
                        "{grew} '{}' listeners added to {} and never removed",
                        g.event, g.emitter
                    ),
                    format!("event '{}' on an {}", g.event, g.target_note),
                )
            };
            let evidence = format!(
                "listeners {b} → {a} (+{grew}) {}; {event_note}{listeners}; retained by the \
                 listeners {} → {}",
                owner::steps_text(cx.snapshots),
                bytes(g.before.retained),
                bytes(g.after.retained),
            );
            out.push(Finding {
                kind: KIND.to_string(),
                severity: super::severity(b, a, retained_growth, monotonic),
                title,
                owner: g.owner,
                path: g.path,
                count_before: b,
                count_after: a,
                retained_size_before: g.before.retained,
                retained_size_after: g.after.retained,
                evidence,
                suggestion: "Remove the listener when its work is done (removeListener / off / \
                             removeEventListener), register it with { once: true } or once(), \
                             or pass an AbortSignal ({ signal }) and abort it; do not add a \
                             listener per request to a long-lived emitter."
                    .to_string(),
                fingerprint: owner::fingerprint(KIND, &g.key),
            });
        }
    }
}
