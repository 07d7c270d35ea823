//! `unbounded_collection`: an `Array` or a `Set` — or a `Map` or dictionary object whose
//! values are not records — whose element count keeps growing, or that gains a few entries
//! that each keep a lot (closures that capture large buffers).
//!
//! Shares the scan, the owner matching and the churn rule with `cache` and `subscriptions`
//! ([`super::collections`]). An owner that another detector reports more precisely (the
//! array that holds detached DOM nodes) is folded into that finding
//! ([`super::merge`]), so each root cause is reported once.

use super::cache::is_cache;
use super::collections::SharedScan;
use super::subscriptions::is_subscriptions;
use super::{Candidate, DetectCtx, Detector};
use crate::model::Kind;

/// Reads the collection scan it shares with the other collection detectors.
#[derive(Default)]
pub struct UnboundedCollection(pub SharedScan);

impl Detector for UnboundedCollection {
    fn kind(&self) -> Kind {
        Kind::UnboundedCollection
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
        for g in self
            .0
            .get(cx)
            .iter()
            .filter(|g| !is_cache(g) && !is_subscriptions(g))
        {
            out.push(g.candidate(Kind::UnboundedCollection));
        }
    }
}
