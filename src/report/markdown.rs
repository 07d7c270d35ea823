//! `--format markdown`: a ticket-ready report, for GitHub issues and Jira's markdown.
//!
//! Sections, in order: a title naming the inputs; a warning when the snapshots' ids were
//! renumbered (different processes, a restarted heap profiler); the summary (inputs, total
//! growth, notes); the gate's verdict; the findings; the top growth table (or, for one snapshot, classes by retained size and the
//! largest dominators); the top retainer path of each top class; then every path of every
//! class in collapsed `<details>` blocks.
//!
//! Only GitHub-flavoured markdown that Jira's markdown import also reads: ATX headings, pipe
//! tables, code spans, lists, block quotes, and the `<details>` HTML block (GitHub folds it;
//! elsewhere it reads as plain text). Text from the heap goes through [`text`] (plain text)
//! or [`code`] (code spans): neither a `|` nor a backtick nor a `<` in a class or edge name
//! can break a table or swallow the rest of a line. A `<details>` block needs a blank line
//! after its `<summary>` for the markdown inside to render on GitHub.
//!
//! Paths are shown compactly in the top table: from the owning variable (the last
//! `context` edge before the class) after `… → `, or else the last [`COMPACT_STEPS`] steps;
//! the details show them whole.

use super::units::{bytes, signed, signed_bytes};
use super::{path_text, ClassRow, Finding, Mode, PathStep, RenderOptions, Renderer, Report};
use std::io::{self, Write};

pub struct MarkdownRenderer;

/// Steps a compact path keeps when no owning variable is on it.
pub const COMPACT_STEPS: usize = 8;

/// Written for a value the model does not have (e.g. new objects across processes).
const MISSING: &str = "–";

impl Renderer for MarkdownRenderer {
    fn render(&self, r: &Report, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
        title(r, out)?;
        summary(r, out)?;
        gate(r, out)?;
        if r.input_kind == "jemalloc" {
            return jemalloc_tables(r, opts, out);
        }
        findings_table(&r.findings, out)?;
        let shown = super::shown(r.classes.len(), opts.top);
        match r.mode {
            Mode::Summary => {
                classes_by_retained_size(r, shown, out)?;
                dominators(r, opts, out)?;
            }
            Mode::Comparison | Mode::Series => {
                growth_table(r, shown, out)?;
                top_paths(r, shown, out)?;
            }
        }
        details(r, out)
    }
}

/// jemalloc profiles: top stacks by growth, then the per-function table.
fn jemalloc_tables(r: &Report, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "## Top allocation stacks by growth\n")?;
    table_header(
        out,
        &[
            "Bytes Δ",
            "Objects Δ",
            "Before",
            "After",
            "Stack (innermost first)",
        ],
        &[true, true, true, true, false],
    )?;
    let shown = super::shown(r.stacks.len(), opts.top);
    for s in &r.stacks[..shown] {
        let frames: Vec<String> = s.frames.iter().map(|f| code(f.as_str(), true)).collect();
        row(
            out,
            &[
                signed_bytes(s.bytes_delta),
                format!("{:+}", s.objects_delta),
                bytes(s.bytes_before),
                bytes(s.bytes_after),
                frames.join(" ← "),
            ],
        )?;
    }
    more(out, r.stacks.len(), shown, "stacks")?;
    writeln!(out, "\n## Functions by growth\n")?;
    table_header(
        out,
        &["Function", "Flat Δ", "Cum Δ", "Where"],
        &[false, true, true, false],
    )?;
    let shown = super::shown(r.functions.len(), opts.top);
    for f in &r.functions[..shown] {
        let at = match (&f.file, f.line) {
            (Some(file), Some(line)) => code(&format!("{file}:{line}"), true),
            (Some(file), None) => code(file, true),
            _ => String::new(),
        };
        row(
            out,
            &[
                code(&f.name, true),
                signed_bytes(f.flat_delta),
                signed_bytes(f.cum_delta),
                at,
            ],
        )?;
    }
    more(out, r.functions.len(), shown, "functions")
}

fn file_name(path: &str) -> &str {
    std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

fn title(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let names: Vec<String> = r
        .snapshots
        .iter()
        .map(|s| code(file_name(&s.path), false))
        .collect();
    match (r.mode, &names[..]) {
        (Mode::Summary, _) => writeln!(out, "# Heap summary: {}", names.join(", "))?,
        (Mode::Series, [first, .., last]) => writeln!(
            out,
            "# Heap growth over {} snapshots: {first} → … → {last}",
            names.len()
        )?,
        _ => writeln!(out, "# Heap growth: {}", names.join(" → "))?,
    }
    writeln!(out)?;
    if r.ids_comparable == Some(false) {
        writeln!(
            out,
            "> **Warning:** object ids were renumbered between these snapshots (different \
             processes, or a heap profiler restarted in between), so objects cannot be matched: \
             new and deleted objects are not counted, and growth is compared by class totals and \
             retainer paths.\n"
        )?;
    }
    Ok(())
}

fn summary(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "## Summary\n")?;
    let jemalloc = r.input_kind == "jemalloc";
    let header: &[&str] = if jemalloc {
        &["Input", "File", "Stacks", "Sampling", "Live bytes"]
    } else {
        &["Input", "File", "Nodes", "Edges", "Total size"]
    };
    table_header(out, header, &[false, false, true, true, true])?;
    for (i, s) in r.snapshots.iter().enumerate() {
        let label = match (r.mode, i) {
            (Mode::Summary, _) => "snapshot".to_string(),
            (Mode::Comparison, 0) => "before".to_string(),
            (Mode::Comparison, _) => "after".to_string(),
            (Mode::Series, i) => format!("S{}", i + 1),
        };
        row(
            out,
            &[
                label,
                code(&s.path, true),
                if jemalloc {
                    s.stack_count.unwrap_or(0).to_string()
                } else {
                    s.node_count.to_string()
                },
                if jemalloc {
                    match s.sample_period {
                        Some(0) | None => "exact".to_string(),
                        Some(p) => format!("every {} (un-sampled)", bytes(p)),
                    }
                } else {
                    s.edge_count.to_string()
                },
                bytes(s.total_size),
            ],
        )?;
    }
    writeln!(out)?;
    if let Some(t) = &r.totals {
        writeln!(
            out,
            "**Total growth:** {} ({} → {})\n",
            signed_bytes(t.size_delta),
            bytes(t.size_before),
            bytes(t.size_after)
        )?;
    }
    if !r.notes.is_empty() {
        writeln!(out, "**Notes:**\n")?;
        for n in &r.notes {
            writeln!(out, "- {}", text(n))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn gate(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let Some(g) = &r.gate else { return Ok(()) };
    let verdict = if g.breached { "breached" } else { "passed" };
    writeln!(out, "## Gate: {verdict}\n")?;
    for reason in &g.reasons {
        writeln!(out, "- {}", text(reason))?;
    }
    if !g.reasons.is_empty() {
        writeln!(out)?;
    }
    Ok(())
}

fn severity(f: &Finding) -> &'static str {
    match f.severity {
        super::Severity::High => "high",
        super::Severity::Medium => "medium",
        super::Severity::Low => "low",
    }
}

fn findings_table(findings: &[Finding], out: &mut dyn Write) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(out, "## Findings\n")?;
    table_header(
        out,
        &[
            "Severity",
            "Kind",
            "Title",
            "Owner",
            "Count",
            "Retained",
            "Evidence",
            "Suggestion",
        ],
        &[false, false, false, false, true, true, false, false],
    )?;
    for f in findings {
        row(
            out,
            &[
                format!("**{}**", severity(f)),
                text(f.kind.name()),
                text(&f.title),
                code(&f.owner, true),
                format!("{} → {}", f.count_before, f.count_after),
                format!(
                    "{} → {}",
                    bytes(f.retained_size_before),
                    bytes(f.retained_size_after)
                ),
                text(&f.evidence),
                text(&f.suggestion),
            ],
        )?;
    }
    writeln!(out)
}

fn class_cell(c: &ClassRow) -> String {
    if c.ignored {
        format!("{} (ignored)", code(&c.name, true))
    } else {
        code(&c.name, true)
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or(MISSING.to_string(), |v| v.to_string())
}

fn opt_bytes(v: Option<u64>) -> String {
    v.map_or(MISSING.to_string(), bytes)
}

fn growth_table(r: &Report, shown: usize, out: &mut dyn Write) -> io::Result<()> {
    let rows = &r.classes[..shown];
    let trend = rows.iter().any(|c| c.trend.is_some());
    let candidates = rows.iter().any(|c| c.leak_candidates.is_some());
    let monotonic = rows.iter().any(|c| c.monotonic.is_some());
    let mut header = vec![
        "Class",
        "# New",
        "# Deleted",
        "# Delta",
        "Alloc. size",
        "Freed size",
        "Size delta",
        "Retained before",
        "Retained after",
    ];
    if trend {
        header.push("Count per snapshot");
    }
    if candidates {
        header.push("Leak candidates");
    }
    if monotonic {
        header.push("Monotonic");
    }
    let mut right = vec![false];
    right.resize(header.len(), true);
    writeln!(out, "## Top growth\n")?;
    table_header(out, &header, &right)?;
    for c in rows {
        let mut cells = vec![
            class_cell(c),
            opt(c.added_count),
            opt(c.removed_count),
            c.count_delta.map_or(MISSING.to_string(), signed),
            opt_bytes(c.added_size),
            opt_bytes(c.removed_size),
            c.size_delta.map_or(MISSING.to_string(), signed_bytes),
            opt_bytes(c.retained_size_before),
            bytes(c.retained_size_after),
        ];
        if trend {
            cells.push(c.trend.as_ref().map_or(MISSING.to_string(), |t| {
                t.iter().map(u64::to_string).collect::<Vec<_>>().join(" → ")
            }));
        }
        if candidates {
            cells.push(opt(c.leak_candidates));
        }
        if monotonic {
            cells.push(match c.monotonic {
                Some(true) => "yes".to_string(),
                Some(false) => "no".to_string(),
                None => MISSING.to_string(),
            });
        }
        row(out, &cells)?;
    }
    writeln!(out)?;
    more(out, r.classes.len(), shown, "changed classes")
}

fn classes_by_retained_size(r: &Report, shown: usize, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "## Classes by retained size\n")?;
    table_header(
        out,
        &["Class", "Count", "Self size", "Retained size"],
        &[false, true, true, true],
    )?;
    for c in &r.classes[..shown] {
        row(
            out,
            &[
                class_cell(c),
                c.count_after.to_string(),
                bytes(c.self_size_after),
                bytes(c.retained_size_after),
            ],
        )?;
    }
    writeln!(out)?;
    more(out, r.classes.len(), shown, "classes")
}

fn dominators(r: &Report, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    if r.dominators.is_empty() {
        return Ok(());
    }
    writeln!(out, "## Largest dominators\n")?;
    table_header(
        out,
        &["Dominator", "Id", "Self size", "Retained size", "Distance"],
        &[false, true, true, true, true],
    )?;
    for d in &r.dominators[..super::shown(r.dominators.len(), opts.top)] {
        row(
            out,
            &[
                code(&d.class, true),
                format!("@{}", d.id),
                bytes(d.self_size),
                bytes(d.retained_size),
                d.distance.map_or(MISSING.to_string(), show_distance),
            ],
        )?;
    }
    writeln!(out)
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

/// What a path row's `count` means in this mode.
fn count_label(mode: Mode) -> &'static str {
    match mode {
        Mode::Series => "leak candidates",
        _ => "new objects",
    }
}

/// `1 new object`, `2 new objects`.
fn counted(count: u64, mode: Mode) -> String {
    let label = count_label(mode);
    match label.strip_suffix('s') {
        Some(one) if count == 1 => format!("**{count}** {one}"),
        _ => format!("**{count}** {label}"),
    }
}

fn top_paths(r: &Report, shown: usize, out: &mut dyn Write) -> io::Result<()> {
    let with_paths: Vec<&ClassRow> = r.classes[..shown]
        .iter()
        .filter(|c| !c.retainer_paths.is_empty())
        .collect();
    if with_paths.is_empty() {
        return Ok(());
    }
    let label = count_label(r.mode);
    let count_header = format!("{}{}", label[..1].to_uppercase(), &label[1..]);
    writeln!(out, "## Top retainer paths\n")?;
    table_header(
        out,
        &["Class", &count_header, "Retained", "Path"],
        &[false, true, true, false],
    )?;
    for c in with_paths {
        let p = &c.retainer_paths[0];
        row(
            out,
            &[
                class_cell(c),
                p.count.to_string(),
                bytes(p.size),
                code(&compact_path(&p.path, p.owner_start), true),
            ],
        )?;
    }
    writeln!(out)
}

/// The path from its owner part (`owner_start`, found by the owner rule in
/// [`crate::trace::owner`]) to its end; `… → ` marks a cut.
pub fn compact_path(path: &[PathStep], owner_start: usize) -> String {
    super::compact_path_text(path, owner_start)
}

fn details(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let with_paths: Vec<&ClassRow> = r
        .classes
        .iter()
        .filter(|c| !c.retainer_paths.is_empty())
        .collect();
    let findings_with_paths = r.findings.iter().any(|f| !f.path.is_empty());
    if with_paths.is_empty() && !findings_with_paths {
        return Ok(());
    }
    writeln!(out, "## Details\n")?;
    if findings_with_paths {
        writeln!(out, "<details>")?;
        writeln!(
            out,
            "<summary>Findings: owner paths and fingerprints</summary>\n"
        )?;
        for f in &r.findings {
            writeln!(
                out,
                "- **{}** ({}), fingerprint {}:  ",
                text(&f.title),
                severity(f),
                code(&f.fingerprint, false)
            )?;
            writeln!(out, "  {}", code(&path_text(&f.path), false))?;
        }
        writeln!(out, "\n</details>\n")?;
    }
    for c in with_paths {
        let n = c.retainer_paths.len();
        writeln!(out, "<details>")?;
        writeln!(
            out,
            "<summary><code>{}</code>: {n} retainer path{}</summary>\n",
            html(&c.name),
            if n == 1 { "" } else { "s" }
        )?;
        for (i, p) in c.retainer_paths.iter().enumerate() {
            writeln!(
                out,
                "{}. {}, {} retained; count {} → {}, retained {} → {}  ",
                i + 1,
                counted(p.count, r.mode),
                bytes(p.size),
                p.count_before,
                p.count_after,
                bytes(p.retained_size_before),
                bytes(p.retained_size_after)
            )?;
            writeln!(out, "   {}", code(&path_text(&p.path), false))?;
        }
        writeln!(out, "\n</details>\n")?;
    }
    Ok(())
}

fn more(out: &mut dyn Write, total: usize, shown: usize, what: &str) -> io::Result<()> {
    if total > shown {
        writeln!(
            out,
            "… {} more {what} (`--top 0` shows all)\n",
            total - shown
        )?;
    }
    Ok(())
}

fn table_header(out: &mut dyn Write, header: &[&str], right: &[bool]) -> io::Result<()> {
    writeln!(out, "| {} |", header.join(" | "))?;
    let rule: Vec<&str> = right
        .iter()
        .map(|&r| if r { "---:" } else { "---" })
        .collect();
    writeln!(out, "|{}|", rule.join("|"))
}

fn row(out: &mut dyn Write, cells: &[String]) -> io::Result<()> {
    writeln!(out, "| {} |", cells.join(" | "))
}

/// Plain text: markdown's active characters escaped (a backslash before ASCII punctuation is
/// literal in CommonMark), `<`/`>`/`&` as entities so nothing reads as HTML, one line.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '|' | '*' | '_' | '[' | ']' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A code span (CommonMark): fenced by one backtick more than the longest run inside, padded
/// when the text starts or ends with a backtick. In a table cell a `|` must be escaped even
/// inside a code span (GFM tables split cells first); elsewhere `\|` would show literally.
pub fn code(s: &str, in_table: bool) -> String {
    let mut body = String::with_capacity(s.len());
    let (mut run, mut longest) = (0, 0);
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
        match c {
            '|' if in_table => body.push_str("\\|"),
            c if c.is_control() => body.push(' '),
            c => body.push(c),
        }
    }
    let fence = "`".repeat(longest + 1);
    if body.starts_with('`') || body.ends_with('`') {
        format!("{fence} {body} {fence}")
    } else {
        format!("{fence}{body}{fence}")
    }
}

/// Text inside an HTML element (`<summary>`), where markdown does not apply.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{GateResult, PathRow, Severity, SnapshotInfo, Totals, FORMAT_VERSION};

    fn step(edge: &str, edge_type: &str, node: &str) -> PathStep {
        PathStep {
            edge: edge.into(),
            edge_type: edge_type.into(),
            node: node.into(),
            repeated: false,
            example: None,
        }
    }

    fn snapshot(path: &str) -> SnapshotInfo {
        SnapshotInfo {
            path: path.into(),
            node_count: 10,
            edge_count: 20,
            total_size: 1500,
            stack_count: None,
            sample_period: None,
        }
    }

    fn render(r: &Report, top: usize) -> String {
        let mut out = Vec::new();
        let opts = RenderOptions {
            top,
            terminal: false,
            color: false,
        };
        MarkdownRenderer.render(r, &opts, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn series() -> Report {
        let path = vec![
            step("<n>", "shortcut", "global"),
            step("cache", "context", "Map"),
            step("table", "internal", "(array)"),
            step("<n>", "internal", "Entry|`x`"),
        ];
        Report {
            format: FORMAT_VERSION,
            input_kind: "v8",
            mode: Mode::Series,
            ids_comparable: Some(true),
            snapshots: vec![snapshot("d/a.heapsnapshot"), snapshot("b"), snapshot("c")],
            totals: Some(Totals {
                size_before: 1500,
                size_after: 4500,
                size_delta: 3000,
            }),
            classes: vec![
                ClassRow {
                    name: "Entry|`x`".into(),
                    count_before: Some(1),
                    count_after: 3,
                    added_count: Some(2),
                    removed_count: Some(0),
                    count_delta: Some(2),
                    added_size: Some(2000),
                    removed_size: Some(0),
                    size_delta: Some(2000),
                    self_size_before: Some(1000),
                    self_size_after: 3000,
                    retained_size_before: Some(1000),
                    retained_size_after: 3000,
                    retainer_paths: vec![PathRow {
                        count: 1,
                        size: 1000,
                        count_before: 1,
                        count_after: 3,
                        retained_size_before: 1000,
                        retained_size_after: 3000,
                        path,
                        owner_start: 1,
                    }],
                    trend: Some(vec![1, 2, 3]),
                    leak_candidates: Some(1),
                    monotonic: Some(true),
                    ignored: false,
                },
                ClassRow {
                    name: "Warmup".into(),
                    count_delta: Some(1),
                    ..Default::default()
                },
            ],
            findings: vec![Finding {
                kind: crate::model::Kind::Cache,
                severity: Severity::High,
                title: "Map `cache` grows | never shrinks".into(),
                owner: "cache".into(),
                holders: Vec::new(),
                path: vec![step("cache", "context", "Map")],
                owner_start: 0,
                count_before: 1,
                count_after: 3,
                trend: Some(vec![1, 2, 3]),
                growth: crate::model::Growth::EveryStep,
                retained_size_before: 1000,
                retained_size_after: 3000,
                shared: false,
                evidence: "<script>".into(),
                details: crate::model::Evidence::Promise { handler: None },
                related: Vec::new(),
                suggestion: "evict *old* entries".into(),
                fingerprint: "abc123".into(),
            }],
            dominators: vec![],
            gate: Some(GateResult {
                breached: true,
                reasons: vec!["total growth +3.00 kB over 1 kB".into()],
            }),
            notes: vec!["a_note".into()],
            stacks: Vec::new(),
            functions: Vec::new(),
        }
    }

    #[test]
    fn series_report() {
        let md = render(&series(), 1);
        assert!(md.starts_with("# Heap growth over 3 snapshots: `a.heapsnapshot` → … → `c`\n"));
        assert!(md.contains("| S3 | `c` | 10 | 20 | 1.50 kB |\n"));
        assert!(md.contains("**Total growth:** +3.00 kB (1.50 kB → 4.50 kB)\n"));
        assert!(md.contains("- a\\_note\n"));
        assert!(md.contains("## Gate: breached\n\n- total growth +3.00 kB over 1 kB\n"));
        // Findings come before the growth table.
        let findings = md.find("## Findings").unwrap();
        assert!(findings < md.find("## Top growth").unwrap());
        assert!(md.contains(
            "| **high** | cache | Map \\`cache\\` grows \\| never shrinks | `cache` \
             | 1 → 3 | 1.00 kB → 3.00 kB | &lt;script&gt; | evict \\*old\\* entries |\n"
        ));
        assert!(
            md.contains("Retained after | Count per snapshot | Leak candidates | Monotonic |\n")
        );
        assert!(md.contains(
            "| `` Entry\\|`x` `` | 2 | 0 | +2 | 2.00 kB | 0 B | +2.00 kB | 1.00 kB | 3.00 kB \
             | 1 → 2 → 3 | 1 | yes |\n"
        ));
        assert!(md.contains("… 1 more changed classes (`--top 0` shows all)\n"));
        assert!(md.contains("| Class | Leak candidates | Retained | Path |\n"));
        assert!(md.contains(
            "| `` Entry\\|`x` `` | 1 | 1.00 kB \
             | `` … → cache (variable) → Map → table → (array) → <n> → Entry\\|`x` `` |\n"
        ));
        assert!(md.contains(
            "<summary><code>Entry|`x`</code>: 1 retainer path</summary>\n\n\
             1. **1** leak candidate, 1.00 kB retained; count 1 → 3, retained 1.00 kB → 3.00 kB  \n   \
             `` <n> → global → cache (variable) → Map → table → (array) → <n> → Entry|`x` ``\n\n\
             </details>\n"
        ));
        assert!(md.contains("fingerprint `abc123`"));
    }

    #[test]
    fn compact_paths_start_at_the_owner_part() {
        let path: Vec<PathStep> = (0..10)
            .map(|i| step(&format!("e{i}"), "property", &format!("N{i}")))
            .collect();
        assert_eq!(
            compact_path(&path, 6),
            "… → e6 → N6 → e7 → N7 → e8 → N8 → e9 → N9"
        );
        assert_eq!(compact_path(&path[..3], 0), path_text(&path[..3]));
        // An owner part past the end keeps the last step.
        assert_eq!(compact_path(&path[..3], 7), "… → e2 → N2");
        assert_eq!(compact_path(&[], 0), "");
    }

    #[test]
    fn escaping() {
        assert_eq!(code("a|b", true), "`a\\|b`");
        assert_eq!(code("a|b", false), "`a|b`");
        assert_eq!(code("a`b", false), "``a`b``");
        assert_eq!(code("`a``", false), "``` `a`` ```");
        assert_eq!(code("x\ny", false), "`x y`");
        assert_eq!(text("<n> | *x*\n"), "&lt;n&gt; \\| \\*x\\* ");
        assert_eq!(html("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }

    #[test]
    fn processes_that_differ_are_a_visible_warning() {
        let mut r = series();
        r.mode = Mode::Comparison;
        r.snapshots.truncate(2);
        r.ids_comparable = Some(false);
        let md = render(&r, 0);
        assert!(md.contains("\n> **Warning:** object ids were renumbered between these snapshots"));
        assert!(md.starts_with("# Heap growth: `a.heapsnapshot` → `b`\n"));
        assert!(md.contains("| Class | New objects | Retained | Path |\n"));
    }
}
