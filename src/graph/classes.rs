//! Class names as DevTools shows them, and a class index per node.
//!
//! `object` and `native` nodes are named by their constructor (the node name); DOM names drop
//! their attributes (`<div id=x>` → `<div>`) and detached DOM nodes get `Detached ` in front;
//! closures are named by their function; `hidden` is `(system)`, `code` `(compiled code)`,
//! `regexp` `RegExp`, and every other type `(type)`: `(array)`, `(string)`, `(number)`…
//! Closures and objects with one name are different classes (a constructor function named
//! `Foo` is not an instance of `Foo`), so a closure class is shown as `Foo()`.
//!
//! Names are interned per distinct string, not per node: one pass over the nodes with array
//! lookups, one string operation per distinct name.

use crate::input::v8::{node_kind, Strings};
use std::collections::HashMap;

pub struct Classes {
    /// Class index of every node.
    pub class_of: Vec<u32>,
    /// Display name of every class.
    pub names: Vec<String>,
}

const UNSET: u32 = u32::MAX;

/// Display name of a node's class, computed from scratch (the slow, obvious version, also
/// used by code that names single nodes).
pub fn class_name(kind: u8, name: &str, detached: bool, type_names: &[String]) -> String {
    match kind {
        node_kind::HIDDEN => "(system)".into(),
        node_kind::CODE => "(compiled code)".into(),
        node_kind::REGEXP => "RegExp".into(),
        // Synthetic roots by their own names (`(GC roots)`, `(Handle scope)`).
        node_kind::SYNTHETIC if !name.is_empty() => name.to_string(),
        node_kind::CLOSURE => format!("{}()", if name.is_empty() { "(anonymous)" } else { name }),
        node_kind::OBJECT | node_kind::NATIVE => {
            let base = dom_base_name(name);
            if detached {
                format!("Detached {base}")
            } else {
                base.to_string()
            }
        }
        other => format!(
            "({})",
            type_names
                .get(other as usize)
                .map_or("unknown", |s| s.as_str())
        ),
    }
}

/// `<div id="a" class="b">` → `<div>`; a scope named by its `ScopeInfo`'s node id
/// (`system / Context / scope @46959`, Chromium) → `system / Context`, since the id differs
/// in every process; other names unchanged.
fn dom_base_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.starts_with('<') {
        if let Some(sp) = name.find(' ') {
            return format!("{}>", &name[..sp]).into();
        }
    }
    if let Some(scope) = name.strip_prefix("system / Context / scope @") {
        if scope.bytes().all(|b| b.is_ascii_digit()) {
            return "system / Context".into();
        }
    }
    name.into()
}

pub fn compute_classes(
    node_type: &[u8],
    node_name: &[u32],
    detachedness: &[u8],
    strings: &Strings,
    type_names: &[String],
) -> Classes {
    let n = node_type.len();
    let mut names: Vec<String> = Vec::new();
    let mut by_name: HashMap<String, u32> = HashMap::new();
    let mut intern = |s: String, names: &mut Vec<String>| -> u32 {
        if let Some(&c) = by_name.get(&s) {
            return c;
        }
        let c = names.len() as u32;
        names.push(s.clone());
        by_name.insert(s, c);
        c
    };
    // Per-string caches for the name-based kinds: [object/native, detached, closure,
    // synthetic].
    let mut cache: [Vec<u32>; 4] = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    let mut fixed: Vec<u32> = vec![UNSET; type_names.len().max(node_kind::NAMES.len())];
    let mut class_of = Vec::with_capacity(n);
    for i in 0..n {
        let kind = node_type[i];
        // Only embedder (native) nodes are named detached, as DevTools names them.
        let detached = kind == node_kind::NATIVE && detachedness.get(i) == Some(&2);
        let slot = match kind {
            node_kind::OBJECT | node_kind::NATIVE => Some(if detached { 1 } else { 0 }),
            node_kind::CLOSURE => Some(2),
            node_kind::SYNTHETIC => Some(3),
            _ => None,
        };
        let c = match slot {
            Some(k) => {
                let table = &mut cache[k];
                if table.is_empty() {
                    *table = vec![UNSET; strings.len()];
                }
                let s = node_name[i] as usize;
                if table[s] == UNSET {
                    let name = class_name(kind, strings.get(s as u32), detached, type_names);
                    table[s] = intern(name, &mut names);
                }
                table[s]
            }
            None => {
                let k = kind as usize;
                if fixed[k] == UNSET {
                    fixed[k] = intern(class_name(kind, "", false, type_names), &mut names);
                }
                fixed[k]
            }
        };
        class_of.push(c);
    }
    Classes { class_of, names }
}
