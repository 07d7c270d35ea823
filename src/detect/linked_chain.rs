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
use crate::fasthash::FastMap;
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
pub const MIN_LINE_RATIO: f64 = 0.3;
/// Classes whose instances link up by design (V8's and Node's own lists).
const NOT_CHAINS: &[&str] = &["Array", "Timeout", "TimersList", "Listener"];

/// One chain: its head, how many instances of the class hang below it, and its deepest
/// instance with that instance's depth (links of the class on the way down from the head).
#[derive(Clone, Copy)]
struct Chain {
    head: u32,
    members: u64,
    depth: u64,
    deepest: u32,
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

const UNSET: u32 = u32::MAX;

/// The class parent of every non-topmost instance `links[i]` of class `c` (its nearest
/// dominator of the class), found by walking up the dominator tree; the nodes passed on
/// the way remember the answer, so every node is walked once whatever the heap's depth.
fn class_parents(g: &HeapGraph, c: u32, links: &[u32]) -> Vec<u32> {
    let mut near: FastMap<u32, u32> = FastMap::default();
    let mut way: Vec<u32> = Vec::new();
    links
        .iter()
        .map(|&v| {
            let mut u = g.idom[v as usize];
            let p = loop {
                if g.class_of[u as usize] == c || u == g.root {
                    break u;
                }
                if let Some(&p) = near.get(&u) {
                    break p;
                }
                way.push(u);
                let up = g.idom[u as usize];
                if up == u {
                    break u;
                }
                u = up;
            };
            for x in way.drain(..) {
                near.insert(x, p);
            }
            p
        })
        .collect()
}

/// Lists at least this long find their class parents' positions in a table indexed by node.
const DENSE_FROM: usize = 4096;

/// The position of each link's class parent among `links` (sorted), or [`UNSET`]. A long
/// list is looked up in a zeroed table by node (pages of it that no link falls in are never
/// touched): a binary search per link and step cost a second on a 2.5M-link list.
fn parent_positions(node_count: usize, links: &[u32], parent: &[u32]) -> Vec<u32> {
    if links.len() < DENSE_FROM {
        positions_by_search(links, parent)
    } else {
        positions_by_table(node_count, links, parent)
    }
}

fn positions_by_search(links: &[u32], parent: &[u32]) -> Vec<u32> {
    parent
        .iter()
        .map(|p| links.binary_search(p).map_or(UNSET, |j| j as u32))
        .collect()
}

fn positions_by_table(node_count: usize, links: &[u32], parent: &[u32]) -> Vec<u32> {
    // Position + 1 by node; 0 is "not a link".
    let mut at = vec![0u32; node_count];
    for (i, &v) in links.iter().enumerate() {
        at[v as usize] = i as u32 + 1;
    }
    parent
        .iter()
        .map(|&p| at.get(p as usize).map_or(UNSET, |&j| j.wrapping_sub(1)))
        .collect()
}

/// The chains of class `c` among its non-topmost instances `links` (sorted), by head: the
/// topmost instance each hangs below, through class parents. Also each link's class
/// parent, and that parent's position among `links` ([`UNSET`] if it is not a link).
fn chains(g: &HeapGraph, c: u32, links: &[u32]) -> (HashMap<u32, Chain>, Vec<u32>, Vec<u32>) {
    let parent = class_parents(g, c, links);
    let up = parent_positions(g.node_count(), links, &parent);
    let index = |k: usize| (up[k] != UNSET).then_some(up[k] as usize);
    // (head, depth) of every link, resolved up the class parents with an explicit stack.
    let mut head = vec![UNSET; links.len()];
    let mut depth = vec![0u32; links.len()];
    let mut stack: Vec<usize> = Vec::new();
    let mut out: HashMap<u32, Chain> = HashMap::new();
    for i in 0..links.len() {
        let mut k = i;
        while head[k] == UNSET {
            stack.push(k);
            match index(k) {
                Some(j) if j != k => k = j,
                // The parent is a head: topmost, or not of the class (the root).
                _ => break,
            }
        }
        while let Some(k) = stack.pop() {
            let (h, d) = match index(k) {
                Some(j) if j != k && head[j] != UNSET => (head[j], depth[j] + 1),
                _ => (parent[k], 1),
            };
            head[k] = h;
            depth[k] = d;
            let e = out.entry(h).or_insert(Chain {
                head: h,
                members: 0,
                depth: 0,
                deepest: links[k],
            });
            e.members += 1;
            if d as u64 > e.depth {
                e.depth = d as u64;
                e.deepest = links[k];
            }
        }
    }
    (out, parent, up)
}

/// The longest chain of the class that lies along one line, if any.
fn longest_line(chains: HashMap<u32, Chain>) -> Option<Chain> {
    chains
        .into_values()
        .filter(|ch| (ch.depth as f64) >= MIN_LINE_RATIO * ch.members as f64)
        .max_by(|a, b| a.depth.cmp(&b.depth).then(b.head.cmp(&a.head)))
}

/// The first two links below a chain's head, up the class parents from its deepest link
/// (`up`: each link's parent's position, as [`chains`] gives it).
fn first_links(links: &[u32], parent: &[u32], up: &[u32], ch: &Chain) -> (u32, Option<u32>) {
    let (mut x, mut below) = (ch.deepest, None);
    let mut at = links.binary_search(&x).ok();
    while let Some(i) = at {
        if parent[i] == ch.head {
            break;
        }
        below = Some(x);
        x = parent[i];
        at = (up[i] != UNSET).then_some(up[i] as usize);
    }
    (x, below)
}

/// A snapshot's longest chain of class `c`, as (head, links, first link): when the head
/// reaches its first link by other steps than each link reaches the next (an object that
/// holds the list, of the list's class), the chain starts at the first link.
fn chain_of(g: &HeapGraph, c: u32, links: &[u32]) -> Option<(u32, u64, u32)> {
    let (chains, parent, up) = chains(g, c, links);
    let ch = longest_line(chains)?;
    let (first, second) = first_links(links, &parent, &up, &ch);
    let Some(second) = second else {
        return Some((ch.head, ch.depth + 1, first));
    };
    let key = |steps: Vec<PathStep>| -> Vec<_> { steps.iter().map(PathStep::key).collect() };
    let link = key(link_steps(g, first, second));
    if link.is_empty() {
        return Some((ch.head, ch.depth + 1, first));
    }
    let mut count = ch.depth + 1;
    // A member of the class hanging off the last link by other steps (its `flags` object)
    // is not a link.
    if let Ok(i) = links.binary_search(&ch.deepest) {
        if key(link_steps(g, parent[i], ch.deepest)) != link {
            count -= 1;
        }
    }
    if key(link_steps(g, ch.head, first)) != link {
        return Some((first, count - 1, second));
    }
    Some((ch.head, count, first))
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
            let Some((head, links_now, first_link)) = chain_of(after, c, &links[&c]) else {
                continue;
            };
            if links_now < MIN_LINKS {
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
                    chain_of(g, c, &links[&c])
                        .map_or((0, 0), |(h, n, _)| (n, g.retained_size[h as usize]))
                })
                .collect();
            let mut counts: Vec<u64> = earlier.iter().map(|e| e.0).collect();
            counts.push(links_now);
            if links_now.saturating_sub(counts[0]) < MIN_LINK_GROWTH {
                continue;
            }
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
                    link: link_steps(after, head, first_link),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The table a long list uses and the binary search a short one uses agree, links and
    /// parents anywhere in the heap (the root, non-links, the last node).
    #[test]
    fn parent_positions_by_table_and_by_search_agree() {
        let node_count = 50_000usize;
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as u32
        };
        let mut links: Vec<u32> = (0..DENSE_FROM * 2).map(|_| next(node_count)).collect();
        links.push(node_count as u32 - 1);
        links.sort_unstable();
        links.dedup();
        // Half the parents are links (a list), the rest any node.
        let parent: Vec<u32> = (0..links.len())
            .map(|i| match i % 4 {
                0 | 1 => links[next(links.len()) as usize],
                2 => next(node_count),
                _ => 0,
            })
            .collect();
        let by_table = positions_by_table(node_count, &links, &parent);
        assert_eq!(by_table, positions_by_search(&links, &parent));
        assert!(by_table.iter().filter(|&&p| p != UNSET).count() >= links.len() / 2);
        assert_eq!(parent_positions(node_count, &links, &parent), by_table);
    }
}
