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
        // serde_json writes in small pieces (a quote, a comma, an indent): a concrete buffer
        // here keeps each of them an inlined copy instead of a call through `dyn Write`
        // (a 200k-stack jemalloc report is hundreds of MB of such pieces).
        let mut buf = std::io::BufWriter::with_capacity(1 << 20, out);
        serde_json::to_writer_pretty(&mut buf, report)?;
        buf.write_all(b"\n")?;
        buf.flush()
    }
}
