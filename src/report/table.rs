//! `--format table` (default): comfy-table, sizes made readable, colour only on a terminal.

use super::units::{bytes, signed, signed_bytes};
use super::{Mode, RenderOptions, Renderer, Report};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};
use std::io::Write;

pub struct TableRenderer;

fn new_table(opts: &RenderOptions, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(if opts.terminal {
        ContentArrangement::Dynamic
    } else {
        ContentArrangement::Disabled
    });
    if !opts.terminal {
        t.force_no_tty();
    }
    t.set_header(header.iter().map(Cell::new));
    for i in 1..header.len() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

fn take(len: usize, top: usize) -> usize {
    if top == 0 {
        len
    } else {
        len.min(top)
    }
}

impl Renderer for TableRenderer {
    fn render(&self, r: &Report, opts: &RenderOptions, out: &mut dyn Write) -> std::io::Result<()> {
        for (i, s) in r.snapshots.iter().enumerate() {
            let label = match (r.mode, i) {
                (Mode::Summary, _) => "snapshot",
                (_, 0) => "before",
                _ => "after",
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
        if let [b, a] = &r.snapshots[..] {
            writeln!(
                out,
                "{:>8}: {} ({} nodes)",
                "growth",
                signed_bytes(a.total_size as i64 - b.total_size as i64),
                signed(a.node_count as i64 - b.node_count as i64)
            )?;
        }
        writeln!(out)?;
        let shown = take(r.classes.len(), opts.top);
        match r.mode {
            Mode::Summary => {
                let mut t = new_table(opts, &["Class", "Count", "Self size", "Retained size"]);
                for c in &r.classes[..shown] {
                    t.add_row(vec![
                        Cell::new(&c.name),
                        Cell::new(c.count_after),
                        Cell::new(bytes(c.self_size_after)),
                        Cell::new(bytes(c.retained_size_after)),
                    ]);
                }
                writeln!(out, "Classes by retained size")?;
                writeln!(out, "{t}")?;
                more(out, r.classes.len(), shown, "classes")?;
                if !r.dominators.is_empty() {
                    let mut t = new_table(
                        opts,
                        &["Dominator", "Id", "Self size", "Retained size", "Distance"],
                    );
                    for d in &r.dominators[..take(r.dominators.len(), opts.top)] {
                        t.add_row(vec![
                            Cell::new(&d.class),
                            Cell::new(format!("@{}", d.id)),
                            Cell::new(bytes(d.self_size)),
                            Cell::new(bytes(d.retained_size)),
                            Cell::new(d.distance.map_or("-".into(), show_distance)),
                        ]);
                    }
                    writeln!(out, "\nLargest dominators")?;
                    writeln!(out, "{t}")?;
                }
            }
            Mode::Comparison | Mode::Series => {
                let mut t = new_table(
                    opts,
                    &[
                        "Class",
                        "# New",
                        "# Deleted",
                        "# Delta",
                        "Alloc. Size",
                        "Freed Size",
                        "Size Delta",
                        "Retained before",
                        "Retained after",
                    ],
                );
                for c in &r.classes[..shown] {
                    t.add_row(vec![
                        Cell::new(&c.name),
                        Cell::new(c.added_count.unwrap_or(0)),
                        Cell::new(c.removed_count.unwrap_or(0)),
                        Cell::new(signed(c.count_delta.unwrap_or(0))),
                        Cell::new(bytes(c.added_size.unwrap_or(0))),
                        Cell::new(bytes(c.removed_size.unwrap_or(0))),
                        Cell::new(signed_bytes(c.size_delta.unwrap_or(0))),
                        Cell::new(bytes(c.retained_size_before.unwrap_or(0))),
                        Cell::new(bytes(c.retained_size_after)),
                    ]);
                }
                writeln!(out, "Classes by growth")?;
                writeln!(out, "{t}")?;
                more(out, r.classes.len(), shown, "changed classes")?;
            }
        }
        Ok(())
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
