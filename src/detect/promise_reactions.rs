//! `promise_reactions`: a promise that never settles, collecting reactions — every
//! `await ready` or `ready.then(…)` while it is pending adds a `PromiseReaction` that keeps
//! its handler, and through it the waiting async function's frame (a request, a response,
//! a socket), until the promise settles. If it never does (a connection retried forever, a
//! configuration that never arrives), they pile up.
//!
//! A pending promise's `reactions_or_result` holds its reactions as a linked list of
//! `system / PromiseReaction` (each links the next one). Promises come from the shared
//! scan; the same promise is found in the other snapshots by its owner path (or its id).

use super::util::{edges, most_common};
use super::{Candidate, DetectCtx, Detector};
use crate::graph::HeapGraph;
use crate::input::v8::{edge_kind, node_kind};
use crate::model::{Evidence, FunctionName, Holder, Kind, LeakNodes, Owner};
use crate::trace::function_name;
use std::collections::HashMap;

pub struct PromiseReactions;

/// Reactions a promise must hold to be looked at…
pub const MIN_REACTIONS: u64 = 10;
/// …and gain to be reported.
pub const MIN_REACTION_GROWTH: u64 = 10;
const REACTION: &str = "system / PromiseReaction";
/// Longest reaction list followed.
const MAX_REACTIONS: usize = 10_000_000;

/// The reactions of a pending promise: their count and their handler functions.
fn reactions(g: &HeapGraph, reactions_id: Option<u32>, promise: u32) -> (u64, Vec<u32>) {
    let Some(first) = super::util::edge_to(g, promise, edge_kind::INTERNAL, reactions_id)
        .filter(|&r| g.node(r).name() == REACTION)
    else {
        return (0, Vec::new());
    };
    let mut count = 0;
    let mut handlers = Vec::new();
    let mut at = Some(first);
    let mut seen = std::collections::HashSet::new();
    while let Some(r) = at {
        if !seen.insert(r) || seen.len() > MAX_REACTIONS {
            break;
        }
        count += 1;
        at = None;
        for e in edges(g, r) {
            if g.edge_type[e] == edge_kind::WEAK {
                continue;
            }
            let t = g.edge_to[e];
            if g.node(t).name() == REACTION {
                at.get_or_insert(t);
            } else if g.node_type[t as usize] == node_kind::CLOSURE {
                handlers.push(t);
            }
        }
    }
    (count, handlers)
}

/// The most common named handler (async functions' own await closures have no name).
fn main_handler(g: &HeapGraph, handlers: &[u32]) -> Option<FunctionName> {
    let mut counts: HashMap<FunctionName, u64> = HashMap::new();
    for &h in handlers {
        let f = function_name(g, h);
        if !f.name.is_empty() || f.script.is_some() {
            *counts.entry(f).or_default() += 1;
        }
    }
    most_common(&counts)
}

impl Detector for PromiseReactions {
    fn kind(&self) -> Kind {
        Kind::PromiseReactions
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
        let last = cx.snapshots() - 1;
        let after = cx.after();
        let id = |g: &HeapGraph| super::util::string_ids(g, &["reactions_or_result"])[0];
        let rid = id(after);
        let pending: Vec<(u32, u64, Vec<u32>)> = cx
            .scan(last)
            .promises
            .iter()
            .map(|&p| {
                let (n, h) = reactions(after, rid, p);
                (p, n, h)
            })
            .filter(|(_, n, _)| *n >= MIN_REACTIONS)
            .collect();
        if pending.is_empty() {
            return;
        }
        let owners: Vec<Owner> = pending
            .iter()
            .map(|(p, _, _)| crate::trace::owner::owner_of(after, *p, cx.show_values))
            .collect();
        let refs: Vec<&Owner> = owners.iter().collect();
        let earlier: Vec<Vec<(u64, u64)>> = (0..last)
            .map(|i| {
                let g = cx.graphs[i];
                let rid = id(g);
                let found = crate::trace::owner::resolve_many(g, &refs);
                let by_id = if cx.same_process() {
                    let ids: Vec<u32> = pending
                        .iter()
                        .map(|(p, _, _)| after.node_id[*p as usize])
                        .collect();
                    super::collections::nodes_by_id(g, &ids)
                } else {
                    vec![None; pending.len()]
                };
                found
                    .into_iter()
                    .zip(by_id)
                    .map(|(nodes, same)| {
                        let nodes = same.map_or(nodes, |u| vec![u]);
                        nodes
                            .into_iter()
                            .map(|u| (reactions(g, rid, u).0, g.retained_size[u as usize]))
                            .max()
                            .unwrap_or((0, 0))
                    })
                    .collect()
            })
            .collect();
        for (k, ((p, n, handlers), owner)) in pending.iter().zip(owners).enumerate() {
            let mut counts: Vec<u64> = earlier.iter().map(|e| e[k].0).collect();
            counts.push(*n);
            if n.saturating_sub(counts[0]) < MIN_REACTION_GROWTH {
                continue;
            }
            out.push(Candidate {
                kind: Kind::PromiseReactions,
                holders: vec![Holder::Path(owner)],
                path: super::util::path_to(after, *p, cx.show_values),
                counts,
                retained_size_before: earlier.first().map_or(0, |e| e[k].1),
                retained_size_after: after.retained_size[*p as usize],
                shared: false,
                evidence: Evidence::Promise {
                    handler: main_handler(after, handlers),
                },
                nodes: LeakNodes {
                    supporting: false,
                    holders: vec![*p],
                    kept: handlers.clone(),
                },
            });
        }
    }
}
