//! `--format folded`: retained growth by retainer path as folded stacks, the input format of
//! flame-graph tools (`flamegraph.pl`, `inferno-flamegraph`, speedscope).
//!
//! # Format
//! One line per retainer path of a grown class: `frame;frame;…;frame BYTES`.
//!
//! * Frames run from the root to the class: the first is `(root)`, then every step of the
//!   path gives two frames, the edge taken and the class of the node it reaches. Edges are
//!   labelled as [`path_text`](super::path_text) writes them: a variable as `name (variable)`,
//!   an element as `[]`, anything else by its (pattern) name; a repeated step's node gets
//!   ` (repeated)`. So the last frame is always the class itself:
//!   `(root);<n>;global;…;sessionCache (variable);Map;table;(array);<n>;CacheEntry 28000`.
//! * Names are made safe for the format: `;` becomes `,`, control characters (newlines,
//!   tabs) become spaces, surrounding space is trimmed and an empty name is written `''`.
//!   Inner spaces stay (tools split the count off at the last space).
//! * Lines are sorted by stack (byte order, as inferno's collapse tools sort) and unique;
//!   lines of zero bytes are left out. A summary (one snapshot) has no growth: no lines.
//!
//! # Which bytes
//! The value is *net retained growth*, `retained_size_after − retained_size_before` of the
//! path (never below zero), not `size` (the retained size of the new instances). A flame
//! graph of growth must not show churn: a batch of 1000 objects replaced every step makes
//! 1000 new instances and a large `size`, but nothing grew; their net growth is zero.
//!
//! A flame graph adds up a frame's lines, so each line carries only what its deeper lines do
//! not already show: its path's growth minus the growth of the lines directly beneath it
//! (those whose stacks extend it with no other line between). The retained size of a
//! `CacheEntry` includes the strings it holds, and the `(string)` class has its own line one
//! step deeper; without this the strings would be counted twice. The frame of every path
//! then adds up to that path's retained growth. This holds where the objects of a deeper line
//! are retained through the shorter path's objects (they are dominated by them), which is what
//! shortest retainer paths usually give. Where a path reports less growth than its deeper
//! lines show (a class whose instances on that path are not its topmost ones reports zero),
//! the path is taken to have grown by what is beneath it: no line goes negative and the
//! deeper lines' growth still reaches the frames above. In the `service` fixture the onTick
//! closures' line thus shows closure plus context (120 × (64 + 40) bytes), and the
//! `RequestContext` line beneath it its 120 × 48 bytes.

use super::{EdgeType, PathStep, RenderOptions, Renderer, Report};
use std::collections::BTreeMap;
use std::io::Write;

pub struct FoldedRenderer;

impl Renderer for FoldedRenderer {
    fn render(
        &self,
        report: &Report,
        _opts: &RenderOptions,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        for (stack, bytes) in folded_lines(report) {
            writeln!(out, "{stack} {bytes}")?;
        }
        Ok(())
    }
}

/// `(stack, bytes)` per line, sorted by stack, zero lines left out.
pub fn folded_lines(report: &Report) -> Vec<(String, u64)> {
    if report.input_kind == "jemalloc" {
        // Allocation stacks, outermost frame first, by bytes growth.
        let mut lines: BTreeMap<String, u64> = BTreeMap::new();
        for s in &report.stacks {
            if s.bytes_delta > 0 && !s.frames.is_empty() {
                let stack: Vec<String> = s.frames.iter().rev().map(|f| frame(f.as_str())).collect();
                *lines.entry(stack.join(";")).or_default() += s.bytes_delta as u64;
            }
        }
        return lines.into_iter().collect();
    }
    // Inclusive growth per stack (frames), merged where two paths write the same frames.
    let mut inclusive: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    for class in &report.classes {
        for p in &class.retainer_paths {
            let growth = p.retained_size_after.saturating_sub(p.retained_size_before);
            *inclusive.entry(frames(&p.path)).or_default() += growth;
        }
    }
    // Deepest first, so every line knows what its deeper lines show before its parent
    // asks. A line's growth is at least what its deeper lines show (the model may report
    // less, e.g. for a class whose instances are not topmost there).
    let mut order: Vec<&[String]> = inclusive.keys().map(Vec::as_slice).collect();
    order.sort_by_key(|stack| std::cmp::Reverse(stack.len()));
    let mut beneath: BTreeMap<&[String], u64> = BTreeMap::new();
    let mut lines: Vec<(String, u64)> = Vec::with_capacity(order.len());
    for stack in order {
        let shown_beneath = beneath.get(stack).copied().unwrap_or(0);
        let growth = inclusive[stack].max(shown_beneath);
        let parent = (1..stack.len())
            .rev()
            .map(|n| &stack[..n])
            .find(|prefix| inclusive.contains_key(*prefix));
        if let Some(parent) = parent {
            *beneath.entry(parent).or_default() += growth;
        }
        let own = growth - shown_beneath;
        if own > 0 {
            lines.push((stack.join(";"), own));
        }
    }
    // Joined strings sort differently from frame vectors (`a;b` vs `a b;c`): sort the text.
    lines.sort();
    lines
}

/// The frames of a path: `(root)`, then edge and node of every step.
fn frames(path: &[PathStep]) -> Vec<String> {
    let mut out = Vec::with_capacity(1 + 2 * path.len());
    out.push("(root)".to_string());
    for s in path {
        let edge = match s.edge_type {
            EdgeType::Context => format!("{} (variable)", s.edge),
            EdgeType::Element => "[]".to_string(),
            _ => s.edge.clone(),
        };
        out.push(frame(&edge));
        if s.repeated {
            out.push(frame(&format!("{} (repeated)", s.node)));
        } else {
            out.push(frame(&s.node));
        }
    }
    out
}

/// One name made safe for a folded line: no `;`, no line breaks, never empty.
pub(crate) fn frame(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            ';' => ',',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        "''".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ClassRow, Mode, PathRow};

    fn step(edge: &str, edge_type: &str, node: &str) -> PathStep {
        PathStep {
            edge: edge.into(),
            edge_type: edge_type.into(),
            node: node.into(),
            repeated: false,
            example: None,
        }
    }

    fn row(path: Vec<PathStep>, before: u64, after: u64) -> PathRow {
        PathRow {
            count: 1,
            size: after,
            count_before: 1,
            count_after: 2,
            retained_size_before: before,
            retained_size_after: after,
            path,
            owner_start: 0,
        }
    }

    fn report(classes: Vec<ClassRow>) -> Report {
        Report {
            format: crate::report::FORMAT_VERSION,
            input_kind: "v8",
            mode: Mode::Comparison,
            ids_comparable: Some(true),
            snapshots: vec![],
            totals: None,
            classes,
            findings: vec![],
            dominators: vec![],
            gate: None,
            notes: vec![],
            stacks: Vec::new(),
            functions: Vec::new(),
        }
    }

    fn render(r: &Report) -> String {
        let mut out = Vec::new();
        let opts = RenderOptions {
            top: 25,
            terminal: false,
            color: false,
        };
        FoldedRenderer.render(r, &opts, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn nested_lines_carry_only_their_own_growth() {
        let cache = vec![
            step("cache", "context", "Map"),
            step("table", "internal", "(array)"),
        ];
        let entry = [cache.clone(), vec![step("<n>", "internal", "Entry")]].concat();
        let value = [entry.clone(), vec![step("value", "property", "(string)")]].concat();
        let r = report(vec![
            ClassRow {
                name: "(array)".into(),
                retainer_paths: vec![row(cache, 100, 1100)],
                ..Default::default()
            },
            ClassRow {
                name: "Entry".into(),
                retainer_paths: vec![row(entry, 0, 900)],
                ..Default::default()
            },
            ClassRow {
                name: "(string)".into(),
                retainer_paths: vec![row(value, 0, 300)],
                ..Default::default()
            },
        ]);
        assert_eq!(
            render(&r),
            "(root);cache (variable);Map;table;(array) 100\n\
             (root);cache (variable);Map;table;(array);<n>;Entry 600\n\
             (root);cache (variable);Map;table;(array);<n>;Entry;value;(string) 300\n"
        );
    }

    #[test]
    fn a_path_growing_less_than_its_deeper_lines_passes_their_growth_up() {
        let closure = vec![step("[]", "element", "onTick()")];
        let context = [
            closure.clone(),
            vec![step("context", "internal", "Context")],
        ]
        .concat();
        let ctx = [context.clone(), vec![step("ctx", "context", "Ctx")]].concat();
        let class = |name: &str, path, before, after| ClassRow {
            name: name.into(),
            retainer_paths: vec![row(path, before, after)],
            ..Default::default()
        };
        let r = report(vec![
            class("onTick()", closure, 0, 1000),
            class("Context", context, 0, 0),
            class("Ctx", ctx, 0, 300),
        ]);
        assert_eq!(
            render(&r),
            "(root);[];onTick() 700\n\
             (root);[];onTick();context;Context;ctx (variable);Ctx 300\n"
        );
    }

    #[test]
    fn names_cannot_break_lines_and_shrinking_paths_are_left_out() {
        let r = report(vec![
            ClassRow {
                name: "A;B".into(),
                retainer_paths: vec![row(
                    vec![step("x;y\nz", "property", "A;B"), step("", "element", "  ")],
                    0,
                    7,
                )],
                ..Default::default()
            },
            ClassRow {
                name: "Gone".into(),
                retainer_paths: vec![row(vec![step("g", "property", "Gone")], 50, 10)],
                ..Default::default()
            },
        ]);
        assert_eq!(render(&r), "(root);x,y z;A,B;[];'' 7\n");
    }

    #[test]
    fn a_summary_has_no_lines() {
        let mut r = report(vec![ClassRow {
            name: "A".into(),
            count_after: 3,
            ..Default::default()
        }]);
        r.mode = Mode::Summary;
        assert_eq!(render(&r), "");
    }
}
