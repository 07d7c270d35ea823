//! One finding per root cause, across kinds.
//!
//! Detectors look at the same heap from different sides, so one leak can be seen several
//! times: the array that keeps detached rows is also a growing array; the window listeners
//! whose closures keep detached panels are also listeners that pile up; a store's listener
//! Set keeps the unmounted components' DOM. Two leaks are one root cause when
//! - they have a holder in common (the same node, or the same typed holder); or
//! - one's holder sits inside the other's (dominated by it, or among what it keeps: a
//!   listener on a button of a detached panel, the components a subscription keeps).
//!
//! The finding is told by the cause the program can act on — listeners never removed,
//! subscriptions never unsubscribed, observers never disconnected, timers never cleared, a
//! promise that never settles, a chain — with the detached DOM it keeps as evidence; a
//! generic growing collection gives way to the detached DOM it holds (`removedRows` keeps
//! detached rows). Otherwise the outer leak is the cause and the inner one its evidence.
//!
//! Identity is typed (holder keys and nodes), never the words of a report.

use crate::graph::HeapGraph;
use crate::model::{Evidence, Kind, Leak, Related};
use std::collections::HashSet;

/// How far up the dominator tree "is this holder inside that one" is asked.
const MAX_DOMINATOR_WALK: usize = 10_000;

/// How leak `b` relates to leak `a`.
#[derive(Debug, PartialEq, Eq)]
enum Relation {
    /// A holder in common.
    Same,
    /// `b`'s holders sit inside what `a` holds.
    Inside,
    /// `a`'s holders sit inside what `b` holds.
    Contains,
    Unrelated,
}

/// A leak being merged, with what the relations ask of it worked out once: the set of its
/// holders and kept nodes, and the dominator chain above each of its holders.
struct Slot {
    leak: Leak,
    held: std::cell::OnceCell<HashSet<u32>>,
    chains: std::cell::OnceCell<Vec<Vec<u32>>>,
}

impl Slot {
    fn new(leak: Leak) -> Slot {
        Slot {
            leak,
            held: Default::default(),
            chains: Default::default(),
        }
    }
    fn held(&self) -> &HashSet<u32> {
        self.held.get_or_init(|| {
            let n = &self.leak.nodes;
            n.holders.iter().chain(&n.kept).copied().collect()
        })
    }
    fn chains(&self, g: &HeapGraph) -> &[Vec<u32>] {
        self.chains.get_or_init(|| {
            self.leak
                .nodes
                .holders
                .iter()
                .map(|&h| {
                    let mut chain = vec![h];
                    let mut x = h;
                    for _ in 0..MAX_DOMINATOR_WALK {
                        let up = g.idom[x as usize];
                        if up == x || x == g.root {
                            break;
                        }
                        chain.push(up);
                        x = up;
                    }
                    chain
                })
                .collect()
        })
    }
    /// Fold `other` into this one, which stays the finding (see [`fold`]).
    fn absorb(&mut self, other: Slot) {
        fold(&mut self.leak, other.leak);
        self.held = Default::default();
    }
    /// Put `lead` in this one's place and fold this one into it.
    fn give_way(&mut self, lead: Slot) {
        let old = std::mem::replace(self, lead);
        self.absorb(old);
    }
}

fn relation(g: &HeapGraph, a: &Slot, b: &Slot) -> Relation {
    let a_keys: Vec<_> = a.leak.holders.iter().map(|h| h.key()).collect();
    if b.leak.holders.iter().any(|h| a_keys.contains(&h.key()))
        || b.leak
            .nodes
            .holders
            .iter()
            .any(|n| a.leak.nodes.holders.contains(n))
    {
        return Relation::Same;
    }
    if inside(g, b, a) {
        return Relation::Inside;
    }
    if inside(g, a, b) {
        return Relation::Contains;
    }
    Relation::Unrelated
}

/// Whether every holder of `inner` sits inside what `outer` holds: among its holders or
/// kept nodes, or dominated by one of them.
fn inside(g: &HeapGraph, inner: &Slot, outer: &Slot) -> bool {
    if inner.leak.nodes.holders.is_empty() || outer.leak.nodes.holders.is_empty() {
        return false;
    }
    let held = outer.held();
    inner
        .chains(g)
        .iter()
        .all(|chain| chain.iter().any(|x| held.contains(x)))
}

/// Which of two leaks of one root cause tells it: a cause the program can act on
/// (listeners, subscriptions, observers, timers, a pending promise, a chain) over the
/// detached DOM it keeps; detached DOM over the generic collection that holds it.
fn rank(k: Kind) -> u8 {
    match k {
        Kind::DetachedDom => 1,
        Kind::Cache | Kind::UnboundedCollection => 2,
        _ => 0,
    }
}

/// Whether `l`, related to `o` by `rel`, tells the root cause rather than `o`: the outer
/// leak does, but a generic collection gives way to the detached DOM it keeps, and of two
/// with a holder in common the better ranked.
fn leads(rel: &Relation, l: &Leak, o: &Leak) -> bool {
    match rel {
        Relation::Same => rank(l.kind) < rank(o.kind),
        Relation::Inside => rank(o.kind) == 2 && l.kind == Kind::DetachedDom,
        Relation::Contains => !(rank(l.kind) == 2 && o.kind == Kind::DetachedDom),
        Relation::Unrelated => false,
    }
}

/// Fold `other` into `into` as related evidence: the more severe severity stands, and the
/// two are one finding.
fn fold(into: &mut Leak, other: Leak) {
    into.severity = into.severity.max(other.severity);
    // The same holder seen as a growing collection says nothing the finding does not.
    let same_holder = matches!(other.evidence, Evidence::Collection { .. })
        && other.nodes.holders == into.nodes.holders;
    if !same_holder {
        into.related.push(Related {
            kind: other.kind,
            count_before: other.count_before,
            count_after: other.count_after,
            evidence: other.evidence,
        });
    }
    into.related.extend(other.related);
    into.nodes.kept.extend(other.nodes.holders);
    into.nodes.kept.extend(other.nodes.kept);
    // A supporting leak that explains another is a finding now.
    into.nodes.supporting &= other.nodes.supporting;
}

/// Keep one finding per root cause (see the module comment). `g` is the last snapshot.
pub fn one_per_root_cause(g: &HeapGraph, mut leaks: Vec<Leak>) -> Vec<Leak> {
    // Most specific kind first, so that a holder in common keeps the specific one.
    leaks.sort_by(|a, b| {
        (rank(a.kind), a.kind)
            .cmp(&(rank(b.kind), b.kind))
            .then(a.key().cmp(&b.key()))
    });
    let mut out: Vec<Slot> = Vec::new();
    'next: for l in leaks {
        let l = Slot::new(l);
        for o in out.iter_mut() {
            let rel = relation(g, o, &l);
            if rel == Relation::Unrelated {
                continue;
            }
            if leads(&rel, &l.leak, &o.leak) {
                o.give_way(l);
            } else {
                o.absorb(l);
            }
            continue 'next;
        }
        out.push(l);
    }
    // A leak that took another's place may now contain a third one.
    let mut i = 0;
    while i < out.len() {
        let mut j = i + 1;
        while j < out.len() {
            let rel = relation(g, &out[i], &out[j]);
            if rel != Relation::Unrelated {
                let b = out.remove(j);
                if leads(&rel, &b.leak, &out[i].leak) {
                    out[i].give_way(b);
                } else {
                    out[i].absorb(b);
                }
                j = i + 1;
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    // Supporting leaks that explain nothing else are not findings.
    out.into_iter()
        .map(|s| s.leak)
        .filter(|l| !l.nodes.supporting)
        .collect()
}
