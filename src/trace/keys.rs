//! Path identities as integers, shared by every tracer of a comparison.
//!
//! Each tracer interns its own steps, patterns and signatures, so the same path has
//! different signatures in two parts of one snapshot and in the two snapshots. Grouping
//! the paths of a class (tens of thousands of signatures on a small service: one per
//! string or compiled function's holder) by spelled-out keys hashed and cloned strings for
//! each; here each step key is interned once per tracer, and full paths and owner keys
//! become integers in one trie and one table.

use super::{Tracer, ROOT_SIG, UNREACHABLE_SIG};
use crate::fasthash::FastMap;
use crate::model::{Anchor, EdgeType, StepKey};
use std::cmp::Ordering;

const UNSET: u32 = u32::MAX;
/// Full-path id of the empty path.
const EMPTY: u32 = 0;

#[derive(Default)]
pub(super) struct Keys {
    step_ids: FastMap<StepKey, u32>,
    step_keys: Vec<StepKey>,
    /// Rank of each step id in [`StepKey`] order, once [`Keys::rank_steps`] has run.
    step_rank: Vec<u32>,
    /// Trie of full paths (repeat marks left out): (parent path, step) → path.
    path_ids: FastMap<(u32, u32), u32>,
    path_nodes: Vec<(u32, u32)>,
    owner_ids: FastMap<(Anchor, Vec<u32>), u32>,
    owners: Vec<(Anchor, Vec<u32>)>,
}

/// One tracer's signatures mapped to [`Keys`] ids, filled as they are asked for.
pub(super) struct TracerKeys {
    step: Vec<u32>,
    path: Vec<u32>,
    owner: Vec<u32>,
}

impl Keys {
    pub fn new() -> Keys {
        Keys {
            path_nodes: vec![(EMPTY, UNSET)],
            ..Keys::default()
        }
    }

    pub fn for_tracer(t: &Tracer) -> TracerKeys {
        TracerKeys {
            step: vec![UNSET; t.steps.len()],
            path: vec![UNSET; t.nodes.len()],
            owner: vec![UNSET; t.nodes.len()],
        }
    }

    fn intern_step(&mut self, key: StepKey) -> u32 {
        if let Some(&id) = self.step_ids.get(&key) {
            return id;
        }
        let id = self.step_keys.len() as u32;
        self.step_keys.push(key.clone());
        self.step_ids.insert(key, id);
        id
    }

    fn step(&mut self, t: &Tracer, tk: &mut TracerKeys, local: u32) -> u32 {
        let id = tk.step[local as usize];
        if id != UNSET {
            return id;
        }
        let (ty, pattern, class) = t.steps[local as usize];
        let id = self.intern_step(StepKey {
            edge_type: EdgeType::of(ty),
            edge: t.patterns[pattern as usize].clone(),
            node: t.g.class_names[class as usize].clone(),
        });
        tk.step[local as usize] = id;
        id
    }

    /// The full path of `sig` (its steps' keys, root first).
    pub fn path(&mut self, t: &Tracer, tk: &mut TracerKeys, sig: u32) -> u32 {
        if sig == ROOT_SIG {
            return EMPTY;
        }
        if sig == UNREACHABLE_SIG {
            // Spelled as one step of its own (see [`Tracer::steps`]).
            let step = self.intern_step(StepKey {
                edge_type: EdgeType::None,
                edge: String::new(),
                node: "(unreachable)".into(),
            });
            return self.child(EMPTY, step);
        }
        if tk.path[sig as usize] != UNSET {
            return tk.path[sig as usize];
        }
        // Walk up to a known prefix, then intern downwards.
        let mut chain = Vec::new();
        let mut s = sig;
        let mut at = loop {
            if s == ROOT_SIG {
                break EMPTY;
            }
            let known = tk.path[s as usize];
            if known != UNSET {
                break known;
            }
            chain.push(s);
            s = t.nodes[s as usize].0;
        };
        while let Some(s) = chain.pop() {
            let step = self.step(t, tk, t.nodes[s as usize].1);
            at = self.child(at, step);
            tk.path[s as usize] = at;
        }
        at
    }

    fn child(&mut self, parent: u32, step: u32) -> u32 {
        let next = self.path_nodes.len() as u32;
        let id = *self.path_ids.entry((parent, step)).or_insert(next);
        if id == next {
            self.path_nodes.push((parent, step));
        }
        id
    }

    /// The owner key of `sig`, by the rule of [`Tracer::owner_key`].
    pub fn owner(&mut self, t: &Tracer, tk: &mut TracerKeys, sig: u32) -> u32 {
        if sig == ROOT_SIG || sig == UNREACHABLE_SIG {
            return self.intern_owner(Anchor::Unnamed, Vec::new());
        }
        if tk.owner[sig as usize] != UNSET {
            return tk.owner[sig as usize];
        }
        let (anchor, steps) = t.owner_steps(sig);
        let up = steps
            .into_iter()
            .map(|(s, export)| {
                let step = self.step(t, tk, t.nodes[s as usize].1);
                match export {
                    Some(name) => self.intern_step(StepKey {
                        edge_type: EdgeType::Context,
                        edge: t.g.strings.get(name).to_string(),
                        ..self.step_keys[step as usize].clone()
                    }),
                    None => step,
                }
            })
            .collect();
        let id = self.intern_owner(anchor, up);
        tk.owner[sig as usize] = id;
        id
    }

    fn intern_owner(&mut self, anchor: Anchor, steps: Vec<u32>) -> u32 {
        let key = (anchor, steps);
        if let Some(&id) = self.owner_ids.get(&key) {
            return id;
        }
        let id = self.owners.len() as u32;
        self.owners.push(key.clone());
        self.owner_ids.insert(key, id);
        id
    }

    /// Ranks the step keys interned so far in [`StepKey`] order; the comparisons below
    /// need it and see only steps interned before it.
    pub fn rank_steps(&mut self) {
        let mut order: Vec<u32> = (0..self.step_keys.len() as u32).collect();
        order.sort_by(|&a, &b| self.step_keys[a as usize].cmp(&self.step_keys[b as usize]));
        self.step_rank = vec![0; order.len()];
        for (r, &id) in order.iter().enumerate() {
            self.step_rank[id as usize] = r as u32;
        }
    }

    /// Full path `p`'s step ranks, root first: compared as a vector, the order of the
    /// paths' [`StepKey`] vectors.
    pub fn path_ranks(&self, mut p: u32) -> Vec<u32> {
        let mut out = Vec::new();
        while p != EMPTY {
            let (parent, step) = self.path_nodes[p as usize];
            out.push(self.step_rank[step as usize]);
            p = parent;
        }
        out.reverse();
        out
    }

    /// The order of two owner keys as [`OwnerKey`]s.
    pub fn cmp_owners(&self, a: u32, b: u32) -> Ordering {
        let (aa, sa) = &self.owners[a as usize];
        let (ab, sb) = &self.owners[b as usize];
        aa.cmp(ab).then_with(|| {
            let ra = sa.iter().map(|&s| self.step_rank[s as usize]);
            let rb = sb.iter().map(|&s| self.step_rank[s as usize]);
            ra.cmp(rb)
        })
    }
}
