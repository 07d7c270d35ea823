//! `heapdiff capture`: heap snapshots of a live Node process or Chrome page, then the report.
//!
//! One DevTools-protocol session for the whole series ([`cdp`]), so that the heap profiler
//! keeps every object's id and the snapshots compare by id. Each snapshot: a garbage
//! collection (`HeapProfiler.collectGarbage`), then `HeapProfiler.takeHeapSnapshot`, whose
//! chunks are compressed on another thread as they arrive and written to a hidden temporary
//! file, renamed to `DIR/<n>.heapsnapshot.gz` once complete: a snapshot is never held in
//! memory, and never left half-written under its name.

pub mod cdp;
pub mod endpoint;

use crate::cli::Config;
use crate::error::{Error, Result};
use crate::Outcome;
use endpoint::Endpoint;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A validated `heapdiff capture`.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// As given, for messages.
    pub target_text: String,
    pub endpoint: Endpoint,
    /// `--target`: an id, or a substring of a target's URL or title.
    pub target_filter: Option<String>,
    pub count: usize,
    pub interval: Duration,
    pub out: PathBuf,
    pub gc: bool,
    /// The report to run on the snapshots; `None` with `--no-report`.
    pub report: Option<Config>,
    pub quiet: bool,
}

/// Chunks in flight between the session and the compressing thread.
const CHUNKS_IN_FLIGHT: usize = 64;

/// Capture the series, then run the report on it.
pub fn run(cfg: &CaptureConfig) -> Result<Outcome> {
    let files = capture(cfg)?;
    match &cfg.report {
        Some(report) => {
            let mut report = report.clone();
            report.inputs = files;
            crate::run(&report)
        }
        None => Ok(Outcome::Ok),
    }
}

fn target_error(cfg: &CaptureConfig, message: impl std::fmt::Display) -> Error {
    Error::Capture(format!("{}: {message}", cfg.target_text))
}

/// Take the snapshots; returns their paths, oldest first.
pub fn capture(cfg: &CaptureConfig) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::io(&cfg.out, e))?;
    let ws_url = resolve(cfg)?;
    let mut session =
        cdp::Session::connect(&ws_url).map_err(|e| Error::Capture(format!("{ws_url}: {e}")))?;
    let show = !cfg.quiet && std::io::stderr().is_terminal();
    let mut no_events = |_: &str, _: &RawValue| Ok(());
    session
        .call(
            "HeapProfiler.enable",
            serde_json::Value::Null,
            &mut no_events,
        )
        .map_err(|e| target_error(cfg, e))?;
    let mut files = Vec::with_capacity(cfg.count);
    // Zero-padded past 9, so that `DIR/*.heapsnapshot.gz` lists them in order.
    let width = cfg.count.to_string().len();
    let mut next_start = Instant::now();
    for n in 1..=cfg.count {
        let now = Instant::now();
        if next_start > now {
            std::thread::sleep(next_start - now);
        }
        next_start = Instant::now() + cfg.interval;
        if cfg.gc {
            session
                .call(
                    "HeapProfiler.collectGarbage",
                    serde_json::Value::Null,
                    &mut no_events,
                )
                .map_err(|e| target_error(cfg, e))?;
        }
        let path = cfg.out.join(format!("{n:0width$}.heapsnapshot.gz"));
        let t = Instant::now();
        let bytes = take_one(cfg, &mut session, &path, n, show)?;
        // Without a terminal (a CI log), one line per snapshot says the capture is alive.
        if !cfg.quiet && !show {
            eprintln!(
                "heapdiff: snapshot {n}/{} written: {} ({} of snapshot in {:.1} s)",
                cfg.count,
                crate::error::escape_controls(&path.display().to_string()),
                crate::report::units::bytes(bytes),
                t.elapsed().as_secs_f64()
            );
        }
        files.push(path);
    }
    // Disabling forgets the ids in the target; the series is taken.
    let _ = session.call(
        "HeapProfiler.disable",
        serde_json::Value::Null,
        &mut no_events,
    );
    session.close();
    Ok(files)
}

/// The debugger URL to open, and (for `pid:`) the notice of what was done to the process.
fn resolve(cfg: &CaptureConfig) -> Result<String> {
    let authority = match &cfg.endpoint {
        Endpoint::WebSocket(url) => return Ok(url.clone()),
        Endpoint::HostPort(a) => a.clone(),
        Endpoint::Pid(pid) => {
            let opened = endpoint::open_node_inspector(*pid).map_err(Error::Capture)?;
            // Said even with --quiet: the process now has an open inspector.
            eprintln!(
                "heapdiff: {}",
                crate::error::escape_controls(&opened.notice)
            );
            opened.authority
        }
    };
    let targets = endpoint::list_targets(&authority).map_err(Error::Capture)?;
    let t = endpoint::pick(&targets, cfg.target_filter.as_deref(), &authority)
        .map_err(Error::Capture)?;
    // The listed URL's path, on the address the user gave: an endpoint cannot send the
    // session elsewhere.
    let listed = t.ws_url.as_deref().unwrap_or_default();
    let path = listed
        .strip_prefix("ws://")
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .ok_or_else(|| {
            Error::Capture(format!(
                "{authority}: the target's debugger URL {listed:?} is not a ws:// URL"
            ))
        })?;
    Ok(format!("ws://{authority}{path}"))
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow)]
    chunk: std::borrow::Cow<'a, str>,
}

#[derive(Deserialize)]
struct ProgressEvent {
    done: u64,
    total: u64,
}

/// One snapshot, streamed to `path` through a hidden temporary file; returns its size
/// before compression.
fn take_one(
    cfg: &CaptureConfig,
    session: &mut cdp::Session,
    path: &Path,
    n: usize,
    show: bool,
) -> Result<u64> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    let _guard = crate::output::RemoveOnSignal::new(&tmp);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::snapshot(path, e))?;
    let (tx, rx) = mpsc::sync_channel::<String>(CHUNKS_IN_FLIGHT);
    let writer = std::thread::spawn(move || compress(file, rx));
    let bar = show.then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} snapshot {prefix}: {msg} {binary_bytes} received {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.set_prefix(format!("{n}/{}", cfg.count));
        b.enable_steady_tick(Duration::from_millis(120));
        b
    });
    let mut received: u64 = 0;
    let mut on_event = |method: &str, params: &RawValue| -> std::io::Result<()> {
        match method {
            "HeapProfiler.addHeapSnapshotChunk" => {
                let c: Chunk<'_> = serde_json::from_str(params.get())
                    .map_err(|e| std::io::Error::other(format!("a garbled chunk: {e}")))?;
                received += c.chunk.len() as u64;
                if let Some(b) = &bar {
                    b.set_position(received);
                }
                // The writer thread gone means it failed: its error is read at the join.
                tx.send(c.chunk.into_owned())
                    .map_err(|_| std::io::Error::other("the snapshot writer stopped"))
            }
            "HeapProfiler.reportHeapSnapshotProgress" => {
                if let (Some(b), Ok(p)) =
                    (&bar, serde_json::from_str::<ProgressEvent>(params.get()))
                {
                    b.set_message(format!("{}/{} nodes serialized", p.done, p.total));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    };
    let taken = session.call(
        "HeapProfiler.takeHeapSnapshot",
        serde_json::json!({"reportProgress": show}),
        &mut on_event,
    );
    // The writer finishes once the last sender is gone.
    drop(tx);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the snapshot writer panicked")));
    let fail = |e: Error| {
        let _ = std::fs::remove_file(&tmp);
        Err(e)
    };
    match (taken, written) {
        // A write error explains a handler error: say it.
        (_, Err(e)) => return fail(Error::snapshot(path, e)),
        (Err(e), Ok(_)) => {
            return fail(target_error(
                cfg,
                format!(
                    "snapshot {n} of {} failed after {received} bytes: {e}",
                    cfg.count
                ),
            ))
        }
        (Ok(_), Ok(_)) if received == 0 => {
            return fail(target_error(
                cfg,
                format!("snapshot {n}: the target sent no data"),
            ))
        }
        (Ok(_), Ok(_)) => {}
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        return fail(Error::snapshot(path, e));
    }
    Ok(received)
}

/// The compressing thread: chunks in, a gzip file out, synced before it is renamed.
fn compress(file: File, rx: mpsc::Receiver<String>) -> std::io::Result<u64> {
    let mut gz = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 20, file),
        flate2::Compression::fast(),
    );
    let mut bytes = 0u64;
    for chunk in rx {
        gz.write_all(chunk.as_bytes())?;
        bytes += chunk.len() as u64;
    }
    let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(bytes)
}
