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

/// One chain: its head, its links (below the head), the depth of its deepest link, and a
/// link right below the head (to read the steps from one link to the next).
#[derive(Clone, Copy)]
struct Chain {
    head: u32,
    links: u64,
    depth: u64,
    first_link: u32,
}

/// A snapshot's class index of each class name looked at, and its links by class.
type ClassLinks = (HashMap<String, u32>, HashMap<u32, Vec<u32>>);

/// The instances of each of `classes` in `g` that are not topmost: one pass over the nodes.
fn links_by_class(g: &HeapGraph, classes: &[u32]) -> HashMap<u32, Vec<u32>> {
    let mut out: HashMap<u32, Vec<u32>> = classes.iter().map(|&c| (c, Vec::new())).collect();
    if classes.is_empty() {
        return out;
    }
    let mut wanted = crate::graph::BitSet::new(g.class_names.len());
    for &c in classes {
        wanted.set(c as usize);
    }
    for v in 0..g.node_count() {
        let c = g.class_of[v];
        if wanted.get(c as usize) && !g.topmost.get(v) && g.node_type[v] == node_kind::OBJECT {
            if let Some(list) = out.get_mut(&c) {
                list.push(v as u32);
            }
        }
    }
    out
}

/// The chains of class `c` among its non-topmost instances `links`, by head.
fn chains(g: &HeapGraph, c: u32, links: &[u32]) -> HashMap<u32, Chain> {
    // (head, depth below it) of every instance, memoised along the dominator chain.
    let mut memo: HashMap<u32, (u32, u64)> = HashMap::new();
    let mut out: HashMap<u32, Chain> = HashMap::new();
    for &v in links {
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
                let e = out.entry(head).or_insert(Chain {
                    head,
                    links: 0,
                    depth: 0,
                    first_link: x,
                });
                e.links += 1;
                e.depth = e.depth.max(d);
                if d == 1 {
                    e.first_link = x;
                }
            }
        }
    }
    out
}

/// The longest chain of the class that lies along one line, if any.
fn longest_line(chains: HashMap<u32, Chain>) -> Option<Chain> {
    chains
        .into_values()
        .filter(|ch| (ch.depth as f64) >= MIN_LINE_RATIO * ch.links as f64)
        .max_by(|a, b| a.links.cmp(&b.links).then(b.head.cmp(&a.head)))
}

/// The steps from the head to its next link, along the path tree.
fn link_steps(g: &HeapGraph, head: u32, link: u32) -> Vec<PathStep> {
    let tree = g.paths();
    let mut chain = Vec::new();
    let mut x = link;
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
    }
    Vec::new()
}

impl Detector for LinkedChain {
    fn kind(&self) -> Kind {
        Kind::LinkedChain
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
        let after = cx.after();
        // Classes of the program's objects that grew.
        let index: HashMap<&str, u32> = after
            .class_names
            .iter()
            .enumerate()
            .map(|(c, n)| (n.as_str(), c as u32))
            .collect();
        let grown: Vec<(u32, String)> = cx
            .cmp
            .rows
            .iter()
            .filter(|r| r.count_delta() >= MIN_LINK_GROWTH as i64)
            .filter(|r| !NOT_CHAINS.contains(&r.name.as_str()) && !r.name.starts_with("system / "))
            .filter_map(|r| Some((*index.get(r.name.as_str())?, r.name.clone())))
            .collect();
        let classes: Vec<u32> = grown.iter().map(|(c, _)| *c).collect();
        let links = links_by_class(after, &classes);
        // Only classes with enough links below a head of their own are looked at further.
        let grown: Vec<(u32, String)> = grown
            .into_iter()
            .filter(|(c, _)| {
                links
                    .get(c)
                    .is_some_and(|l| l.len() as u64 + 1 >= MIN_LINKS)
            })
            .collect();
        if grown.is_empty() {
            return;
        }
        // The same classes in the earlier snapshots, in one pass each.
        let earlier_links: Vec<ClassLinks> = cx.graphs[..cx.snapshots() - 1]
            .iter()
            .map(|g| {
                let ids: HashMap<String, u32> = grown
                    .iter()
                    .filter_map(|(_, name)| {
                        let c = g.class_names.iter().position(|n| n == name)? as u32;
                        Some((name.clone(), c))
                    })
                    .collect();
                let classes: Vec<u32> = ids.values().copied().collect();
                let links = links_by_class(g, &classes);
                (ids, links)
            })
            .collect();
        for (c, name) in grown {
            let Some(chain) = longest_line(chains(after, c, &links[&c])) else {
                continue;
            };
            if chain.links + 1 < MIN_LINKS {
                continue;
            }
            // The same chain in the earlier snapshots: the longest line of the class there
            // (a chain has one head; its id changes as new heads replace old ones).
            let earlier: Vec<(u64, u64)> = cx.graphs[..cx.snapshots() - 1]
                .iter()
                .zip(&earlier_links)
                .map(|(g, (ids, links))| {
                    let Some(&c) = ids.get(&name) else {
                        return (0, 0);
                    };
                    longest_line(chains(g, c, &links[&c])).map_or((0, 0), |ch| {
                        (ch.links + 1, g.retained_size[ch.head as usize])
                    })
                })
                .collect();
            let mut counts: Vec<u64> = earlier.iter().map(|e| e.0).collect();
            counts.push(chain.links + 1);
            if (chain.links + 1).saturating_sub(counts[0]) < MIN_LINK_GROWTH {
                continue;
            }
            let head = chain.head;
            let owner: Owner = crate::trace::owner::owner_of(after, head, cx.show_values);
            out.push(Candidate {
                kind: Kind::LinkedChain,
                holders: vec![Holder::Path(owner)],
                path: path_to(after, head, cx.show_values),
                counts,
                retained_size_before: earlier[0].1,
                retained_size_after: after.retained_size[head as usize],
                shared: false,
                evidence: Evidence::Chain {
                    link: link_steps(after, head, chain.first_link),
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
