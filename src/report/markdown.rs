//! `--format markdown` (being written).

use super::{RenderOptions, Renderer, Report};
use std::io::Write;

pub struct MarkdownRenderer;

impl Renderer for MarkdownRenderer {
    fn render(&self, report: &Report, _opts: &RenderOptions, out: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, &report.format)?;
        out.write_all(b"\n")
    }
}
