//! `--format folded` (being written).

use super::{RenderOptions, Renderer, Report};
use std::io::Write;

pub struct FoldedRenderer;

impl Renderer for FoldedRenderer {
    fn render(&self, report: &Report, _opts: &RenderOptions, out: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, &report.format)?;
        out.write_all(b"\n")
    }
}
