//! `cache`: a keyed container — a `Map`, or a plain object used as a dictionary — whose entry
//! count grew and whose values are records (kept per key, never evicted) or requests waiting
//! for an answer that never comes.
//!
//! Entry counts come from the backing store as the graph shows it (see [`super::collections`]),
//! the same owner is found in the other snapshots by its owner path, and within one process
//! a container whose old entries were replaced (an LRU at capacity, a rolling window) is
//! churn, not growth. Containers whose values are not records are left to
//! `unbounded_collection`, callbacks to `subscriptions`.

use super::collections::{Grown, SharedScan};
use super::{Candidate, DetectCtx, Detector};
use crate::model::{Kind, Purpose, Shape};

/// Reads the collection scan it shares with the other collection detectors.
#[derive(Default)]
pub struct Cache(pub SharedScan);

/// Whether a grown collection is a cache: keyed, holding records or pending requests.
pub fn is_cache(g: &Grown) -> bool {
    matches!(g.shape, Shape::Map | Shape::Dictionary)
        && matches!(g.after.purpose(), Purpose::Records | Purpose::Pending)
}

impl Detector for Cache {
    fn kind(&self) -> Kind {
        Kind::Cache
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
        for g in self.0.get(cx).iter().filter(|g| is_cache(g)) {
            out.push(g.candidate(Kind::Cache));
        }
    }
}
