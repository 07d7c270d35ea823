//! A leak as the detectors see it: its kind, what holds it (typed), the counts and sizes
//! measured, and structured evidence. The report writes the words.

use super::path::{path_key, PathStep, StepKey};
use serde::Serialize;

/// Finding kinds, one detector each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Detached DOM trees kept alive.
    DetachedDom,
    /// Listeners piling up on one emitter or target and event.
    EventListeners,
    /// Callbacks piling up in a store's or bus's own Set or array.
    Subscriptions,
    /// Resize / Intersection / Mutation observers never disconnected.
    Observers,
    /// Timers never cleared.
    Timers,
    /// A promise that never settles, collecting reactions.
    PromiseReactions,
    /// A structure growing through closure contexts or `previous`/`next` links.
    LinkedChain,
    /// A keyed container whose entries (records) are never evicted.
    Cache,
    /// Any other collection that only grows.
    UnboundedCollection,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::DetachedDom => "detached_dom",
            Kind::EventListeners => "event_listeners",
            Kind::Subscriptions => "subscriptions",
            Kind::Observers => "observers",
            Kind::Timers => "timers",
            Kind::PromiseReactions => "promise_reactions",
            Kind::LinkedChain => "linked_chain",
            Kind::Cache => "cache",
            Kind::UnboundedCollection => "unbounded_collection",
        }
    }
    /// Kinds that describe any growing collection: a leak of a more specific shape (an
    /// emitter's listener array, the array that holds detached DOM) also makes a collection
    /// grow, so these give way to the specific kind on the same holder.
    pub fn is_generic(self) -> bool {
        matches!(self, Kind::Cache | Kind::UnboundedCollection)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// Where an owner's name starts: how the long-lived side holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// A variable of a module or script scope; the first step is that variable.
    Variable,
    /// A property of a global object (`window.x`, `globalThis.x`); the first step is it.
    Global,
    /// A property of a CommonJS module's `exports`; the first step is it.
    Export,
    /// A variable of one of the runtime's own modules (Node's `process`, `timerListMap`);
    /// the first step is that variable.
    RuntimeVariable,
    /// An object reached through a closure's `this`, named by its class (the first step's
    /// node).
    Instance,
    /// Held through the runtime's own bookkeeping (Node's timer lists, Blink's structures);
    /// the steps start at the first edge out of it.
    Runtime,
    /// Held only by running code (a stack slot, a handle scope): no long-lived name.
    Stack,
    /// Held by an embedder handle or V8's own roots, with no name on the way.
    Unnamed,
}

/// The long-lived object a leak is about: its path from the anchor to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Owner {
    pub anchor: Anchor,
    pub steps: Vec<PathStep>,
}

/// A function as a person finds it: by name, or by its place when it has none (or a
/// minified one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FunctionName {
    /// The function's name, empty for an anonymous function.
    pub name: String,
    /// Script file name (the last part of its URL) and 1-based line, when the snapshot has
    /// the function's location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl FunctionName {
    pub fn named(name: &str) -> FunctionName {
        FunctionName {
            name: name.to_string(),
            script: None,
            line: None,
        }
    }
    /// A name too short to mean anything to a reader (`e`, `Xt`: a minifier's).
    pub fn is_minified(&self) -> bool {
        !self.name.is_empty() && self.name.len() <= 2
    }
    /// `poll`, or `(anonymous) service.js:19`, or `e (app.min.js:1)`.
    pub fn display(&self) -> String {
        let place = match (&self.script, self.line) {
            (Some(s), Some(l)) => Some(format!("{s}:{l}")),
            _ => None,
        };
        match (self.name.is_empty(), self.is_minified(), place) {
            (true, _, Some(p)) => format!("(anonymous) {p}"),
            (true, _, None) => "(anonymous)".to_string(),
            (false, true, Some(p)) => format!("{} ({p})", self.name),
            _ => self.name.clone(),
        }
    }
}

/// What holds a leak.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "holder", rename_all = "snake_case")]
pub enum Holder {
    /// A collection, emitter, store, promise or chain head, reached by a path.
    Path(Owner),
    /// A DOM target's listeners that run one function (Blink does not record the event
    /// type in snapshots).
    DomListeners {
        target: String,
        function: FunctionName,
    },
    /// Timers or observers, by their callback.
    Callback {
        what: String,
        function: FunctionName,
    },
}

/// The identity of a holder, for matching, fingerprints and de-duplication.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HolderKey {
    Path(Anchor, Vec<(StepKey, bool)>),
    DomListeners(String, FunctionName),
    Callback(String, FunctionName),
}

impl Holder {
    pub fn key(&self) -> HolderKey {
        match self {
            Holder::Path(o) => HolderKey::Path(o.anchor, path_key(&o.steps)),
            Holder::DomListeners { target, function } => {
                HolderKey::DomListeners(target.clone(), function.clone())
            }
            Holder::Callback { what, function } => {
                HolderKey::Callback(what.clone(), function.clone())
            }
        }
    }
}

/// How a collection's growth looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Map,
    Set,
    Array,
    /// A plain object used as a dictionary.
    Dictionary,
}

/// What a growing collection is used for, from what it holds: it decides the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Records kept per key (a cache, an index, a session store).
    Records,
    /// Requests waiting for an answer (values hold promise resolvers or callbacks).
    Pending,
    /// Functions to call later (handlers, callbacks, thunks).
    Callbacks,
    /// Anything else (a log, a history, a queue of values).
    Values,
}

/// Node and page timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    Interval,
    Timeout,
    Immediate,
    /// A page timer (`setInterval` or a pending `setTimeout`: Blink does not say which).
    Page,
}

/// Where listeners are registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerTarget {
    /// A Node `EventEmitter` (`_events`).
    Emitter,
    /// A Node `EventTarget` / `AbortSignal` (`kEvents`).
    EventTarget,
    /// A DOM target (Blink's listener vectors).
    Dom,
    /// jQuery's handler lists (`$(target).on(…)`).
    JQuery,
}

/// What a detector measured, for the words and for machine readers.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Evidence {
    /// A collection that grew (`cache`, `unbounded_collection`, `subscriptions`).
    Collection {
        collection: Shape,
        purpose: Purpose,
        /// Class of most values.
        #[serde(skip_serializing_if = "Option::is_none")]
        value_class: Option<String>,
        /// The most common key pattern with data in it (`order:<n>`), dictionaries only.
        #[serde(skip_serializing_if = "Option::is_none")]
        key_pattern: Option<String>,
        /// Bytes held outside the JS heap by what the entries keep (ArrayBuffer backing
        /// stores, external strings), after the step.
        external_bytes: u64,
    },
    /// Listeners that accumulate on one target and event.
    Listeners {
        target: ListenerTarget,
        /// The event; `None` where the snapshot does not record it (Blink).
        #[serde(skip_serializing_if = "Option::is_none")]
        event: Option<String>,
        /// The most common listener function.
        #[serde(skip_serializing_if = "Option::is_none")]
        listener: Option<FunctionName>,
    },
    /// Timers that keep running.
    Timers {
        timer: TimerKind,
        callback: FunctionName,
        /// Classes of the timers' extra arguments (`setTimeout(poll, 1000, url)`).
        arguments: Vec<String>,
        /// `Timeout` (Node) or `DOMTimer` (pages).
        object_class: String,
    },
    /// Observers never disconnected.
    Observers {
        observer: String,
        callback: FunctionName,
        /// Classes of the observed nodes, most common first.
        observed: Vec<(String, u64)>,
    },
    /// Detached DOM nodes kept alive.
    DetachedDom {
        /// Classes of the detached nodes, most common first.
        classes: Vec<(String, u64)>,
    },
    /// A pending promise's reactions.
    Promise {
        #[serde(skip_serializing_if = "Option::is_none")]
        handler: Option<FunctionName>,
    },
    /// A chain of objects each holding the one before.
    Chain {
        /// The steps from one link to the next.
        link: Vec<PathStep>,
        link_class: String,
    },
}

/// What the snapshots show of a leak's growth: it decides how sure a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Growth {
    /// Two snapshots: it grew between them.
    OneStep,
    /// Two snapshots: it went from (nearly) nothing to its size once; a table built once
    /// looks the same, and only a third snapshot tells the two apart.
    AppearedOnce,
    /// A series: it grew at every step.
    EveryStep,
    /// A series: it grew over the last step, but not at every one.
    LastStep,
}

/// Another detector's view of the same root cause, folded into a leak.
#[derive(Debug, Clone, Serialize)]
pub struct Related {
    pub kind: Kind,
    pub count_before: u64,
    pub count_after: u64,
    pub evidence: Evidence,
}

/// One leak: one root cause.
#[derive(Debug, Clone, Serialize)]
pub struct Leak {
    pub kind: Kind,
    pub severity: Severity,
    /// Usually one; detached trees kept by two holders name both.
    pub holders: Vec<Holder>,
    /// The path from the root to the (first) holder.
    pub path: Vec<PathStep>,
    pub count_before: u64,
    pub count_after: u64,
    /// In a series, the count in every snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<Vec<u64>>,
    /// How the growth looks across the snapshots.
    pub growth: Growth,
    pub retained_size_before: u64,
    pub retained_size_after: u64,
    /// The retained sizes are shared with another holder (no one holder dominates them).
    pub shared: bool,
    pub evidence: Evidence,
    /// The same root cause seen by other detectors.
    pub related: Vec<Related>,
    pub fingerprint: String,
    /// The holders' nodes in the last snapshot, and what they keep (for merging leaks of
    /// one root cause); not part of the report.
    #[serde(skip)]
    pub nodes: LeakNodes,
}

/// Nodes of the last snapshot a leak is about.
#[derive(Debug, Clone, Default)]
pub struct LeakNodes {
    /// Too small a growth to be a finding by itself: kept only to name the cause of a
    /// leak it holds (the subscriber list whose closures keep detached DOM).
    pub supporting: bool,
    /// The holders (a collection, an emitter's listener array, a closure).
    pub holders: Vec<u32>,
    /// Nodes the leak keeps alive that another detector may report as its holder (the
    /// listener closures of detached trees, the collections inside a detached subtree).
    pub kept: Vec<u32>,
}

impl Leak {
    /// The identity of the leak's root cause: its kind and holders.
    pub fn key(&self) -> (Kind, Vec<HolderKey>) {
        (self.kind, self.holders.iter().map(Holder::key).collect())
    }
}

/// A stable hex fingerprint: FNV-1a (64 bit) over the kind and the holders' typed keys, so
/// the same leak has the same fingerprint in a pair, a series and across processes.
pub fn fingerprint(kind: Kind, holders: &[Holder]) -> String {
    let mut h = Fnv::default();
    h.str(kind.name());
    for holder in holders {
        match holder.key() {
            HolderKey::Path(anchor, steps) => {
                h.str("path");
                h.str(&format!("{anchor:?}"));
                for (s, repeated) in steps {
                    h.str(s.edge_type.name());
                    h.str(&s.edge);
                    h.str(&s.node);
                    h.str(if repeated { "*" } else { "" });
                }
            }
            HolderKey::DomListeners(target, f) => {
                h.str("dom");
                h.str(&target);
                h.function(&f);
            }
            HolderKey::Callback(what, f) => {
                h.str("callback");
                h.str(&what);
                h.function(&f);
            }
        }
    }
    format!("{:016x}", h.0)
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn str(&mut self, s: &str) {
        for b in s.bytes().chain([0x1f]) {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn function(&mut self, f: &FunctionName) {
        self.str(&f.name);
        self.str(f.script.as_deref().unwrap_or(""));
        self.str(&f.line.map(|l| l.to_string()).unwrap_or_default());
    }
}
