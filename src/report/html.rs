//! `--format html`: one self-contained page to attach to a ticket and explore: findings that
//! expand to their evidence and path, a sortable and filterable class table, retainer paths
//! as a tree, an icicle chart of where the growth sits, trends as sparklines; for jemalloc,
//! the stack and function tables and a chart of bytes by stack.
//!
//! The page is this file's template, its stylesheet and script (`html/page.css`,
//! `html/page.js`, written for it), and the report's data as JSON in a
//! `<script type="application/json">` element. It loads nothing: a Content-Security-Policy
//! forbids every fetch, so it works offline, from an attachment, and cannot leak what it shows.
//! The data is the report model (so the same redaction as every other format), cut to what
//! the page shows: `--top` classes, stacks and functions, each class's largest paths, and the
//! largest lines of the chart, with the rest summed into one box.

use super::folded::{folded_lines, frame};
use super::{
    ClassRow, DominatorRow, Finding, GateResult, Mode, RenderOptions, Renderer, Report,
    SnapshotInfo, Totals,
};
use crate::jemalloc_diff::{FunctionDelta, StackDelta};
use serde::Serialize;
use std::io::Write;

pub struct HtmlRenderer;

const CSS: &str = include_str!("html/page.css");
const JS: &str = include_str!("html/page.js");

/// Retainer paths shown per class.
pub const PATHS_PER_CLASS: usize = 30;
/// Lines of the chart drawn; smaller ones are summed into one box.
pub const CHART_LINES: usize = 4000;
/// Rows per table when `--top 0` asks for all of a jemalloc report's stacks (hundreds of
/// thousands would make a page no browser opens).
pub const MAX_STACK_ROWS: usize = 5000;

/// What the page's script reads.
#[derive(Serialize)]
struct PageData<'a> {
    format: &'static str,
    version: &'static str,
    input_kind: &'static str,
    mode: Mode,
    ids_comparable: Option<bool>,
    snapshots: &'a [SnapshotInfo],
    totals: Option<Totals>,
    /// The first `--top` classes, in the report's order, each with its largest paths.
    classes: Vec<serde_json::Value>,
    classes_total: usize,
    findings: &'a [Finding],
    dominators: &'a [DominatorRow],
    gate: Option<&'a GateResult>,
    notes: &'a [String],
    stacks: &'a [StackDelta],
    stacks_total: usize,
    functions: &'a [FunctionDelta],
    functions_total: usize,
    chart: Chart,
}

/// The folded lines (`--format folded`), largest first, each frame an index into `frames`
/// (a name is written once however many lines hold it); lines past [`CHART_LINES`] are
/// summed into `rest`: (how many, bytes).
#[derive(Serialize, Default)]
struct Chart {
    frames: Vec<String>,
    lines: Vec<(Vec<u32>, u64)>,
    rest: (usize, u64),
}

impl Chart {
    fn new(mut lines: Vec<(String, u64)>, rest: (usize, u64)) -> Chart {
        lines.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let dropped = lines.split_off(lines.len().min(CHART_LINES));
        let mut chart = Chart {
            rest: (
                rest.0 + dropped.len(),
                rest.1 + dropped.iter().map(|l| l.1).sum::<u64>(),
            ),
            ..Chart::default()
        };
        let mut index: std::collections::HashMap<String, u32> = Default::default();
        for (stack, bytes) in lines {
            let ids = stack
                .split(';')
                .map(|f| {
                    *index.entry(f.to_string()).or_insert_with(|| {
                        chart.frames.push(f.to_string());
                        chart.frames.len() as u32 - 1
                    })
                })
                .collect();
            chart.lines.push((ids, bytes));
        }
        chart
    }
}

/// The chart's lines. A jemalloc report may hold hundreds of thousands of stacks: only the
/// largest are spelled out, as `--format folded` spells them (and merged where two spell
/// the same); the others are counted into the rest.
fn chart_lines(report: &Report) -> (Vec<(String, u64)>, (usize, u64)) {
    if report.input_kind != "jemalloc" || report.stacks.len() <= CHART_LINES {
        return (folded_lines(report), (0, 0));
    }
    let mut grown: Vec<&StackDelta> = report
        .stacks
        .iter()
        .filter(|s| s.bytes_delta > 0 && !s.frames.is_empty())
        .collect();
    let n = grown.len().min(CHART_LINES);
    if n < grown.len() {
        grown.select_nth_unstable_by(n, |a, b| b.bytes_delta.cmp(&a.bytes_delta));
    }
    let rest = &grown[n..];
    let rest = (rest.len(), rest.iter().map(|s| s.bytes_delta as u64).sum());
    let mut lines: std::collections::BTreeMap<String, u64> = Default::default();
    for s in &grown[..n] {
        let stack: Vec<String> = s.frames.iter().rev().map(|f| frame(f.as_str())).collect();
        *lines.entry(stack.join(";")).or_default() += s.bytes_delta as u64;
    }
    (lines.into_iter().collect(), rest)
}

/// The rows `--top` shows (`top` 0: all).
fn first<T>(items: &[T], top: usize) -> &[T] {
    &items[..super::shown(items.len(), top)]
}

fn class_value(c: &ClassRow) -> serde_json::Result<serde_json::Value> {
    let mut v = serde_json::to_value(c)?;
    if let Some(paths) = v
        .get_mut("retainer_paths")
        .and_then(serde_json::Value::as_array_mut)
    {
        paths.truncate(PATHS_PER_CLASS);
    }
    Ok(v)
}

impl Renderer for HtmlRenderer {
    fn render(
        &self,
        report: &Report,
        opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let top = opts.top;
        let classes = first(&report.classes, top)
            .iter()
            .map(class_value)
            .collect::<serde_json::Result<Vec<_>>>()?;
        let (lines, rest) = chart_lines(report);
        let chart = Chart::new(lines, rest);
        let stack_rows = if top == 0 { MAX_STACK_ROWS } else { top };
        let data = PageData {
            format: super::model::FORMAT_VERSION,
            version: env!("CARGO_PKG_VERSION"),
            input_kind: report.input_kind,
            mode: report.mode,
            ids_comparable: report.ids_comparable,
            snapshots: &report.snapshots,
            totals: report.totals,
            classes,
            classes_total: report.classes.len(),
            findings: &report.findings,
            dominators: first(&report.dominators, top),
            gate: report.gate.as_ref(),
            notes: &report.notes,
            stacks: first(&report.stacks, stack_rows),
            stacks_total: report.stacks.len(),
            functions: first(&report.functions, stack_rows),
            functions_total: report.functions.len(),
            chart,
        };
        let json = serde_json::to_string(&data)?;
        let title = page_title(report);
        let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
        write!(
            out,
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n\
             <noscript>This report needs JavaScript; the same data is in heapdiff's \
             --format json.</noscript>\n<main id=\"app\"></main>\n\
             <script type=\"application/json\" id=\"heapdiff-data\">",
            escape_text(&title)
        )?;
        out.write_all(script_safe(&json).as_bytes())?;
        write!(
            out,
            "</script>\n<script>\n{JS}</script>\n</body>\n</html>\n"
        )?;
        out.flush()
    }
}

fn page_title(r: &Report) -> String {
    let names: Vec<&str> = r
        .snapshots
        .iter()
        .map(|s| {
            std::path::Path::new(&s.path)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(&s.path)
        })
        .collect();
    match names.as_slice() {
        [one] => format!("heapdiff: {one}"),
        [first, .., last] if names.len() > 2 => {
            format!("heapdiff: {first} → … → {last} ({} snapshots)", names.len())
        }
        _ => format!("heapdiff: {}", names.join(" → ")),
    }
}

/// Text for an HTML element's content.
fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// JSON that cannot end its `<script>` element or open a comment: every `<`, `>` and `&`
/// written as a JSON escape (the parsed value is the same).
fn script_safe(json: &str) -> std::borrow::Cow<'_, str> {
    if !json.contains(['<', '>', '&']) {
        return json.into();
    }
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_close_its_script_element() {
        let json = serde_json::to_string(&"</script><!-- & -->").unwrap();
        let safe = script_safe(&json);
        assert!(!safe.contains('<') && !safe.contains('>'));
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "</script><!-- & -->");
    }
}
