//! Small helpers the detectors share: class lookups, what counts as a program's value, and
//! a node's path and owner.

use crate::graph::HeapGraph;
use crate::input::v8::node_kind;
use crate::model::{Owner, PathStep};

pub use crate::graph::scopes::string_ids;

/// Class indexes of `g` whose names are in `names`.
pub fn class_ids(g: &HeapGraph, names: &[&str]) -> Vec<u32> {
    g.class_names
        .iter()
        .enumerate()
        .filter(|(_, n)| names.contains(&n.as_str()))
        .map(|(c, _)| c as u32)
        .collect()
}

/// The class name of node `v`.
pub fn class(g: &HeapGraph, v: u32) -> &str {
    &g.class_names[g.class_of[v as usize] as usize]
}

/// Whether a node holds a JS value a program can own (not a string, number or V8 internal).
pub fn is_object_value(g: &HeapGraph, v: u32) -> bool {
    matches!(
        g.node_type[v as usize],
        node_kind::OBJECT | node_kind::CLOSURE | node_kind::REGEXP | node_kind::NATIVE
    ) && !class(g, v).starts_with("system / ")
}

/// `name()` of a closure class → `name`.
pub fn function_name(class: &str) -> &str {
    class.strip_suffix("()").unwrap_or(class)
}

/// The edges of node `v`.
pub fn edges(g: &HeapGraph, v: u32) -> std::ops::Range<usize> {
    g.first_edge[v as usize] as usize..g.first_edge[v as usize + 1] as usize
}

/// The target of `v`'s first edge of type `t` named by string `name`.
pub fn edge_to(g: &HeapGraph, v: u32, t: u8, name: Option<u32>) -> Option<u32> {
    let name = name?;
    edges(g, v)
        .find(|&e| g.edge_type[e] == t && g.edge_name[e] == name)
        .map(|e| g.edge_to[e])
}

/// The full path from the root to `v`, as reports show it (repeats folded).
pub fn path_to(g: &HeapGraph, v: u32, show_values: bool) -> Vec<PathStep> {
    let tree = g.paths();
    let mut chain = Vec::new();
    let mut x = v;
    loop {
        let e = tree.parent[x as usize];
        if e == crate::graph::parents::NO_PARENT {
            break;
        }
        chain.push((e, x));
        x = g.edge_source(e);
    }
    if x != g.root {
        return vec![PathStep {
            edge: String::new(),
            edge_type: crate::model::EdgeType::None,
            node: "(unreachable)".into(),
            repeated: false,
            example: None,
        }];
    }
    chain.reverse();
    crate::trace::owner::typed_steps(g, &chain, show_values)
}

/// The owner of `v` and its full path.
pub fn owner_and_path(g: &HeapGraph, v: u32, show_values: bool) -> (Owner, Vec<PathStep>) {
    (
        crate::trace::owner::owner_of(g, v, show_values),
        path_to(g, v, show_values),
    )
}

/// A most-common entry of a count map, ties broken by the smaller key.
pub fn most_common<K: Ord + Clone>(counts: &std::collections::HashMap<K, u64>) -> Option<K> {
    counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(k, _)| k.clone())
}
