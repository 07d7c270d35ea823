//! The words of a finding: its owner's name, title, evidence and fix, written from the typed
//! leak a detector reported. Nothing here decides what a leak is; it only says it.

use super::units::bytes;
use crate::model::{
    Anchor, EdgeType, Evidence, Growth, Holder, Kind, Leak, ListenerTarget, Owner, PathStep,
    Purpose, Related, Shape, TimerKind,
};

/// Internal edges that are an implementation detail of their owner and not part of its name
/// (`sessionCache → table → …` reads as `sessionCache`).
const SILENT_INTERNAL_EDGES: &[&str] = &[
    "table",
    "properties",
    "elements",
    "context",
    "map",
    "bound_this",
    "bound_function",
    "value",
];

/// A holder's name, as a developer would grep for it (see the README's owner convention).
pub fn holder_name(h: &Holder) -> String {
    match h {
        Holder::Path(o) => owner_name(o),
        Holder::DomListeners { target, function } => {
            format!("{target} ({} listeners)", function.display())
        }
        Holder::Callback { function, .. } => function.display(),
    }
}

/// The names of all holders, joined with ` + `.
pub fn holders_name(hs: &[Holder]) -> String {
    hs.iter().map(holder_name).collect::<Vec<_>>().join(" + ")
}

/// A path owner's name: variable and property names joined by dots from the anchor,
/// elements as `[]`, engine bookkeeping left out; a closure's function property is left
/// out before the variable it captures (`cartStore.subscribe → context → listeners` reads
/// `cartStore.listeners`).
pub fn owner_name(o: &Owner) -> String {
    let steps = &o.steps;
    let mut out = String::new();
    let start = match o.anchor {
        Anchor::Instance => {
            // `this` → an instance: named by its class.
            if let Some(first) = steps.first() {
                out.push_str(&first.node);
            }
            1
        }
        Anchor::Runtime => {
            // Held by the runtime's bookkeeping: name it by what the first step reaches (a
            // timer's callback, say).
            if let Some(first) = steps.first() {
                out.push_str(&first.node);
            }
            1
        }
        _ => 0,
    };
    for (i, s) in steps.iter().enumerate().skip(start) {
        let closure_hop = s.node.ends_with("()")
            && steps
                .get(i + 1)
                .is_some_and(|n| n.edge_type == EdgeType::Internal && n.edge == "context")
            && steps
                .get(i + 2)
                .is_some_and(|n| n.edge_type == EdgeType::Context);
        match s.edge_type {
            EdgeType::Context | EdgeType::Property if closure_hop && i > start => {}
            EdgeType::Context | EdgeType::Property => {
                let name = match s.edge.strip_prefix("<symbol ") {
                    Some(sym) => format!("[{}]", sym.trim_end_matches('>')),
                    None => s.edge.clone(),
                };
                if !out.is_empty() && !name.starts_with('[') {
                    out.push('.');
                }
                out.push_str(&name);
            }
            EdgeType::Element => out.push_str("[]"),
            EdgeType::Internal if SILENT_INTERNAL_EDGES.contains(&s.edge.as_str()) => {}
            EdgeType::Internal if s.edge == "<n>" => out.push_str("[]"),
            _ => {}
        }
    }
    match o.anchor {
        Anchor::Stack => format!(
            "(stack) {}",
            if out.is_empty() {
                last_class(steps)
            } else {
                out
            }
        ),
        _ if out.is_empty() => last_class(steps),
        _ => out,
    }
}

fn last_class(steps: &[PathStep]) -> String {
    steps
        .last()
        .map_or_else(|| "(root)".to_string(), |s| s.node.clone())
}

/// What one entry of a collection is called.
fn entries_word(shape: Shape, purpose: Purpose) -> &'static str {
    match (shape, purpose) {
        (_, Purpose::Callbacks) => "callbacks",
        (_, Purpose::Pending) => "pending requests",
        (Shape::Map, _) => "entries",
        (Shape::Set, _) => "members",
        (Shape::Array, _) => "elements",
        (Shape::Dictionary, _) => "keys",
    }
}

fn shape_noun(shape: Shape) -> &'static str {
    match shape {
        Shape::Map => "Map",
        Shape::Set => "Set",
        Shape::Array => "Array",
        Shape::Dictionary => "object",
    }
}

/// How many steps a comparison spans (snapshots − 1), for evidence text.
fn steps_text(l: &Leak) -> String {
    let n = l.trend.as_ref().map_or(1, |t| t.len() - 1);
    if n == 1 {
        "in 1 step".into()
    } else {
        format!("over {n} steps")
    }
}

/// The title of a finding.
pub fn title(l: &Leak) -> String {
    let grew = l.count_after.saturating_sub(l.count_before);
    let owner = holders_name(&l.holders);
    match (&l.kind, &l.evidence) {
        (
            Kind::Cache,
            Evidence::Collection {
                purpose: Purpose::Pending,
                ..
            },
        ) => {
            format!("Requests pile up in {owner}: +{grew} never answered")
        }
        (
            Kind::Cache,
            Evidence::Collection {
                collection,
                purpose,
                ..
            },
        ) => format!(
            "Cache {owner} grows without bound (+{grew} {})",
            entries_word(*collection, *purpose)
        ),
        (Kind::Subscriptions, _) => {
            format!("{grew} subscriptions added to {owner} and never removed")
        }
        (
            _,
            Evidence::Collection {
                collection,
                purpose,
                ..
            },
        ) => format!(
            "{} {owner} only grows (+{grew} {})",
            shape_noun(*collection),
            entries_word(*collection, *purpose)
        ),
        (_, Evidence::Listeners { target, event, .. }) => {
            let emitter = listener_target_name(l);
            match (target, event) {
                (ListenerTarget::JQuery, Some(ev)) => format!(
                    "{grew} '{ev}' handlers bound with jQuery to {emitter} and never removed"
                ),
                (_, Some(ev)) => {
                    format!("{grew} '{ev}' listeners added to {emitter} and never removed")
                }
                (_, None) => format!(
                    "{grew} {} listeners added to {emitter} and never removed",
                    listener_function(l)
                ),
            }
        }
        (
            _,
            Evidence::Timers {
                timer, callback, ..
            },
        ) => {
            let f = callback.display();
            match timer {
                TimerKind::Interval => format!("{grew} intervals running {f} were never cleared"),
                TimerKind::Timeout => format!("{grew} pending timeouts running {f} accumulate"),
                TimerKind::Immediate => {
                    format!("{grew} pending setImmediate callbacks {f} accumulate")
                }
                TimerKind::Page => format!("{grew} page timers running {f} keep firing"),
            }
        }
        (
            _,
            Evidence::Observers {
                observer, callback, ..
            },
        ) => format!(
            "{grew} {observer}s calling {} were never disconnected",
            callback.display()
        ),
        (_, Evidence::DetachedDom { .. }) => {
            format!("{grew} detached DOM nodes kept alive by {owner}")
        }
        (_, Evidence::Promise { .. }) => {
            format!("Promise {owner} never settles: +{grew} reactions waiting on it")
        }
        (_, Evidence::Chain { link_class, .. }) => {
            format!("A chain of {link_class} objects grows from {owner} (+{grew} links)")
        }
    }
}

/// What listeners were added to: the emitter's name without `._events.<event>`.
fn listener_target_name(l: &Leak) -> String {
    match l.holders.first() {
        Some(Holder::Path(o)) => {
            let mut o = o.clone();
            o.steps.pop();
            let name = owner_name(&o);
            name.strip_suffix("._events")
                .or_else(|| name.strip_suffix("[kEvents]"))
                .unwrap_or(&name)
                .to_string()
        }
        Some(Holder::DomListeners { target, .. }) => target.clone(),
        Some(h) => holder_name(h),
        None => String::new(),
    }
}

fn listener_function(l: &Leak) -> String {
    match &l.evidence {
        Evidence::Listeners {
            listener: Some(f), ..
        } => f.display(),
        _ => "function".into(),
    }
}

/// How the growth looks, in words.
fn growth_text(l: &Leak) -> String {
    match (l.growth, &l.trend) {
        (Growth::AppearedOnce, _) => "; it appeared between the two snapshots, which a table \
             built once would also do: a third snapshot tells the two apart"
            .into(),
        (Growth::EveryStep, Some(t)) => format!(
            "; grew at every step ({})",
            t.iter().map(u64::to_string).collect::<Vec<_>>().join(" → ")
        ),
        (Growth::LastStep, Some(t)) => format!(
            "; grew over the last step, not at every step ({})",
            t.iter().map(u64::to_string).collect::<Vec<_>>().join(" → ")
        ),
        _ => String::new(),
    }
}

/// The evidence of a finding, in one line.
pub fn evidence(l: &Leak) -> String {
    let (b, a) = (l.count_before, l.count_after);
    let grew = a.saturating_sub(b);
    let steps = steps_text(l);
    let retained = if l.shared {
        format!(
            "retained {} → {}, shared by {} holders (no one of them keeps it alone)",
            bytes(l.retained_size_before),
            bytes(l.retained_size_after),
            l.holders.len()
        )
    } else {
        format!(
            "retained {} → {}",
            bytes(l.retained_size_before),
            bytes(l.retained_size_after)
        )
    };
    let mut text = match &l.evidence {
        Evidence::Collection {
            collection,
            purpose,
            value_class,
            key_pattern,
            external_bytes,
        } => {
            let word = entries_word(*collection, *purpose);
            let what = match (collection, key_pattern) {
                (Shape::Dictionary, Some(p)) => {
                    format!("an object used as a dictionary, keys like {p}")
                }
                (Shape::Dictionary, None) => "an object used as a dictionary".to_string(),
                (s, _) => {
                    let noun = shape_noun(*s);
                    let article = if noun.starts_with(['A', 'E', 'I', 'O', 'U']) {
                        "an"
                    } else {
                        "a"
                    };
                    format!("{article} {noun}")
                }
            };
            let values = value_class
                .as_ref()
                .map_or(String::new(), |c| format!("; values are {c}"));
            let external = if *external_bytes > 0 {
                format!(
                    "; its entries keep {} outside the JS heap (ArrayBuffer stores)",
                    bytes(*external_bytes)
                )
            } else {
                String::new()
            };
            format!("{word} {b} → {a} (+{grew}) {steps} ({what}){values}{external}; {retained}")
        }
        Evidence::Listeners {
            target,
            event,
            listener,
        } => {
            let on = match (target, event) {
                (ListenerTarget::Emitter, Some(e)) => format!("event '{e}' on an EventEmitter"),
                (ListenerTarget::EventTarget, Some(e)) => {
                    format!("event '{e}' on an EventTarget")
                }
                (ListenerTarget::JQuery, Some(e)) => {
                    format!("jQuery's '{e}' handler list on {}", listener_target_name(l))
                }
                _ => "the event type is not recorded in Chromium snapshots; listeners are grouped \
                      by target and function"
                    .to_string(),
            };
            let f = listener.as_ref().map_or(String::new(), |f| {
                format!("; listeners are {}", f.display())
            });
            format!("listeners {b} → {a} (+{grew}) {steps}; {on}{f}; {retained}")
        }
        Evidence::Timers {
            timer,
            callback,
            arguments,
            object_class,
        } => {
            let noun = match timer {
                TimerKind::Interval => "intervals",
                TimerKind::Timeout => "timeouts",
                TimerKind::Immediate => "immediates",
                TimerKind::Page => "timers",
            };
            let args = if arguments.is_empty() {
                String::new()
            } else {
                format!(" with arguments {}", arguments.join(", "))
            };
            format!(
                "{noun} ({object_class} objects) calling {}{args} {b} → {a} (+{grew}) {steps}; \
                 {retained} with their callbacks and what those capture",
                callback.display()
            )
        }
        Evidence::Observers {
            observer,
            callback,
            observed,
        } => {
            let watching = if observed.is_empty() {
                String::new()
            } else {
                format!(
                    "; observing {}",
                    observed
                        .iter()
                        .take(3)
                        .map(|(c, n)| format!("{n} {c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            format!(
                "{observer}s calling {} {b} → {a} (+{grew}) {steps}{watching}; {retained} with \
                 what their callbacks capture",
                callback.display()
            )
        }
        Evidence::DetachedDom { classes } => {
            let listing = classes
                .iter()
                .take(4)
                .map(|(c, n)| format!("{n} {c}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "detached DOM nodes held by {} {b} → {a} (+{grew}) {steps} ({listing}); {retained}",
                holders_name(&l.holders)
            )
        }
        Evidence::Promise { handler } => {
            let h = handler
                .as_ref()
                .map_or(String::new(), |f| format!("; most are {}", f.display()));
            format!(
                "reactions (await / then callbacks, with what they keep) {b} → {a} (+{grew}) \
                 {steps} on a promise still pending{h}; {retained}"
            )
        }
        Evidence::Chain { link, link_class } => {
            let via = if link.is_empty() {
                String::new()
            } else {
                format!(
                    "; each {link_class} holds the one before through {}",
                    super::path_text(link)
                )
            };
            format!("links {b} → {a} (+{grew}) {steps}{via}; {retained}")
        }
    };
    text.push_str(&growth_text(l));
    for r in &l.related {
        text.push_str("; also: ");
        text.push_str(&related_text(r));
    }
    text
}

/// One line for what another detector saw of the same root cause.
fn related_text(r: &Related) -> String {
    let grew = r.count_after.saturating_sub(r.count_before);
    let counts = format!("{} → {} (+{grew})", r.count_before, r.count_after);
    match &r.evidence {
        Evidence::DetachedDom { classes } => format!(
            "detached DOM nodes {counts} ({})",
            classes
                .iter()
                .take(3)
                .map(|(c, n)| format!("{n} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Evidence::Listeners {
            event, listener, ..
        } => format!(
            "listeners {counts}{}{}",
            event
                .as_ref()
                .map_or(String::new(), |e| format!(" on '{e}'")),
            listener
                .as_ref()
                .map_or(String::new(), |f| format!(", running {}", f.display()))
        ),
        Evidence::Timers { callback, .. } => {
            format!("timers {counts} running {}", callback.display())
        }
        Evidence::Observers {
            observer, callback, ..
        } => format!("{observer}s {counts} calling {}", callback.display()),
        Evidence::Collection {
            collection,
            purpose,
            ..
        } => format!(
            "a growing {} of {} {counts}",
            shape_noun(*collection),
            entries_word(*collection, *purpose)
        ),
        Evidence::Promise { .. } => format!("pending promise reactions {counts}"),
        Evidence::Chain { link_class, .. } => format!("a chain of {link_class} {counts}"),
    }
}

/// The usual fix, for the holder at hand.
pub fn suggestion(l: &Leak) -> String {
    let owner = holders_name(&l.holders);
    let detached_too = l
        .related
        .iter()
        .any(|r| matches!(r.evidence, Evidence::DetachedDom { .. }));
    let mut s = match (&l.kind, &l.evidence) {
        (
            _,
            Evidence::Collection {
                purpose: Purpose::Pending,
                ..
            },
        ) => format!(
            "Settle and delete every entry of {owner} on every outcome: when the answer comes, \
             on a timeout (setTimeout or AbortSignal.timeout) and when the connection fails or \
             closes; a request whose answer never comes must not stay."
        ),
        (Kind::Cache, _) => "Bound the cache: evict with an LRU or a TTL, delete entries when \
             their work is done, or key it weakly (WeakMap, WeakRef) so entries die with their \
             keys."
            .to_string(),
        (Kind::Subscriptions, _) => format!(
            "Unsubscribe when the subscriber goes away: return the unsubscribe function from \
             the effect (useEffect(() => store.subscribe(fn), [])), or call off/unsubscribe in \
             the component's or object's teardown, so {owner} only holds live subscribers."
        ),
        (_, Evidence::Collection { .. }) => "Cap the collection (a maximum length or a ring \
             buffer), remove items when they are done with (splice, delete), or move old items \
             out of memory."
            .to_string(),
        (
            _,
            Evidence::Listeners {
                target: ListenerTarget::JQuery,
                ..
            },
        ) => "Unbind the handler when the widget goes away: .off(event, handler) before \
             .remove(), or bind with a namespace (.on('click.row', …)) and .off('.row'); \
             handlers bound to document or window outlive the elements that bound them."
            .to_string(),
        (_, Evidence::Listeners { .. }) => "Remove the listener when its work is done \
             (removeListener / off / removeEventListener), register it with { once: true } or \
             once(), or pass an AbortSignal ({ signal }) and abort it; do not add a listener \
             per request or per view to a long-lived emitter."
            .to_string(),
        (
            _,
            Evidence::Timers {
                timer, callback, ..
            },
        ) => {
            let f = callback.display();
            match timer {
                TimerKind::Interval => format!(
                    "Keep the handle returned by setInterval and call clearInterval(handle) \
                     when the work it does is over (or pass an AbortSignal to timers/promises \
                     setInterval); {f} and everything it captures stay alive while the \
                     interval runs."
                ),
                TimerKind::Timeout => "Clear timeouts that are no longer needed (clearTimeout), \
                     stop a callback that re-arms itself when its work is over, and avoid \
                     scheduling one per request with a long delay."
                    .to_string(),
                TimerKind::Immediate => "Something schedules setImmediate faster than the \
                     event loop runs them; clearImmediate the ones that are no longer needed."
                    .to_string(),
                TimerKind::Page => format!(
                    "Keep the id of every setInterval (and of a setTimeout that re-arms \
                     itself) and clear it (clearInterval / clearTimeout) when the view or \
                     widget that started it goes away; {f} and what it captures stay alive \
                     while the timer runs."
                ),
            }
        }
        (_, Evidence::Observers { observer, .. }) => format!(
            "Call disconnect() on each {observer} (or unobserve its targets) when the view that \
             created it goes away; an observer of a long-lived element lives as long as the \
             element, with everything its callback captures."
        ),
        (_, Evidence::DetachedDom { .. }) => format!(
            "After removing nodes from the document, drop every reference to them: take them \
             out of {owner} (or clear it), and remove listeners whose closures capture them \
             (removeEventListener, or an AbortSignal)."
        ),
        (_, Evidence::Promise { .. }) => format!(
            "Do not make every caller wait on a promise that may never settle: give the wait a \
             timeout (Promise.race with a timer, AbortSignal.timeout) and reject {owner} for \
             good when its work fails, so the waiting requests end and are freed."
        ),
        (_, Evidence::Chain { link, .. })
            if link.iter().any(|s| s.edge_type == EdgeType::Context) =>
        {
            format!(
                "Do not let a new object reach the one it replaces: a closure created beside \
                 the new object must not capture the previous one (set the variable to null \
                 once it is used), so that replacing {owner} frees what it held."
            )
        }
        (_, Evidence::Chain { link, .. }) => {
            let field = link
                .last()
                .map_or_else(|| "link".to_string(), |s| s.edge.clone());
            format!(
                "Bound the list: drop its old end (set the `{field}` of the oldest entry you \
                 keep to null) or keep a fixed number of entries, so that {owner} does not \
                 keep every object ever linked to it."
            )
        }
    };
    if detached_too && !matches!(l.evidence, Evidence::DetachedDom { .. }) {
        s.push_str(" The detached DOM it keeps goes with it.");
    }
    if l.kind == Kind::DetachedDom
        && l.related
            .iter()
            .any(|r| matches!(r.evidence, Evidence::Listeners { .. }))
    {
        s = format!(
            "Remove the listener when its work is done (removeEventListener, or register it \
             with an AbortSignal and abort it when the view goes away). {s}"
        );
    }
    s
}

/// Where the owner part of a finding's path starts.
pub fn owner_start(l: &Leak) -> usize {
    match l.holders.first() {
        Some(Holder::Path(o)) => l.path.len().saturating_sub(o.steps.len()),
        _ => l
            .path
            .len()
            .saturating_sub(crate::trace::owner::UNANCHORED_STEPS),
    }
}
