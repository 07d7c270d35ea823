//! `--format json`: the report model as it is (schema `heapdiff/1`, documented in README).

use super::{RenderOptions, Renderer, Report};
use std::io::Write;

pub struct JsonRenderer;

impl Renderer for JsonRenderer {
    fn render(
        &self,
        report: &Report,
        _opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, report)?;
        out.write_all(b"\n")
    }
}
