//! `timers`: timers that accumulate — intervals never cleared, timeouts scheduled faster
//! than they fire, self-rescheduling chains started per view and never stopped — with the
//! callbacks and whatever those capture.
//!
//! - Node keeps every active timer of one duration in a `TimersList`, a doubly linked list
//!   through `_idleNext`/`_idlePrev`; `_onTimeout` is the callback. An interval's `_repeat`
//!   is its period (a small integer: no edge in the graph), a one-shot timeout's is `null`
//!   (an edge to an oddball). `Immediate`s keep theirs in `_onImmediate`.
//! - A page's timers are Blink `DOMTimer`s (held by the window's timer coordinator) →
//!   `ScheduledAction` → `V8Function` → the callback, then the extra arguments.
//!
//! Timers are grouped by callback function and kind in every snapshot (from the shared
//! scan); the timer list itself is not a second finding.

use super::util::{class, edges, string_ids};
use super::{Candidate, DetectCtx, Detector};
use crate::graph::HeapGraph;
use crate::input::v8::{edge_kind, node_kind};
use crate::model::{Evidence, FunctionName, Holder, Kind, LeakNodes, TimerKind};
use crate::trace::function_name;
use std::collections::{BTreeMap, HashMap};

pub struct Timers;

/// Timers of one callback must grow by this many to be reported…
pub const MIN_TIMER_GROWTH: u64 = 10;
/// …or this many, and half of what there was (each one runs a callback forever).
pub const MIN_SMALL_GROWTH: u64 = 2;

/// (class, callback property) of Node's timer objects.
const NODE_TIMERS: &[(&str, &str)] = &[("Timeout", "_onTimeout"), ("Immediate", "_onImmediate")];
const PAGE_TIMER: &str = "DOMTimer";
const SCHEDULED_ACTION: &str = "ScheduledAction";
const V8_FUNCTION: &str = "V8Function";

/// Timers of one (callback, kind) in one snapshot.
#[derive(Default)]
struct Group {
    count: u64,
    retained: u64,
    example: Option<u32>,
    callbacks: Vec<u32>,
    timers: Vec<u32>,
    /// Classes of extra arguments (page timers).
    arguments: Vec<String>,
}

type Key = (FunctionName, TimerKind);

/// The timers of snapshot `i` by (callback, kind).
fn timer_groups(cx: &DetectCtx<'_>, i: usize) -> BTreeMap<Key, Group> {
    let g = cx.graphs[i];
    let mut out: BTreeMap<Key, Group> = BTreeMap::new();
    let names: Vec<&str> = NODE_TIMERS.iter().map(|c| c.1).chain(["_repeat"]).collect();
    let ids = string_ids(g, &names);
    let repeat = ids[NODE_TIMERS.len()];
    let mut callback_names: HashMap<u32, Kind2> = HashMap::new();
    for c in 0..g.class_names.len() as u32 {
        let n = g.class_names[c as usize].as_str();
        if let Some(k) = NODE_TIMERS.iter().position(|t| t.0 == n) {
            callback_names.insert(c, Kind2::Node(k));
        } else if n == PAGE_TIMER {
            callback_names.insert(c, Kind2::Page);
        }
    }
    for &v in &cx.scan(i).timers {
        let Some(&k) = callback_names.get(&g.class_of[v as usize]) else {
            continue;
        };
        let (callback, kind, arguments) = match k {
            Kind2::Node(k) => {
                let Some(callback_name) = ids[k] else {
                    continue;
                };
                let mut callback = None;
                let mut one_shot = false;
                for e in edges(g, v) {
                    if g.edge_type[e] != edge_kind::PROPERTY {
                        continue;
                    }
                    let to = g.edge_to[e];
                    if g.edge_name[e] == callback_name
                        && g.node_type[to as usize] == node_kind::CLOSURE
                    {
                        callback = Some(to);
                    } else if Some(g.edge_name[e]) == repeat
                        && g.node_type[to as usize] == node_kind::HIDDEN
                    {
                        // `_repeat: null`: a one-shot timeout.
                        one_shot = true;
                    }
                }
                // A timer with no callback has fired or been cleared (`_onTimeout = null`).
                let Some(cb) = callback else { continue };
                let kind = match (NODE_TIMERS[k].0, one_shot) {
                    ("Immediate", _) => TimerKind::Immediate,
                    (_, true) => TimerKind::Timeout,
                    _ => TimerKind::Interval,
                };
                (cb, kind, Vec::new())
            }
            Kind2::Page => {
                let Some((cb, args)) = page_callback(g, v) else {
                    continue;
                };
                (cb, TimerKind::Page, args)
            }
        };
        let grp = out.entry((function_name(g, callback), kind)).or_default();
        grp.count += 1;
        grp.retained += g.retained_size[v as usize];
        grp.example.get_or_insert(v);
        grp.callbacks.push(callback);
        grp.timers.push(v);
        if grp.arguments.is_empty() {
            grp.arguments = arguments;
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Kind2 {
    Node(usize),
    Page,
}

/// A page timer's callback (DOMTimer → ScheduledAction → V8Function → closure) and the
/// classes of its extra arguments (the action's elements after the function).
fn page_callback(g: &HeapGraph, timer: u32) -> Option<(u32, Vec<String>)> {
    let action = edges(g, timer)
        .map(|e| g.edge_to[e])
        .find(|&t| class(g, t) == SCHEDULED_ACTION)?;
    let mut callback = None;
    let mut arguments = Vec::new();
    for e in edges(g, action) {
        if g.edge_type[e] == edge_kind::WEAK {
            continue;
        }
        let t = g.edge_to[e];
        if class(g, t) == V8_FUNCTION && callback.is_none() {
            callback = edges(g, t)
                .map(|f| g.edge_to[f])
                .find(|&f| g.node_type[f as usize] == node_kind::CLOSURE);
        } else if callback.is_some() && g.node_type[t as usize] != node_kind::NATIVE {
            arguments.push(class(g, t).to_string());
        }
    }
    callback.map(|c| (c, arguments))
}

impl Detector for Timers {
    fn kind(&self) -> Kind {
        Kind::Timers
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
        let groups: Vec<BTreeMap<Key, Group>> =
            (0..cx.snapshots()).map(|i| timer_groups(cx, i)).collect();
        let last = cx.snapshots() - 1;
        let after = cx.after();
        for ((function, kind), a) in &groups[last] {
            let key = (function.clone(), *kind);
            let counts: Vec<u64> = groups
                .iter()
                .map(|gs| gs.get(&key).map_or(0, |g| g.count))
                .collect();
            if !super::grew_enough(&counts, MIN_TIMER_GROWTH, MIN_SMALL_GROWTH) {
                continue;
            }
            let retained_before = groups[0].get(&key).map_or(0, |g| g.retained);
            let object_class = match kind {
                TimerKind::Immediate => "Immediate",
                TimerKind::Page => PAGE_TIMER,
                _ => "Timeout",
            };
            let mut kept = a.callbacks.clone();
            kept.extend(&a.timers);
            out.push(Candidate {
                kind: Kind::Timers,
                holders: vec![Holder::Callback {
                    what: kind_word(*kind).to_string(),
                    function: function.clone(),
                }],
                path: a
                    .example
                    .map_or_else(Vec::new, |v| super::util::path_to(after, v, cx.show_values)),
                counts,
                retained_size_before: retained_before,
                retained_size_after: a.retained,
                shared: false,
                evidence: Evidence::Timers {
                    timer: *kind,
                    callback: function.clone(),
                    arguments: a.arguments.clone(),
                    object_class: object_class.to_string(),
                },
                nodes: LeakNodes {
                    supporting: false,
                    holders: a.timers.clone(),
                    kept,
                },
            });
        }
    }
}

/// The word for a timer kind, part of a timer holder's identity.
pub fn kind_word(k: TimerKind) -> &'static str {
    match k {
        TimerKind::Interval => "interval",
        TimerKind::Timeout => "timeout",
        TimerKind::Immediate => "immediate",
        TimerKind::Page => "timer",
    }
}
