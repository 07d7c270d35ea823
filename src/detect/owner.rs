//! Owners: naming the collection or emitter a finding is about, and finding "the same owner"
//! in another snapshot.
//!
//! An owner is identified by the steps of its retainer path from the *owner start* — the
//! nearest named variable (a closure `context` variable, or a property of a global object)
//! — down to the owner itself, each step being (edge type, edge name as a pattern, class of
//! the node reached). How a module scope is reached differs between snapshots and
//! processes; what hangs below the variable does not, so these steps match across both.
//!
//! To find the same owner in another snapshot the steps are walked *forward* from every edge
//! that matches the first step with a literal name ([`resolve_many`]): one pass over the
//! edges for the first step of all owners together, then only the few edges the paths
//! follow. Only the owners a detector may report are traced and resolved, never every node.

use crate::graph::{BitSet, HeapGraph};
use crate::input::v8::{edge_kind, node_kind};
use crate::report::PathStep;
use crate::trace::{self, Tracer};

/// Classes of the global object: a property of one names a variable, as a context edge does.
const GLOBAL_CLASSES: &[&str] = &["global", "Window", "Window [JSGlobalObject]"];
/// Internal edges that are an implementation detail of their owner and not part of its name
/// (`sessionCache → table → …` reads as `sessionCache`).
const SILENT_INTERNAL_EDGES: &[&str] = &["table", "properties", "elements", "context", "map"];
/// How many steps a path without a named variable keeps, as [`trace::owner_start`] does.
const STEPS_WITHOUT_VARIABLE: usize = 8;

/// The string index of each of `names` in `g` (`None` when absent): one pass over the
/// strings. V8 writes each distinct string once, so one index per name is enough.
pub fn string_ids(g: &HeapGraph, names: &[&str]) -> Vec<Option<u32>> {
    let mut out = vec![None; names.len()];
    let mut left = names.len();
    for i in 0..g.strings.len() as u32 {
        let s = g.strings.get(i);
        for (k, n) in names.iter().enumerate() {
            if out[k].is_none() && s.len() == n.len() && s == *n {
                out[k] = Some(i);
                left -= 1;
            }
        }
        if left == 0 {
            break;
        }
    }
    out
}

/// Whether a class name is one of the global object's (`global`, `Window …`).
fn is_global_class(name: &str) -> bool {
    GLOBAL_CLASSES.contains(&name) || name.starts_with("Window / ") || name.starts_with("Window [")
}

/// Where a path's owner part starts: the last step that names a variable — a `context` edge,
/// or a property of a global object — including the last step itself (the owner may be the
/// variable's value). Without one, the last eight steps.
pub fn owner_start(steps: &[PathStep]) -> usize {
    let named = |i: usize| {
        let s = &steps[i];
        s.edge_type == "context"
            || (s.edge_type == "property" && i > 0 && is_global_class(&steps[i - 1].node))
    };
    (0..steps.len())
        .rev()
        .find(|&i| named(i))
        .unwrap_or(steps.len().saturating_sub(STEPS_WITHOUT_VARIABLE))
}

/// A readable dotted name for an owner path (from [`owner_start`]): variable and property
/// names joined by dots, elements as `[]`, internal bookkeeping edges left out. Names are
/// patterns, never data (`order:<n>`).
pub fn owner_text(steps: &[PathStep]) -> String {
    let mut out = String::new();
    for s in steps {
        match s.edge_type.as_str() {
            "context" | "property" => {
                let name = match s.edge.strip_prefix("<symbol ") {
                    Some(sym) => format!("[{}]", sym.trim_end_matches('>')),
                    None => s.edge.clone(),
                };
                if !out.is_empty() && !name.starts_with('[') {
                    out.push('.');
                }
                out.push_str(&name);
            }
            "element" => out.push_str("[]"),
            "internal" if SILENT_INTERNAL_EDGES.contains(&s.edge.as_str()) => {}
            "internal" if s.edge == "<n>" => out.push_str("[]"),
            _ => {}
        }
    }
    if out.is_empty() {
        steps
            .last()
            .map_or_else(|| "(root)".to_string(), |s| s.node.clone())
    } else {
        out
    }
}

/// One owner in the `after` snapshot, traced.
pub struct Owner {
    /// The full path from the root (with real names only when `show_values`).
    pub path: Vec<PathStep>,
    /// The owner part of the path (patterns only), for matching and fingerprints.
    pub key_steps: Vec<PathStep>,
    /// Readable name, e.g. `broker.subs._events`.
    pub name: String,
}

impl Owner {
    /// Trace node `v` and name it.
    pub fn trace(tracer: &mut Tracer<'_>, v: u32, show_values: bool) -> Owner {
        let sig = tracer.signature(v);
        let plain = tracer.steps(sig, false);
        let start = owner_start(&plain);
        let key_steps = plain[start..].to_vec();
        let path = if show_values {
            tracer.steps(sig, true)
        } else {
            plain
        };
        let name = owner_text(&key_steps);
        Owner {
            path,
            key_steps,
            name,
        }
    }
    /// The owner part as one comparable string.
    pub fn key(&self) -> String {
        trace::signature_key(&self.key_steps)
    }
}

/// A stable hex fingerprint of a finding: FNV-1a (64 bit) of its kind and owner key, so the
/// same leak has the same fingerprint in a pair, a series and across processes.
pub fn fingerprint(kind: &str, key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes().chain([0x1e]).chain(key.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Whether an edge of `g` matches a step: same type, same name pattern, same class reached.
fn edge_matches(g: &HeapGraph, e: usize, step: &StepSpec) -> bool {
    if g.edge_type[e] != step.edge_type {
        return false;
    }
    let to = g.edge_to[e] as usize;
    if g.class_names[g.class_of[to] as usize] != step.class {
        return false;
    }
    match step.edge_type {
        edge_kind::ELEMENT | edge_kind::HIDDEN => true,
        _ => {
            let raw = g.strings.get(g.edge_name[e]);
            if step.literal {
                raw == step.edge
            } else {
                trace::name_pattern(raw) == step.edge
            }
        }
    }
}

struct StepSpec {
    edge_type: u8,
    edge: String,
    class: String,
    repeated: bool,
    /// The pattern is the name itself (an identifier): compare raw names.
    literal: bool,
}

fn step_specs(g: &HeapGraph, steps: &[PathStep]) -> Option<Vec<StepSpec>> {
    steps
        .iter()
        .map(|s| {
            let edge_type = g.edge_type_names.iter().position(|t| *t == s.edge_type)? as u8;
            let literal = is_literal(s);
            Some(StepSpec {
                edge_type,
                edge: s.edge.clone(),
                class: s.node.clone(),
                repeated: s.repeated,
                literal,
            })
        })
        .collect()
}

/// For each owner key, the nodes that hang at its end in `g`. Each key starts from the edges
/// that match its first step with a literal name — one pass over the edges for all keys
/// together; the source of that edge must have the class of the step before, if any — then
/// follows the remaining steps forward (a repeated step any number of times). A key with no
/// literal step, or whose steps lead nowhere, gives no nodes.
pub fn resolve_many(g: &HeapGraph, keys: &[&[PathStep]]) -> Vec<Vec<u32>> {
    let specs: Vec<Option<(Vec<StepSpec>, usize)>> = keys
        .iter()
        .map(|steps| {
            let specs = step_specs(g, steps)?;
            let first = specs.iter().position(|s| s.literal)?;
            Some((specs, first))
        })
        .collect();
    let names: Vec<&str> = specs
        .iter()
        .map(|s| s.as_ref().map_or("", |(sp, f)| sp[*f].edge.as_str()))
        .collect();
    let ids = string_ids(g, &names);
    // Keys by the string id of their first literal step.
    let mut by_name: std::collections::HashMap<u32, Vec<usize>> = Default::default();
    let mut wanted = BitSet::new(g.strings.len().max(1));
    for (k, id) in ids.iter().enumerate() {
        if let (Some(id), Some(_)) = (id, &specs[k]) {
            wanted.set(*id as usize);
            by_name.entry(*id).or_default().push(k);
        }
    }
    let mut frontiers: Vec<Vec<u32>> = vec![Vec::new(); keys.len()];
    if !by_name.is_empty() {
        for v in 0..g.node_count() {
            let (a, b) = (g.first_edge[v] as usize, g.first_edge[v + 1] as usize);
            for e in a..b {
                let name = g.edge_name[e];
                if matches!(g.edge_type[e], edge_kind::ELEMENT | edge_kind::HIDDEN)
                    || (name as usize) >= g.strings.len()
                    || !wanted.get(name as usize)
                {
                    continue;
                }
                for &k in by_name.get(&name).map_or(&[][..], |ks| ks.as_slice()) {
                    let Some((sp, first)) = &specs[k] else {
                        continue;
                    };
                    if !edge_matches(g, e, &sp[*first]) {
                        continue;
                    }
                    let source_ok = first
                        .checked_sub(1)
                        .is_none_or(|p| g.class_names[g.class_of[v] as usize] == sp[p].class);
                    if source_ok {
                        frontiers[k].push(g.edge_to[e]);
                    }
                }
            }
        }
    }
    frontiers
        .into_iter()
        .zip(&specs)
        .map(|(frontier, spec)| match spec {
            Some((sp, first)) => follow(g, frontier, &sp[first + 1..]),
            None => Vec::new(),
        })
        .collect()
}

/// Follow `specs` forward from `frontier`.
fn follow(g: &HeapGraph, mut frontier: Vec<u32>, specs: &[StepSpec]) -> Vec<u32> {
    for spec in specs {
        if frontier.is_empty() {
            break;
        }
        let mut next: Vec<u32> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut todo = std::mem::take(&mut frontier);
        while let Some(v) = todo.pop() {
            let (a, b) = (
                g.first_edge[v as usize] as usize,
                g.first_edge[v as usize + 1] as usize,
            );
            for e in a..b {
                if edge_matches(g, e, spec) {
                    let to = g.edge_to[e];
                    if seen.insert(to) {
                        next.push(to);
                        if spec.repeated {
                            todo.push(to);
                        }
                    }
                }
            }
        }
        frontier = next;
    }
    frontier.sort_unstable();
    frontier.dedup();
    frontier
}

/// A step names its edge literally (an identifier, not a pattern or an index): it can be
/// searched for by name.
fn is_literal(s: &PathStep) -> bool {
    !matches!(s.edge_type.as_str(), "element" | "hidden")
        && !s.edge.contains('<')
        && trace::name_pattern(&s.edge) == s.edge
}

/// Whether [`resolve_many`] can search for `steps` at all (some step has a literal name).
pub fn resolvable(steps: &[PathStep]) -> bool {
    steps.iter().any(is_literal)
}

/// The node with each of `ids` in `g`, if any: one pass over the node ids.
pub fn nodes_by_id(g: &HeapGraph, ids: &[u32]) -> Vec<Option<u32>> {
    let want: std::collections::HashMap<u32, usize> =
        ids.iter().enumerate().map(|(k, &id)| (id, k)).collect();
    let mut out = vec![None; ids.len()];
    for (v, id) in g.node_id.iter().enumerate() {
        if let Some(&k) = want.get(id) {
            out[k] = Some(v as u32);
        }
    }
    out
}

/// In a series, whether `class` still grew over the last step. A leak keeps growing; a
/// table built once between the first two snapshots does not. `true` for a pair or an
/// unknown class.
pub fn still_growing(cx: &super::DetectCtx<'_>, class: Option<&str>) -> bool {
    let Some(t) = class.and_then(|c| cx.trends?.get(c)) else {
        return true;
    };
    t.len() < 3 || t[t.len() - 1] > t[t.len() - 2]
}

/// Class indexes of `g` whose names are in `names`.
pub fn class_ids(g: &HeapGraph, names: &[&str]) -> Vec<u32> {
    g.class_names
        .iter()
        .enumerate()
        .filter(|(_, n)| names.contains(&n.as_str()))
        .map(|(c, _)| c as u32)
        .collect()
}

/// Whether a node holds a JS value a program can own (not a string, number or V8 internal).
pub fn is_object_value(g: &HeapGraph, v: u32) -> bool {
    matches!(
        g.node_type[v as usize],
        node_kind::OBJECT | node_kind::CLOSURE | node_kind::REGEXP | node_kind::NATIVE
    ) && !g.class_names[g.class_of[v as usize] as usize].starts_with("system / ")
}

/// `name()` of a closure class → `name`.
pub fn function_name(class: &str) -> &str {
    class.strip_suffix("()").unwrap_or(class)
}

/// How many steps a comparison spans (snapshots − 1), for evidence text.
pub fn steps_text(snapshots: usize) -> String {
    let n = snapshots.saturating_sub(1).max(1);
    if n == 1 {
        "in 1 step".into()
    } else {
        format!("over {n} steps")
    }
}

/// Growth in a series: whether `class` grew at every step (`None` for a pair or an unknown
/// class).
pub fn monotonic(cx: &super::DetectCtx<'_>, class: &str) -> Option<bool> {
    cx.trends
        .and_then(|t| t.get(class))
        .map(|v| v.windows(2).all(|w| w[1] > w[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(edge_type: &str, edge: &str, node: &str) -> PathStep {
        PathStep {
            edge: edge.into(),
            edge_type: edge_type.into(),
            node: node.into(),
            repeated: false,
            example: None,
        }
    }

    #[test]
    fn owner_names() {
        let steps = vec![
            step("context", "broker", "Object"),
            step("property", "subs", "EventEmitter"),
            step("property", "_events", "Object"),
            step("property", "tick", "Array"),
        ];
        assert_eq!(owner_text(&steps), "broker.subs._events.tick");
        let map = vec![
            step("context", "sessionCache", "Map"),
            step("internal", "table", "(array)"),
        ];
        assert_eq!(owner_text(&map), "sessionCache");
        let sym = vec![
            step("context", "target", "EventTarget"),
            step("property", "<symbol kEvents>", "Map"),
        ];
        assert_eq!(owner_text(&sym), "target[kEvents]");
        let el = vec![
            step("context", "rows", "Array"),
            step("element", "[]", "Row"),
            step("property", "cells", "Array"),
        ];
        assert_eq!(owner_text(&el), "rows[].cells");
    }

    #[test]
    fn owner_start_rules() {
        let steps = vec![
            step("element", "[]", "(GC roots)"),
            step(
                "internal",
                "global_object",
                "Window [JSGlobalObject] / file://",
            ),
            step("property", "removedRows", "Array"),
        ];
        assert_eq!(owner_start(&steps), 2);
        let steps = vec![
            step("context", "broker", "Object"),
            step("property", "subs", "EventEmitter"),
        ];
        assert_eq!(owner_start(&steps), 0);
        let steps = vec![step("context", "sessionCache", "Map")];
        assert_eq!(owner_start(&steps), 0);
    }

    #[test]
    fn fingerprints_are_stable() {
        assert_eq!(fingerprint("cache", "k"), fingerprint("cache", "k"));
        assert_ne!(fingerprint("cache", "k"), fingerprint("timers", "k"));
        assert_eq!(fingerprint("cache", "k").len(), 16);
    }
}
