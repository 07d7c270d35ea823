//! Per-phase timings of the V8 pipeline on one snapshot: parse, graph build, report model.
//! Minimum and median of several runs (the minimum is the number least disturbed by a
//! shared machine). Every run must give the same result, so a fast but flaky phase fails.
//!
//! `cargo bench --bench phases -- [FILE] [RUNS]`
//! (default benches/data/large-b.heapsnapshot, 5 runs; RAYON_NUM_THREADS=1 for one core)
//!
//! `cargo bench --bench phases -- --pair BEFORE AFTER [RUNS]`: both snapshots loaded once,
//! then, alternating, the whole comparison model (class diff, retainer paths and findings,
//! which run beside the paths), the leak detectors alone and the retainer paths alone: what
//! detection costs a large comparison (the model less the paths alone, at most the detectors
//! alone).

use heapdiff::graph::HeapGraph;
use heapdiff::input::v8;
use heapdiff::report::Report;
use std::time::{Duration, Instant};

// The same allocator set-up as the binary.
#[cfg(feature = "arena")]
#[global_allocator]
static ALLOC: heapdiff::arena::Arena = heapdiff::arena::Arena;

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    (v[0].as_secs_f64() * 1e3, v[v.len() / 2].as_secs_f64() * 1e3)
}

/// `--pair BEFORE AFTER [RUNS]`: the comparison model against the detectors alone.
fn pair(before: &str, after: &str, runs: usize) {
    use heapdiff::detect::{detect_all, DetectCtx};
    // As the binary loads a pair: both graphs, then their path trees.
    let mut gs = heapdiff::load_all(
        &[before.into(), after.into()],
        &heapdiff::Progress::new(&[], false),
    )
    .expect("load");
    let (a, b) = (gs.pop().expect("after"), gs.pop().expect("before"));
    let opts = heapdiff::report::ReportOptions::default();
    let (mut model, mut detect, mut paths) = (Vec::new(), Vec::new(), Vec::new());
    let mut first: Option<(usize, usize)> = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = Report::comparison([before, after], &b, &a, &opts);
        model.push(t.elapsed());
        let t = Instant::now();
        let cmp = heapdiff::diff::compare(&b, &a);
        let found = detect_all(&DetectCtx::new(&[&b, &a], &cmp, false));
        detect.push(t.elapsed());
        let t = Instant::now();
        let cmp = heapdiff::diff::compare(&b, &a);
        let ignored = vec![false; cmp.rows.len()];
        let traced = heapdiff::trace::class_paths(&cmp, &b, &a, &ignored, false);
        paths.push(t.elapsed());
        assert!(!traced.is_empty(), "no retainer paths");
        let result = (r.findings.len(), found.len());
        assert_eq!(result.0, result.1, "the model and the detectors disagree");
        assert_eq!(*first.get_or_insert(result), result, "runs disagree");
    }
    let (model_min, model_med) = stats(model);
    let (det_min, det_med) = stats(detect);
    let (paths_min, paths_med) = stats(paths);
    println!(
        "{before} -> {after}: {} findings, {runs} runs",
        first.map_or(0, |f| f.0)
    );
    println!("  comparison model          min {model_min:8.1} ms  median {model_med:8.1} ms");
    println!("  class diff + detectors    min {det_min:8.1} ms  median {det_med:8.1} ms");
    println!("  class diff + paths        min {paths_min:8.1} ms  median {paths_med:8.1} ms");
}

fn main() {
    #[cfg(feature = "arena")]
    heapdiff::arena::tune_malloc();
    let all: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = all.iter().position(|a| a == "--pair") {
        let rest: Vec<&String> = all[i + 1..]
            .iter()
            .filter(|a| !a.starts_with("--"))
            .collect();
        let (Some(before), Some(after)) = (rest.first(), rest.get(1)) else {
            eprintln!("usage: phases --pair BEFORE AFTER [RUNS]");
            std::process::exit(2);
        };
        let runs = rest.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
        return pair(before, after, runs);
    }
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
