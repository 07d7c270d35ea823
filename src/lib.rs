//! heapdiff compares heap dumps and says what leaks.
//!
//! The pipeline, one module each: [`input`] reads and parses dumps into flat columns,
//! [`graph`] derives retainers, distances, dominators, retained sizes, classes, scopes and
//! the path tree, [`diff`] compares snapshots, [`trace`] names retainer paths and owners,
//! [`detect`] finds leaks, [`report`] builds one model and renders it in each format, and
//! [`output`] puts it on stdout or in a file. [`capture`] takes the snapshots from a live
//! process first.
//! [`model`] holds the typed path steps and leaks those stages share.

pub mod arena;
pub mod capture;
pub mod cli;
pub mod detect;
pub mod diff;
pub mod error;
pub mod fasthash;
pub mod graph;
pub mod input;
pub mod jemalloc_diff;
pub mod model;
pub mod output;
pub mod report;
pub mod symbolize;
pub mod trace;

use error::{Error, ParseError, Result};
use graph::HeapGraph;
use input::budget::Budget;
use input::sniff::InputKind;
use input::Input;
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
    phase("reading");
    load_v8_input(Input::open(path)?, phase, paths)
}

/// [`load_v8_for`] on an input already opened.
pub fn load_v8_input(
    input: Input,
    phase: &(dyn Fn(&'static str) + Sync),
    paths: bool,
) -> Result<HeapGraph> {
    let t = Instant::now();
    phase("reading");
    let name = input.name().to_path_buf();
    match input.kind()? {
        InputKind::V8 => {}
        InputKind::Jemalloc => {
            return Err(Error::input(
                &name,
                ParseError::new(
                    "a jemalloc heap profile, not a V8 snapshot (read it with load_jemalloc)",
                ),
            ))
        }
    }
    let bytes = input.read(Budget::process())?;
    let data = bytes.as_slice();
    phase("parsing");
    let release = |s: usize, e: usize| bytes.release(s, e);
    let mut snap = input::v8::parse(data, &release).map_err(|e| Error::input(&name, e))?;
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
    load_jemalloc_input(Input::open(path)?)
}

/// [`load_jemalloc`] on an input already opened.
pub fn load_jemalloc_input(input: Input) -> Result<input::jemalloc::Profile> {
    let name = input.name().to_path_buf();
    let bytes = input.read(Budget::process())?;
    input::jemalloc::parse(bytes.as_slice()).map_err(|e| Error::input(&name, e))
}

/// What kind of dump a file holds, from its first bytes (gzip undone). This opens `path`: a
/// pipe is consumed by it; [`open_inputs`] and [`Input::kind`] look without consuming.
pub fn input_kind(path: &Path) -> Result<InputKind> {
    Input::open(path)?.kind()
}

/// Open every input once, in argument order (a FIFO waits for its writer here). The same
/// pipe named twice (`-` and `/dev/stdin`, one FIFO twice) is a usage error: it can be read
/// only once.
pub fn open_inputs(paths: &[std::path::PathBuf]) -> Result<Vec<Input>> {
    let mut inputs: Vec<Input> = Vec::with_capacity(paths.len());
    for p in paths {
        let input = Input::open(p)?;
        if let Some(earlier) = inputs.iter().find(|i| input::same_stream(i, &input)) {
            return Err(Error::Usage(format!(
                "{} and {} are the same pipe, which can be read only once",
                earlier.name().display(),
                input.name().display()
            )));
        }
        inputs.push(input);
    }
    Ok(inputs)
}

/// Load several snapshots concurrently, keeping argument order; the first error wins.
pub fn load_all(paths: &[std::path::PathBuf], progress: &Progress) -> Result<Vec<HeapGraph>> {
    load_inputs(open_inputs(paths)?, progress)
}

/// [`load_all`] on inputs already opened.
pub fn load_inputs(inputs: Vec<Input>, progress: &Progress) -> Result<Vec<HeapGraph>> {
    inputs
        .into_par_iter()
        .enumerate()
        .map(|(i, input)| load_v8_input(input, &|ph| progress.phase(i, ph), true))
        .collect()
}

/// Progress spinners on stderr, one per input, only on a terminal and without `--quiet`.
pub struct Progress {
    bars: Vec<indicatif::ProgressBar>,
    _multi: Option<indicatif::MultiProgress>,
}

impl Progress {
    /// One spinner per input, labelled with `names`.
    pub fn new(names: &[String], enabled: bool) -> Progress {
        if !enabled {
            return Progress {
                bars: Vec::new(),
                _multi: None,
            };
        }
        let multi = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template("{spinner} {prefix} {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let bars = names
            .iter()
            .map(|name| {
                let b = multi.add(indicatif::ProgressBar::new_spinner());
                b.set_style(style.clone());
                // A file name may hold terminal escapes; the spinner writes to the terminal.
                b.set_prefix(error::escape_controls(name).into_owned());
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
    let names: Vec<String> = cfg
        .inputs
        .iter()
        .map(|p| input::display_name(p).display().to_string())
        .collect();
    let progress = Progress::new(&names, !cfg.quiet && std::io::stderr().is_terminal());
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
    // Every input is opened once, here; jemalloc profiles take their own road, and V8 and
    // jemalloc inputs do not mix.
    let inputs = open_inputs(&cfg.inputs)?;
    let kinds: Vec<InputKind> = inputs.iter().map(Input::kind).collect::<Result<_>>()?;
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
        let profiles: Vec<input::jemalloc::Profile> = inputs
            .into_par_iter()
            .map(load_jemalloc_input)
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
            color: cfg
                .color
                .resolve(cfg.output.is_none() && std::io::stdout().is_terminal()),
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
    let mut inputs: Vec<Option<Input>> = inputs.into_iter().map(Some).collect();
    let mut take = |i: usize| {
        inputs[i]
            .take()
            .ok_or_else(|| Error::Usage("an input was read twice".into()))
    };
    let mut report = match cfg.inputs.len() {
        0 => return Err(Error::Usage("give at least one snapshot".into())),
        1 => {
            let g = load_v8_input(take(0)?, &|ph| progress.phase(0, ph), false)?;
            keep_timings(&names[0], &g);
            t_report = Instant::now();
            Report::summary(&names[0], &g)
        }
        2 => {
            let gs = load_inputs(vec![take(0)?, take(1)?], &progress)?;
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
            let ends = vec![(0, take(0)?), (n - 1, take(n - 1)?)];
            let mut gs: Vec<HeapGraph> = ends
                .into_par_iter()
                .map(|(i, input)| load_v8_input(input, &|ph| progress.phase(i, ph), true))
                .collect::<Result<_>>()?;
            let last = gs
                .pop()
                .ok_or_else(|| Error::Usage("no snapshots".into()))?;
            for i in 1..n - 1 {
                gs.push(load_v8_input(take(i)?, &|ph| progress.phase(i, ph), false)?);
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
        color: cfg
            .color
            .resolve(cfg.output.is_none() && std::io::stdout().is_terminal()),
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
