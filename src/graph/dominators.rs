//! Immediate dominators over essential edges, by Semi-NCA (Georgiadis' simplification of
//! Lengauer–Tarjan: semidominators with path compression, then each idom as the nearest
//! common ancestor walk `idom[w] = idom[idom[w]]` while above `semi[w]`).
//!
//! Everything is iterative (an explicit DFS stack and an explicit compression path), so a
//! 10M-node chain cannot overflow the call stack. Nodes the DFS from the root does not reach
//! are handled as DevTools does: those with no essential retainer (held only weakly) start
//! their own DFS under the root, so they still dominate what only they hold; what is left
//! (unreachable cycles) hangs directly under the root. Both are the root's children through
//! virtual edges, which is the graph the test oracle checks against.
//! Two phases: [`number_nodes`] (the DFS, forward edges only) and [`compute_dominators`]
//! (semidominators over essential retainers, then the NCA climb).
//! Cost: O(m α(m, n)); memory: 28 bytes per node while running.

use super::BitSet;

pub struct Dominators {
    /// Immediate dominator of every node (node ordinals); the root's is itself.
    pub idom: Vec<u32>,
    /// Every node in DFS preorder (root first): each comes after its immediate dominator, so
    /// a reverse sweep accumulates subtree sums.
    pub order: Vec<u32>,
    /// How many nodes the DFS reached from the root over essential edges.
    pub reached: usize,
}

/// A DFS preorder numbering of every node (phase one; needs forward edges only, so it runs
/// while the retainers are being built).
pub struct Numbering {
    /// Preorder number of every node (1-based).
    pub pre: Vec<u32>,
    /// Node of every preorder number (`vertex[0]` unused).
    pub vertex: Vec<u32>,
    /// DFS parent's preorder number (1 for the root's children, real or virtual).
    pub parent: Vec<u32>,
    pub reached: usize,
}

/// Phase one: number every node in DFS preorder over essential edges, in edge order, from the
/// root; then the DevTools passes for nodes the root does not reach. `has_essential_retainer`
/// marks nodes that some essential edge points at.
pub fn number_nodes(
    root: u32,
    first_edge: &[u32],
    edge_to: &[u32],
    essential: &BitSet,
    has_essential_retainer: &BitSet,
) -> Numbering {
    let n = first_edge.len() - 1;
    let root = root as usize;
    // Preorder numbers start at 1; 0 means "not reached" and is the forest's null link.
    let mut pre = vec![0u32; n];
    let mut vertex = vec![0u32; n + 1];
    let mut parent = vec![0u32; n + 1];
    let mut count = 1u32;
    pre[root] = 1;
    vertex[1] = root as u32;
    let mut stack: Vec<(u32, u32)> = Vec::new();
    let mut dfs =
        |start: usize, count: &mut u32, pre: &mut [u32], vertex: &mut [u32], parent: &mut [u32]| {
            stack.push((start as u32, first_edge[start]));
            while let Some(top) = stack.last_mut() {
                let v = top.0 as usize;
                let end = first_edge[v + 1];
                let mut next = None;
                while top.1 < end {
                    let e = top.1;
                    top.1 += 1;
                    if !essential.get(e as usize) {
                        continue;
                    }
                    let w = edge_to[e as usize] as usize;
                    if pre[w] == 0 {
                        *count += 1;
                        pre[w] = *count;
                        vertex[*count as usize] = w as u32;
                        parent[*count as usize] = pre[v];
                        next = Some(w as u32);
                        break;
                    }
                }
                match next {
                    Some(w) => stack.push((w, first_edge[w as usize])),
                    None => {
                        stack.pop();
                    }
                }
            }
        };
    dfs(root, &mut count, &mut pre, &mut vertex, &mut parent);
    let reached = count as usize;
    if reached < n {
        // Pass A: nodes with no essential retainer at all (held only weakly, or not at all)
        // hang under the root with what they alone hold below them.
        for v in 0..n {
            if pre[v] == 0 && !has_essential_retainer.get(v) {
                count += 1;
                pre[v] = count;
                vertex[count as usize] = v as u32;
                parent[count as usize] = 1;
                dfs(v, &mut count, &mut pre, &mut vertex, &mut parent);
            }
        }
        // Pass B: what is left only holds itself (unreachable cycles): each under the root.
        for (v, p) in pre.iter_mut().enumerate() {
            if *p == 0 {
                count += 1;
                *p = count;
                vertex[count as usize] = v as u32;
                parent[count as usize] = 1;
            }
        }
    }
    Numbering {
        pre,
        vertex,
        parent,
        reached,
    }
}

/// What phase two reads: the numbering and the essential retainers.
pub struct DomInput<'a> {
    pub first_retainer: &'a [u32],
    pub retainer_edge: &'a [u32],
    pub retainer_node: &'a [u32],
    pub essential: &'a BitSet,
    /// Nodes with more than one essential retainer; the others' only one is their DFS
    /// parent, which is then their semidominator and immediate dominator.
    pub many_retainers: &'a BitSet,
}

/// Phase two: semidominators and immediate dominators.
pub fn compute_dominators(num: Numbering, g: &DomInput<'_>) -> Dominators {
    let Numbering {
        pre,
        vertex,
        parent,
        reached,
    } = num;
    let numbered = vertex.len() - 1;
    let count = numbered as u32;

    // Semidominators, in reverse preorder, with a link-eval forest over processed vertices.
    // One record per vertex keeps a forest step to one cache miss on a 9M-node heap.
    let mut f: Vec<Vertex> = (0..=count)
        .map(|v| Vertex {
            semi: v,
            label: v,
            ancestor: 0,
            parent: parent[v as usize],
        })
        .collect();
    drop(parent);
    let mut path: Vec<u32> = Vec::new();
    for w in (2..=numbered).rev() {
        if f[w].parent == 1 {
            // The root is a predecessor (really, or as the virtual parent of the passes above).
            f[w].semi = 1;
            f[w].ancestor = 1;
            continue;
        }
        let node = vertex[w] as usize;
        if !g.many_retainers.get(node) {
            // One essential retainer: the DFS came in through it, so it is the parent.
            f[w].semi = f[w].parent;
            f[w].ancestor = f[w].parent;
            continue;
        }
        let mut s = f[w].semi;
        for r in g.first_retainer[node] as usize..g.first_retainer[node + 1] as usize {
            if !g.essential.get(g.retainer_edge[r] as usize) {
                continue;
            }
            let v = pre[g.retainer_node[r] as usize];
            // v < w: not linked yet, so eval(v) = v and semi(v) = v.
            let cand = if v < w as u32 {
                v
            } else if f[v as usize].ancestor == 0 {
                f[v as usize].semi
            } else {
                compress(v, &mut f, &mut path);
                f[f[v as usize].label as usize].semi
            };
            if cand < s {
                s = cand;
            }
        }
        f[w].semi = s;
        f[w].ancestor = f[w].parent;
    }

    // Immediate dominators in preorder space: start from the DFS parent and climb while
    // above the semidominator. `parent` becomes `idom` in place.
    f[1].parent = 1;
    for w in 2..=numbered {
        let mut d = f[w].parent;
        let semi = f[w].semi;
        while d > semi {
            d = f[d as usize].parent;
        }
        f[w].parent = d;
    }

    // Back to node ordinals, reusing `pre` (no longer needed) for the result.
    let mut idom = pre;
    for w in 1..=numbered {
        idom[vertex[w] as usize] = vertex[f[w].parent as usize];
    }
    drop(f);
    let mut order: Vec<u32> = vertex;
    order.remove(0);
    Dominators {
        idom,
        order,
        reached,
    }
}

/// A vertex of the link-eval forest, by preorder number.
#[derive(Clone, Copy)]
struct Vertex {
    semi: u32,
    label: u32,
    ancestor: u32,
    /// DFS parent; becomes the immediate dominator.
    parent: u32,
}

/// Path compression for `eval`, iteratively: walk up while the grandparent link exists,
/// then fold labels back down from the top, exactly as the recursive version would.
fn compress(v: u32, f: &mut [Vertex], path: &mut Vec<u32>) {
    let mut x = v;
    while f[f[x as usize].ancestor as usize].ancestor != 0 {
        path.push(x);
        x = f[x as usize].ancestor;
    }
    while let Some(y) = path.pop() {
        let y = y as usize;
        let a = f[y].ancestor as usize;
        if f[f[a].label as usize].semi < f[f[y].label as usize].semi {
            f[y].label = f[a].label;
        }
        f[y].ancestor = f[a].ancestor;
    }
}
