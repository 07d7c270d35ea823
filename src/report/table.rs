//! `--format table` (default): comfy-table, sizes made readable, colour only on a terminal.

use super::units::{bytes, elide, signed, signed_bytes, TABLE_NAME_CHARS};
use super::{compact_path_text, Mode, RenderOptions, Renderer, Report, Severity};
use comfy_table::{
    presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Color, ContentArrangement, Table,
};
use std::io::Write;

pub struct TableRenderer;

/// Colour by `--color` (resolved with NO_COLOR and CLICOLOR_FORCE by the CLI).
fn colour(opts: &RenderOptions) -> bool {
    opts.color
}

fn delta_cell(text: String, delta: i64, opts: &RenderOptions) -> Cell {
    let c = Cell::new(text);
    if !colour(opts) || delta == 0 {
        return c;
    }
    c.fg(if delta > 0 { Color::Red } else { Color::Green })
}

/// The width tables must fit: the terminal's, or `COLUMNS` when output is not a terminal
/// (`COLUMNS=100 heapdiff … | less`); `None`: names are cut at [`TABLE_NAME_CHARS`].
fn output_width(opts: &RenderOptions) -> Option<usize> {
    if opts.terminal {
        // SAFETY: TIOCGWINSZ only fills the winsize it is given.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
            return Some(ws.ws_col as usize);
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c >= 40)
}

/// Narrowest a cut column gets, however narrow the terminal.
const MIN_FIT_CHARS: usize = 16;

/// A table of `rows` under `header`: the `text` columns left-aligned, the others (numbers)
/// right-aligned; the `fit` columns (names, titles) cut in the middle so that the table fits
/// the output's width ([`output_width`]), or at [`TABLE_NAME_CHARS`] when it has none.
fn build_table(
    opts: &RenderOptions,
    header: &[&str],
    text: &[usize],
    fit: &[usize],
    mut rows: Vec<Vec<Cell>>,
) -> Table {
    let chars = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| chars(h)).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            let w = c.content().lines().map(chars).max().unwrap_or(0);
            if let Some(x) = widths.get_mut(i) {
                *x = (*x).max(w);
            }
        }
    }
    // Each cut column's room: what is left of the width, shared so that a column needing
    // less than its share leaves the rest to the others.
    let mut room = vec![usize::MAX; header.len()];
    match output_width(opts) {
        Some(width) => {
            // Borders and padding: `│ a ┆ b │` is three characters a column, plus one.
            let fixed: usize = widths
                .iter()
                .enumerate()
                .filter(|(i, _)| !fit.contains(i))
                .map(|(_, w)| w)
                .sum::<usize>()
                + 3 * header.len()
                + 1;
            let mut left = width.saturating_sub(fixed);
            let mut by_need: Vec<usize> = fit.to_vec();
            by_need.sort_by_key(|&i| widths.get(i).copied().unwrap_or(0));
            for (k, &i) in by_need.iter().enumerate() {
                let share = (left / (by_need.len() - k)).max(MIN_FIT_CHARS);
                let need = widths.get(i).copied().unwrap_or(0);
                room[i] = need.min(share);
                left = left.saturating_sub(room[i]);
            }
        }
        None => fit.iter().for_each(|&i| room[i] = TABLE_NAME_CHARS),
    }
    for row in &mut rows {
        for &i in fit {
            if let Some(c) = row.get_mut(i) {
                let content = c.content();
                if chars(&content) > room[i] {
                    *c = Cell::new(elide(&content, room[i]));
                }
            }
        }
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(if opts.terminal {
        ContentArrangement::Dynamic
    } else {
        ContentArrangement::Disabled
    });
    if colour(opts) {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(header.iter().map(Cell::new));
    for i in 0..header.len() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(if text.contains(&i) {
                CellAlignment::Left
            } else {
                CellAlignment::Right
            });
        }
    }
    for row in rows {
        t.add_row(row);
    }
    t
}

impl Renderer for TableRenderer {
    fn render(&self, r: &Report, opts: &RenderOptions, out: &mut dyn Write) -> std::io::Result<()> {
        if r.input_kind == "jemalloc" {
            return render_jemalloc(r, opts, out);
        }
        for (i, s) in r.snapshots.iter().enumerate() {
            let label = match (r.mode, i) {
                (Mode::Summary, _) => "snapshot".to_string(),
                (Mode::Series, _) => format!("s{}", i + 1),
                (_, 0) => "before".to_string(),
                _ => "after".to_string(),
            };
            writeln!(
                out,
                "{label:>8}: {}  ({} nodes, {} edges, {})",
                s.path,
                s.node_count,
                s.edge_count,
                bytes(s.total_size)
            )?;
        }
        if let (Some(t), [b, .., a]) = (r.totals, &r.snapshots[..]) {
            writeln!(
                out,
                "{:>8}: {} ({} nodes)",
                "growth",
                signed_bytes(t.size_delta),
                signed(a.node_count as i64 - b.node_count as i64)
            )?;
        }
        for note in &r.notes {
            writeln!(out, "    note: {note}")?;
        }
        writeln!(out)?;
        if !r.findings.is_empty() {
            let mut rows = Vec::new();
            for f in &r.findings {
                let sev = Cell::new(f.severity.name());
                let sev = if colour(opts) {
                    sev.fg(match f.severity {
                        Severity::High => Color::Red,
                        Severity::Medium => Color::Yellow,
                        Severity::Low => Color::Reset,
                    })
                } else {
                    sev
                };
                rows.push(vec![
                    sev,
                    Cell::new(&f.title),
                    Cell::new(&f.owner),
                    Cell::new(format!("{} → {}", f.count_before, f.count_after)),
                    Cell::new(format!(
                        "{} → {}",
                        bytes(f.retained_size_before),
                        bytes(f.retained_size_after)
                    )),
                ]);
            }
            let t = build_table(
                opts,
                &["Severity", "Leak", "Owner", "Count", "Retained"],
                &[0, 1, 2],
                &[1, 2],
                rows,
            );
            writeln!(out, "Leak findings")?;
            writeln!(out, "{t}")?;
            for f in &r.findings {
                writeln!(out, "  {}: {}", f.title, f.evidence)?;
                writeln!(out, "    fix: {}", f.suggestion)?;
            }
            writeln!(out)?;
        }
        let shown = super::shown(r.classes.len(), opts.top);
        match r.mode {
            Mode::Summary => {
                let mut rows = Vec::new();
                for c in &r.classes[..shown] {
                    rows.push(vec![
                        Cell::new(&c.name),
                        Cell::new(c.count_after),
                        Cell::new(bytes(c.self_size_after)),
                        Cell::new(bytes(c.retained_size_after)),
                    ]);
                }
                let t = build_table(
                    opts,
                    &["Class", "Count", "Self size", "Retained size"],
                    &[0],
                    &[0],
                    rows,
                );
                writeln!(out, "Classes by retained size")?;
                writeln!(out, "{t}")?;
                more(out, r.classes.len(), shown, "classes")?;
                if !r.dominators.is_empty() {
                    let mut rows = Vec::new();
                    for d in &r.dominators[..super::shown(r.dominators.len(), opts.top)] {
                        rows.push(vec![
                            Cell::new(&d.class),
                            Cell::new(format!("@{}", d.id)),
                            Cell::new(bytes(d.self_size)),
                            Cell::new(bytes(d.retained_size)),
                            Cell::new(d.distance.map_or("-".into(), show_distance)),
                        ]);
                    }
                    let t = build_table(
                        opts,
                        &["Dominator", "Id", "Self size", "Retained size", "Distance"],
                        &[0],
                        &[0],
                        rows,
                    );
                    writeln!(out, "\nLargest dominators")?;
                    writeln!(out, "{t}")?;
                }
            }
            Mode::Comparison | Mode::Series => {
                let by_id = r.ids_comparable == Some(true);
                let series = r.mode == Mode::Series;
                let mut header = vec!["Class"];
                if by_id {
                    header.extend(["# New", "# Deleted"]);
                }
                header.push("# Delta");
                if by_id {
                    header.extend(["Alloc. Size", "Freed Size"]);
                }
                header.extend(["Size Delta", "Retained before", "Retained after"]);
                if series {
                    header.extend(["Trend", "Candidates"]);
                }
                let mut rows = Vec::new();
                for c in &r.classes[..shown] {
                    let name = if c.ignored {
                        format!("{} (ignored)", c.name)
                    } else {
                        c.name.clone()
                    };
                    let mut row = vec![Cell::new(name)];
                    if by_id {
                        row.push(Cell::new(c.added_count.unwrap_or(0)));
                        row.push(Cell::new(c.removed_count.unwrap_or(0)));
                    }
                    let cd = c.count_delta.unwrap_or(0);
                    row.push(delta_cell(signed(cd), cd, opts));
                    if by_id {
                        row.push(Cell::new(bytes(c.added_size.unwrap_or(0))));
                        row.push(Cell::new(bytes(c.removed_size.unwrap_or(0))));
                    }
                    let sd = c.size_delta.unwrap_or(0);
                    row.push(delta_cell(signed_bytes(sd), sd, opts));
                    row.push(Cell::new(bytes(c.retained_size_before.unwrap_or(0))));
                    row.push(Cell::new(bytes(c.retained_size_after)));
                    if series {
                        let trend = c.trend.as_ref().map_or(String::new(), |t| {
                            let s: Vec<String> = t.iter().map(|x| x.to_string()).collect();
                            let mark = if c.monotonic == Some(true) {
                                " ↑"
                            } else {
                                ""
                            };
                            format!("{}{mark}", s.join(" → "))
                        });
                        row.push(Cell::new(trend));
                        row.push(Cell::new(
                            c.leak_candidates.map_or("-".into(), |x| x.to_string()),
                        ));
                    }
                    rows.push(row);
                }
                // The class name, and a series' trend, are text.
                let text: Vec<usize> = [0]
                    .into_iter()
                    .chain(series.then_some(header.len() - 2))
                    .collect();
                let t = build_table(opts, &header, &text, &[0], rows);
                writeln!(out, "Classes by growth")?;
                writeln!(out, "{t}")?;
                more(out, r.classes.len(), shown, "changed classes")?;
                let with_paths: Vec<_> = r
                    .classes
                    .iter()
                    .filter(|c| !c.retainer_paths.is_empty())
                    .collect();
                if !with_paths.is_empty() {
                    let what = if series {
                        "leak candidates"
                    } else if by_id {
                        "new instances"
                    } else {
                        "growth"
                    };
                    writeln!(out, "\nWho holds the {what} (top retainer paths)")?;
                    for c in with_paths {
                        writeln!(out, "  {}", elide(&c.name, TABLE_NAME_CHARS))?;
                        for p in c.retainer_paths.iter().take(3) {
                            let steps: Vec<_> = p
                                .path
                                .iter()
                                .map(|s| super::PathStep {
                                    node: elide(&s.node, TABLE_NAME_CHARS).into_owned(),
                                    ..s.clone()
                                })
                                .collect();
                            writeln!(
                                out,
                                "    {:>7} × {:>9}  {}",
                                p.count,
                                bytes(p.size),
                                compact_path_text(&steps, p.owner_start)
                            )?;
                        }
                    }
                }
            }
        }
        gate_lines(r, out)
    }
}

fn more(out: &mut dyn Write, total: usize, shown: usize, what: &str) -> std::io::Result<()> {
    if total > shown {
        writeln!(out, "… {} more {what} (--top 0 shows all)", total - shown)?;
    }
    Ok(())
}

/// Distances past DevTools' system base are reachable only through V8 internals.
fn show_distance(d: u32) -> String {
    use crate::graph::distance::SYSTEM_BASE;
    if d >= SYSTEM_BASE {
        format!("sys+{}", d - SYSTEM_BASE)
    } else {
        d.to_string()
    }
}

/// jemalloc profiles: growth by allocation stack, then per function (like `jeprof --text`).
fn render_jemalloc(r: &Report, opts: &RenderOptions, out: &mut dyn Write) -> std::io::Result<()> {
    for (i, s) in r.snapshots.iter().enumerate() {
        let label = if r.snapshots.len() == 1 {
            "profile"
        } else if i == 0 {
            "before"
        } else {
            "after"
        };
        let sampling = match s.sample_period {
            Some(0) | None => "every allocation".to_string(),
            Some(p) => format!("sampled every {} on average, un-sampled", bytes(p)),
        };
        writeln!(
            out,
            "{label:>8}: {}  ({} stacks, {} live, {sampling})",
            s.path,
            s.stack_count.unwrap_or(0),
            bytes(s.total_size)
        )?;
    }
    if let Some(t) = r.totals {
        writeln!(out, "{:>8}: {}", "growth", signed_bytes(t.size_delta))?;
    }
    for note in &r.notes {
        writeln!(out, "    note: {note}")?;
    }
    writeln!(out)?;
    let mut rows = Vec::new();
    for s in &r.stacks[..super::shown(r.stacks.len(), opts.top)] {
        let frames: Vec<_> = s
            .frames
            .iter()
            .take(6)
            .map(|f| elide(f.as_str(), TABLE_NAME_CHARS))
            .collect();
        let more = if s.frames.len() > 6 { " ← …" } else { "" };
        rows.push(vec![
            delta_cell(signed_bytes(s.bytes_delta), s.bytes_delta, opts),
            Cell::new(signed(s.objects_delta)),
            Cell::new(bytes(s.bytes_before)),
            Cell::new(bytes(s.bytes_after)),
            Cell::new(format!("{}{more}", frames.join(" ← "))),
        ]);
    }
    // A stack is cut to the terminal's width; written to a file it stays whole (six frames).
    let fit: &[usize] = if output_width(opts).is_some() {
        &[4]
    } else {
        &[]
    };
    let t = build_table(
        opts,
        &[
            "Bytes Δ",
            "Objects Δ",
            "Bytes before",
            "Bytes after",
            "Allocation stack (innermost first)",
        ],
        &[4],
        fit,
        rows,
    );
    writeln!(out, "Stacks by growth")?;
    writeln!(out, "{t}")?;
    more(
        out,
        r.stacks.len(),
        super::shown(r.stacks.len(), opts.top),
        "stacks",
    )?;
    let mut rows = Vec::new();
    for f in &r.functions[..super::shown(r.functions.len(), opts.top)] {
        let at = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!("{file}:{line}"),
            (Some(file), None) => file.clone(),
            _ => String::new(),
        };
        rows.push(vec![
            Cell::new(&f.name),
            delta_cell(signed_bytes(f.flat_delta), f.flat_delta, opts),
            delta_cell(signed_bytes(f.cum_delta), f.cum_delta, opts),
            Cell::new(at),
        ]);
    }
    let t = build_table(
        opts,
        &["Function", "Flat Δ", "Cum Δ", "Where"],
        &[0, 3],
        &[0, 3],
        rows,
    );
    writeln!(
        out,
        "\nFunctions by growth (flat: allocated there; cum: allocated below it)"
    )?;
    writeln!(out, "{t}")?;
    more(
        out,
        r.functions.len(),
        super::shown(r.functions.len(), opts.top),
        "functions",
    )?;
    gate_lines(r, out)
}

/// The gate's verdict, last, where a CI log reader looks.
fn gate_lines(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(g) = &r.gate {
        writeln!(out)?;
        if g.breached {
            for reason in &g.reasons {
                writeln!(out, "GATE BREACHED: {reason}")?;
            }
        } else {
            writeln!(out, "gate passed")?;
        }
    }
    Ok(())
}
