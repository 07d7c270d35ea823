//! heapdiff compares heap dumps and says what leaks.
//!
//! The pipeline, one module each: [`input`] reads and parses dumps into flat columns,
//! [`graph`] derives retainers, distances, dominators, retained sizes, classes, scopes and
//! the path tree, [`diff`] compares snapshots, [`trace`] names retainer paths and owners,
//! [`detect`] finds leaks, and [`report`] builds one model and renders it in each format.
//! [`model`] holds the typed path steps and leaks those stages share.

pub mod arena;
pub mod cli;
pub mod detect;
pub mod diff;
pub mod error;
pub mod fasthash;
pub mod graph;
pub mod input;
pub mod jemalloc_diff;
pub mod model;
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
    /// A gate (`--fail-if-growth`, `--fail-on`) was breached.
    GateBreached,
}

/// Read, parse and analyse one V8 snapshot. The input's bytes are released before the graph
/// phases run, so peak memory is the columns, not the file.
pub fn load_v8(path: &Path) -> Result<HeapGraph> {
    load_v8_with(path, &|_| {})
}

/// [`load_v8`], telling `phase` what it is doing (for progress display).
pub fn load_v8_with(path: &Path, phase: &(dyn Fn(&'static str) + Sync)) -> Result<HeapGraph> {
    load_v8_for(path, phase, false)
}

/// [`load_v8_with`]; with `paths`, the graph's retainer paths are prepared while it is built
/// (for snapshots that will be compared).
pub fn load_v8_for(
    path: &Path,
    phase: &(dyn Fn(&'static str) + Sync),
    paths: bool,
) -> Result<HeapGraph> {
    let t = Instant::now();
    phase("reading");
    let bytes = input::read_bytes(path)?;
    let data = bytes.as_slice();
    match sniff(data) {
        Some(InputKind::V8) => {}
        Some(InputKind::Jemalloc) => {
            return Err(Error::input(
                path,
                ParseError::new(
                    "a jemalloc heap profile, not a V8 snapshot (read it with load_jemalloc)",
                ),
            ))
        }
        None => return Err(Error::input(
            path,
            ParseError::new(
                "not a heap dump: expected a V8 .heapsnapshot (JSON) or a jemalloc heap profile",
            ),
        )),
    }
    phase("parsing");
    let release = |s: usize, e: usize| bytes.release(s, e);
    let mut snap = input::v8::parse(data, &release).map_err(|e| Error::input(path, e))?;
    drop(bytes);
    let parse_time = t.elapsed();
    let parse_steps = std::mem::take(&mut snap.timings);
    phase("dominators");
    let mut g = HeapGraph::build_with(snap, paths);
    g.timings.splice(0..0, parse_steps);
    g.timings.insert(0, ("read + parse", parse_time));
    phase("done");
    Ok(g)
}

/// Read and parse one jemalloc heap profile.
pub fn load_jemalloc(path: &Path) -> Result<input::jemalloc::Profile> {
    let bytes = input::read_bytes(path)?;
    input::jemalloc::parse(bytes.as_slice()).map_err(|e| Error::input(path, e))
}

/// What kind of dump a file holds, from its first bytes (gzip undone).
pub fn input_kind(path: &Path) -> Result<InputKind> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::input(
            path,
            ParseError::new("is a directory, not a heap dump"),
        ));
    }
    let mut head = Vec::with_capacity(4096);
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    f.take(4096)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    if head.is_empty() {
        return Err(Error::input(path, ParseError::new("file is empty")));
    }
    if input::sniff::is_gzip(&head) {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut out = Vec::with_capacity(4096);
        // A corrupt stream is reported by the full read later; sniff what decodes.
        let _ = flate2::read::MultiGzDecoder::new(f)
            .take(4096)
            .read_to_end(&mut out);
        head = out;
    }
    sniff(&head).ok_or_else(|| {
        Error::input(
            path,
            ParseError::new(
                "not a heap dump: expected a V8 .heapsnapshot (JSON) or a jemalloc heap profile",
            ),
        )
    })
}

/// Load several snapshots concurrently, keeping argument order; the first error wins.
pub fn load_all(paths: &[std::path::PathBuf], progress: &Progress) -> Result<Vec<HeapGraph>> {
    paths
        .par_iter()
        .enumerate()
        .map(|(i, p)| load_v8_for(p, &|ph| progress.phase(i, ph), true))
        .collect()
}

/// Progress spinners on stderr, one per input, only on a terminal and without `--quiet`.
pub struct Progress {
    bars: Vec<indicatif::ProgressBar>,
    _multi: Option<indicatif::MultiProgress>,
}

impl Progress {
    pub fn new(paths: &[std::path::PathBuf], enabled: bool) -> Progress {
        if !enabled {
            return Progress {
                bars: Vec::new(),
                _multi: None,
            };
        }
        let multi = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template("{spinner} {prefix} {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let bars = paths
            .iter()
            .map(|p| {
                let b = multi.add(indicatif::ProgressBar::new_spinner());
                b.set_style(style.clone());
                b.set_prefix(p.display().to_string());
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                b
            })
            .collect();
        Progress {
            bars,
            _multi: Some(multi),
        }
    }
    pub fn phase(&self, i: usize, phase: &str) {
        if let Some(b) = self.bars.get(i) {
            if phase == "done" {
                b.finish_and_clear();
            } else {
                b.set_message(phase.to_string());
            }
        }
    }
    pub fn clear(&self) {
        for b in &self.bars {
            b.finish_and_clear();
        }
    }
}

/// Phase times of one input, for `--timings`.
struct PhaseTimings {
    name: String,
    phases: Vec<(&'static str, std::time::Duration)>,
    /// The path tree, built later (in the report model).
    paths: Option<std::time::Duration>,
    nodes: usize,
    edges: usize,
    bytes: usize,
}

/// Run heapdiff as configured: load, analyse, report, and judge the gate.
pub fn run(cfg: &cli::Config) -> Result<Outcome> {
    let t = Instant::now();
    let ignore = match &cfg.ignore {
        Some(p) => {
            report::IgnoreList::parse(&std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?)
        }
        None => report::IgnoreList::default(),
    };
    let opts = report::ReportOptions {
        show_values: cfg.show_values,
        ignore,
    };
    let progress = Progress::new(&cfg.inputs, !cfg.quiet && std::io::stderr().is_terminal());
    let names: Vec<String> = cfg.inputs.iter().map(|p| p.display().to_string()).collect();
    let mut timings: Vec<PhaseTimings> = Vec::new();
    let mut keep_timings = |name: &str, g: &HeapGraph| {
        if cfg.timings {
            timings.push(PhaseTimings {
                name: name.to_string(),
                phases: g.timings.clone(),
                paths: g.paths_time(),
                nodes: g.node_count(),
                edges: g.edge_count(),
                bytes: g.heap_bytes(),
            });
        }
    };
    // jemalloc profiles take their own road; V8 and jemalloc inputs do not mix.
    let kinds: Vec<InputKind> = cfg
        .inputs
        .iter()
        .map(|p| input_kind(p))
        .collect::<Result<_>>()?;
    if kinds.contains(&InputKind::Jemalloc) {
        if kinds.contains(&InputKind::V8) {
            return Err(Error::Usage(
                "inputs mix V8 snapshots and jemalloc profiles; compare like with like".into(),
            ));
        }
        if cfg.inputs.len() > 2 {
            return Err(Error::Usage(
                "jemalloc profiles: give one (a summary) or two (a comparison)".into(),
            ));
        }
        let profiles: Vec<input::jemalloc::Profile> = cfg
            .inputs
            .par_iter()
            .map(|p| load_jemalloc(p))
            .collect::<Result<_>>()?;
        progress.clear();
        let t_parse = t.elapsed();
        let sym_opts = symbolize::SymbolizeOptions {
            search_dirs: cfg.symbols.clone(),
            ..Default::default()
        };
        let d = match &profiles[..] {
            [one] => {
                let mut sym = symbolize::Symbolizer::new(sym_opts);
                let p = sym.symbolize(one);
                jemalloc_diff::summarize(&sym, &p)
            }
            [b, a] => jemalloc_diff::diff_profiles(b, a, sym_opts),
            _ => return Err(Error::Usage("jemalloc profiles: give one or two".into())),
        };
        let t_diff = t.elapsed();
        let mut report = Report::jemalloc(&names, &profiles, d);
        report.gate = report::evaluate_gate(&report, cfg.fail_if_growth, cfg.fail_on, &opts.ignore);
        let breached = report.gate.as_ref().is_some_and(|g| g.breached);
        let ropts = RenderOptions {
            top: cfg.top,
            terminal: cfg.output.is_none() && std::io::stdout().is_terminal(),
        };
        let t_model = t.elapsed();
        report::write(&report, cfg.format, &ropts, cfg.output.as_deref())?;
        if cfg.timings {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            eprintln!("  read + parse                 {:>8.1} ms", ms(t_parse));
            eprintln!(
                "  symbolize + diff             {:>8.1} ms",
                ms(t_diff - t_parse)
            );
            eprintln!(
                "  report model                 {:>8.1} ms",
                ms(t_model - t_diff)
            );
            eprintln!(
                "  render                       {:>8.1} ms",
                ms(t.elapsed() - t_model)
            );
            print_total(t);
        }
        return Ok(if breached {
            Outcome::GateBreached
        } else {
            Outcome::Ok
        });
    }
    let t_report;
    let mut report = match cfg.inputs.len() {
        0 => return Err(Error::Usage("give at least one snapshot".into())),
        1 => {
            let g = load_v8_with(&cfg.inputs[0], &|ph| progress.phase(0, ph))?;
            keep_timings(&names[0], &g);
            t_report = Instant::now();
            Report::summary(&names[0], &g)
        }
        2 => {
            let gs = load_all(&cfg.inputs, &progress)?;
            t_report = Instant::now();
            let r = Report::comparison([&names[0], &names[1]], &gs[0], &gs[1], &opts);
            for (g, n) in gs.iter().zip(&names) {
                keep_timings(n, g);
            }
            r
        }
        n => {
            // First and last are loaded together with their retainer paths; the ones between
            // one at a time, without paths (the detectors follow each leak's own count
            // through them, and the second one's ids define the leak candidates).
            let ends = vec![cfg.inputs[0].clone(), cfg.inputs[n - 1].clone()];
            let mut gs: Vec<HeapGraph> = [0, n - 1]
                .par_iter()
                .zip(ends.par_iter())
                .map(|(&i, p)| load_v8_for(p, &|ph| progress.phase(i, ph), true))
                .collect::<Result<_>>()?;
            let last = gs
                .pop()
                .ok_or_else(|| Error::Usage("no snapshots".into()))?;
            for (i, path) in cfg.inputs.iter().enumerate().take(n - 1).skip(1) {
                gs.push(load_v8_with(path, &|ph| progress.phase(i, ph))?);
            }
            gs.push(last);
            t_report = Instant::now();
            let refs: Vec<&HeapGraph> = gs.iter().collect();
            let r = Report::series(&names, &refs, &opts);
            for (g, name) in gs.iter().zip(&names) {
                keep_timings(name, g);
            }
            r
        }
    };
    progress.clear();
    report.gate = report::evaluate_gate(&report, cfg.fail_if_growth, cfg.fail_on, &opts.ignore);
    let breached = report.gate.as_ref().is_some_and(|g| g.breached);
    let model_time = t_report.elapsed();
    let ropts = RenderOptions {
        top: cfg.top,
        terminal: cfg.output.is_none() && std::io::stdout().is_terminal(),
    };
    report::write(&report, cfg.format, &ropts, cfg.output.as_deref())?;
    if cfg.timings {
        for t in &timings {
            eprintln!(
                "{}: {} nodes, {} edges, ~{} MB of columns",
                t.name,
                t.nodes,
                t.edges,
                t.bytes >> 20
            );
            for (phase, d) in &t.phases {
                eprintln!("  {phase:<28} {:>8.1} ms", d.as_secs_f64() * 1e3);
            }
            if let Some(d) = t.paths {
                eprintln!(
                    "  {:<28} {:>8.1} ms (beside the report's class diff)",
                    "scopes + path tree",
                    d.as_secs_f64() * 1e3
                );
            }
        }
        eprintln!("report model {:>8.1} ms", model_time.as_secs_f64() * 1e3);
        print_total(t);
    }
    Ok(if breached {
        Outcome::GateBreached
    } else {
        Outcome::Ok
    })
}

/// The last `--timings` line: the whole run since `t`, and the peak resident set.
fn print_total(t: Instant) {
    let pages = match crate::arena::page_choice() {
        Some(choice) => format!(", {choice}"),
        None if !cfg!(feature = "arena") => ", system allocator".into(),
        None => String::new(),
    };
    eprintln!(
        "total        {:>8.1} ms, peak RSS {} MB{pages}",
        t.elapsed().as_secs_f64() * 1e3,
        peak_rss_kib() / 1024
    );
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
