//! The report: one model built once from the analysis, then rendered by one renderer per
//! output format. Renderers only render; every number is computed before they run. Order is
//! deterministic (size, then name), never hash-map order.

pub mod build;
pub mod folded;
pub mod html;
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

use crate::error::Result;
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
    /// One self-contained page to explore (findings, sortable classes, paths, a chart).
    Html,
}

/// What a renderer may vary beyond the report itself.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Rows per table in the human formats (0 = all).
    pub top: usize,
    /// Writing to a terminal: tables fit its width.
    pub terminal: bool,
    /// Colour in the table (`--color`, resolved).
    pub color: bool,
}

/// The first rows of a table of `len` that `--top N` shows (0 = all).
pub fn shown(len: usize, top: usize) -> usize {
    if top == 0 {
        len
    } else {
        len.min(top)
    }
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
        Format::Html => &html::HtmlRenderer,
    }
}

/// Render to stdout (`None`) or to the file `output` (see [`crate::output`] for what each
/// kind of path gets). Any failure to write, a broken pipe included, is an error.
pub fn write(
    report: &Report,
    format: Format,
    opts: &RenderOptions,
    output: Option<&Path>,
) -> Result<()> {
    let r = renderer(format);
    crate::output::write(output, &mut |out| r.render(report, opts, out))
}
