//! `unbounded_collection`: an `Array` or a `Set` — or a `Map` or dictionary object that is not
//! cache-like (its values are not objects) — whose element count keeps growing.
//!
//! Shares the scan, the owner matching and the churn rule with `cache`
//! ([`super::collections`]). An owner that another detector reports more precisely (the
//! listener array of an emitter, the array that holds detached DOM nodes) is dropped by
//! [`super::detect_all`], so each root cause is reported once.

use super::cache::{collection_finding, is_cache};
use super::collections::SharedScan;
use super::{DetectCtx, Detector};
use crate::report::Finding;

/// Reads the collection scan it shares with `cache`.
#[derive(Default)]
pub struct UnboundedCollection(pub SharedScan);

pub const KIND: &str = "unbounded_collection";

impl Detector for UnboundedCollection {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Finding>) {
        for g in self.0.get(cx).iter().filter(|g| !is_cache(g)) {
            out.push(collection_finding(cx, KIND, g));
        }
    }
}
