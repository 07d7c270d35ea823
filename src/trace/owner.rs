//! The owner rule: from a node's retainer path, the long-lived object that holds it and the
//! name to call it by — and how to find the same owner in another snapshot.
//!
//! Walking up the path from the node, names are collected (properties, variables,
//! elements) until an *anchor*: the first of
//! - a variable of the program's module or script scope ([`Anchor::Variable`]);
//! - a property of a global object ([`Anchor::Global`]), or of a CommonJS module's `exports`
//!   ([`Anchor::Export`]);
//! - a variable of the runtime's own modules (Node's `process`) ([`Anchor::RuntimeVariable`]);
//! - a closure's `this`: the object is named by its class ([`Anchor::Instance`]);
//! - the runtime's own bookkeeping (a `node:` module's scope, Node's timer objects, Blink's
//!   internal objects): the name starts below it ([`Anchor::Runtime`]);
//! - a synthetic root: held only by running code ([`Anchor::Stack`]) or with no name on
//!   the way ([`Anchor::Unnamed`]).
//!
//! A variable of an inner function's scope — what a closure happened to capture, `close`,
//! `listeners` inside `createStore()` — is not an anchor: the walk goes on through the
//! closure to what holds it (`cartStore.subscribe.listeners`). The path itself comes from
//! the path tree ([`crate::graph::paths`]), which already prefers the program's roots.
//!
//! Every step is typed ([`PathStep`]: edge type, name pattern, class), so owners are
//! matched between snapshots and processes, fingerprinted and de-duplicated by those, never
//! by the words a report prints.

use super::names::edge_pattern;
use crate::graph::scopes::{is_global_class, Owner as Whose};

use crate::graph::{BitSet, HeapGraph};
use crate::input::v8::{edge_kind, node_kind};
use crate::model::{Anchor, EdgeType, Owner, PathStep};

/// Classes of the runtime's bookkeeping objects: Node's timer lists and queues. A path
/// through them says "a timer holds it", not where the program keeps it.
pub const RUNTIME_CLASSES: &[&str] = &[
    "TimersList",
    "Timeout",
    "Immediate",
    "ImmediateList",
    "PriorityQueue",
    "FixedQueue",
    "FixedCircularBuffer",
];
/// Native (embedder) classes that are DOM nodes or globals, not the embedder's internals.
const DOM_NATIVE_PREFIXES: &[&str] = &["<", "Detached ", "Window", "HTML", "#document"];
const DOM_NATIVE_CLASSES: &[&str] = &[
    "Text",
    "Comment",
    "CDATASection",
    "DocumentFragment",
    "ShadowRoot",
    "Attr",
    "Document",
];
/// Steps walked up from a node before giving up on finding an anchor: a node at the end
/// of a long chain is named by its last steps.
pub const MAX_OWNER_WALK: usize = 256;
/// Steps an owner without an anchor keeps (the end of its path).
pub const UNANCHORED_STEPS: usize = 8;

/// Whether a native class is a DOM node (or a global), as opposed to Blink's internals.
pub fn is_dom_class(class: &str) -> bool {
    DOM_NATIVE_PREFIXES.iter().any(|p| class.starts_with(p))
        || DOM_NATIVE_CLASSES.contains(&class.strip_prefix("Detached ").unwrap_or(class))
}

/// Whether node `v` is the runtime's bookkeeping (see [`RUNTIME_CLASSES`]), a scope of the
/// runtime's code, or an embedder internal.
pub fn is_runtime_node(g: &HeapGraph, v: u32) -> bool {
    let scopes = g.scopes();
    let class = g.class_of[v as usize];
    match g.node_type[v as usize] {
        node_kind::NATIVE => !scopes.is_dom_class(class),
        node_kind::HIDDEN | node_kind::CODE | node_kind::OBJECT_SHAPE => true,
        node_kind::OBJECT if scopes.is_context_class(class) => {
            scopes.scope_owner(g, v) == Some(Whose::Runtime)
        }
        node_kind::OBJECT => scopes.is_runtime_class(class),
        _ => false,
    }
}

/// What one step of a path — edge `e` from `src` into `x` — is to the owner rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepRole {
    /// Part of the owner's name: the walk goes on above it.
    Name,
    /// The anchor: the owner's name starts with this step.
    Anchor(Anchor),
    /// The owner's name starts right below this step (a CommonJS module's `exports`).
    AnchorBelow(Anchor),
    /// An ES module export: the anchor, named by the export (string id), not by the cell's
    /// edge.
    Export(u32),
}

/// The role of edge `e` (from `src`) into `x` in the owner rule (see the module comment).
/// Local to the step, so the tracer can decide it once per distinct path prefix.
pub fn step_role(g: &HeapGraph, e: u32, src: u32, x: u32) -> StepRole {
    let scopes = g.scopes();
    if g.node_type[src as usize] == node_kind::SYNTHETIC {
        return StepRole::Anchor(if g.paths().tier(x).is_transient() {
            Anchor::Stack
        } else {
            Anchor::Unnamed
        });
    }
    let ty = g.edge_type[e as usize];
    let name = g.edge_name[e as usize];
    if ty == edge_kind::CONTEXT {
        if Some(name) == scopes.vocab.this {
            return StepRole::Anchor(Anchor::Instance);
        }
        match scopes.top_level_owner(src) {
            Some(Whose::Program) => return StepRole::Anchor(Anchor::Variable),
            Some(Whose::Runtime) => return StepRole::Anchor(Anchor::RuntimeVariable),
            None => {}
        }
    }
    if let Some(&export) = scopes.export_cells.get(&src) {
        return StepRole::Export(export);
    }
    if ty == edge_kind::PROPERTY {
        let class = g.class_of[src as usize];
        if scopes.is_global_class(class) {
            return StepRole::Anchor(Anchor::Global);
        }
        if scopes.is_module_class(class) && Some(name) == scopes.vocab.exports {
            // What a CommonJS module exports is named by the export (`exports.poller`).
            return StepRole::AnchorBelow(Anchor::Export);
        }
    }
    if is_runtime_node(g, src) {
        return StepRole::Anchor(Anchor::Runtime);
    }
    StepRole::Name
}

/// The owner of node `v`: its anchor and the typed steps from the anchor down to `v`
/// (repeated steps folded, as paths are). `show_values` adds real names as examples.
pub fn owner_of(g: &HeapGraph, v: u32, show_values: bool) -> Owner {
    let tree = g.paths();
    // (edge into x, x), walking up from v.
    let mut up: Vec<(u32, u32)> = Vec::new();
    let mut x = v;
    // The name of an ES module export the walk ended at: its cell's edge has no name.
    let mut export = None;
    let anchor = loop {
        let e = tree.parent[x as usize];
        if e == crate::graph::parents::NO_PARENT {
            break Anchor::Unnamed;
        }
        let src = g.edge_source(e);
        match step_role(g, e, src, x) {
            StepRole::Name => up.push((e, x)),
            StepRole::Anchor(a) => {
                up.push((e, x));
                break a;
            }
            StepRole::AnchorBelow(a) => {
                if up.is_empty() {
                    up.push((e, x));
                }
                break a;
            }
            StepRole::Export(name) => {
                up.push((e, x));
                export = Some(name);
                break Anchor::Variable;
            }
        }
        if up.len() >= MAX_OWNER_WALK {
            break Anchor::Unnamed;
        }
        x = src;
    };
    up.reverse();
    let mut steps = typed_steps(g, &up, show_values);
    if let (Some(name), Some(first)) = (export, steps.first_mut()) {
        // An export reads as the module variable it is.
        first.edge = g.strings.get(name).to_string();
        first.edge_type = EdgeType::Context;
        first.example = show_values.then(|| first.edge.clone());
    }
    if matches!(anchor, Anchor::Unnamed | Anchor::Stack) && steps.len() > UNANCHORED_STEPS {
        steps.drain(..steps.len() - UNANCHORED_STEPS);
    }
    Owner { anchor, steps }
}

/// `(edge, node reached)` pairs as typed steps, a step equal to the one before folded into
/// it (marked repeated).
pub fn typed_steps(g: &HeapGraph, chain: &[(u32, u32)], show_values: bool) -> Vec<PathStep> {
    let mut out: Vec<PathStep> = Vec::with_capacity(chain.len());
    for &(e, x) in chain {
        let t = g.edge_type[e as usize];
        let step = PathStep {
            edge: edge_pattern(t, g.strings.get(g.edge_name[e as usize])),
            edge_type: EdgeType::of(t),
            node: g.node(x).class_name().to_string(),
            repeated: false,
            example: show_values.then(|| g.edge_label(e)),
        };
        fold_push(&mut out, step);
    }
    out
}

/// Push `step`; if it completes a second run of the last `k` steps (`k` up to
/// [`super::MAX_CYCLE`]), drop the second run and mark the first repeated, as the tracer
/// folds signatures.
pub fn fold_push(out: &mut Vec<PathStep>, step: PathStep) {
    out.push(step);
    let n = out.len();
    for k in 1..=super::MAX_CYCLE {
        if n < 2 * k {
            break;
        }
        if (0..k).all(|i| out[n - 1 - i].key() == out[n - 1 - i - k].key()) {
            out.truncate(n - k);
            for s in &mut out[n - 2 * k..n - k] {
                s.repeated = true;
            }
            break;
        }
    }
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
                super::names::name_pattern(raw) == step.edge
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
            let edge_type = g
                .edge_type_names
                .iter()
                .position(|t| *t == s.edge_type.name())? as u8;
            Some(StepSpec {
                edge_type,
                edge: s.edge.clone(),
                class: s.node.clone(),
                repeated: s.repeated,
                literal: is_literal(s),
            })
        })
        .collect()
}

/// A step names its edge literally (an identifier, not a pattern or an index): it can be
/// searched for by name.
fn is_literal(s: &PathStep) -> bool {
    !matches!(
        s.edge_type,
        EdgeType::Element | EdgeType::Hidden | EdgeType::None
    ) && !s.edge.is_empty()
        && !s.edge.contains('<')
        && super::names::name_pattern(&s.edge) == s.edge
}

/// Whether [`resolve_many`] can search for an owner at all (some step has a literal name).
pub fn resolvable(o: &Owner) -> bool {
    o.steps.iter().any(is_literal)
}

/// For each owner, the nodes that hang at its end in `g`. Each starts from the edges that
/// match its first literal step — one pass over the edges for all owners together — whose
/// source has the class of the step before (if any) and, for a variable, is a module or
/// script scope of the program; then follows the remaining steps forward (a repeated step
/// any number of times). An owner with no literal step, or whose steps lead nowhere, gives
/// no nodes.
pub fn resolve_many(g: &HeapGraph, owners: &[&Owner]) -> Vec<Vec<u32>> {
    let specs: Vec<Option<(Vec<StepSpec>, usize)>> = owners
        .iter()
        .map(|o| {
            let specs = step_specs(g, &o.steps)?;
            let first = specs.iter().position(|s| s.literal)?;
            Some((specs, first))
        })
        .collect();
    let names: Vec<&str> = specs
        .iter()
        .map(|s| s.as_ref().map_or("", |(sp, f)| sp[*f].edge.as_str()))
        .collect();
    let ids = crate::graph::scopes::string_ids(g, &names);
    let mut by_name: std::collections::HashMap<u32, Vec<usize>> = Default::default();
    let mut wanted = BitSet::new(g.strings.len().max(1));
    for (k, id) in ids.iter().enumerate() {
        if let (Some(id), Some(_)) = (id, &specs[k]) {
            wanted.set(*id as usize);
            by_name.entry(*id).or_default().push(k);
        }
    }
    let scopes = g.scopes();
    let mut frontiers: Vec<Vec<u32>> = vec![Vec::new(); owners.len()];
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
                    let source_ok = match first.checked_sub(1) {
                        Some(p) => g.class_names[g.class_of[v] as usize] == sp[p].class,
                        None => match owners[k].anchor {
                            Anchor::Variable => {
                                scopes.top_level_owner(v as u32) == Some(Whose::Program)
                            }
                            Anchor::Global => is_global_class(g.node(v as u32).class_name()),
                            _ => true,
                        },
                    };
                    if source_ok {
                        frontiers[k].push(g.edge_to[e]);
                    }
                }
            }
        }
    }
    // A module variable may be an ES module export: its cell holds it, under its name.
    if !scopes.export_cells.is_empty() {
        for (k, o) in owners.iter().enumerate() {
            let (Some((sp, 0)), Some(first)) = (&specs[k], o.steps.first()) else {
                continue;
            };
            if o.anchor != Anchor::Variable || first.edge_type != EdgeType::Context {
                continue;
            }
            for (&cell, &name) in &scopes.export_cells {
                if g.strings.get(name) != first.edge {
                    continue;
                }
                for e in
                    g.first_edge[cell as usize] as usize..g.first_edge[cell as usize + 1] as usize
                {
                    let t = g.edge_to[e];
                    if Some(g.edge_name[e]) == scopes.vocab.value
                        && g.class_names[g.class_of[t as usize] as usize] == sp[0].class
                    {
                        frontiers[k].push(t);
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
