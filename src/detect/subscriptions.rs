//! `subscriptions`: callbacks piling up in a Set or array that a store, a bus or a library
//! keeps for itself (`listeners.add(fn)` in a store's `subscribe`, `handlers[event].push(fn)`
//! in a hand-written event bus), because whoever subscribed never unsubscribes — a React
//! `useEffect` that does not return the unsubscribe function, a component that never calls
//! `off`.
//!
//! A collection counts as subscriptions when most of its entries are functions, or records
//! of one (`{ handler }`, `{ callback }`, `{ fn }`), and it is kept as such: a `Set` of
//! functions, or a collection whose owner's name says so (`listeners`, `handlers`,
//! `subscribers`, …). An array of thunks waiting to run (a retry queue) is a queue, not
//! subscriptions: `unbounded_collection` reports it. Node's EventEmitter and EventTarget
//! lists are the same shape; `event_listeners` names those more precisely, and the two
//! findings are one root cause ([`super::merge`]).

use super::collections::{Grown, SharedScan};
use super::{Candidate, DetectCtx, Detector};
use crate::model::{Kind, Purpose, Shape};

/// Reads the collection scan it shares with the other collection detectors.
#[derive(Default)]
pub struct Subscriptions(pub SharedScan);

/// Words in an owner's names that say its functions are subscribers.
pub const SUBSCRIBER_WORDS: &[&str] = &[
    "listener", "handler", "subscri", "callback", "observer", "watcher", "hook", "cbs", "events",
];

/// Whether a grown collection holds subscribers' callbacks.
pub fn is_subscriptions(g: &Grown) -> bool {
    g.after.purpose() == Purpose::Callbacks
        && (g.shape == Shape::Set
            || g.owner.steps.iter().any(|s| {
                let name = s.edge.to_ascii_lowercase();
                SUBSCRIBER_WORDS.iter().any(|w| name.contains(w))
            }))
}

impl Detector for Subscriptions {
    fn kind(&self) -> Kind {
        Kind::Subscriptions
    }
    fn detect(&self, cx: &DetectCtx<'_>, out: &mut Vec<Candidate>) {
        for g in self.0.get(cx).iter().filter(|g| is_subscriptions(g)) {
            out.push(g.candidate(Kind::Subscriptions));
        }
    }
}
