//! Per-phase timings of the V8 pipeline on one snapshot: parse, graph build, report model.
//! Minimum and median of several runs (the minimum is the number least disturbed by a
//! shared machine). Every run must give the same result, so a fast but flaky phase fails.
//!
//! `cargo bench --bench phases -- [FILE] [RUNS]`
//! (default benches/data/large-b.heapsnapshot, 5 runs; RAYON_NUM_THREADS=1 for one core)

use heapdiff::graph::HeapGraph;
use heapdiff::input::v8;
use heapdiff::report::Report;
use std::time::{Duration, Instant};

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    (v[0].as_secs_f64() * 1e3, v[v.len() / 2].as_secs_f64() * 1e3)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let path = args
        .first()
        .cloned()
        .unwrap_or_else(|| "benches/data/large-b.heapsnapshot".into());
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let data = std::fs::read(&path).expect("read snapshot");
    let mb = data.len() as f64 / 1e6;
    let (mut parse, mut build, mut model) = (Vec::new(), Vec::new(), Vec::new());
    let mut first: Option<(usize, usize, u64, usize)> = None;
    for _ in 0..runs {
        let t = Instant::now();
        let snap = v8::parse(&data, &|_, _| {}).expect("parse");
        parse.push(t.elapsed());
        let t = Instant::now();
        let g = HeapGraph::build(snap);
        build.push(t.elapsed());
        let t = Instant::now();
        let r = Report::summary(&path, &g);
        model.push(t.elapsed());
        let result = (
            g.node_count(),
            g.edge_count(),
            g.retained_size[g.root as usize],
            r.classes.len(),
        );
        assert_eq!(*first.get_or_insert(result), result, "runs disagree");
    }
    let (n, m, total, classes) = first.expect("at least one run");
    println!(
        "{path}: {mb:.1} MB, {n} nodes, {m} edges, {classes} classes, {total} bytes, {runs} runs"
    );
    for (name, v) in [
        ("parse", parse),
        ("graph build", build),
        ("report model", model),
    ] {
        let (min, med) = stats(v);
        println!("  {name:<14} min {min:8.1} ms  median {med:8.1} ms");
    }
}
