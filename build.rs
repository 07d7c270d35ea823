//! Names the commit heapdiff is built from, for `--version`: `git rev-parse` in a checkout,
//! else the `.cargo_vcs_info.json` cargo writes into a packaged crate, else `unknown commit`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])
        .map(|c| format!("commit {c}"))
        .or_else(|| {
            let info = std::fs::read_to_string(".cargo_vcs_info.json").ok()?;
            let sha = info.split("\"sha1\"").nth(1)?.split('"').nth(1)?;
            Some(format!("commit {}", &sha[..sha.len().min(12)]))
        })
        .unwrap_or_else(|| "unknown commit".to_string());
    println!("cargo:rustc-env=HEAPDIFF_COMMIT={commit}");
    // Rebuild when HEAD moves: a new commit updates the branch's ref (or packed-refs).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = Path::new(&dir);
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("packed-refs").display()
        );
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let common = git(&["rev-parse", "--git-common-dir"]).unwrap_or_default();
            println!(
                "cargo:rerun-if-changed={}",
                Path::new(&common).join(r).display()
            );
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
