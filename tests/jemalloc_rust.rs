//! Allocator frames of a Rust program: a real profile of `fixtures/jemalloc/rust_leak.rs`,
//! built with the toolchain that runs the tests and run under Debian's libjemalloc2
//! (preloaded: Rust's System allocator calls `malloc`). Rust's allocator glue is inlined into
//! the allocating function; heapdiff must trim the glue and keep that function.
//! The same profile pins two rules of the per-function table: one row per function whichever
//! symbol mangling named it, and cumulative bytes that count each stack once per function.
//! Skipped with a note when `rustc` or `libjemalloc.so.2` is missing.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const LIBJEMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

/// The program's final profile, built and taken once for all tests of this file; `None`
/// (with a note) when it cannot run here.
fn profile() -> Option<PathBuf> {
    static DUMP: OnceLock<Option<PathBuf>> = OnceLock::new();
    DUMP.get_or_init(take_profile).clone()
}

/// Whether stack row `s` of a report has a frame named `name`.
fn has_frame(s: &Value, name: &str) -> bool {
    s["frames"].as_array().unwrap().iter().any(|f| f == name)
}

/// heapdiff's JSON report of the program's final profile on its own.
fn report() -> Option<Value> {
    let dump = profile()?;
    Some(common::json_report(&[dump], &[0]))
}

/// Build the program and take its final profile.
fn take_profile() -> Option<PathBuf> {
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
    let Some(r) = report() else { return };
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

/// A name with what differs between Rust's two symbol manglings taken out: generic arguments
/// and `<…>` qualifications dropped (as jeprof shortens names), closures unnumbered.
fn spelling_free(name: &str) -> String {
    // v0's `<Type>::method` is legacy's `Type::method`.
    let unwrapped;
    let mut name = name;
    if let Some(rest) = name.strip_prefix('<') {
        let mut depth = 1;
        let close = rest.char_indices().find(|&(_, c)| {
            depth += match c {
                '<' => 1,
                '>' => -1,
                _ => 0,
            };
            depth == 0
        });
        if let Some((i, _)) = close {
            if !rest[..i].contains(" as ") {
                unwrapped = format!("{}{}", &rest[..i], &rest[i + 1..]);
                name = &unwrapped;
            }
        }
    }
    let mut out = String::new();
    let mut depth = 0;
    let b = name.as_bytes();
    for (i, c) in name.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if i > 0 && b[i - 1] != b'-' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let mut s = out.replace("::::", "::");
    while let Some(p) = s.find("{closure#") {
        let end = s[p..].find('}').map_or(s.len(), |e| p + e + 1);
        s.replace_range(p..end, "{{closure}}");
    }
    s.trim_start_matches("::").to_string()
}

/// Regression (issue 19): this crate's `BTreeMap::insert` has a legacy-mangled name
/// (`alloc::collections::btree::map::BTreeMap<K,V,A>::insert`), the standard library's copy a
/// v0 one (`<alloc::collections::btree::map::BTreeMap<usize, …ThreadInfo>>::insert`); they
/// were two rows. One function is one row, whichever mangling (or DWARF or the symbol table)
/// named it.
#[test]
fn one_row_per_function_whichever_mangling_named_it() {
    let Some(r) = report() else { return };
    let functions = r["functions"].as_array().unwrap();
    let mut spellings: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for f in functions {
        let name = f["name"].as_str().unwrap();
        spellings.entry(spelling_free(name)).or_default().push(name);
    }
    let split: Vec<_> = spellings.values().filter(|v| v.len() > 1).collect();
    assert!(
        split.is_empty(),
        "functions under several spellings: {split:?}"
    );
    let inserts: Vec<&Value> = functions
        .iter()
        .filter(|f| {
            spelling_free(f["name"].as_str().unwrap())
                == "alloc::collections::btree::map::BTreeMap::insert"
        })
        .collect();
    assert_eq!(inserts.len(), 1, "{inserts:?}");
    // Both copies' stacks: the program's map and the standard library's own.
    let stacks = r["stacks"].as_array().unwrap();
    let through_insert: Vec<&Value> = stacks
        .iter()
        .filter(|s| has_frame(s, inserts[0]["name"].as_str().unwrap()))
        .collect();
    assert!(
        through_insert
            .iter()
            .any(|s| has_frame(s, "rust_leak::main"))
            && through_insert.iter().any(|s| has_frame(s, "std::rt::init")),
        "{through_insert:?}"
    );
    let sum: i64 = through_insert
        .iter()
        .map(|s| s["bytes_delta"].as_i64().unwrap())
        .sum();
    assert_eq!(inserts[0]["cum_delta"].as_i64().unwrap(), sum);
}

/// Cumulative bytes count a stack once per function, however often the function appears in
/// it (here `nest` recurses: four frames), as jeprof counts each of its rows once per stack.
/// Counting frames instead would make `nest` four times its bytes.
#[test]
fn cum_counts_each_stack_once_per_function() {
    let Some(r) = report() else { return };
    let stacks = r["stacks"].as_array().unwrap();
    let nested: Vec<&Value> = stacks
        .iter()
        .filter(|s| has_frame(s, "rust_leak::nest"))
        .collect();
    assert_eq!(nested.len(), 1, "{nested:?}");
    let frames = nested[0]["frames"].as_array().unwrap();
    assert_eq!(
        frames.iter().filter(|f| *f == "rust_leak::nest").count(),
        4,
        "{frames:?}"
    );
    // 64 × vec![0; 5000], each in jemalloc's 5120-byte size class.
    assert_eq!(nested[0]["bytes_delta"], 64 * 5120);
    let nest = r["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "rust_leak::nest")
        .unwrap();
    assert_eq!(nest["cum_delta"], 64 * 5120);
    assert_eq!(nest["flat_delta"], 0);
}
