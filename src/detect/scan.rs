//! One pass over a snapshot's nodes that sorts out what each detector looks at, so that no
//! detector walks the whole heap on its own. What a node is comes from its class (one
//! table lookup) and, for listener hosts, from the name of the edge that reaches it.

use super::util::string_ids;
use crate::graph::HeapGraph;
use crate::input::v8::{edge_kind, node_kind};

/// Entries a collection needs to be looked at (fewer never make a finding; see
/// [`super::collections::MIN_ENTRY_GROWTH`]).
pub const MIN_SCAN_ENTRIES: u64 = 10;

/// Node timers (`Timeout`, `Immediate`) and page timers.
pub const TIMER_CLASSES: &[&str] = &["Timeout", "Immediate", "DOMTimer"];
/// Observers a page creates.
pub const OBSERVER_CLASSES: &[&str] = &[
    "ResizeObserver",
    "IntersectionObserver",
    "MutationObserver",
    "PerformanceObserver",
];

/// What one snapshot holds that a detector may report.
#[derive(Debug, Default)]
pub struct Scan {
    /// Objects that may be collections with enough entries: every `Map` and `Set`, and
    /// arrays and plain objects with at least [`MIN_SCAN_ENTRIES`] edges.
    pub collections: Vec<u32>,
    /// `_events` objects of EventEmitters.
    pub emitter_hosts: Vec<u32>,
    /// `kEvents` maps of EventTargets (AbortSignal, …).
    pub target_hosts: Vec<u32>,
    /// Blink's per-event-type listener vectors.
    pub listener_vectors: Vec<u32>,
    /// Timer objects.
    pub timers: Vec<u32>,
    /// Observer objects (the JS wrappers and Blink's natives).
    pub observers: Vec<u32>,
    /// Promises that have reactions (pending).
    pub promises: Vec<u32>,
    /// Nodes marked detached (`detachedness` 2 or a `Detached …` class).
    pub detached: Vec<u32>,
    /// jQuery's data objects: (target, the object under its `jQuery<digits>` expando).
    pub jquery_data: Vec<(u32, u32)>,
    /// Memory kept outside the JS heap: ArrayBuffer backing stores
    /// ([`super::collections::EXTERNAL_CLASSES`]).
    pub external: Vec<u32>,
}

/// Whether a property name is jQuery's expando (`jQuery` and digits: its version and a
/// random number, different in every page load).
pub fn is_jquery_expando(name: &str) -> bool {
    name.len() > 6 && name.starts_with("jQuery") && name[6..].bytes().all(|b| b.is_ascii_digit())
}

/// Per-class categories.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cat {
    None,
    MapOrSet,
    Timer,
    Observer,
    Promise,
    ListenerVector,
    Detached,
    External,
}

/// Blink's per-event-type listener vector (class name prefix).
pub const BLINK_LISTENER_VECTOR: &str = "blink::BasicHeapVector<blink::internal::HeapCollectionType::kGCed, cppgc::internal::BasicMember<blink::RegisteredEventListener,";

impl Scan {
    pub fn of(g: &HeapGraph) -> Scan {
        let cats: Vec<Cat> = g
            .class_names
            .iter()
            .map(|c| {
                if c == "Map" || c == "Set" {
                    Cat::MapOrSet
                } else if TIMER_CLASSES.contains(&c.as_str()) {
                    Cat::Timer
                } else if OBSERVER_CLASSES.contains(&c.as_str()) {
                    Cat::Observer
                } else if c == "Promise" {
                    Cat::Promise
                } else if c.starts_with(BLINK_LISTENER_VECTOR) {
                    Cat::ListenerVector
                } else if c.starts_with("Detached ") {
                    Cat::Detached
                } else if super::collections::EXTERNAL_CLASSES.contains(&c.as_str()) {
                    Cat::External
                } else {
                    Cat::None
                }
            })
            .collect();
        let ids = string_ids(g, &["_events", "<symbol kEvents>", "reactions_or_result"]);
        let (events, k_events, reactions) = (ids[0], ids[1], ids[2]);
        let expandos: Vec<u32> = (0..g.strings.len() as u32)
            .filter(|&i| is_jquery_expando(g.strings.get(i)))
            .collect();
        let mut s = Scan::default();
        for v in 0..g.node_count() as u32 {
            let i = v as usize;
            let kind = g.node_type[i];
            let cat = cats[g.class_of[i] as usize];
            if cat == Cat::Detached || g.detachedness.get(i) == Some(&2) {
                s.detached.push(v);
            }
            match cat {
                Cat::Timer => s.timers.push(v),
                Cat::Observer => s.observers.push(v),
                Cat::ListenerVector => s.listener_vectors.push(v),
                Cat::External => s.external.push(v),
                _ => {}
            }
            let (a, b) = (g.first_edge[i] as usize, g.first_edge[i + 1] as usize);
            if !expandos.is_empty() && matches!(kind, node_kind::OBJECT | node_kind::NATIVE) {
                for e in a..b {
                    let t = g.edge_to[e];
                    if g.edge_type[e] == edge_kind::PROPERTY
                        && g.node_type[t as usize] == node_kind::OBJECT
                        && expandos.contains(&g.edge_name[e])
                    {
                        s.jquery_data.push((v, t));
                    }
                }
            }
            if kind != node_kind::OBJECT {
                continue;
            }
            if cat == Cat::MapOrSet || (b - a) as u64 >= MIN_SCAN_ENTRIES {
                s.collections.push(v);
            }
            if cat == Cat::Promise {
                let pending = (a..b).any(|e| {
                    g.edge_type[e] == edge_kind::INTERNAL
                        && Some(g.edge_name[e]) == reactions
                        && g.node_type[g.edge_to[e] as usize] == node_kind::HIDDEN
                });
                if pending {
                    s.promises.push(v);
                }
            }
            if events.is_none() && k_events.is_none() {
                continue;
            }
            for e in a..b {
                if g.edge_type[e] != edge_kind::PROPERTY {
                    continue;
                }
                let n = Some(g.edge_name[e]);
                let t = g.edge_to[e];
                if g.node_type[t as usize] != node_kind::OBJECT {
                    continue;
                }
                if n == events {
                    s.emitter_hosts.push(t);
                } else if n == k_events {
                    s.target_hosts.push(t);
                }
            }
        }
        for hosts in [&mut s.emitter_hosts, &mut s.target_hosts] {
            hosts.sort_unstable();
            hosts.dedup();
        }
        s
    }
}
