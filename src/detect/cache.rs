//! `cache`: a keyed container — a `Map`, or a plain object used as a dictionary — whose entry
//! count grew and whose values are objects (records kept per key, never evicted).
//!
//! Entry counts come from the backing store as the graph shows it (see [`super::collections`]),
//! the same owner is found in the earlier snapshot by its owner path, and within one process
//! a container whose old entries were replaced (an LRU at capacity, a rolling window) is churn,
//! not growth. Maps and dictionaries whose values are not objects are left to
//! `unbounded_collection`.

use super::collections::{Grown, Shape, SharedScan};
use super::{owner, DetectCtx, Detector};
use crate::report::units::bytes;
use crate::report::Finding;

/// Reads the collection scan it shares with `unbounded_collection`.
#[derive(Default)]
pub struct Cache(pub SharedScan);

pub const KIND: &str = "cache";

/// Whether a grown collection is a cache (keyed, object values).
pub fn is_cache(g: &Grown) -> bool {
    matches!(g.shape, Shape::Map | Shape::Dictionary) && g.after.values_are_objects()
}

impl Detector for Cache {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Finding>) {
        for g in self.0.get(cx).iter().filter(|g| is_cache(g)) {
            out.push(collection_finding(cx, KIND, g));
        }
    }
}

/// A finding about one grown collection (shared with `unbounded_collection`).
pub fn collection_finding(cx: &DetectCtx<'_>, kind: &str, g: &Grown) -> Finding {
    let (b, a) = (g.before.count, g.after.count);
    let grew = a.saturating_sub(b);
    let retained_growth = g.retained_after as i64 - g.retained_before as i64;
    let monotonic = g
        .value_class
        .as_deref()
        .and_then(|c| owner::monotonic(cx, c));
    let word = g.shape.entries_word();
    let what = match g.shape {
        Shape::Dictionary => match g.after.main_key_pattern() {
            Some(p) => format!("an object used as a dictionary, keys like {p}"),
            None => "an object used as a dictionary".to_string(),
        },
        s => {
            let noun = s.noun();
            let article = if noun.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            format!("{article} {noun}")
        }
    };
    let values = match &g.value_class {
        Some(c) => format!("; values are {c}"),
        None => String::new(),
    };
    let title = if kind == KIND {
        format!(
            "Cache {} grows without bound (+{grew} {word})",
            g.owner.name
        )
    } else {
        format!(
            "{} {} only grows (+{grew} {word})",
            g.shape.noun(),
            g.owner.name
        )
    };
    let evidence = format!(
        "{word} {b} → {a} (+{grew}) {} ({what}){values}; retained {} → {}{}",
        owner::steps_text(cx.snapshots),
        bytes(g.retained_before),
        bytes(g.retained_after),
        match monotonic {
            Some(true) => "; the value class grew at every step",
            _ => "",
        }
    );
    let suggestion = if kind == KIND {
        "Bound the cache: evict with an LRU or a TTL, delete entries when their work is done, \
         or key it weakly (WeakMap, WeakRef) so entries die with their keys."
    } else {
        "Cap the collection (a maximum length or a ring buffer), remove items when they are \
         done with (splice, delete), or move old items out of memory."
    };
    Finding {
        kind: kind.to_string(),
        severity: super::severity(b, a, retained_growth, monotonic),
        title,
        owner: g.owner.name.clone(),
        path: g.owner.path.clone(),
        count_before: b,
        count_after: a,
        retained_size_before: g.retained_before,
        retained_size_after: g.retained_after,
        evidence,
        suggestion: suggestion.to_string(),
        fingerprint: owner::fingerprint(kind, &g.owner.key()),
    }
}
