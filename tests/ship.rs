//! What a new user meets first: installing, `--version`, shell completions, the manual page,
//! colour switches, and tables that read well as text.

mod common;

use common::fixture;
use std::path::Path;
use std::process::{Command, Output};

fn heapdiff(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heapdiff"));
    cmd.args(args);
    for k in ["NO_COLOR", "CLICOLOR_FORCE", "COLUMNS"] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let v = text(&heapdiff(&["--version"], &[]));
    let want = match git(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["rev-parse", "--short=12", "HEAD"],
    ) {
        Some(commit) => format!("heapdiff {} (commit {commit})\n", env!("CARGO_PKG_VERSION")),
        None => format!("heapdiff {} (unknown commit)\n", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(v, want);
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "_heapdiff()"),
        ("zsh", "#compdef heapdiff"),
        ("fish", "complete -c heapdiff"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = text(&heapdiff(&["completions", shell], &[]));
        assert!(out.contains(marker), "{shell}: {out}");
        // The subcommand and the flags come from the same definition as --help.
        assert!(
            out.contains("capture") && out.contains("fail-on"),
            "{shell}"
        );
    }
}

#[test]
fn the_manual_page_renders() {
    let page = text(&heapdiff(&["man"], &[]));
    assert!(page.contains(".TH heapdiff 1"));
    assert!(page.contains("capture") && page.contains("fail\\-on"));
    // As `man ./heapdiff.1` shows it, where man is installed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("heapdiff.1");
    std::fs::write(&file, &page).unwrap();
    match Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
    {
        Ok(out) if out.status.success() => {
            let shown = String::from_utf8_lossy(&out.stdout);
            // man justifies lines with extra spaces.
            let words = shown.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                words.contains("NAME heapdiff - Compare heap dumps"),
                "{shown}"
            );
            assert!(shown.contains("--fail-on"), "{shown}");
        }
        _ => eprintln!("note: man is not installed; the roff source alone was checked"),
    }
}

const ESC: &str = "\x1b[";

#[test]
fn colour_follows_the_flag_then_clicolor_force_then_no_color() {
    let pair = [
        fixture("v8/service/s1.heapsnapshot.gz"),
        fixture("v8/service/s2.heapsnapshot.gz"),
    ];
    let (a, b) = (pair[0].to_str().unwrap(), pair[1].to_str().unwrap());
    let run = |flag: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["-q", a, b];
        args.extend_from_slice(flag);
        text(&heapdiff(&args, env)).contains(ESC)
    };
    // Through a pipe (not a terminal): auto means no colour.
    assert!(!run(&[], &[]));
    assert!(!run(&["--color", "never"], &[]));
    assert!(!run(&[], &[("NO_COLOR", "1")]));
    assert!(run(&["--color", "always"], &[]));
    assert!(run(&["--color", "always"], &[("NO_COLOR", "1")]));
    assert!(run(&[], &[("CLICOLOR_FORCE", "1")]));
    assert!(!run(&[], &[("CLICOLOR_FORCE", "0")]));
    assert!(!run(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    // Only the table is coloured: JSON never.
    let json = text(&heapdiff(
        &["-q", "--color", "always", "-f", "json", a, b],
        &[],
    ));
    assert!(!json.contains(ESC));
}

/// The cells of the table rows of `out` (lines between `│`), trimmed of the borders only.
fn rows(out: &str, header_starts: &str) -> Vec<Vec<String>> {
    let mut lines = out.lines().skip_while(|l| !l.contains(header_starts));
    lines.next();
    lines
        .take_while(|l| !l.starts_with('└'))
        .filter(|l| l.starts_with('│'))
        .map(|l| {
            l.trim_start_matches('│')
                .trim_end_matches('│')
                .split('┆')
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn text_columns_are_left_aligned_and_numbers_right() {
    let out = text(&heapdiff(
        &[
            "-q",
            fixture("v8/service/s1.heapsnapshot.gz").to_str().unwrap(),
            fixture("v8/service/s2.heapsnapshot.gz").to_str().unwrap(),
        ],
        &[],
    ));
    let findings = rows(&out, "│ Severity");
    assert_eq!(findings.len(), 6, "{out}");
    for r in &findings {
        // Severity, Leak and Owner: one space, then the text; Count and Retained: the
        // number, then one space.
        for text in &r[..3] {
            assert!(text.starts_with(' ') && !text.starts_with("  "), "{r:?}");
        }
        for num in &r[3..] {
            assert!(num.ends_with(' ') && !num.ends_with("  "), "{r:?}");
        }
    }
    let classes = rows(&out, "│ Class");
    assert!(classes.len() >= 20);
    for r in &classes {
        assert!(r[0].starts_with(' ') && !r[0].starts_with("  "), "{r:?}");
        assert!(r[1].ends_with(' ') && !r[1].ends_with("  "), "{r:?}");
    }
}

#[test]
fn long_names_are_cut_in_the_middle_to_the_width() {
    // Chromium's class names run to hundreds of characters.
    let dom = fixture("chromium/dom/s1.heapsnapshot.gz");
    let out = text(&heapdiff(
        &["-q", "--top", "0", dom.to_str().unwrap()],
        &[("COLUMNS", "100")],
    ));
    let table: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with(['│', '┌', '└', '╞', '├']))
        .collect();
    assert!(table.len() > 1000);
    for l in &table {
        assert!(l.chars().count() <= 100, "{l}");
    }
    // A cut name keeps its start (the namespace) and its end (the type's last part).
    let long = "blink::HeapHashTableBacking<blink::HashTable<blink::WeakMember<";
    let cut = table
        .iter()
        .find(|l| l.contains("blink::HeapHashTableBacking<") && l.contains('…'))
        .unwrap_or_else(|| panic!("no cut name like {long}…"));
    assert!(cut.contains(">>"), "{cut}");
    // Without a width (a file, no COLUMNS), names are cut at 80 characters.
    let plain = text(&heapdiff(&["-q", "--top", "0", dom.to_str().unwrap()], &[]));
    assert!(plain.lines().filter(|l| l.starts_with('│')).all(|l| l
        .split('┆')
        .next()
        .unwrap()
        .chars()
        .count()
        <= 80 + 3));
}

/// `cargo install --locked --path .` from a fresh clone, then the installed binary. Builds
/// heapdiff once more (minutes), so it runs where `HEAPDIFF_TEST_INSTALL` is set (`.ci/run`).
#[test]
fn install_from_a_fresh_clone() {
    if std::env::var_os("HEAPDIFF_TEST_INSTALL").is_none() {
        eprintln!("note: set HEAPDIFF_TEST_INSTALL=1 to test `cargo install` from a fresh clone");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("heapdiff");
    let ok = Command::new("git")
        .args(["clone", "-q"])
        .arg(repo)
        .arg(&clone)
        .status()
        .unwrap();
    assert!(ok.success());
    let root = dir.path().join("root");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["install", "--locked", "--quiet", "--path"])
        .arg(&clone)
        .arg("--root")
        .arg(&root)
        // Its own target directory: the one running this test is locked by cargo test.
        .arg("--target-dir")
        .arg(repo.join("target/install"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = root.join("bin/heapdiff");
    let run = |args: &[&str]| {
        let o = Command::new(&bin).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let commit = git(&clone, &["rev-parse", "--short=12", "HEAD"]).unwrap();
    assert_eq!(
        run(&["--version"]),
        format!("heapdiff {} (commit {commit})\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(run(&["completions", "bash"]).contains("_heapdiff()"));
    assert!(run(&["man"]).contains(".TH heapdiff 1"));
}
