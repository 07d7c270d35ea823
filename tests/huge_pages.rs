//! `HEAPDIFF_HUGE_PAGES` as the binary takes it, and the page choice at the end of
//! `--timings` (src/arena.rs has the rule; its unit tests check the wording of every case).

use assert_cmd::Command;
#[cfg(feature = "arena")]
use heapdiff::arena::{page_bytes, thp, ThpMode, HUGE_LIMIT};

const FIXTURE: &str = "fixtures/v8/service/s1.heapsnapshot.gz";

/// The last `--timings` line of a summary of the service fixture, with `value` in
/// `HEAPDIFF_HUGE_PAGES`.
fn total_line(value: &str) -> String {
    let out = Command::cargo_bin("heapdiff")
        .unwrap()
        .env("HEAPDIFF_HUGE_PAGES", value)
        .args(["--timings", "--top", "1", FIXTURE])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("total "), "{stderr}");
    last
}

/// `4 KiB`, `2 MiB`: as `--timings` names a page size.
#[cfg(feature = "arena")]
fn name(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// Whether this system has huge pages the region may use.
#[cfg(feature = "arena")]
fn huge_pages_here() -> bool {
    let t = thp();
    matches!(t.mode, ThpMode::Always | ThpMode::Madvise) && t.huge_bytes <= HUGE_LIMIT
}

#[test]
fn an_unknown_setting_is_a_usage_error() {
    let out = Command::cargo_bin("heapdiff")
        .unwrap()
        .env("HEAPDIFF_HUGE_PAGES", "sometimes")
        .arg(FIXTURE)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "heapdiff: error: HEAPDIFF_HUGE_PAGES=sometimes: expected auto, always or never\n"
    );
}

#[test]
#[cfg(feature = "arena")]
fn timings_name_the_pages_the_setting_chose() {
    let base = name(page_bytes());
    let huge = name(thp().huge_bytes);
    let never = total_line("never");
    assert!(
        never.ends_with(&format!(", {base} pages (HEAPDIFF_HUGE_PAGES=never)")),
        "{never}"
    );
    let always = total_line("always");
    let auto = total_line("auto");
    if huge_pages_here() {
        assert!(
            always.ends_with(&format!(
                ", {huge} pages (HEAPDIFF_HUGE_PAGES=always, not probed)"
            )),
            "{always}"
        );
        // Probed: which pages depends on the host's memory at the time, the form does not.
        let probed = format!("pages ({huge} probes: ");
        assert!(auto.contains(&probed) && auto.ends_with(" ms)"), "{auto}");
    } else {
        // No setting gives huge pages the kernel does not have.
        assert!(always.contains(&format!(", {base} pages (")), "{always}");
        assert!(auto.contains(&format!(", {base} pages (")), "{auto}");
    }
}

#[test]
#[cfg(not(feature = "arena"))]
fn timings_name_the_system_allocator() {
    let line = total_line("never");
    assert!(line.ends_with(", system allocator"), "{line}");
}
