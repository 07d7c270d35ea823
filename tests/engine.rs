//! The graph engine against independent oracles: petgraph's dominator algorithm on every
//! fixture, subtree sums for retained sizes, and synthetic graphs for DevTools' edge rules.
#![allow(clippy::needless_range_loop)] // index loops read plainest in oracle code

mod common;

use common::{fixture, Builder};
use heapdiff::graph::HeapGraph;
use heapdiff::input::v8::{edge_kind, node_kind};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::VecDeque;

/// Every committed V8 snapshot: the Node service series and the Chromium page series.
fn fixtures() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![fixture("v8"), fixture("chromium")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".heapsnapshot.gz") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fixtures found");
    out
}

/// Immediate dominators computed by petgraph (Cooper–Harvey–Kennedy) on the essential edges
/// plus the virtual root edges DevTools adds for nodes the root does not reach: to every
/// node with no essential retainer, then to whatever is still unreached.
fn oracle_idoms(g: &HeapGraph) -> Vec<u32> {
    let n = g.node_count();
    let mut pg: DiGraph<(), ()> = DiGraph::with_capacity(n, g.edge_count());
    for _ in 0..n {
        pg.add_node(());
    }
    let mut has_ret = vec![false; n];
    for v in 0..n {
        for e in g.first_edge[v]..g.first_edge[v + 1] {
            if g.essential.get(e as usize) {
                let t = g.edge_to[e as usize] as usize;
                pg.add_edge(NodeIndex::new(v), NodeIndex::new(t), ());
                has_ret[t] = true;
            }
        }
    }
    let reach = |pg: &DiGraph<(), ()>| {
        let mut seen = vec![false; n];
        let mut q = VecDeque::from([g.root as usize]);
        seen[g.root as usize] = true;
        while let Some(v) = q.pop_front() {
            for w in pg.neighbors(NodeIndex::new(v)) {
                if !seen[w.index()] {
                    seen[w.index()] = true;
                    q.push_back(w.index());
                }
            }
        }
        seen
    };
    let seen = reach(&pg);
    let root = NodeIndex::new(g.root as usize);
    for v in 0..n {
        if !seen[v] && !has_ret[v] {
            pg.add_edge(root, NodeIndex::new(v), ());
        }
    }
    let seen = reach(&pg);
    for v in 0..n {
        if !seen[v] {
            pg.add_edge(root, NodeIndex::new(v), ());
        }
    }
    let doms = petgraph::algo::dominators::simple_fast(&pg, root);
    (0..n)
        .map(|v| {
            doms.immediate_dominator(NodeIndex::new(v))
                .map_or(g.root, |d| d.index() as u32)
        })
        .collect()
}

#[test]
fn dominators_equal_petgraph_on_every_fixture() {
    for path in fixtures() {
        let g = heapdiff::load_v8(&path).unwrap();
        let want = oracle_idoms(&g);
        let diff = (0..g.node_count())
            .filter(|&v| g.idom[v] != want[v])
            .count();
        assert_eq!(
            diff,
            0,
            "{}: {diff} of {} idoms differ from petgraph",
            path.display(),
            g.node_count()
        );
        // Built for comparing (path parents and edge sources up front): the same tree.
        let full = heapdiff::load_v8_for(&path, &|_| {}, true).unwrap();
        assert_eq!(full.idom, g.idom, "{}", path.display());
        assert_eq!(full.retained_size, g.retained_size, "{}", path.display());
        // The reverse CSR, built on first use, against a scan of every edge.
        let mut naive: Vec<Vec<(u32, u32)>> = vec![Vec::new(); g.node_count()];
        for v in 0..g.node_count() as u32 {
            for (e, t) in g.node(v).edges() {
                naive[t.i as usize].push((e, v));
            }
        }
        for (v, want) in naive.iter().enumerate() {
            let got: Vec<(u32, u32)> = full
                .node(v as u32)
                .retainers()
                .map(|(e, s)| (e, s.i))
                .collect();
            assert_eq!(&got, want, "{} node {v}", path.display());
        }
    }
}

#[test]
fn retained_size_is_the_sum_over_the_dominator_subtree() {
    for path in fixtures() {
        let g = heapdiff::load_v8(&path).unwrap();
        // Naive: add every node's self size to itself and each of its dominators.
        let mut naive = vec![0u64; g.node_count()];
        for v in 0..g.node_count() {
            let s = g.self_size.get(v);
            let mut a = v;
            naive[a] += s;
            while a != g.root as usize {
                a = g.idom[a] as usize;
                naive[a] += s;
            }
        }
        assert_eq!(naive, g.retained_size, "{}", path.display());
        assert_eq!(g.retained_size[g.root as usize], g.total_size());
    }
}

/// The synthetic graph below exercises each rule; node names say what they are.
fn rules_graph() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Builder::new();
    let root = b.node("synthetic", "", 1, 0);
    let gcroots = b.node("synthetic", "(GC roots)", 3, 0);
    let global = b.node("object", "global", 5, 10);
    let holder = b.node("object", "Holder", 7, 100);
    let held = b.node("object", "Held", 9, 1000);
    let weak_only = b.node("object", "WeakOnly", 11, 50);
    let under_weak = b.node("object", "UnderWeak", 13, 5);
    let handles = b.node("synthetic", "(Handle scope)", 15, 0);
    let table = b.node("array", "", 17, 64);
    let key = b.node("object", "Key", 19, 8);
    let value = b.node("object", "Value", 21, 800);
    let map = b.node("object", "WeakMap", 23, 16);
    let cyc_a = b.node("object", "CycleA", 25, 7);
    let cyc_b = b.node("object", "CycleB", 27, 9);
    b.edge(root, "element", "1", gcroots);
    b.edge(root, "shortcut", "2", global);
    b.edge(gcroots, "element", "1", handles);
    b.edge(global, "property", "holder", holder);
    b.edge(holder, "property", "held", held);
    // A handle-scope reference into page-owned `held` must not make it dominated by root.
    b.edge(handles, "internal", "x", held);
    // A shortcut away from the root is not essential: Held stays under Holder.
    b.edge(global, "shortcut", "s", held);
    b.edge(held, "property", "self", held);
    b.edge(holder, "weak", "w", weak_only);
    b.edge(weak_only, "property", "u", under_weak);
    b.edge(global, "property", "wm", map);
    b.edge(global, "property", "key", key);
    b.edge(map, "internal", "table", table);
    let pair = "1 / part of key (Key @19) -> value (Value @21) pair in WeakMap (table @17)";
    b.edge(table, "internal", pair, value);
    b.edge(key, "internal", pair, value);
    b.edge(cyc_a, "property", "b", cyc_b);
    b.edge(cyc_b, "property", "a", cyc_a);
    let p = b.write(dir.path(), "rules.heapsnapshot");
    (dir, p)
}

/// The essential-edge pass cuts the edges into runs, one task each, and merges what each run
/// saw; the result must not depend on where the cuts fall, and its once/many marks must be
/// exactly the per-node counts of the essential edges.
#[test]
fn essential_edges_do_not_depend_on_how_the_edges_are_cut() {
    use heapdiff::graph::essential::{essential_edges, EdgeRules};
    let (_d, rules) = rules_graph();
    let mut inputs = fixtures();
    inputs.push(rules);
    for path in &inputs {
        let g = heapdiff::load_v8(path).unwrap();
        let r = EdgeRules {
            first_edge: &g.first_edge,
            edge_type: &g.edge_type,
            edge_name: &g.edge_name,
            edge_to: &g.edge_to,
            node_type: &g.node_type,
            node_name: &g.node_name,
            node_id: &g.node_id,
            root: g.root,
            strings: &g.strings,
        };
        let (m, n) = (g.edge_to.len(), g.node_count());
        let mut first: Option<(Vec<bool>, Vec<u8>)> = None;
        for parts in [1, 2, 3, 7, 64] {
            let (bits, by) = essential_edges(&r, parts);
            let bits: Vec<bool> = (0..m).map(|e| bits.get(e)).collect();
            let mut count = vec![0u32; n];
            for e in (0..m).filter(|&e| bits[e]) {
                count[g.edge_to[e] as usize] += 1;
            }
            for v in 0..n {
                assert_eq!(by.once.get(v), count[v] >= 1, "{} node {v}", path.display());
                assert_eq!(by.many.get(v), count[v] >= 2, "{} node {v}", path.display());
            }
            let marks: Vec<u8> = (0..n)
                .map(|v| by.once.get(v) as u8 + by.many.get(v) as u8)
                .collect();
            match &first {
                None => first = Some((bits, marks)),
                Some(f) => assert_eq!(f, &(bits, marks), "{} in {parts} parts", path.display()),
            }
        }
        let (bits, _) = first.unwrap();
        assert_eq!(bits, (0..m).map(|e| g.essential.get(e)).collect::<Vec<_>>());
    }
}

#[test]
fn devtools_edge_rules() {
    let (_d, p) = rules_graph();
    let g = heapdiff::load_v8(&p).unwrap();
    let by_name = |s: &str| {
        (0..g.node_count() as u32)
            .find(|&i| g.node(i).name() == s)
            .unwrap()
    };
    let idom_name = |s: &str| g.node(g.idom[by_name(s) as usize]).name().to_string();
    assert_eq!(idom_name("Holder"), "global");
    assert_eq!(
        idom_name("Held"),
        "Holder",
        "handle scope and non-root shortcut ignored"
    );
    assert_eq!(
        idom_name("Value"),
        "Key",
        "WeakMap value is held by its key, not the table"
    );
    assert_eq!(
        idom_name("WeakOnly"),
        "",
        "weakly held node hangs under the root"
    );
    assert_eq!(
        idom_name("UnderWeak"),
        "WeakOnly",
        "and still dominates what only it holds"
    );
    assert_eq!(idom_name("CycleA"), "");
    assert_eq!(idom_name("CycleB"), "");
    assert_eq!(g.retained_size[by_name("Holder") as usize], 1100);
    assert_eq!(g.retained_size[by_name("Key") as usize], 808);
    assert_eq!(g.retained_size[by_name("WeakOnly") as usize], 55);
    // The petgraph oracle agrees on the synthetic graph too.
    assert_eq!(oracle_idoms(&g), g.idom);
    // Distances: user roots first at 1; synthetic roots after the system base.
    let dist = |s: &str| g.distance[by_name(s) as usize];
    assert_eq!(dist("global"), 1);
    assert_eq!(dist("Holder"), 2);
    assert_eq!(dist("Held"), 2, "via the shortcut edge");
    assert_eq!(
        dist("(GC roots)"),
        heapdiff::graph::distance::SYSTEM_BASE + 1
    );
    assert_eq!(dist("WeakOnly"), heapdiff::graph::distance::UNREACHABLE);
}

#[test]
fn a_two_million_node_chain_does_not_overflow_the_stack() {
    // root -> n1 -> n2 -> ... : deep DFS, deep dominator tree, deep class walk.
    let n: u32 = 2_000_000;
    let mut s = String::with_capacity(64 << 20);
    s.push_str(r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count"],"node_types":[["hidden","array","string","object"]],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"]]},"node_count":"#);
    s.push_str(&format!("{n},\"edge_count\":{}}},\"nodes\":[", n - 1));
    for i in 0..n {
        let edges = if i + 1 < n { 1 } else { 0 };
        s.push_str(&format!(
            "{}3,1,{},8,{edges}",
            if i > 0 { "," } else { "" },
            2 * i + 1
        ));
    }
    s.push_str("],\"edges\":[");
    for i in 1..n {
        s.push_str(&format!("{}2,2,{}", if i > 1 { "," } else { "" }, 5 * i));
    }
    s.push_str("],\"strings\":[\"\",\"Link\",\"next\"]}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("chain.heapsnapshot");
    std::fs::write(&p, s).unwrap();
    let g = heapdiff::load_v8(&p).unwrap();
    assert_eq!(g.node_count(), n as usize);
    assert_eq!(g.retained_size[0], 8 * n as u64);
    assert_eq!(g.retained_size[n as usize - 1], 8);
    assert_eq!(g.idom[n as usize - 1], n - 2);
    let stats = heapdiff::diff::class_stats(&g);
    let link = g.class_names.iter().position(|c| c == "Link").unwrap();
    assert_eq!(stats[link].count, n as u64);
    assert_eq!(
        stats[link].retained_size,
        8 * n as u64,
        "only the topmost Link counts"
    );
    assert_eq!(g.node(0).kind(), node_kind::OBJECT);
    // The path search counts its layers: the root's one child is a seed at depth 0, the
    // last link is n - 2 steps below it (the tracer traces such a tree in one part).
    assert_eq!(g.paths().max_depth, n - 2);
}

#[test]
fn the_path_tree_is_a_tree_of_best_tier_shortest_named_paths_on_every_fixture() {
    use heapdiff::graph::parents::{visibility, NO_PARENT};
    for path in fixtures() {
        let g = heapdiff::load_v8(&path).unwrap();
        let tree = g.paths();
        let n = g.node_count();
        // Each node's retainers, the slow obvious way: one scan of every edge.
        let mut retainers: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
        for src in 0..n {
            for e in g.first_edge[src]..g.first_edge[src + 1] {
                retainers[g.edge_to[e as usize] as usize].push((e, src as u32));
            }
        }
        // (A graph loaded without paths takes its prefixes from the plain parents' pass.)
        let plain = heapdiff::graph::parents::path_parents(&g).unwrap();
        let (_, key) = heapdiff::graph::paths::path_tree_with_keys(&g, g.scopes(), &plain);
        let mut with_parent = 0;
        for v in 0..n as u32 {
            let e = tree.parent[v as usize];
            if e == NO_PARENT {
                continue;
            }
            with_parent += 1;
            // A real, strong edge into the node.
            assert_eq!(g.edge_to[e as usize], v, "{}", path.display());
            assert_ne!(g.edge_type[e as usize], edge_kind::WEAK);
            // Up the parents to the root: no cycle.
            let mut x = v;
            for _ in 0..=n {
                let p = tree.parent[x as usize];
                if p == NO_PARENT {
                    break;
                }
                x = g.edge_source(p);
            }
            assert_eq!(
                x,
                g.root,
                "{}: node {v} does not reach the root",
                path.display()
            );
            if tree.is_pinned(v) {
                continue;
            }
            let t = tree.tier(v);
            // The search reached the node one layer below its parent, in the same tier.
            let src = g.edge_source(e);
            // (or, for a seed of its tier, a root edge: from a node pinned before the search).
            let seed = tree.is_pinned(src) && key[v as usize] & ((1 << 28) - 1) == 0;
            assert!(
                seed || key[src as usize].wrapping_add(1) == key[v as usize],
                "{}: node {v}",
                path.display()
            );
            for &(f, u) in &retainers[v as usize] {
                if g.edge_type[f as usize] == edge_kind::WEAK || u == v || tree.is_pinned(u) {
                    continue;
                }
                // No retainer reached from a better tier: the node would be in it.
                assert!(
                    tree.tier(u) >= t,
                    "{}: node {v} in {t:?} has a retainer in {:?}",
                    path.display(),
                    tree.tier(u)
                );
                // Among the retainers one layer up in the same tier, the chosen edge is the
                // most readable, then the first.
                if key[u as usize] + 1 == key[v as usize] {
                    let key = |e: u32| (visibility(g.edge_type[e as usize]), e);
                    assert!(key(e) <= key(f), "{}: node {v}", path.display());
                }
            }
        }
        // Nearly every node of a live heap has a path; a test that checked only a few would
        // prove nothing.
        assert!(with_parent * 10 > n * 9, "{}", path.display());
        // The deepest path, as the search counted it, is the deepest key.
        let deepest = key
            .iter()
            .filter(|&&k| k < u32::MAX - 1)
            .map(|&k| k & ((1 << 28) - 1))
            .max()
            .unwrap();
        assert_eq!(tree.max_depth, deepest, "{}", path.display());
    }
}
