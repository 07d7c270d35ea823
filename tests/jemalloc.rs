//! jemalloc heap profiles, end to end: the parser on committed dumps and on synthetic text
//! (both layouts, every kind of bad input), un-sampling against hand-computed numbers, diffs
//! of the committed dumps by address, and — when `cc` and `libjemalloc-dev` are installed —
//! the fixture program built and run here, symbolized, diffed, and compared with `jeprof`.
//!
//! The numbers the fixture program allocates are in `fixtures/jemalloc/README.md`.

use heapdiff::error::ParseError;
use heapdiff::input::jemalloc::{parse, Format, Profile, Sampling};
use heapdiff::jemalloc_diff::{diff_profiles, FunctionDelta, JemallocDiff};
use heapdiff::symbolize::SymbolizeOptions;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/jemalloc");

/// Leak A: 4096 × malloc(100) → 112-byte size class, in `make_entry` (inlined into
/// `remember_request`).
const LEAK_A_BYTES: i64 = 4096 * 112;
const LEAK_A_OBJECTS: i64 = 4096;
/// Leak B: 45 × calloc(1, 10000) → 10240-byte size class, in `alloc_buffer`.
const LEAK_B_BYTES: i64 = 45 * 10240;
const LEAK_B_OBJECTS: i64 = 45;
/// glibc's TLS block for the worker thread (`_dl_allocate_tls`), kept with the cached stack.
const THREAD_TLS_BYTES: i64 = 320;
/// The sampled run's scale (`make.sh`, `SAMPLED_SCALE`).
const SAMPLED_SCALE: i64 = 1000;
/// How far a default-sampling (2^19) estimate may be from the truth.
const SAMPLED_TOLERANCE: f64 = 0.15;
/// How far our per-function flat deltas may be from jeprof's on the same unsampled pair.
const JEPROF_TOLERANCE: f64 = 0.01;

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn committed(name: &str) -> Profile {
    parse(&read(Path::new(FIXTURES).join(name))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn function<'a>(d: &'a JemallocDiff, name: &str) -> &'a FunctionDelta {
    d.functions
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no function {name} in {:#?}", d.functions))
}

fn within(got: i64, want: i64, tolerance: f64) -> bool {
    (got - want).unsigned_abs() as f64 <= tolerance * want.unsigned_abs() as f64
}

// ---------------------------------------------------------------------------------------
// Committed dumps: run everywhere, no compiler or jemalloc needed.

#[test]
fn committed_dumps_parse() {
    for name in [
        "exact.before.heap",
        "exact.after.heap",
        "proc2.before.heap",
        "proc2.after.heap",
        "sampled.before.heap",
        "sampled.after.heap",
    ] {
        let p = committed(name);
        assert_eq!(p.format, Format::HeapV2, "{name}");
        assert!(p.stack_count() >= 1, "{name}");
        let maps = p.mappings.as_ref().expect("MAPPED_LIBRARIES");
        assert!(maps.iter().any(|m| m.path.ends_with("/leak")), "{name}");
        assert!(
            maps.iter().any(|m| m.path.contains("libjemalloc")),
            "{name}"
        );
        assert!(
            p.threads
                .iter()
                .any(|t| t.name.as_deref() == Some("main thread")),
            "{name}"
        );
    }
    let after = committed("exact.after.heap");
    assert_eq!(after.sampling, Sampling::Unsampled);
    assert!(after
        .threads
        .iter()
        .any(|t| t.name.as_deref() == Some("session worker 1")));
    // Unsampled: the header is the sum of the stacks.
    let sum: u64 = after.stacks().map(|s| s.counts.curbytes).sum();
    assert_eq!(sum, after.header.curbytes);
    let sampled = committed("sampled.after.heap");
    assert_eq!(sampled.sampling, Sampling::Poisson { period: 1 << 19 });
}

/// The two leak stacks, by address (`leak+0x…` names), are exactly what the program leaked,
/// and no allocator frame is left at the top of any stack.
#[test]
fn committed_exact_diff_by_address() {
    let d = diff_profiles(
        &committed("exact.before.heap"),
        &committed("exact.after.heap"),
        SymbolizeOptions::addresses_only(),
    );
    assert_eq!(d.sample_period, [0, 0]);
    assert_eq!(
        d.totals.bytes_delta,
        LEAK_A_BYTES + LEAK_B_BYTES + THREAD_TLS_BYTES
    );
    let deltas: Vec<(i64, i64)> = d
        .stacks
        .iter()
        .map(|s| (s.bytes_delta, s.objects_delta))
        .collect();
    assert_eq!(
        deltas,
        [
            (LEAK_B_BYTES, LEAK_B_OBJECTS),
            (LEAK_A_BYTES, LEAK_A_OBJECTS),
            (THREAD_TLS_BYTES, 1)
        ]
    );
    for s in &d.stacks[..2] {
        assert!(s.frames[0].starts_with("leak+0x"), "{:?}", s.frames);
        assert_eq!(s.bytes_before, 0);
    }
    for s in &d.stacks {
        assert!(
            !s.frames.iter().any(|f| f.contains("libjemalloc")),
            "{:?}",
            s.frames
        );
    }
    // Flat of the innermost frames equals their stacks; the baseline (present in both) is gone.
    assert_eq!(
        function(&d, &d.stacks[1].frames[0]).flat_delta,
        LEAK_A_BYTES
    );
    assert_eq!(
        d.functions.iter().map(|f| f.flat_delta).sum::<i64>(),
        d.totals.bytes_delta
    );
}

/// Before from one process, after from another (different ASLR bases): the same answer as
/// one process, because stacks are matched by module and offset, not raw address.
#[test]
fn committed_cross_process_diff_equals_same_process() {
    let opts = SymbolizeOptions::addresses_only;
    let same = diff_profiles(
        &committed("exact.before.heap"),
        &committed("exact.after.heap"),
        opts(),
    );
    let cross = diff_profiles(
        &committed("exact.before.heap"),
        &committed("proc2.after.heap"),
        opts(),
    );
    let p1 = committed("exact.after.heap")
        .stack(0)
        .expect("a stack")
        .addrs[0];
    let p2 = committed("proc2.after.heap")
        .stack(0)
        .expect("a stack")
        .addrs[0];
    assert_ne!(
        p1, p2,
        "the two processes should have different address layouts"
    );
    assert_eq!(cross.stacks, same.stacks);
    assert_eq!(cross.functions, same.functions);
    assert_eq!(cross.totals.bytes_delta, same.totals.bytes_delta);
}

/// jeprof on the same committed pair (recorded by make.sh): the same total; and on the
/// cross-process pair, the rows jeprof gets wrong.
#[test]
fn committed_jeprof_reports() {
    let same = jeprof_rows(&String::from_utf8_lossy(&read(
        Path::new(FIXTURES).join("jeprof-exact.txt"),
    )));
    let total: i64 = same.iter().map(|r| r.1).sum();
    assert_eq!(total, LEAK_A_BYTES + LEAK_B_BYTES + THREAD_TLS_BYTES);
    let cross = jeprof_rows(&String::from_utf8_lossy(&read(
        Path::new(FIXTURES).join("jeprof-cross.txt"),
    )));
    // jeprof keys on raw addresses: the baseline (live in both processes) shows as growth.
    let load_config = cross
        .iter()
        .find(|r| r.0 == "load_config")
        .expect("jeprof row");
    assert_eq!(load_config.1, 51200);
    assert!(
        cross.iter().any(|r| r.2 < 0),
        "jeprof reports negative cum rows across processes"
    );
}

#[test]
fn committed_sampled_within_tolerance() {
    let d = diff_profiles(
        &committed("sampled.before.heap"),
        &committed("sampled.after.heap"),
        SymbolizeOptions::addresses_only(),
    );
    assert_eq!(d.sample_period, [1 << 19, 1 << 19]);
    let (a, b) = (&d.stacks[0], &d.stacks[1]);
    let mut got = [a.bytes_delta, b.bytes_delta];
    got.sort();
    let mut want = [LEAK_A_BYTES * SAMPLED_SCALE, LEAK_B_BYTES * SAMPLED_SCALE];
    want.sort();
    for (g, w) in got.into_iter().zip(want) {
        assert!(within(g, w, SAMPLED_TOLERANCE), "estimate {g} vs true {w}");
    }
}

// ---------------------------------------------------------------------------------------
// Synthetic text.

const MAPS: &str = "MAPPED_LIBRARIES:\n\
    00400000-00401000 r--p 00000000 fe:00 42 /nonexistent/prog\n\
    00401000-00402000 r-xp 00001000 fe:00 42 /nonexistent/prog\n\
    7f0000000000-7f0000100000 r-xp 00009000 fe:00 43 /nonexistent/libjemalloc.so.2\n";

#[test]
fn thread_names_with_spaces_and_stack_counts() {
    let text = format!(
        "heap_v2/524288\n  t*: 3: 336 [0: 0]\n  t0: 2: 224 [0: 0] main thread\n  t7: 1: 112 [0: 0] io worker #2  \n\
         @ 0x7f0000000010 0x401010 0x401020\n  t*: 2: 224 [0: 0]\n  t0: 2: 224 [0: 0]\n\
         @ 0x401030\n  t*: 1: 112 [5: 560]\n  t7: 1: 112 [5: 560]\n\n{MAPS}"
    );
    let p = parse(text.as_bytes()).expect("parses");
    let names: Vec<_> = p
        .threads
        .iter()
        .map(|t| (t.thread, t.name.as_deref()))
        .collect();
    assert_eq!(names, [(0, Some("main thread")), (7, Some("io worker #2"))]);
    assert_eq!(p.stack(1).expect("stack").counts.accumbytes, 560);
    assert_eq!(p.mappings.as_ref().expect("maps").len(), 3);
    // The jemalloc-mapped frame is trimmed; the rest fall back to module+offset.
    let d = diff_profiles(
        &parse(b"heap_v2/1\n t*: 0: 0 [0: 0]\n").expect("empty"),
        &p,
        SymbolizeOptions::default(),
    );
    let frames: Vec<Vec<&str>> = d
        .stacks
        .iter()
        .map(|s| s.frames.iter().map(|f| f.as_str()).collect())
        .collect();
    assert!(
        frames.contains(&vec!["prog+0x100f", "prog+0x101f"]),
        "{frames:?}"
    );
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("/nonexistent/prog: not found")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn legacy_layout() {
    let text = format!(
        "heap profile:   3:   336 [   9:  1008] @ heap_v2/524288\n\
         \x20    2:      224 [     6:      672] @ 0x0000000000401010 0x0000000000401020\n\
         \x20    1:      112 [     3:      336] @ 0x401030\n\n{MAPS}"
    );
    let p = parse(text.as_bytes()).expect("parses");
    assert_eq!(p.format, Format::Legacy);
    assert_eq!(p.sampling, Sampling::Poisson { period: 524288 });
    assert_eq!(p.header.accumbytes, 1008);
    assert_eq!(p.stack_count(), 2);
    assert_eq!(p.stack(0).expect("stack").addrs, &[0x401010, 0x401020]);
    assert!(p.threads.is_empty());
    // gperftools' own maps marker.
    let gp = text.replace("MAPPED_LIBRARIES:", "--- Memory map: ---");
    assert_eq!(parse(gp.as_bytes()).expect("parses").mappings, p.mappings);
}

#[test]
fn missing_mapped_libraries() {
    let text = "heap_v2/1\n  t*: 1: 112 [0: 0]\n@ 0x401010 0x401020\n  t*: 1: 112 [0: 0]\n";
    let p = parse(text.as_bytes()).expect("parses");
    assert_eq!(p.mappings, None);
    let empty = parse(b"heap_v2/1\n  t*: 0: 0 [0: 0]\n").expect("parses");
    let d = diff_profiles(&empty, &p, SymbolizeOptions::default());
    assert_eq!(d.stacks[0].frames, ["0x401010", "0x40101f"]);
    assert!(d.warnings.iter().any(|w| w.contains("no MAPPED_LIBRARIES")));
}

/// Hand-computed un-sampling through the whole pipeline. At P = 2^19:
/// - 3 objects, 336 bytes (112 each): ratio 2.13623e-4, scale 4681.6429 → 14045 objects,
///   1573032 bytes (1573031.998…).
/// - 2 objects of 1 MiB, 2097152 bytes: ratio 2, scale 1.1565176 → 2 objects (2.313),
///   2425393 bytes (2425393.29…).
///
/// The header's totals are nonsense on purpose: they must not be used.
#[test]
fn unsampling_by_hand() {
    let before = parse(b"heap_v2/524288\n  t*: 1: 1 [0: 0]\n").expect("parses");
    let after = format!(
        "heap_v2/524288\n  t*: 99999: 99999 [0: 0]\n\
         @ 0x401010\n  t*: 3: 336 [0: 0]\n\
         @ 0x401020\n  t*: 2: 2097152 [0: 0]\n\n{MAPS}"
    );
    let d = diff_profiles(
        &before,
        &parse(after.as_bytes()).expect("parses"),
        SymbolizeOptions::addresses_only(),
    );
    let rows: Vec<(i64, i64)> = d
        .stacks
        .iter()
        .map(|s| (s.bytes_delta, s.objects_delta))
        .collect();
    assert_eq!(rows, [(2_425_393, 2), (1_573_032, 14_045)]);
    assert_eq!(d.totals.bytes_after, 2_425_393 + 1_573_032);
    assert_eq!(d.totals.bytes_before, 0);
}

/// Each kind of bad input is a `ParseError` whose offset points at the problem.
macro_rules! bad_input {
    ($name:ident, $text:expr, $offset:expr, $needle:expr) => {
        #[test]
        fn $name() {
            let owned: Vec<u8> = $text.to_vec();
            let e: ParseError = parse(&owned).expect_err("must be rejected");
            assert!(
                e.message.contains($needle),
                "message {:?} lacks {:?}",
                e.message,
                $needle
            );
            assert_eq!(e.offset, Some(($offset) as u64), "{e}");
        }
    };
}

const H: &str = "heap_v2/524288\n  t*: 1: 112 [0: 0]\n"; // 35 bytes

bad_input!(bad_empty, b"", 0, "no header");
bad_input!(
    bad_missing_header,
    b"  t*: 1: 112 [0: 0]\n@ 0x1\n",
    2,
    "expected a `heap_v2/<period>`"
);
bad_input!(
    bad_not_a_profile,
    b"--- heap ---\n",
    0,
    "not a jemalloc heap profile"
);
bad_input!(
    bad_header_t_star_missing,
    b"heap_v2/524288\n",
    15,
    "no `t*:` line"
);
bad_input!(bad_period, b"heap_v2/abc\n", 8, "sampling period");
bad_input!(
    bad_absurd_period,
    b"heap_v2/2000000000000\n",
    8,
    "absurd sampling period"
);
bad_input!(
    bad_truncated_stack_at_eof,
    format!("{H}@ 0x401010 0x401020").as_bytes(),
    H.len(),
    "file ends in the middle of a line (truncated?)"
);
bad_input!(
    bad_truncated_stack_after_last_newline,
    format!("{H}@ 0x401010 0x401020\n").as_bytes(),
    H.len() + 20,
    "truncated stack"
);
bad_input!(
    bad_truncated_stack_before_next,
    format!("{H}@ 0x401010\n@ 0x401020\n  t*: 1: 112 [0: 0]\n").as_bytes(),
    H.len() + 11,
    "has no `t*:` counts"
);
bad_input!(
    bad_truncated_address,
    format!("{H}@ 0x401010 0x\n").as_bytes(),
    H.len() + 11,
    "no digits"
);
bad_input!(
    bad_non_hex_address,
    format!("{H}@ 0x401010 0x40zz10\n  t*: 1: 1 [0: 0]\n").as_bytes(),
    H.len() + 11,
    "non-hex address `0x40zz10`"
);
bad_input!(
    bad_long_address,
    format!("{H}@ 0x12345678901234567\n").as_bytes(),
    H.len() + 2,
    "does not fit 64 bits"
);
bad_input!(
    bad_count_not_a_number,
    format!("{H}@ 0x1\n  t*: x: 112 [0: 0]\n").as_bytes(),
    H.len() + 12,
    "object count"
);
bad_input!(
    bad_count_missing_colon,
    format!("{H}@ 0x1\n  t*: 1 112 [0: 0]\n").as_bytes(),
    H.len() + 14,
    "expected `:`"
);
bad_input!(
    bad_count_overflow,
    format!("{H}@ 0x1\n  t*: 1: 99999999999999999999 [0: 0]\n").as_bytes(),
    H.len() + 15,
    "does not fit 64 bits"
);
bad_input!(
    bad_count_absurd,
    format!("{H}@ 0x1\n  t*: 1: 9999999999999999999 [0: 0]\n").as_bytes(),
    H.len() + 15,
    "absurd byte count"
);
bad_input!(
    bad_missing_bracket,
    format!("{H}@ 0x1\n  t*: 1: 112 0: 0]\n").as_bytes(),
    H.len() + 19,
    "expected `[`"
);
bad_input!(
    bad_thread_line_before_total,
    format!("{H}@ 0x1\n  t0: 1: 112 [0: 0]\n").as_bytes(),
    H.len() + 8,
    "before the stack's `t*:` line"
);
bad_input!(
    bad_second_total,
    format!("{H}@ 0x1\n  t*: 1: 112 [0: 0]\n  t*: 1: 112 [0: 0]\n").as_bytes(),
    H.len() + 28,
    "second `t*:` line"
);
bad_input!(
    bad_trailing_text,
    format!("{H}@ 0x1\n  t*: 1: 112 [0: 0] junk\n").as_bytes(),
    H.len() + 26,
    "unexpected `junk`"
);
bad_input!(
    bad_unknown_line,
    format!("{H}hello\n").as_bytes(),
    H.len(),
    "unexpected line"
);
bad_input!(
    bad_too_deep,
    format!("{H}@{}\n", " 0x1".repeat(1025)).as_bytes(),
    H.len() + 1 + 4 * 1024 + 1,
    "more than 1024 addresses"
);
bad_input!(
    bad_maps_line,
    format!(
        "{H}@ 0x1\n  t*: 1: 112 [0: 0]\n\nMAPPED_LIBRARIES:\n00400000-0040g000 r-xp 0 fe:00 1 /x\n"
    )
    .as_bytes(),
    H.len() + 6 + 20 + 1 + 18 + 9,
    "end address"
);
bad_input!(
    bad_legacy_no_at,
    b"heap profile: 1: 112 [0: 0] @ heap_v2/524288\n1: 112 [0: 0] 0x1\n",
    45 + 14,
    "expected `@`"
);
bad_input!(
    bad_legacy_header_counts,
    b"heap profile: 1: [0: 0] @ heap_v2/524288\n",
    17,
    "byte count"
);

// ---------------------------------------------------------------------------------------
// Built here: the fixture program compiled and run under libjemalloc2. Skipped (with a note)
// when `cc` or the jemalloc headers are missing.

/// The folder `make.sh` filled (binary, dumps, jeprof output), built once per test run.
fn built() -> Option<&'static Path> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let has_cc = Command::new("cc")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            if !has_cc || !Path::new("/usr/include/jemalloc/jemalloc.h").exists() {
                eprintln!(
                    "note: skipping the jemalloc end-to-end tests: they need cc and \
                     libjemalloc-dev (apt-get install -y libjemalloc2 libjemalloc-dev)"
                );
                return None;
            }
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("jemalloc-fixture");
            let _ = std::fs::remove_dir_all(&dir);
            let out = Command::new("bash")
                .arg(Path::new(FIXTURES).join("make.sh"))
                .arg(&dir)
                .env("SAMPLED_SCALE", SAMPLED_SCALE.to_string())
                .output()
                .expect("run make.sh");
            assert!(
                out.status.success(),
                "make.sh failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(dir)
        })
        .as_deref()
}

fn dump(dir: &Path, name: &str) -> Profile {
    parse(&read(dir.join(name))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The line of `leak.c` holding `needle`.
fn source_line(needle: &str) -> u32 {
    let src = String::from_utf8_lossy(&read(Path::new(FIXTURES).join("leak.c"))).into_owned();
    let i = src
        .lines()
        .position(|l| l.contains(needle))
        .expect("line in leak.c");
    i as u32 + 1
}

const ALLOCATOR_NAMES: &[&str] = &["malloc", "calloc", "je_", "prof_", "imalloc", "(allocator)"];

fn assert_exact(d: &JemallocDiff) {
    let a = function(d, "make_entry");
    assert_eq!((a.flat_delta, a.cum_delta), (LEAK_A_BYTES, LEAK_A_BYTES));
    assert!(
        a.file.as_deref().is_some_and(|f| f.ends_with("leak.c")),
        "{a:?}"
    );
    assert_eq!(a.line, Some(source_line("malloc(sizeof(struct entry))")));
    let b = function(d, "alloc_buffer");
    assert_eq!((b.flat_delta, b.cum_delta), (LEAK_B_BYTES, LEAK_B_BYTES));
    assert_eq!(b.line, Some(source_line("calloc(1, LEAK_B_SIZE)")));
    assert_eq!(function(d, "remember_request").cum_delta, LEAK_A_BYTES);
    assert_eq!(function(d, "remember_request").flat_delta, 0);
    assert_eq!(function(d, "worker_main").cum_delta, LEAK_B_BYTES);
    assert_eq!(
        function(d, "main").cum_delta,
        LEAK_A_BYTES + THREAD_TLS_BYTES
    );
    let leak_a = d
        .stacks
        .iter()
        .find(|s| s.frames[0] == "make_entry")
        .expect("stack A");
    assert_eq!(
        leak_a.frames[..4],
        ["make_entry", "remember_request", "handle_request", "main"]
    );
    assert_eq!(leak_a.objects_delta, LEAK_A_OBJECTS);
    let leak_b = d
        .stacks
        .iter()
        .find(|s| s.frames[0] == "alloc_buffer")
        .expect("stack B");
    assert_eq!(
        leak_b.frames[..3],
        ["alloc_buffer", "open_session", "worker_main"]
    );
    assert_eq!(leak_b.objects_delta, LEAK_B_OBJECTS);
    for s in &d.stacks {
        for f in &s.frames {
            assert!(
                !ALLOCATOR_NAMES
                    .iter()
                    .any(|n| f == n || (n.ends_with('_') && f.starts_with(n))),
                "allocator frame {f} left in {:?}",
                s.frames
            );
        }
    }
    assert!(
        !d.functions.iter().any(|f| f.name == "load_config"),
        "the baseline did not change"
    );
    assert!(
        !d.functions.iter().any(|f| f.name == "scratch_work"),
        "the churn is all freed"
    );
}

#[test]
fn built_same_process_exact() {
    let Some(dir) = built() else { return };
    let d = diff_profiles(
        &dump(dir, "exact.before.heap"),
        &dump(dir, "exact.after.heap"),
        SymbolizeOptions::default(),
    );
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    assert_exact(&d);
}

#[test]
fn built_two_processes() {
    let Some(dir) = built() else { return };
    let opts = SymbolizeOptions::default;
    let same = diff_profiles(
        &dump(dir, "exact.before.heap"),
        &dump(dir, "exact.after.heap"),
        opts(),
    );
    let cross = diff_profiles(
        &dump(dir, "exact.before.heap"),
        &dump(dir, "proc2.after.heap"),
        opts(),
    );
    assert_exact(&cross);
    assert_eq!(cross.stacks, same.stacks);
    assert_eq!(cross.functions, same.functions);
    // And the other way round: process 2's before against process 1's after.
    let back = diff_profiles(
        &dump(dir, "proc2.before.heap"),
        &dump(dir, "exact.after.heap"),
        opts(),
    );
    assert_eq!(back.functions, same.functions);
}

#[test]
fn built_default_sampling_within_tolerance() {
    let Some(dir) = built() else { return };
    let d = diff_profiles(
        &dump(dir, "sampled.before.heap"),
        &dump(dir, "sampled.after.heap"),
        SymbolizeOptions::default(),
    );
    for (name, truth) in [("make_entry", LEAK_A_BYTES), ("alloc_buffer", LEAK_B_BYTES)] {
        let got = function(&d, name).flat_delta;
        let want = truth * SAMPLED_SCALE;
        assert!(
            within(got, want, SAMPLED_TOLERANCE),
            "{name}: estimate {got} vs true {want}"
        );
    }
}

/// Rows of `jeprof --text --show_bytes`: (name without " (inline)", flat, cum).
fn jeprof_rows(text: &str) -> Vec<(String, i64, i64)> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 6 || !w[1].ends_with('%') {
            continue;
        }
        let (Ok(flat), Ok(cum)) = (w[0].parse::<i64>(), w[3].parse::<i64>()) else {
            continue;
        };
        let name = w[5..].join(" ");
        let name = name.strip_suffix(" (inline)").unwrap_or(&name).to_string();
        rows.push((name, flat, cum));
    }
    rows
}

/// `jeprof --text --base` on the same unsampled pair: every function's flat delta within 1%
/// (functions jeprof names by an alias — `__GI_*` — must be tiny), and the same total.
#[test]
fn built_matches_jeprof() {
    let Some(dir) = built() else { return };
    let Ok(text) = std::fs::read_to_string(dir.join("jeprof-exact.txt")) else {
        eprintln!("note: jeprof is not installed; skipping the comparison");
        return;
    };
    let d = diff_profiles(
        &dump(dir, "exact.before.heap"),
        &dump(dir, "exact.after.heap"),
        SymbolizeOptions::default(),
    );
    let rows = jeprof_rows(&text);
    assert!(rows.len() >= 5, "jeprof output:\n{text}");
    let total: i64 = rows.iter().map(|r| r.1).sum();
    assert!(within(d.totals.bytes_delta, total, JEPROF_TOLERANCE));
    for (name, flat, cum) in &rows {
        match d.functions.iter().find(|f| &f.name == name) {
            Some(f) => {
                assert!(
                    within(f.flat_delta, *flat, JEPROF_TOLERANCE),
                    "{name}: flat {} vs jeprof {flat}",
                    f.flat_delta
                );
                assert!(
                    within(f.cum_delta, *cum, JEPROF_TOLERANCE),
                    "{name}: cum {} vs jeprof {cum}",
                    f.cum_delta
                );
            }
            None => assert!(
                flat.abs() as f64 <= JEPROF_TOLERANCE * total as f64,
                "jeprof's {name} ({flat}) missing from ours: {:#?}",
                d.functions
            ),
        }
    }
}

/// A copy of `dump` whose mappings of `from` point at `to` instead; with `inode` the mapping
/// lines also take that inode (as if the dump had been taken of `to`).
fn retarget(dump: &[u8], from: &Path, to: &Path, inode: Option<u64>) -> Vec<u8> {
    let text = String::from_utf8_lossy(dump);
    let from = from.to_string_lossy();
    let mut out = String::new();
    for line in text.lines() {
        if line.ends_with(&*from) && line.contains("-") {
            let w: Vec<&str> = line.split_whitespace().collect();
            let ino = inode.map_or(w[4].to_string(), |i| i.to_string());
            out += &format!(
                "{} {} {} {} {} {}\n",
                w[0],
                w[1],
                w[2],
                w[3],
                ino,
                to.display()
            );
        } else {
            out += line;
            out.push('\n');
        }
    }
    out.into_bytes()
}

fn inode(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).expect("stat").ino()
}

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

fn run(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

/// The exact pair with the binary's mappings pointed at `bin` (inode updated when `same_inode`).
fn pair_at(dir: &Path, bin: &Path, same_inode: bool) -> (Profile, Profile) {
    let ino = same_inode.then(|| inode(bin));
    let orig = dir.join("leak");
    let p = |n: &str| parse(&retarget(&read(dir.join(n)), &orig, bin, ino)).expect("parses");
    (p("exact.before.heap"), p("exact.after.heap"))
}

#[test]
fn built_moved_binary_found_through_search_dirs() {
    let Some(dir) = built() else { return };
    let s = scratch("jemalloc-moved");
    std::fs::copy(dir.join("leak"), s.join("leak")).expect("copy");
    let gone = Path::new("/nonexistent/heapdiff/leak");
    let (b, a) = pair_at(dir, gone, false);

    let d = diff_profiles(&b, &a, SymbolizeOptions::default());
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("/nonexistent/heapdiff/leak: not found")),
        "{:?}",
        d.warnings
    );
    assert!(d.stacks.iter().any(|s| s.frames[0].starts_with("leak+0x")));
    assert_eq!(
        d.totals.bytes_delta,
        LEAK_A_BYTES + LEAK_B_BYTES + THREAD_TLS_BYTES
    );

    let opts = SymbolizeOptions {
        search_dirs: vec![s.clone()],
        ..SymbolizeOptions::default()
    };
    let d = diff_profiles(&b, &a, opts);
    assert_exact(&d);
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("using") && w.contains("jemalloc-moved")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn built_changed_binary_falls_back() {
    let Some(dir) = built() else { return };
    let s = scratch("jemalloc-changed");
    // Same bytes, new inode: changed as far as the dump can tell.
    let bin = s.join("leak");
    std::fs::copy(dir.join("leak"), &bin).expect("copy");
    let (b, a) = pair_at(dir, &bin, false);
    let d = diff_profiles(&b, &a, SymbolizeOptions::default());
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("changed since the dump (inode")),
        "{:?}",
        d.warnings
    );
    assert!(d.stacks.iter().any(|s| s.frames[0].starts_with("leak+0x")));

    // A different build of the same name in the search dirs does not match the layout.
    let other = scratch("jemalloc-other-build");
    let built_other = run(Command::new("cc")
        .args(["-g", "-O0", "-Wl,-z,noseparate-code", "-o"])
        .arg(other.join("leak"))
        .arg(Path::new(FIXTURES).join("leak.c"))
        .args(["-ljemalloc", "-lpthread"]));
    assert!(built_other);
    let opts = SymbolizeOptions {
        search_dirs: vec![other.clone()],
        ..SymbolizeOptions::default()
    };
    let d = diff_profiles(&b, &a, opts);
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("does not match the dump's load layout")),
        "{:?}",
        d.warnings
    );
    assert!(!d.functions.iter().any(|f| f.name == "make_entry"));
}

/// Stripped binaries: DWARF from a `.gnu_debuglink` file next to the binary, from a build-id
/// tree, or from an unstripped copy (same build id) in the search dirs.
#[test]
fn built_debug_files() {
    let Some(dir) = built() else { return };
    let has_binutils = run(Command::new("objcopy").arg("--version"))
        && run(Command::new("strip").arg("--version"));
    if !has_binutils {
        eprintln!("note: objcopy/strip not installed; skipping the debug-file test");
        return;
    }
    let orig = dir.join("leak");

    // 1. Debug link.
    let s = scratch("jemalloc-debuglink");
    assert!(run(Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&orig)
        .arg(s.join("leak.debug"))));
    assert!(run(Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(s.join("leak"))
        .arg(&orig)));
    assert!(run(Command::new("objcopy")
        .current_dir(&s)
        .args(["--add-gnu-debuglink=leak.debug", "leak"])));
    let (b, a) = pair_at(dir, &s.join("leak"), true);
    let d = diff_profiles(&b, &a, SymbolizeOptions::default());
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    assert_exact(&d);

    // 2. Build id under a debug dir (no debug link).
    let s = scratch("jemalloc-buildid");
    assert!(run(Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(s.join("leak"))
        .arg(&orig)));
    let id = build_id_hex(&orig);
    let debug = s.join("debug/.build-id").join(&id[..2]);
    std::fs::create_dir_all(&debug).expect("mkdir");
    assert!(run(Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&orig)
        .arg(debug.join(format!("{}.debug", &id[2..])))));
    let (b, a) = pair_at(dir, &s.join("leak"), true);
    let stripped = diff_profiles(&b, &a, SymbolizeOptions::default());
    assert!(
        !stripped.functions.iter().any(|f| f.name == "make_entry"),
        "no symbols without the debug file"
    );
    assert!(
        stripped
            .warnings
            .iter()
            .any(|w| w.contains("stripped and no debug file found")),
        "{:?}",
        stripped.warnings
    );
    let opts = SymbolizeOptions {
        debug_dirs: vec![s.join("debug")],
        ..SymbolizeOptions::default()
    };
    assert_exact(&diff_profiles(&b, &a, opts));

    // 3. An unstripped copy with the same build id in the search dirs.
    let copies = scratch("jemalloc-unstripped");
    std::fs::copy(&orig, copies.join("leak")).expect("copy");
    let opts = SymbolizeOptions {
        search_dirs: vec![copies],
        ..SymbolizeOptions::default()
    };
    let d = diff_profiles(&b, &a, opts);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    assert_exact(&d);
}

fn build_id_hex(bin: &Path) -> String {
    let out = Command::new("readelf")
        .arg("-n")
        .arg(bin)
        .output()
        .expect("readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Build ID:"))
        .expect("a build id");
    line.split_whitespace().last().expect("hex").to_string()
}
