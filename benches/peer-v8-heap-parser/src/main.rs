//! Peer tool for `benches/compare.py`.
//!
//! Loads a V8 `.heapsnapshot` with the crates.io crate `v8-heap-parser` and
//! computes the crate's per-class summary with retained sizes, i.e. exactly
//! what that crate offers as its "summary view":
//!
//! 1. `v8_heap_parser::decode_slice(&bytes)` (default) or
//!    `v8_heap_parser::decode_reader(BufReader<File>)` (`--reader`):
//!    serde_json parse of the whole snapshot into a `petgraph::Graph`.
//! 2. `Graph::get_class_groups(false)`: groups every node by
//!    `Node::class_name()` (self size summed over all members), and — because
//!    `no_retained == false` — computes retainers, post order, dominators
//!    (the DevTools iterative algorithm), per-node retained sizes and the
//!    dominator tree, then walks the dominator tree from the root adding a
//!    node's retained size to its class only if no dominator-tree ancestor of
//!    the same class was already counted ("topmost instances", as in Chrome
//!    DevTools' summary view). Groups come back sorted by retained size.
//!
//! A summary is printed to stdout so none of the work can be optimised away;
//! phase timings go to stderr.

use std::fs::File;
use std::io::BufReader;
use std::process::ExitCode;
use std::time::Instant;

fn usage() -> ExitCode {
    eprintln!("usage: peer-v8-heap-parser [--reader] [--top N] FILE.heapsnapshot");
    eprintln!("  --reader  parse via decode_reader(BufReader<File>) instead of");
    eprintln!("            reading the file into memory and using decode_slice");
    eprintln!("  --top N   also print the N largest classes (default 1)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut reader = false;
    let mut top = 1usize;
    let mut path = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reader" => reader = true,
            "--top" => match args.next().and_then(|s| s.parse().ok()) {
                Some(n) => top = n,
                None => return usage(),
            },
            "-h" | "--help" => return usage(),
            _ if path.is_none() && !a.starts_with("--") => path = Some(a),
            _ => return usage(),
        }
    }
    let Some(path) = path else { return usage() };

    let t0 = Instant::now();
    let decoded = if reader {
        match File::open(&path) {
            Ok(f) => v8_heap_parser::decode_reader(BufReader::with_capacity(1 << 20, f)),
            Err(e) => {
                eprintln!("error: cannot open {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: cannot read {path}: {e}");
                return ExitCode::FAILURE;
            }
        };
        // `bytes` is dropped at the end of this block: the Graph owns all its data.
        v8_heap_parser::decode_slice(&bytes)
    };
    let graph = match decoded {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: cannot parse {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let t_load = t0.elapsed();

    let t1 = Instant::now();
    let groups = graph.get_class_groups(false);
    let t_classes = t1.elapsed();

    let node_count = graph.nodes().len();
    let total_self: u64 = graph.nodes().iter().map(|n| n.weight.self_size).sum();
    let root_retained = graph.retained_size(graph.root_index);

    println!("nodes: {node_count}");
    println!("total self size: {total_self}");
    println!("root retained size: {root_retained}");
    println!("classes: {}", groups.len());
    for g in groups.iter().take(top.max(1)) {
        let name = graph.get_node(g.index).map(|n| n.class_name()).unwrap_or("?");
        println!(
            "class: {name}\tretained={}\tself={}\tcount={}",
            g.retained_size,
            g.self_size,
            g.nodes.len()
        );
    }
    eprintln!(
        "timing: load={:.3}s class_groups={:.3}s total={:.3}s",
        t_load.as_secs_f64(),
        t_classes.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
