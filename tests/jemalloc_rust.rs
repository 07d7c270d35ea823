//! Allocator frames of a Rust program: a real profile of `fixtures/jemalloc/rust_leak.rs`,
//! built with the toolchain that runs the tests and run under Debian's libjemalloc2
//! (preloaded: Rust's System allocator calls `malloc`). Rust's allocator glue is inlined into
//! the allocating function; heapdiff must trim the glue and keep that function.
//! Skipped with a note when `rustc` or `libjemalloc.so.2` is missing.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

const LIBJEMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

/// Build the program and take its final profile; `None` (with a note) when it cannot run here.
fn profile() -> Option<PathBuf> {
    if !Path::new(LIBJEMALLOC).exists() {
        eprintln!("note: {LIBJEMALLOC} missing (apt-get install -y libjemalloc2): skipped");
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("jemalloc-rust");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/jemalloc/rust_leak.rs");
    let bin = dir.join("rust_leak");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc)
        .args(["-g", "-C", "opt-level=1", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
    else {
        eprintln!("note: rustc not found: skipped");
        return None;
    };
    assert!(
        out.status.success(),
        "rustc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = dir.join("rl");
    let status = std::process::Command::new(&bin)
        .env("LD_PRELOAD", LIBJEMALLOC)
        .env(
            "MALLOC_CONF",
            format!(
                "prof:true,lg_prof_sample:0,prof_final:true,prof_prefix:{}",
                prefix.display()
            ),
        )
        .status()
        .unwrap();
    assert!(status.success());
    let dump = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".f.heap"))
        .expect("jemalloc wrote no final profile (prof_final)");
    Some(dump)
}

fn is_glue(name: &str) -> bool {
    name.starts_with("alloc::alloc::")
        || name.starts_with("<alloc::alloc::Global")
        || name.contains("__rust_alloc")
        || name.contains("__rdl_alloc")
        || name == "malloc"
}

#[test]
fn rust_allocator_glue_is_trimmed_and_the_allocating_function_kept() {
    let Some(dump) = profile() else { return };
    let out = Command::cargo_bin("heapdiff")
        .unwrap()
        .args(["--format", "json", "--quiet"])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 3000 live `Box<[u8; 1000]>`, each in jemalloc's 1024-byte size class; every allocation
    // recorded (lg_prof_sample:0), so the numbers are exact.
    let top = &r["stacks"][0];
    assert_eq!(top["bytes_after"], 3000 * 1024, "{top}");
    assert_eq!(top["objects_after"], 3000, "{top}");
    let frames: Vec<&str> = top["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(frames.iter().all(|f| !is_glue(f)), "{frames:?}");
    let at = frames
        .iter()
        .position(|f| *f == "rust_leak::make_record")
        .unwrap_or_else(|| panic!("make_record not in {frames:?}"));
    // Only `Box::new`'s own frames (`box_new_uninit`, `Box<T>::new`) may stand before it.
    assert!(at <= 2, "{frames:?}");
    assert!(frames[..at].iter().all(|f| f.starts_with("alloc::boxed::")));
    assert_eq!(
        frames.get(at + 1),
        Some(&"rust_leak::fill_cache"),
        "{frames:?}"
    );
    let functions = r["functions"].as_array().unwrap();
    assert!(
        functions
            .iter()
            .all(|f| !is_glue(f["name"].as_str().unwrap())),
        "glue in the function table"
    );
    let make_record = functions
        .iter()
        .find(|f| f["name"] == "rust_leak::make_record")
        .unwrap();
    assert_eq!(make_record["cum_delta"], 3000 * 1024);
}
