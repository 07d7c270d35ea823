//! heapdiff compares heap dumps and says what leaks.
//!
//! The pipeline, one module each: [`input`] reads and parses dumps into flat columns,
//! [`graph`] derives retainers, distances, dominators, retained sizes and classes, [`diff`]
//! compares snapshots, and [`report`] builds one model and renders it in each format.

pub mod cli;
pub mod diff;
pub mod error;
pub mod graph;
pub mod input;
pub mod jemalloc_diff;
pub mod report;
pub mod symbolize;
pub mod trace;

use error::{Error, ParseError, Result};
use graph::HeapGraph;
use input::sniff::{sniff, InputKind};
use rayon::prelude::*;
use report::{RenderOptions, Report};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

/// What a run ended with, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ran; nothing breached.
    Ok,
}

/// Read, parse and analyse one V8 snapshot. The input's bytes are released before the graph
/// phases run, so peak memory is the columns, not the file.
pub fn load_v8(path: &Path) -> Result<HeapGraph> {
    let t = Instant::now();
    let bytes = input::read_bytes(path)?;
    let data = bytes.as_slice();
    match sniff(data) {
        Some(InputKind::V8) => {}
        Some(InputKind::Jemalloc) => {
            return Err(Error::input(
                path,
                ParseError::new("jemalloc heap profiles are not supported yet"),
            ))
        }
        None => return Err(Error::input(
            path,
            ParseError::new(
                "not a heap dump: expected a V8 .heapsnapshot (JSON) or a jemalloc heap profile",
            ),
        )),
    }
    let release = |s: usize, e: usize| bytes.release(s, e);
    let mut snap = input::v8::parse(data, &release).map_err(|e| Error::input(path, e))?;
    drop(bytes);
    let parse_time = t.elapsed();
    let parse_steps = std::mem::take(&mut snap.timings);
    let mut g = HeapGraph::build(snap);
    g.timings.splice(0..0, parse_steps);
    g.timings.insert(0, ("read + parse", parse_time));
    Ok(g)
}

/// Load several snapshots concurrently, keeping argument order; the first error wins.
pub fn load_all(paths: &[std::path::PathBuf]) -> Result<Vec<HeapGraph>> {
    paths.par_iter().map(|p| load_v8(p)).collect()
}

/// Run heapdiff as configured: load, analyse, report.
pub fn run(cfg: &cli::Config) -> Result<Outcome> {
    let t = Instant::now();
    let graphs = load_all(&cfg.inputs)?;
    let names: Vec<String> = cfg.inputs.iter().map(|p| p.display().to_string()).collect();
    let t_report = Instant::now();
    let report = match &graphs[..] {
        [g] => Report::summary(&names[0], g),
        [b, a] => Report::comparison([&names[0], &names[1]], b, a, &report::ReportOptions::default()),
        _ => {
            return Err(Error::Usage(
                "give one snapshot (summary) or two (comparison)".into(),
            ))
        }
    };
    let opts = RenderOptions {
        top: cfg.top,
        terminal: cfg.output.is_none() && std::io::stdout().is_terminal(),
    };
    let model_time = t_report.elapsed();
    report::write(&report, cfg.format, &opts, cfg.output.as_deref())?;
    if cfg.timings {
        eprintln!("report model {:>8.1} ms", model_time.as_secs_f64() * 1e3);
        for (g, name) in graphs.iter().zip(&names) {
            eprintln!(
                "{name}: {} nodes, {} edges, ~{} MB of columns",
                g.node_count(),
                g.edge_count(),
                g.heap_bytes() >> 20
            );
            for (phase, d) in &g.timings {
                eprintln!("  {phase:<24} {:>8.1} ms", d.as_secs_f64() * 1e3);
            }
        }
        eprintln!("report {:>8.1} ms", t_report.elapsed().as_secs_f64() * 1e3);
        eprintln!(
            "total  {:>8.1} ms, peak RSS {} MB",
            t.elapsed().as_secs_f64() * 1e3,
            peak_rss_kib() / 1024
        );
    }
    Ok(Outcome::Ok)
}

/// Peak resident set of this process in KiB (Linux `VmHWM`), 0 where unknown.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
