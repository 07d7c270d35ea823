//! The markdown and folded formats on the `service` fixtures, and that no string value of a
//! snapshot reaches any format. Numbers are from `fixtures/v8/service/EXPECTED.md`: per step
//! +500 `CacheEntry` (56 bytes each), +120 `RequestContext` and +150 `Subscriber` (48 each);
//! the committed S1 has 63,944 nodes and S2 68,002.

mod common;

use assert_cmd::Command;
use common::{fixture, gunzip_fixture};

const S1: &str = "v8/service/s1.heapsnapshot.gz";
const S2: &str = "v8/service/s2.heapsnapshot.gz";
const S2_OTHER_PROCESS: &str = "v8/service-other-process/s2.heapsnapshot.gz";

/// The tag planted in 500 string values per step (EXPECTED.md, "Planted secret").
const SECRET: &str = "HDSECRET";

/// stdout of a successful run.
fn run(format: &str, extra: &[&str], snapshots: &[&str]) -> String {
    let mut cmd = Command::cargo_bin("heapdiff").unwrap();
    cmd.args(["--format", format]).args(extra);
    for s in snapshots {
        cmd.arg(fixture(s));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "heapdiff --format {format} {snapshots:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The non-empty lines of the markdown section under `heading`, up to the next heading.
fn section<'a>(md: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = md.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "no section {heading:?} in:\n{md}");
    lines
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Cells of a table row: split at `|` not escaped by a backslash.
fn cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut escaped = false;
    for c in line.chars() {
        if c == '|' && !escaped {
            cells.push(String::new());
        } else if let Some(cell) = cells.last_mut() {
            cell.push(c);
        }
        escaped = c == '\\' && !escaped;
    }
    // Drop what is outside the leading and trailing pipes.
    cells.remove(0);
    cells.pop();
    cells.iter().map(|c| c.trim().to_string()).collect()
}

/// Every table has as many cells in each row as in its header, and a `<details>` block is
/// closed and has a blank line after its `<summary>` (GitHub renders markdown inside only
/// then).
fn assert_well_formed(md: &str) {
    let lines: Vec<&str> = md.lines().collect();
    let mut width = None;
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with('|') {
            let n = cells(l).len();
            match width {
                None => width = Some(n),
                Some(w) => assert_eq!(n, w, "line {} has {n} cells, header {w}: {l}", i + 1),
            }
        } else {
            width = None;
        }
        if l.starts_with("<summary>") {
            assert!(l.ends_with("</summary>"), "line {}: {l}", i + 1);
            assert_eq!(lines.get(i + 1), Some(&""), "no blank line after {l}");
        }
    }
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );
}

#[test]
fn markdown_comparison() {
    let md = run("markdown", &["--top", "0"], &[S1, S2]);
    assert_well_formed(&md);
    assert!(
        md.starts_with("# Heap growth: `s1.heapsnapshot.gz` → `s2.heapsnapshot.gz`\n"),
        "{md}"
    );
    // Both inputs with their node counts.
    let summary = section(&md, "## Summary").join("\n");
    for (name, nodes) in [("s1", 63944), ("s2", 68002)] {
        assert!(
            summary.contains(&format!("service/{name}.heapsnapshot.gz` | {nodes} |")),
            "{summary}"
        );
    }
    assert!(summary.contains("**Total growth:** +"), "{summary}");
    assert!(!md.contains("Warning"), "one process: no warning");

    // Growth table: by id, +500 CacheEntry of 56 bytes; LruEntry is replaced whole (+100
    // −100); the 800 BootstrapJob of 40 bytes are freed once.
    let growth = section(&md, "## Top growth");
    let row = |class: &str| {
        growth
            .iter()
            .find(|l| l.starts_with(&format!("| `{class}` |")))
            .unwrap_or_else(|| panic!("no {class} row in\n{}", growth.join("\n")))
            .to_string()
    };
    assert!(row("CacheEntry")
        .starts_with("| `CacheEntry` | 500 | 0 | +500 | 28.0 kB | 0 B | +28.0 kB |"));
    assert!(row("LruEntry").starts_with("| `LruEntry` | 100 | 100 | 0 | 4.00 kB | 4.00 kB | 0 B |"));
    assert!(row("BootstrapJob")
        .starts_with("| `BootstrapJob` | 0 | 800 | -800 | 0 B | 32.0 kB | -32.0 kB |"));

    // The top path of CacheEntry starts at its owner, the `sessionCache` variable.
    let paths = section(&md, "## Top retainer paths");
    let cache = paths
        .iter()
        .find(|l| l.starts_with("| `CacheEntry` |"))
        .unwrap_or_else(|| panic!("no CacheEntry path in\n{}", paths.join("\n")));
    let c = cells(cache);
    assert_eq!(c[1], "500", "{cache}");
    assert!(
        c[3].starts_with("`… → sessionCache (variable) → Map → ") && c[3].ends_with("CacheEntry`"),
        "{cache}"
    );

    // The details hold every path whole, from the root.
    let details = &md[md.find("## Details").unwrap()..];
    let block = details
        .split("</details>")
        .find(|b| b.contains("<summary><code>CacheEntry</code>: 1 retainer path</summary>\n\n"))
        .unwrap_or_else(|| panic!("no CacheEntry details in\n{details}"));
    assert!(
        !block.contains("`… → "),
        "details show paths whole: {block}"
    );
    assert!(
        block.contains(" → sessionCache (variable) → Map → "),
        "{block}"
    );
}

#[test]
fn markdown_top_limits_the_tables() {
    let md = run("markdown", &["--top", "3"], &[S1, S2]);
    assert_well_formed(&md);
    let growth = section(&md, "## Top growth");
    assert_eq!(growth.iter().filter(|l| l.starts_with("| `")).count(), 3);
    assert!(
        growth
            .iter()
            .any(|l| l.starts_with("… ")
                && l.ends_with(" more changed classes (`--top 0` shows all)"))
    );
}

#[test]
fn markdown_warns_when_processes_differ() {
    let md = run("markdown", &[], &[S1, S2_OTHER_PROCESS]);
    assert_well_formed(&md);
    assert!(
        md.contains("\n> **Warning:** object ids were renumbered between these snapshots"),
        "{md}"
    );
    // Without ids there are no new/deleted counts, only deltas.
    let growth = section(&md, "## Top growth");
    let cache = growth
        .iter()
        .find(|l| l.starts_with("| `CacheEntry` |"))
        .unwrap();
    assert!(cache.starts_with("| `CacheEntry` | – | – | +500 | – | – | +28.0 kB |"));
}

#[test]
fn markdown_summary() {
    let md = run("markdown", &["--top", "0"], &[S1]);
    assert_well_formed(&md);
    assert!(
        md.starts_with("# Heap summary: `s1.heapsnapshot.gz`\n"),
        "{md}"
    );
    let classes = section(&md, "## Classes by retained size");
    // 5000 Country of 48 bytes, built at startup.
    assert!(
        classes
            .iter()
            .any(|l| l.starts_with("| `Country` | 5000 | 240 kB |")),
        "{}",
        classes.join("\n")
    );
    let dominators = section(&md, "## Largest dominators");
    assert!(dominators[0].starts_with("| Dominator | Id |"));
    assert!(dominators.len() > 3);
    assert!(!md.contains("## Top growth"));
}

/// `(stack, bytes)` of every folded line, checked to be one well-formed line each.
fn folded_lines(out: &str) -> Vec<(&str, u64)> {
    out.lines()
        .map(|l| {
            // `^[^ ].* \d+$`
            assert!(!l.starts_with(' ') && !l.is_empty(), "bad line {l:?}");
            let (stack, bytes) = l.rsplit_once(' ').unwrap();
            assert!(!stack.is_empty(), "bad line {l:?}");
            assert!(
                !bytes.is_empty() && bytes.bytes().all(|b| b.is_ascii_digit()),
                "bad line {l:?}"
            );
            assert!(stack.starts_with("(root);"), "bad line {l:?}");
            assert!(!stack.split(';').any(str::is_empty), "empty frame: {l:?}");
            (stack, bytes.parse().unwrap())
        })
        .collect()
}

#[test]
fn folded_comparison() {
    let out = run("folded", &[], &[S1, S2]);
    let lines = folded_lines(&out);
    assert!(!lines.is_empty());
    // Sorted by stack, each stack once, no zero lines, identical on a second run.
    assert!(
        lines.windows(2).all(|w| w[0].0 < w[1].0),
        "not sorted or not unique:\n{out}"
    );
    assert!(lines.iter().all(|&(_, b)| b > 0));
    assert_eq!(out, run("folded", &[], &[S1, S2]));

    // Each line carries the growth its deeper lines do not show, so a leaking class's line
    // is its own new instances: the strings a CacheEntry holds have lines of their own.
    let ending = |class: &str, owner: &str| {
        let hits: Vec<_> = lines
            .iter()
            .filter(|(stack, _)| stack.ends_with(&format!(";{class}")) && stack.contains(owner))
            .collect();
        assert_eq!(hits.len(), 1, "{class} via {owner}:\n{out}");
        hits[0].1
    };
    assert_eq!(
        ending("CacheEntry", ";sessionCache (variable);Map;"),
        500 * 56
    );
    assert_eq!(
        ending("Subscriber", ";subscribers (variable);Set;"),
        150 * 48
    );
    assert_eq!(
        ending("RequestContext", ";broker (variable);Object;subs;"),
        120 * 48
    );
}

#[test]
fn folded_across_processes() {
    let lines_out = run("folded", &[], &[S1, S2_OTHER_PROCESS]);
    let lines = folded_lines(&lines_out);
    assert!(lines
        .iter()
        .any(|(s, _)| s.contains(";sessionCache (variable);") && s.ends_with(";CacheEntry")));
}

#[test]
fn folded_summary_is_empty() {
    assert_eq!(run("folded", &[], &[S1]), "");
}

/// Issue 3, item 7: string values never reach a report without `--show-values`.
#[test]
fn no_string_value_reaches_any_format() {
    for s in [S1, S2, S2_OTHER_PROCESS] {
        let raw = gunzip_fixture(s);
        assert!(
            raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "{s} has no planted secret: the check below would prove nothing"
        );
    }
    let inputs: [&[&str]; 3] = [&[S1, S2], &[S1], &[S1, S2_OTHER_PROCESS]];
    for format in ["table", "json", "markdown", "folded"] {
        for snapshots in inputs {
            let out = run(format, &["--top", "0"], snapshots);
            if format == "json" {
                common::schema::parse(out.as_bytes());
            }
            assert!(
                !out.to_ascii_uppercase().contains(SECRET),
                "--format {format} {snapshots:?} prints a string value"
            );
        }
    }
}
