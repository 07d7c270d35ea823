//! Attached / detached state spread from the DOM nodes Blink (or Node) marks to the native
//! nodes they hold, as DevTools does before naming classes.
//!
//! A snapshot marks only some embedder nodes (`detachedness` 1 attached, 2 detached): a
//! detached `<span>` is marked, its `Text` child and the `blink::` internals under it are
//! not. DevTools spreads the state over native nodes: everything native reachable from an
//! attached node is attached; what is then still unmarked and reachable from a detached
//! node is detached. Both spreads follow every edge but hidden and weak ones and stop at
//! non-native nodes (JavaScript objects never take a state; each way from JavaScript into
//! embedder code is a node that knows its own). A node's own mark always wins.
//!
//! The result rewrites the `detachedness` column, so class names (`Detached Text`) and the
//! detectors see the spread state.

use crate::input::v8::{edge_kind, node_kind};

pub const UNKNOWN: u8 = 0;
pub const ATTACHED: u8 = 1;
pub const DETACHED: u8 = 2;

/// Spreads the marked states in `state` (one byte per node; empty when the file has no
/// `detachedness` field, then nothing happens) over the native nodes they reach.
pub fn propagate(
    node_type: &[u8],
    first_edge: &[u32],
    edge_to: &[u32],
    edge_type: &[u8],
    state: &mut [u8],
) {
    if state.len() != node_type.len() {
        return;
    }
    // The marked native nodes. Most heaps mark a handful (Node: its BindingData) or none;
    // finding them is a scan for nonzero bytes, eight at a time.
    let mut attached: Vec<u32> = Vec::new();
    let mut detached: Vec<u32> = Vec::new();
    for (c, chunk) in state.chunks(8).enumerate() {
        if chunk.iter().all(|&s| s == UNKNOWN) {
            continue;
        }
        for (k, &s) in chunk.iter().enumerate() {
            let v = c * 8 + k;
            if s == UNKNOWN || node_type[v] != node_kind::NATIVE {
                continue;
            }
            match s {
                ATTACHED => attached.push(v as u32),
                DETACHED => detached.push(v as u32),
                _ => {}
            }
        }
    }
    // Attached first, to the end: a node reachable from both sides is attached. A native node
    // with a state is done (its own mark, or reached already); the others never take one.
    for (stack, new_state) in [(&mut attached, ATTACHED), (&mut detached, DETACHED)] {
        while let Some(v) = stack.pop() {
            let v = v as usize;
            for e in first_edge[v] as usize..first_edge[v + 1] as usize {
                if matches!(edge_type[e], edge_kind::HIDDEN | edge_kind::WEAK) {
                    continue;
                }
                let t = edge_to[e] as usize;
                if node_type[t] == node_kind::NATIVE && state[t] == UNKNOWN {
                    state[t] = new_state;
                    stack.push(t as u32);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use node_kind::{NATIVE, OBJECT};

    /// Nodes by type, edges as (from, to, type); returns the states after spreading `marks`.
    fn spread(types: &[u8], edges: &[(u32, u32, u8)], marks: &[u8]) -> Vec<u8> {
        let mut first_edge = vec![0u32; types.len() + 1];
        let mut sorted = edges.to_vec();
        sorted.sort_by_key(|e| e.0);
        for &(f, _, _) in &sorted {
            first_edge[f as usize + 1] += 1;
        }
        for i in 0..types.len() {
            first_edge[i + 1] += first_edge[i];
        }
        let to: Vec<u32> = sorted.iter().map(|e| e.1).collect();
        let ty: Vec<u8> = sorted.iter().map(|e| e.2).collect();
        let mut state = marks.to_vec();
        propagate(types, &first_edge, &to, &ty, &mut state);
        state
    }

    #[test]
    fn detached_element_passes_its_state_to_native_children_only() {
        // 0 detached <span> → 1 Text (native), 2 wrapper (object) → 3 native behind JS.
        let types = [NATIVE, NATIVE, OBJECT, NATIVE];
        let e = edge_kind::INTERNAL;
        let s = spread(&types, &[(0, 1, e), (0, 2, e), (2, 3, e)], &[2, 0, 0, 0]);
        assert_eq!(s, [2, 2, 0, 0]);
    }

    #[test]
    fn attached_spreads_first_and_own_marks_win() {
        // 0 attached → 2; 1 detached → 2 and → 3; 3 is marked attached itself; 4 under 1.
        let types = [NATIVE; 5];
        let e = edge_kind::ELEMENT;
        let edges = [(1, 2, e), (1, 3, e), (1, 4, e), (0, 2, e)];
        let s = spread(&types, &edges, &[1, 2, 0, 1, 0]);
        assert_eq!(s, [1, 2, 1, 1, 2]);
    }

    #[test]
    fn hidden_and_weak_edges_do_not_carry_state() {
        let types = [NATIVE; 4];
        let edges = [
            (0, 1, edge_kind::WEAK),
            (0, 2, edge_kind::HIDDEN),
            (0, 3, edge_kind::SHORTCUT),
        ];
        let s = spread(&types, &edges, &[2, 0, 0, 0]);
        assert_eq!(s, [2, 0, 0, 2]);
    }

    #[test]
    fn no_field_no_change() {
        let mut state: Vec<u8> = Vec::new();
        propagate(&[NATIVE], &[0, 0], &[], &[], &mut state);
        assert!(state.is_empty());
    }
}
