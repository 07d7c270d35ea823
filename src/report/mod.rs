//! The report: one model built once from the analysis, then rendered by one renderer per
//! output format. Renderers only render; every number is computed before they run. Order is
//! deterministic (size, then name), never hash-map order.

pub mod build;
pub mod folded;
pub mod json;
pub mod markdown;
pub mod model;
pub mod table;
pub mod units;
pub mod words;

pub use build::{
    compact_path_text, evaluate_gate, path_text, IgnoreList, ReportOptions, SeriesPoint,
};
pub use model::*;

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A terminal table (comfy-table).
    Table,
    /// The full report as JSON (`heapdiff/1` schema).
    Json,
    /// A ticket-ready Markdown report (GitHub, Jira).
    Markdown,
    /// `root;step;…;Class BYTES` lines of retained growth by path, for flame graphs.
    Folded,
}

/// What a renderer may vary beyond the report itself.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Rows per table in the human formats (0 = all).
    pub top: usize,
    /// Colour and terminal width (only when writing to a terminal).
    pub terminal: bool,
}

pub trait Renderer {
    fn render(
        &self,
        report: &Report,
        opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> std::io::Result<()>;
}

pub fn renderer(format: Format) -> &'static dyn Renderer {
    match format {
        Format::Table => &table::TableRenderer,
        Format::Json => &json::JsonRenderer,
        Format::Markdown => &markdown::MarkdownRenderer,
        Format::Folded => &folded::FoldedRenderer,
    }
}

/// Render to stdout (`None` or `-`) or to a file, atomically: the report is written to a
/// temporary file beside the target and renamed over it, so a failed run never leaves a
/// half-written report. A closed stdout (`| head`) is not an error.
pub fn write(
    report: &Report,
    format: Format,
    opts: &RenderOptions,
    output: Option<&Path>,
) -> Result<()> {
    let r = renderer(format);
    match output {
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            let res = r.render(report, opts, &mut lock).and_then(|_| lock.flush());
            match res {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(Error::Output {
                    path: "<stdout>".into(),
                    source: e,
                }),
                Ok(()) => Ok(()),
            }
        }
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let err = |e| Error::Output {
                path: path.to_path_buf(),
                source: e,
            };
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
            {
                let mut w = std::io::BufWriter::new(tmp.as_file_mut());
                r.render(report, opts, &mut w).map_err(err)?;
                w.flush().map_err(err)?;
            }
            tmp.persist(path).map_err(|e| err(e.error))?;
            Ok(())
        }
    }
}
