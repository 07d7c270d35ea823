//! `timers`: Node `Timeout` / `Immediate` objects that accumulate — intervals never cleared,
//! or timeouts scheduled faster than they fire — with the callbacks and whatever those
//! capture.
//!
//! Node keeps every active timer of one duration in a `TimersList`, a doubly linked list
//! through `_idleNext`/`_idlePrev`; `_onTimeout` is the callback. An interval's `_repeat` is
//! its period (a small integer: no edge in the graph), a one-shot timeout's is `null` (an
//! edge to an oddball). Timers are grouped by callback function and kind, both snapshots
//! counted in one linear pass over the nodes of those two classes; the list itself is not
//! a second finding.

use super::{owner, DetectCtx, Detector};
use crate::graph::HeapGraph;
use crate::input::v8::{edge_kind, node_kind};
use crate::report::units::bytes;
use crate::report::Finding;
use std::collections::{BTreeMap, HashMap};

pub struct Timers;

pub const KIND: &str = "timers";

/// Timers of one callback must grow by this many to be reported.
pub const MIN_TIMER_GROWTH: u64 = 10;

/// (class, callback property) of Node's timer objects.
const TIMER_CLASSES: &[(&str, &str)] = &[("Timeout", "_onTimeout"), ("Immediate", "_onImmediate")];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum TimerKind {
    Interval,
    Timeout,
    Immediate,
}

impl TimerKind {
    fn noun(self) -> &'static str {
        match self {
            TimerKind::Interval => "interval",
            TimerKind::Timeout => "timeout",
            TimerKind::Immediate => "immediate",
        }
    }
}

#[derive(Default)]
struct Group {
    count: u64,
    retained: u64,
    example: Option<u32>,
}

/// Timers of `g` by (callback function, kind).
fn timer_groups(g: &HeapGraph) -> BTreeMap<(String, TimerKind), Group> {
    let mut out: BTreeMap<(String, TimerKind), Group> = BTreeMap::new();
    let names: Vec<&str> = TIMER_CLASSES
        .iter()
        .map(|c| c.1)
        .chain(["_repeat"])
        .collect();
    let ids = owner::string_ids(g, &names);
    let repeat = ids[TIMER_CLASSES.len()];
    let mut class_kind: HashMap<u32, usize> = HashMap::new();
    for (k, (class, _)) in TIMER_CLASSES.iter().enumerate() {
        for c in owner::class_ids(g, &[class]) {
            class_kind.insert(c, k);
        }
    }
    if class_kind.is_empty() {
        return out;
    }
    for v in 0..g.node_count() {
        if g.node_type[v] != node_kind::OBJECT {
            continue;
        }
        let Some(&k) = class_kind.get(&g.class_of[v]) else {
            continue;
        };
        let Some(callback_name) = ids[k] else {
            continue;
        };
        let (a, b) = (g.first_edge[v] as usize, g.first_edge[v + 1] as usize);
        let mut callback = None;
        let mut one_shot = false;
        for e in a..b {
            if g.edge_type[e] != edge_kind::PROPERTY {
                continue;
            }
            let to = g.edge_to[e] as usize;
            if g.edge_name[e] == callback_name && g.node_type[to] == node_kind::CLOSURE {
                callback = Some(to);
            } else if Some(g.edge_name[e]) == repeat && g.node_type[to] == node_kind::HIDDEN {
                // `_repeat: null`: a one-shot timeout.
                one_shot = true;
            }
        }
        // A timer with no callback has fired or been cleared (`_onTimeout = null`).
        let Some(cb) = callback else { continue };
        let kind = match (TIMER_CLASSES[k].0, one_shot) {
            ("Immediate", _) => TimerKind::Immediate,
            (_, true) => TimerKind::Timeout,
            _ => TimerKind::Interval,
        };
        let name = owner::function_name(&g.class_names[g.class_of[cb] as usize]).to_string();
        let grp = out.entry((name, kind)).or_default();
        grp.count += 1;
        grp.retained += g.retained_size[v];
        grp.example.get_or_insert(v as u32);
    }
    out
}

impl Detector for Timers {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Finding>) {
        let (before, after) = rayon::join(|| timer_groups(cx.before), || timer_groups(cx.after));
        let mut tracer = None;
        for ((name, kind), a) in &after {
            let b = before.get(&(name.clone(), *kind));
            let (cb, rb) = b.map_or((0, 0), |b| (b.count, b.retained));
            let grew = a.count.saturating_sub(cb);
            if grew < MIN_TIMER_GROWTH {
                continue;
            }
            let tracer = tracer.get_or_insert_with(|| crate::trace::Tracer::new(cx.after));
            let path = a.example.map_or_else(Vec::new, |v| {
                let sig = tracer.signature(v);
                tracer.steps(sig, cx.show_values)
            });
            let class = if *kind == TimerKind::Immediate {
                "Immediate"
            } else {
                "Timeout"
            };
            if !owner::still_growing(cx, Some(class)) {
                continue;
            }
            let monotonic = owner::monotonic(cx, class);
            let retained_growth = a.retained as i64 - rb as i64;
            let (title, suggestion) = match kind {
                TimerKind::Interval => (
                    format!("{grew} intervals running {name}() were never cleared"),
                    format!(
                        "Keep the handle returned by setInterval and call clearInterval(handle) \
                         when the work it does is over (or pass an AbortSignal to \
                         timers/promises setInterval); {name}() and everything it captures \
                         stay alive while the interval runs."
                    ),
                ),
                TimerKind::Timeout => (
                    format!("{grew} pending timeouts running {name}() accumulate"),
                    "Clear timeouts that are no longer needed (clearTimeout) and avoid \
                     scheduling one per request with a long delay."
                        .to_string(),
                ),
                TimerKind::Immediate => (
                    format!("{grew} pending setImmediate callbacks {name}() accumulate"),
                    "Something schedules setImmediate faster than the event loop runs them; \
                     clearImmediate the ones that are no longer needed."
                        .to_string(),
                ),
            };
            let evidence = format!(
                "{}s ({class} objects) with callback {name}() {cb} → {} (+{grew}) {}; \
                 retained with their callbacks and what those capture {} → {}",
                kind.noun(),
                a.count,
                owner::steps_text(cx.snapshots),
                bytes(rb),
                bytes(a.retained),
            );
            out.push(Finding {
                kind: KIND.to_string(),
                severity: super::severity(cb, a.count, retained_growth, monotonic),
                title,
                owner: name.clone(),
                path,
                count_before: cb,
                count_after: a.count,
                retained_size_before: rb,
                retained_size_after: a.retained,
                evidence,
                suggestion,
                fingerprint: owner::fingerprint(KIND, &format!("{}:{name}", kind.noun())),
            });
        }
    }
}
