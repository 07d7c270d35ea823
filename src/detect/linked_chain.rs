//! `linked_chain`: a structure that grows by linking each new object to the one before —
//! through a closure context (the "replaceThing" pattern: each new config's method shares a
//! scope with a closure that reads `previous`) or a plain `previous`/`next` field — so that
//! nothing is ever freed. No collection grows; a chain does, named by its head.
//!
//! In the dominator tree each link dominates the next, so every link but the head has a
//! dominator of its own class: it is not *topmost* ([`crate::graph::HeapGraph::topmost`]).
//! For a class whose instances are mostly not topmost, each instance is walked up the
//! dominator tree to its topmost ancestor of the class (memoised); instances that share one
//! such head and lie along one line (depth close to their number) are a chain. A tree of
//! nested objects of one class is bushy, not a line, and is left alone.

use super::util::{class, path_to};
use super::{Candidate, DetectCtx, Detector};
use crate::graph::HeapGraph;
use crate::input::v8::node_kind;
use crate::model::{Evidence, Holder, Kind, LeakNodes, Owner, PathStep};
use std::collections::HashMap;

pub struct LinkedChain;

/// Links a chain must have to be reported…
pub const MIN_LINKS: u64 = 50;
/// …and gain.
pub const MIN_LINK_GROWTH: u64 = 20;
/// A chain is a line: its deepest link is at least this share of its length deep.
pub const MIN_LINE_RATIO: f64 = 0.8;
/// Classes whose instances link up by design (V8's and Node's own lists).
const NOT_CHAINS: &[&str] = &["Object", "Array", "Timeout", "TimersList", "Listener"];

/// Chains of class `c` in `g`: head → (links, deepest depth).
fn chains(g: &HeapGraph, c: u32) -> HashMap<u32, (u64, u64)> {
    // (head, depth below it) of every instance, memoised along the dominator chain.
    let mut memo: HashMap<u32, (u32, u64)> = HashMap::new();
    let mut out: HashMap<u32, (u64, u64)> = HashMap::new();
    for v in 0..g.node_count() as u32 {
        if g.class_of[v as usize] != c || g.topmost.get(v as usize) {
            continue;
        }
        // Up the dominator tree to the nearest instance of the class, collecting the way.
        let mut path = vec![v];
        let mut u = g.idom[v as usize];
        let (head, depth) = loop {
            if let Some(&(h, d)) = memo.get(&u) {
                break (h, d);
            }
            if g.class_of[u as usize] == c {
                if g.topmost.get(u as usize) {
                    break (u, 0);
                }
                path.push(u);
            }
            let up = g.idom[u as usize];
            if up == u || u == g.root {
                break (u, 0);
            }
            u = up;
        };
        for (k, &x) in path.iter().rev().enumerate() {
            let d = depth + k as u64 + 1;
            if memo.insert(x, (head, d)).is_none() {
                let e = out.entry(head).or_default();
                e.0 += 1;
                e.1 = e.1.max(d);
            }
        }
    }
    out
}

/// The steps from one link to the next, from the path of the chain's second link.
fn link_steps(g: &HeapGraph, head: u32, c: u32) -> Vec<PathStep> {
    // The head's nearest link: the first instance of the class its dominator subtree reaches
    // along a path — found from the paths of instances whose path passes the head.
    let tree = g.paths();
    for v in 0..g.node_count() as u32 {
        if g.class_of[v as usize] != c || v == head {
            continue;
        }
        let mut chain = Vec::new();
        let mut x = v;
        for _ in 0..crate::trace::owner::MAX_OWNER_WALK {
            let e = tree.parent[x as usize];
            if e == crate::graph::parents::NO_PARENT {
                break;
            }
            chain.push((e, x));
            x = g.edge_source(e);
            if x == head {
                chain.reverse();
                return crate::trace::owner::typed_steps(g, &chain, false);
            }
            if g.class_of[x as usize] == c {
                break;
            }
        }
    }
    Vec::new()
}

impl Detector for LinkedChain {
    fn kind(&self) -> Kind {
        Kind::LinkedChain
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
        let after = cx.after();
        // Classes that grew, of the program's objects.
        let grown: Vec<(u32, String)> = cx
            .cmp
            .rows
            .iter()
            .filter(|r| r.count_delta() >= MIN_LINK_GROWTH as i64)
            .filter(|r| !NOT_CHAINS.contains(&r.name.as_str()) && !r.name.starts_with("system / "))
            .filter_map(|r| {
                let c = after.class_names.iter().position(|n| *n == r.name)? as u32;
                Some((c, r.name.clone()))
            })
            .collect();
        for (c, name) in grown {
            let sample = (0..after.node_count()).find(|&v| after.class_of[v] == c);
            if sample.is_none_or(|v| after.node_type[v] != node_kind::OBJECT) {
                continue;
            }
            let found = chains(after, c);
            let Some((&head, &(links, depth))) = found
                .iter()
                .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.0.cmp(a.0)))
            else {
                continue;
            };
            if links + 1 < MIN_LINKS || (depth as f64) < MIN_LINE_RATIO * links as f64 {
                continue;
            }
            let owner: Owner = crate::trace::owner::owner_of(after, head, cx.show_values);
            // The same chain in the earlier snapshots: the longest line of the class there
            // (a chain has one head; ids change as new heads replace old ones).
            let earlier: Vec<(u64, u64)> = cx.graphs[..cx.snapshots() - 1]
                .iter()
                .map(|g| {
                    let Some(c) = g.class_names.iter().position(|n| *n == name) else {
                        return (0, 0);
                    };
                    chains(g, c as u32)
                        .iter()
                        .filter(|(_, (l, d))| (*d as f64) >= MIN_LINE_RATIO * *l as f64)
                        .map(|(&h, &(l, _))| (l + 1, g.retained_size[h as usize]))
                        .max()
                        .unwrap_or((0, 0))
                })
                .collect();
            let mut counts: Vec<u64> = earlier.iter().map(|e| e.0).collect();
            counts.push(links + 1);
            if (links + 1).saturating_sub(counts[0]) < MIN_LINK_GROWTH {
                continue;
            }
            let retained_before = earlier[0].1;
            let link = link_steps(after, head, c);
            out.push(Candidate {
                kind: Kind::LinkedChain,
                holders: vec![Holder::Path(owner)],
                path: path_to(after, head, cx.show_values),
                counts,
                retained_size_before: retained_before,
                retained_size_after: after.retained_size[head as usize],
                shared: false,
                evidence: Evidence::Chain {
                    link,
                    link_class: class(after, head).to_string(),
                },
                nodes: LeakNodes {
                    supporting: false,
                    holders: vec![head],
                    kept: Vec::new(),
                },
            });
        }
    }
}
