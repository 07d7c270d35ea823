//! The binary's global allocator: big blocks come from one reserved region and are reused
//! while they are still resident; everything else is the system allocator.
//!
//! A run builds a few dozen column vectors of 1 to 150 MB, frees some and asks for others
//! (a 9M-node snapshot: 1.3 GB of big blocks asked for over a run whose peak of live big
//! blocks is 0.9 GB; a pair: 2.4 GB over a 1.3 GB peak). Every block the system allocator
//! maps afresh costs a page fault per page and the kernel clearing it, and on a virtual
//! machine whose balloon reports free memory to the host, often the host backing the page
//! first. So blocks of at least [`THRESHOLD`] bytes are cut from one region reserved at the
//! first such request (address space only, `MAP_NORESERVE`), in [`UNIT`]s, best fit over
//! the free holes, which merge with their neighbours. A freed block stays resident for the
//! next request it fits; a zeroed request clears only the units that were used before
//! (untouched ones are the kernel's zero pages).
//!
//! Kept memory never raises the peak: whenever live plus resident free units would exceed
//! the largest live total so far (plus [`KEPT_ABOVE_PEAK`]), free units are returned to the
//! system (`MADV_DONTNEED`), highest addresses first, so peak RSS stays what the program's
//! own live blocks make it. If the region cannot be reserved, is full, or a request needs an
//! alignment above a unit, the block comes from the system allocator.
//!
//! # Page sizes
//!
//! Both come from the system: the base page from `sysconf(_SC_PAGESIZE)`, the huge page
//! from `/sys/kernel/mm/transparent_hugepage/hpage_pmd_size`, or where that file is missing
//! the span one page table maps (base page × base page / 8: 2 MiB for 4 KiB pages, 32 MiB
//! for 16 KiB). The region needs base pages that divide its unit (4, 16 and 64 KiB pages
//! do); where they do not, every block is the system allocator's. Huge pages above
//! [`HUGE_LIMIT`] are not used: a huge page is cleared whole on its first touch, and at
//! 512 MiB (arm64 with 64 KiB pages) one touch would cost more than most columns.
//!
//! # Huge pages or base pages: the probe
//!
//! A huge page costs one fault and one clear where base pages cost one each per page (512
//! times as many faults for 2 MiB over 4 KiB), and fewer TLB misses for the rest of the run.
//! But on a virtual machine whose host takes free memory back (a balloon with free page
//! reporting, as on this project's VMs), the kernel's free huge pages are exactly what gets
//! reported, and the first touch of one the host no longer backs runs into the host backing
//! it base page by base page: measured here 5–8 ms per 2 MiB, against 0.1–0.3 ms when the
//! host still backs it, while base pages, which the kernel takes from small free fragments
//! the host never took, went at 1.4–2.4 GB/s. Neither choice is right on every host, or on
//! one host all day, so the region measures:
//!
//! - **What is probed.** When the region is reserved, its start is advised for huge pages
//!   (`MADV_HUGEPAGE`) and its first huge pages (three of 2 MiB; at most
//!   `FIRST_PROBE_BYTES`, at least one) are each faulted in by a one-byte write, timed.
//!   `mincore` then says whether the kernel really gave a huge page (the last base page of
//!   it is resident too). The probed pages are the region's own, handed out first.
//! - **The rule.** A probe is *quick* when it got a huge page and its fault ran faster than
//!   0.5 GB/s (`COLD_FAULT_PER_MIB`: 4 ms for 2 MiB). A huge page that is there clears at
//!   several GB/s on any machine; one slower than base pages usually go is being backed by
//!   the host as it is cleared. The rule is a rate, so it holds for any huge page size. The
//!   region uses huge pages if most first probes were quick, base pages
//!   (`MADV_NOHUGEPAGE`) otherwise. While on huge pages, the first whole huge page of every later fresh stretch
//!   of the region is probed too (the first free huge pages are often backed when the rest
//!   are not), and two slow probes in a row switch the rest of the region to base pages for
//!   the rest of the run. It never switches back.
//! - **A slow probe** (or one the kernel answered with a base page: no free huge page, and
//!   compaction not allowed by `defrag`) counts against huge pages; nothing else happens:
//!   the probe's page is used as it is.
//! - **Transparent huge pages `never`** (`/sys/kernel/mm/transparent_hugepage/enabled`), or
//!   no such file: nothing is probed or advised; base pages. **`madvise`** (this project's
//!   VMs): the region's `MADV_HUGEPAGE` is what gives it huge pages, and
//!   the rest of the process (glibc's heaps) keeps base pages. **`always`**: the same
//!   decisions, and `MADV_NOHUGEPAGE` is what keeps the region on base pages when they are
//!   chosen.
//! - **Forced.** `HEAPDIFF_HUGE_PAGES=never` keeps the region on base pages without
//!   probing (how a benchmark measures a host that refuses huge pages),
//!   `HEAPDIFF_HUGE_PAGES=always` puts it on huge pages without probing, `auto` (or unset)
//!   probes. The binary rejects any other value as a usage error ([`HugePages::from_env`]).
//! - **Where it shows.** The last line of `--timings` ends with the choice
//!   ([`PageChoice`]): `2 MiB pages (2 MiB probes: 0 slow of 4, slowest 0.3 ms)`,
//!   `4 KiB pages after 412 MiB on 2 MiB (…)` when later probes switched it,
//!   `4 KiB pages (HEAPDIFF_HUGE_PAGES=never)`, `4 KiB pages (transparent huge pages:
//!   never)`.
//!
//! # Without it
//!
//! The cargo feature `arena` (on by default) installs this allocator in the binary and the
//! benches; `--no-default-features` builds them on the system allocator with its own
//! defaults (no pinned glibc mmap threshold either), and `--timings` then says "system
//! allocator". This module is compiled either way: [`prefault_backwards`] serves the graph
//! build, and its tests call the allocator directly.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Blocks of at least this many bytes come from the region.
pub const THRESHOLD: usize = 1 << 20;

/// The region's allocation unit (and the largest alignment it serves).
pub const UNIT: usize = 64 << 10;

/// Address space reserved for the region.
const RESERVE: usize = 256 << 30;

/// Units in the region.
const UNITS: usize = RESERVE / UNIT;

/// Resident free memory allowed above the largest live total so far.
pub const KEPT_ABOVE_PEAK: usize = 32 << 20;

/// [`KEPT_ABOVE_PEAK`] in units.
const SLACK: usize = KEPT_ABOVE_PEAK / UNIT;

/// Free holes tracked at once; a freed block that finds no room is returned to the system
/// and its address range is not used again.
const MAX_HOLES: usize = 1024;

/// The largest huge page the region uses.
pub const HUGE_LIMIT: usize = 32 << 20;

/// The base page size where `sysconf` cannot say.
const FALLBACK_PAGE: usize = 4096;

/// Memory the first probes may touch (three 2 MiB pages; one page of a larger size).
const FIRST_PROBE_BYTES: usize = 6 << 20;

/// A huge page's first touch slower than this per MiB (0.5 GB/s) is one the host had to
/// back first.
const COLD_FAULT_PER_MIB: Duration = Duration::from_micros(2000);

/// Names the setting that forces huge pages on or off.
pub const HUGE_PAGES_VAR: &str = "HEAPDIFF_HUGE_PAGES";

/// The allocator. Install it in a binary with
/// `#[global_allocator] static A: heapdiff::arena::Arena = heapdiff::arena::Arena;`.
pub struct Arena;

/// Start of the region; 0 before it is reserved, 1 if it could not be.
static BASE: AtomicUsize = AtomicUsize::new(0);

/// The system's base page size in bytes.
pub fn page_bytes() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            let page = system_page_bytes();
            PAGE.store(page, Ordering::Relaxed);
            page
        }
        page => page,
    }
}

fn system_page_bytes() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads a system parameter.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page > 0 && (page as usize).is_power_of_two() {
            return page as usize;
        }
    }
    FALLBACK_PAGE
}

/// The kernel's transparent huge pages, as `/sys/kernel/mm/transparent_hugepage` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thp {
    pub mode: ThpMode,
    /// The huge page size in bytes (read, or derived from the base page where unknown).
    pub huge_bytes: usize,
}

/// `transparent_hugepage/enabled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThpMode {
    Always,
    Madvise,
    Never,
    /// No such file (or one this code does not understand): no transparent huge pages.
    Absent,
}

macro_rules! thp_dir {
    () => {
        "/sys/kernel/mm/transparent_hugepage"
    };
}

/// This system's transparent huge pages, read once.
pub fn thp() -> Thp {
    static THP: OnceLock<Thp> = OnceLock::new();
    *THP.get_or_init(|| {
        let page = page_bytes();
        let mut buf = [0u8; 128];
        let mode = read_small(concat!(thp_dir!(), "/enabled"), &mut buf)
            .map_or(ThpMode::Absent, parse_thp_mode);
        let huge_bytes = read_small(concat!(thp_dir!(), "/hpage_pmd_size"), &mut buf)
            .and_then(|s| parse_huge_bytes(s, page))
            .unwrap_or_else(|| page_table_span(page));
        Thp { mode, huge_bytes }
    })
}

/// A small system file's text, read into `buf`.
fn read_small<'a>(path: &str, buf: &'a mut [u8]) -> Option<&'a str> {
    use std::io::Read;
    let n = std::fs::File::open(path).ok()?.read(buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok()
}

/// `always [madvise] never`: the word in brackets is the mode in force.
fn parse_thp_mode(text: &str) -> ThpMode {
    let chosen = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')));
    match chosen {
        Some("always") => ThpMode::Always,
        Some("madvise") => ThpMode::Madvise,
        Some("never") => ThpMode::Never,
        _ => ThpMode::Absent,
    }
}

/// A huge page size in bytes, if `text` is a power of two above the base page.
fn parse_huge_bytes(text: &str, page: usize) -> Option<usize> {
    let bytes: usize = text.trim().parse().ok()?;
    (bytes.is_power_of_two() && bytes > page).then_some(bytes)
}

/// The memory one page table maps (what a PMD-level huge page covers): its `page / 8`
/// entries of one page each.
fn page_table_span(page: usize) -> usize {
    page * (page / 8)
}

/// Huge pages for the region, as `HEAPDIFF_HUGE_PAGES` asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HugePages {
    /// Probe, and decide (the default).
    Auto,
    Always,
    Never,
}

impl HugePages {
    /// The setting in the environment; an error line for a value that is none of `auto`,
    /// `always`, `never`.
    pub fn from_env() -> Result<HugePages, String> {
        HugePages::parse(std::env::var_os(HUGE_PAGES_VAR).as_deref())
    }

    /// The setting for a value of `HEAPDIFF_HUGE_PAGES` (`None`: unset).
    pub fn parse(value: Option<&std::ffi::OsStr>) -> Result<HugePages, String> {
        let Some(value) = value else {
            return Ok(HugePages::Auto);
        };
        match value.to_str() {
            Some("auto") | Some("") => Ok(HugePages::Auto),
            Some("always") => Ok(HugePages::Always),
            Some("never") => Ok(HugePages::Never),
            _ => Err(format!(
                "{HUGE_PAGES_VAR}={}: expected auto, always or never",
                value.to_string_lossy()
            )),
        }
    }
}

impl fmt::Display for HugePages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HugePages::Auto => "auto",
            HugePages::Always => "always",
            HugePages::Never => "never",
        })
    }
}

/// Why the region is on the pages it is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The probes decided.
    Probed,
    /// `HEAPDIFF_HUGE_PAGES` (`always` or `never`).
    Forced(HugePages),
    /// Transparent huge pages are off (`Never`) or absent.
    ThpOff(ThpMode),
    /// The huge page size is above [`HUGE_LIMIT`].
    TooLarge,
    /// The region could not be reserved (or the base page does not divide its unit): every
    /// block is the system allocator's.
    NoRegion,
}

/// How the region backs its blocks, for `--timings`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageChoice {
    pub page_bytes: usize,
    pub huge_bytes: usize,
    /// Whether fresh parts of the region get huge pages now.
    pub huge: bool,
    pub reason: Reason,
    /// Where later probes switched the region to base pages: the bytes of it below that
    /// point keep huge pages.
    pub switched_after: Option<usize>,
    pub probes: u32,
    /// Probes that were not quick (slow, or given base pages).
    pub slow_probes: u32,
    /// Probes the kernel answered with base pages.
    pub base_page_probes: u32,
    pub slowest_probe: Duration,
}

impl PageChoice {
    const fn new() -> PageChoice {
        PageChoice {
            page_bytes: 0,
            huge_bytes: 0,
            huge: false,
            reason: Reason::NoRegion,
            switched_after: None,
            probes: 0,
            slow_probes: 0,
            base_page_probes: 0,
            slowest_probe: Duration::ZERO,
        }
    }
}

/// A page size in words: `4 KiB`, `2 MiB`.
struct PageSize(usize);

impl fmt::Display for PageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b if b >= 1 << 30 && b % (1 << 30) == 0 => write!(f, "{} GiB", b >> 30),
            b if b >= 1 << 20 && b % (1 << 20) == 0 => write!(f, "{} MiB", b >> 20),
            b if b >= 1 << 10 && b % (1 << 10) == 0 => write!(f, "{} KiB", b >> 10),
            b => write!(f, "{b} B"),
        }
    }
}

impl fmt::Display for PageChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (page, huge) = (PageSize(self.page_bytes), PageSize(self.huge_bytes));
        if self.reason == Reason::NoRegion {
            return f.write_str("system allocator for every block (no region)");
        }
        if self.huge {
            write!(f, "{huge} pages")?;
        } else {
            write!(f, "{page} pages")?;
        }
        if let Some(bytes) = self.switched_after {
            write!(f, " after {} MiB on {huge}", bytes >> 20)?;
        }
        match self.reason {
            Reason::Probed => {
                write!(
                    f,
                    " ({huge} probes: {} slow of {}",
                    self.slow_probes, self.probes
                )?;
                if self.base_page_probes > 0 {
                    write!(f, ", {} given {page} pages", self.base_page_probes)?;
                }
                write!(
                    f,
                    ", slowest {:.1} ms)",
                    self.slowest_probe.as_secs_f64() * 1e3
                )
            }
            Reason::Forced(HugePages::Always) => {
                write!(f, " ({HUGE_PAGES_VAR}=always, not probed)")
            }
            Reason::Forced(setting) => write!(f, " ({HUGE_PAGES_VAR}={setting})"),
            Reason::ThpOff(ThpMode::Never) => f.write_str(" (transparent huge pages: never)"),
            Reason::ThpOff(_) => f.write_str(" (no transparent huge pages)"),
            Reason::TooLarge => write!(
                f,
                " ({huge} huge pages not used: above {})",
                PageSize(HUGE_LIMIT)
            ),
            Reason::NoRegion => Ok(()),
        }
    }
}

/// How a setting and the system decide whether to probe: the reason, unless it is
/// [`Reason::Probed`], is final.
fn page_reason(setting: HugePages, thp: Thp) -> Reason {
    match (setting, thp.mode) {
        (HugePages::Never, _) => Reason::Forced(HugePages::Never),
        (_, ThpMode::Never | ThpMode::Absent) => Reason::ThpOff(thp.mode),
        _ if thp.huge_bytes > HUGE_LIMIT => Reason::TooLarge,
        (HugePages::Always, _) => Reason::Forced(HugePages::Always),
        (HugePages::Auto, _) => Reason::Probed,
    }
}

/// The huge pages the first probes fault in.
fn first_probe_count(huge_bytes: usize) -> usize {
    (FIRST_PROBE_BYTES / huge_bytes).clamp(1, 3)
}

/// One timed first touch of a huge page.
#[derive(Clone, Copy, Debug)]
struct Probe {
    took: Duration,
    /// Whether the kernel gave a huge page (rather than one base page).
    huge: bool,
}

impl Probe {
    /// Whether this huge page of `huge_bytes` came as a huge page the host still backed.
    fn quick(&self, huge_bytes: usize) -> bool {
        let limit = (COLD_FAULT_PER_MIB.as_nanos() * huge_bytes as u128) >> 20;
        self.huge && self.took.as_nanos() < limit
    }
}

/// The region's book-keeping, under [`STATE`]'s lock. Positions and sizes are in units.
struct Region {
    base: usize,
    /// Units below this have been handed out at least once; the rest are untouched.
    top: usize,
    /// Free ranges below `top`, sorted by start, never adjacent to each other.
    holes: [(usize, usize); MAX_HOLES],
    len: usize,
    /// Bit `u`: unit `u` is free and still resident (its contents are stale).
    resident: *mut u64,
    resident_free: usize,
    live: usize,
    peak: usize,
    /// Blocks handed out so far.
    blocks: usize,
    /// Whether fresh stretches are still probed (huge pages chosen by probing).
    probing: bool,
    /// Bytes at the region's start that the first probes covered.
    probed_bytes: usize,
    /// Whether the last probe was slow.
    slow_probe: bool,
    /// The page choice so far; `choice.huge` says whether fresh units get huge pages.
    choice: PageChoice,
}

// SAFETY: `resident` points into a mapping owned by the region for the life of the process;
// it is only read or written under the lock.
unsafe impl Send for Region {}

impl Region {
    const fn new() -> Region {
        Region {
            base: 0,
            top: 0,
            holes: [(0, 0); MAX_HOLES],
            len: 0,
            resident: std::ptr::null_mut(),
            resident_free: 0,
            live: 0,
            peak: 0,
            blocks: 0,
            probing: false,
            probed_bytes: 0,
            slow_probe: false,
            choice: PageChoice::new(),
        }
    }
}

static STATE: std::sync::Mutex<Region> = std::sync::Mutex::new(Region::new());

fn state() -> std::sync::MutexGuard<'static, Region> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(target_os = "linux")]
fn map_anonymous(bytes: usize) -> Option<usize> {
    // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

#[cfg(not(target_os = "linux"))]
fn map_anonymous(_bytes: usize) -> Option<usize> {
    None
}

#[cfg(target_os = "linux")]
fn unmap(start: usize, bytes: usize) {
    // SAFETY: a mapping of ours that nothing refers to.
    unsafe { libc::munmap(start as *mut libc::c_void, bytes) };
}

#[cfg(not(target_os = "linux"))]
fn unmap(_start: usize, _bytes: usize) {}

/// Return the pages of `start..start + bytes` (inside the region) to the system; they read
/// as zeros afterwards.
#[cfg(target_os = "linux")]
fn discard(start: usize, bytes: usize) {
    // SAFETY: the range is free units of the region: no live block overlaps it.
    unsafe {
        libc::madvise(start as *mut libc::c_void, bytes, libc::MADV_DONTNEED);
    }
}

#[cfg(not(target_os = "linux"))]
fn discard(_start: usize, _bytes: usize) {}

/// Bytes per step of [`prefault_backwards`] (how often it looks at `stop`): one huge page.
fn prefault_step() -> usize {
    thp().huge_bytes.clamp(page_bytes(), HUGE_LIMIT)
}

/// Give the pages of `ranges` (address, bytes) memory now, from the end of the last range
/// towards the start of the first, a step at a time, until `stop` is set: a core with
/// nothing left to do pays for the first touches another task is about to make (the kernel
/// clears every fresh page; on a VM whose host takes idle memory back, that is most of a
/// first touch). Contents do not change (pages already there stay as they are, new ones read
/// as zeros), so the memory may belong to a block another thread is writing. Does nothing
/// where the kernel cannot (`MADV_POPULATE_WRITE` is Linux 5.14+).
pub fn prefault_backwards(ranges: &[(usize, usize)], stop: &std::sync::atomic::AtomicBool) {
    #[cfg(target_os = "linux")]
    {
        let (page, step) = (page_bytes(), prefault_step());
        for &(start, bytes) in ranges.iter().rev() {
            let lo = start.next_multiple_of(page);
            let mut hi = (start + bytes) / page * page;
            while hi > lo {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let from = hi.saturating_sub(step).max(lo);
                // SAFETY: `from..hi` is inside a live allocation (the caller keeps it alive
                // for the call); populating pages writes nothing to them.
                let r = unsafe {
                    libc::madvise(
                        from as *mut libc::c_void,
                        hi - from,
                        libc::MADV_POPULATE_WRITE,
                    )
                };
                if r != 0 {
                    return;
                }
                hi = from;
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ranges, stop);
}

/// Fault in the huge page at `at` (aligned, fresh, inside the region), timed, and see
/// whether it came as a huge page: then its last base page is resident too.
#[cfg(target_os = "linux")]
fn probe(at: usize, huge_bytes: usize, page: usize) -> Probe {
    let t = std::time::Instant::now();
    // SAFETY: one write into a fresh page of our own mapping; the byte written is the zero
    // it already reads as.
    unsafe { std::ptr::write_volatile(at as *mut u8, 0) };
    let took = t.elapsed();
    let mut vec = [0u8; 1];
    // SAFETY: one base page inside our mapping; `vec` has room for its one entry.
    let r = unsafe {
        libc::mincore(
            (at + huge_bytes - page) as *mut libc::c_void,
            page,
            vec.as_mut_ptr(),
        )
    };
    Probe {
        took,
        huge: r == 0 && vec[0] & 1 == 1,
    }
}

#[cfg(target_os = "linux")]
fn advise(start: usize, bytes: usize, huge: bool) {
    let advice = if huge {
        libc::MADV_HUGEPAGE
    } else {
        libc::MADV_NOHUGEPAGE
    };
    // SAFETY: advice on our own mapping changes how its pages are backed, never their
    // contents.
    unsafe { libc::madvise(start as *mut libc::c_void, bytes, advice) };
}

#[cfg(not(target_os = "linux"))]
fn probe(_at: usize, _huge_bytes: usize, _page: usize) -> Probe {
    Probe {
        took: Duration::ZERO,
        huge: false,
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_start: usize, _bytes: usize, _huge: bool) {}

/// How the region backs its blocks, for `--timings`. `None` before the first big block.
pub fn page_choice() -> Option<PageChoice> {
    let r = state();
    (r.base != 0).then_some(r.choice)
}

/// The region's state, for tests and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Blocks the region has handed out (including moves by `realloc`).
    pub blocks: usize,
    pub live_bytes: usize,
    /// Free memory kept resident for reuse.
    pub kept_bytes: usize,
    /// The largest `live_bytes` so far.
    pub peak_live_bytes: usize,
}

/// The region's state now.
pub fn stats() -> Stats {
    let r = state();
    Stats {
        blocks: r.blocks,
        live_bytes: r.live * UNIT,
        kept_bytes: r.resident_free * UNIT,
        peak_live_bytes: r.peak * UNIT,
    }
}

impl Region {
    /// Decide the region's pages when it is reserved (see the module doc).
    fn choose_pages(&mut self, setting: HugePages, thp: Thp) {
        let huge_bytes = thp.huge_bytes;
        self.choice.page_bytes = page_bytes();
        self.choice.huge_bytes = huge_bytes;
        self.choice.reason = page_reason(setting, thp);
        match self.choice.reason {
            Reason::Probed => {
                advise(self.base, RESERVE, true);
                let count = first_probe_count(huge_bytes);
                let mut quick = 0;
                for k in 0..count {
                    quick += self.probe(self.base + k * huge_bytes) as usize;
                }
                self.probed_bytes = count * huge_bytes;
                self.choice.huge = 2 * quick > count;
                self.probing = self.choice.huge;
                if !self.choice.huge {
                    advise(
                        self.base + self.probed_bytes,
                        RESERVE - self.probed_bytes,
                        false,
                    );
                }
            }
            Reason::Forced(HugePages::Always) => {
                advise(self.base, RESERVE, true);
                self.choice.huge = true;
            }
            Reason::ThpOff(_) | Reason::NoRegion => {}
            Reason::Forced(_) | Reason::TooLarge => advise(self.base, RESERVE, false),
        }
    }

    /// Probe the huge page at `at` and count it: whether it was quick.
    fn probe(&mut self, at: usize) -> bool {
        let p = probe(at, self.choice.huge_bytes, self.choice.page_bytes);
        let quick = p.quick(self.choice.huge_bytes);
        let c = &mut self.choice;
        c.probes += 1;
        c.slow_probes += !quick as u32;
        c.base_page_probes += !p.huge as u32;
        c.slowest_probe = c.slowest_probe.max(p.took);
        quick
    }

    /// Units `from..to` are handed out for the first time: while probing, time the first
    /// whole huge page among them, and switch the rest of the region to base pages after two
    /// slow ones in a row.
    fn fresh(&mut self, from: usize, to: usize) {
        if !self.probing {
            return;
        }
        let huge_bytes = self.choice.huge_bytes;
        let (start, end) = (self.base + from * UNIT, self.base + to * UNIT);
        let page = start.next_multiple_of(huge_bytes);
        if page < self.base + self.probed_bytes || page + huge_bytes > end {
            return;
        }
        let quick = self.probe(page);
        self.after_probe(quick, page + huge_bytes);
    }

    /// A later probe ending at `end` was `quick` or not: after two slow ones in a row, the
    /// region from `end` on gets base pages.
    fn after_probe(&mut self, quick: bool, end: usize) {
        let was_slow = std::mem::replace(&mut self.slow_probe, !quick);
        if !quick && was_slow {
            self.probing = false;
            self.choice.huge = false;
            self.choice.switched_after = Some(end - self.base);
            advise(end, self.base + RESERVE - end, false);
        }
    }

    /// Reserve the region on first use; false if it is not available.
    fn ready(&mut self) -> bool {
        if self.base == 0 {
            self.base = 1;
            let page = page_bytes();
            let thp = thp();
            // Huge pages need the region aligned to them.
            let align = if thp.huge_bytes <= HUGE_LIMIT {
                thp.huge_bytes.max(UNIT)
            } else {
                UNIT
            };
            if UNIT.is_multiple_of(page) {
                let region = map_anonymous(RESERVE + align);
                let bits = map_anonymous(UNITS / 8);
                match (region, bits) {
                    (Some(r), Some(b)) => {
                        self.base = r.next_multiple_of(align);
                        self.resident = b as *mut u64;
                        // An invalid setting is the binary's usage error; elsewhere, auto.
                        let setting = HugePages::from_env().unwrap_or(HugePages::Auto);
                        self.choose_pages(setting, thp);
                    }
                    (r, b) => {
                        if let Some(r) = r {
                            unmap(r, RESERVE + align);
                        }
                        if let Some(b) = b {
                            unmap(b, UNITS / 8);
                        }
                    }
                }
            }
            BASE.store(self.base, Ordering::Release);
        }
        self.base != 1
    }

    fn is_resident(&self, u: usize) -> bool {
        // SAFETY: u < UNITS, inside the bitmap's mapping.
        unsafe { *self.resident.add(u / 64) & (1 << (u % 64)) != 0 }
    }

    fn set_resident(&mut self, u: usize, on: bool) {
        // SAFETY: u < UNITS, inside the bitmap's mapping; we hold the lock.
        unsafe {
            let w = self.resident.add(u / 64);
            if on {
                *w |= 1 << (u % 64);
            } else {
                *w &= !(1 << (u % 64));
            }
        }
    }

    /// Take units `start..start + n` (free) for a block: clear their resident bits and
    /// return the byte range that held stale contents, if any.
    fn claim(&mut self, start: usize, n: usize) -> Option<(usize, usize)> {
        let mut stale: Option<(usize, usize)> = None;
        for u in start..start + n {
            if self.is_resident(u) {
                self.set_resident(u, false);
                self.resident_free -= 1;
                stale = Some((stale.map_or(u, |s| s.0), u + 1));
            }
        }
        stale.map(|(a, b)| (self.base + a * UNIT, (b - a) * UNIT))
    }

    /// Units for a block of `n`: the smallest hole that fits, else the top.
    fn place(&mut self, n: usize) -> Option<usize> {
        let best = (0..self.len)
            .filter(|&k| self.holes[k].1 >= n)
            .min_by_key(|&k| self.holes[k].1);
        if let Some(k) = best {
            let (start, size) = self.holes[k];
            if size == n {
                self.remove_hole(k);
            } else {
                self.holes[k] = (start + n, size - n);
            }
            return Some(start);
        }
        // A last hole that reaches the top is extended past it.
        let mut start = self.top;
        if self.len > 0 {
            let (s, size) = self.holes[self.len - 1];
            if s + size == self.top {
                start = s;
            }
        }
        if start + n > UNITS {
            return None;
        }
        if start < self.top {
            self.len -= 1;
        }
        let old_top = self.top;
        self.top = start + n;
        self.fresh(old_top, self.top);
        Some(start)
    }

    fn remove_hole(&mut self, k: usize) {
        self.holes.copy_within(k + 1..self.len, k);
        self.len -= 1;
    }

    /// Make units `start..start + n` a free hole, merged with its neighbours. False if
    /// there is no room to record it.
    fn add_hole(&mut self, start: usize, n: usize) -> bool {
        let k = self.holes[..self.len].partition_point(|h| h.0 < start);
        let joins_prev = k > 0 && self.holes[k - 1].0 + self.holes[k - 1].1 == start;
        let joins_next = k < self.len && start + n == self.holes[k].0;
        match (joins_prev, joins_next) {
            (true, true) => {
                self.holes[k - 1].1 += n + self.holes[k].1;
                self.remove_hole(k);
            }
            (true, false) => self.holes[k - 1].1 += n,
            (false, true) => self.holes[k] = (start, n + self.holes[k].1),
            (false, false) => {
                if self.len == MAX_HOLES {
                    return false;
                }
                self.holes.copy_within(k..self.len, k + 1);
                self.holes[k] = (start, n);
                self.len += 1;
            }
        }
        true
    }

    /// Units `start..start + n` of a block are freed.
    fn free(&mut self, start: usize, n: usize) {
        self.live -= n;
        if self.add_hole(start, n) {
            for u in start..start + n {
                self.set_resident(u, true);
            }
            self.resident_free += n;
        } else {
            discard(self.base + start * UNIT, n * UNIT);
        }
    }

    /// `n` more units are live: raise the peak, and return resident free units to the
    /// system while live plus resident free memory is above it.
    fn grow_live(&mut self, n: usize) {
        self.live += n;
        self.peak = self.peak.max(self.live);
        let mut k = self.len;
        while self.live + self.resident_free > self.peak + SLACK && k > 0 {
            k -= 1;
            let (start, size) = self.holes[k];
            let mut u = start + size;
            while u > start && self.live + self.resident_free > self.peak + SLACK {
                u -= 1;
                if !self.is_resident(u) {
                    continue;
                }
                // A run of resident units ending at u, as long as the excess needs.
                let end = u + 1;
                let excess = self.live + self.resident_free - self.peak - SLACK;
                while u > start && end - u < excess && self.is_resident(u - 1) {
                    u -= 1;
                }
                for v in u..end {
                    self.set_resident(v, false);
                }
                self.resident_free -= end - u;
                discard(self.base + u * UNIT, (end - u) * UNIT);
            }
        }
    }
}

fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT)
}

/// Whether `layout` is served by the region.
fn eligible(layout: Layout) -> bool {
    layout.size() >= THRESHOLD && layout.align() <= UNIT
}

/// The unit of `p` if it is a region block.
fn unit_of(p: *mut u8) -> Option<usize> {
    let base = BASE.load(Ordering::Acquire);
    let p = p as usize;
    (base > 1 && p >= base && p < base + RESERVE).then(|| (p - base) / UNIT)
}

/// A region block of `size` bytes, its stale part cleared if `zeroed`.
fn region_alloc(size: usize, zeroed: bool) -> Option<*mut u8> {
    let n = units(size);
    let (p, stale) = {
        let mut r = state();
        if !r.ready() {
            return None;
        }
        let start = r.place(n)?;
        r.blocks += 1;
        let stale = r.claim(start, n);
        r.grow_live(n);
        (r.base + start * UNIT, stale)
    };
    if let (true, Some((at, len))) = (zeroed, stale) {
        // SAFETY: the stale range lies inside the block just claimed, which is ours.
        unsafe { std::ptr::write_bytes(at as *mut u8, 0, len) };
    }
    Some(p as *mut u8)
}

// SAFETY: region blocks are disjoint unit ranges handed to one owner at a time (placement
// and freeing happen under the lock), aligned to UNIT, at least as long as asked; every
// other block is the system allocator's own.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if eligible(layout) {
            if let Some(p) = region_alloc(layout.size(), false) {
                return p;
            }
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if eligible(layout) {
            if let Some(p) = region_alloc(layout.size(), true) {
                return p;
            }
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        match unit_of(p) {
            Some(u) => state().free(u, units(layout.size())),
            None => System.dealloc(p, layout),
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(u) = unit_of(p) else {
            let new = Layout::from_size_align_unchecked(new_size, layout.align());
            if !eligible(new) {
                return System.realloc(p, layout, new_size);
            }
            let q = self.alloc(new);
            if !q.is_null() {
                std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                System.dealloc(p, layout);
            }
            return q;
        };
        let (old, n) = (units(layout.size()), units(new_size));
        {
            let mut r = state();
            if n <= old {
                if n < old {
                    r.free(u + n, old - n);
                }
                return p;
            }
            // Grow in place into the hole right after the block, or past the top.
            let end = u + old;
            let k = r.holes[..r.len].partition_point(|h| h.0 < end);
            let after = (k < r.len && r.holes[k].0 == end).then(|| r.holes[k].1);
            if let Some(size) = after.filter(|&s| s >= n - old) {
                if size == n - old {
                    r.remove_hole(k);
                } else {
                    r.holes[k] = (end + n - old, size - (n - old));
                }
                r.claim(end, n - old);
                r.grow_live(n - old);
                return p;
            }
            if end == r.top && u + n <= UNITS {
                r.top = u + n;
                r.fresh(end, u + n);
                r.grow_live(n - old);
                return p;
            }
        }
        let q = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
        if !q.is_null() {
            std::ptr::copy_nonoverlapping(p, q, layout.size());
            self.dealloc(p, layout);
        }
        q
    }
}

/// Fix glibc's mmap threshold at [`THRESHOLD`]: below it blocks come from glibc's heaps and
/// are reused there; left alone, glibc maps blocks from 128 KiB up afresh each time until
/// the first one is freed.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called first thing in main.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD as libc::c_int);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn prefaulting_keeps_contents_and_stops_when_told() {
        use std::sync::atomic::AtomicBool;
        let page = page_bytes();
        // Five steps and a bit, half written before (those pages are there already).
        let len = 5 * prefault_step() + 12_345;
        let mut v = vec![0u8; len];
        for (i, x) in v[..len / 2].iter_mut().enumerate() {
            *x = (i % 251) as u8 + 1;
        }
        let ranges = [(v.as_ptr() as usize + 1, len - 1)];
        // Whether the last whole page of `v` is in memory.
        let last_page_resident = || {
            let at = (v.as_ptr() as usize + len) / page * page - page;
            let mut vec = [0u8; 1];
            // SAFETY: one page inside `v`'s allocation; `vec` has room for its one entry.
            let r = unsafe { libc::mincore(at as *mut libc::c_void, page, vec.as_mut_ptr()) };
            assert_eq!(r, 0);
            vec[0] & 1 == 1
        };
        // A block this big is a fresh mapping, its unwritten pages not there yet.
        assert!(!last_page_resident());
        prefault_backwards(&ranges, &AtomicBool::new(true));
        assert!(!last_page_resident(), "told to stop before the first step");
        prefault_backwards(&ranges, &AtomicBool::new(false));
        assert!(last_page_resident());
        assert!(v[..len / 2]
            .iter()
            .enumerate()
            .all(|(i, &x)| x == (i % 251) as u8 + 1));
        assert!(v[len / 2..].iter().all(|&x| x == 0));
    }

    /// The only test that calls this allocator (the library's tests run on the system
    /// allocator), so the region is this test's alone.
    #[test]
    fn freed_blocks_are_reused_cleared_merged_and_grown_in_place() {
        let a = Arena;
        let mib = |m: usize| Layout::from_size_align(m << 20, 8).unwrap();
        unsafe {
            let p = a.alloc(mib(4));
            assert!(!p.is_null());
            assert_eq!(unit_of(p), Some(0), "the first block starts the region");
            std::ptr::write_bytes(p, 0xAB, 4 << 20);
            let q = a.alloc(mib(2));
            assert_eq!(unit_of(q), Some(64));
            a.dealloc(p, mib(4));
            // A smaller zeroed block reuses the freed one's units, cleared.
            let r = a.alloc_zeroed(mib(3));
            assert_eq!(r, p);
            assert!(std::slice::from_raw_parts(r, 3 << 20)
                .iter()
                .all(|&b| b == 0));
            // The freed unit left after it and the freed second block merge into one hole
            // that a 3 MiB block fits.
            a.dealloc(q, mib(2));
            {
                let s = state();
                assert_eq!(&s.holes[..s.len], &[(48, 48)]);
            }
            let t = a.alloc(mib(3));
            assert_eq!(unit_of(t), Some(48));
            // Growing the block at the top stays in place; so does shrinking.
            let t2 = a.realloc(t, mib(3), 5 << 20);
            assert_eq!(t2, t);
            let t3 = a.realloc(t2, mib(5), 1 << 20);
            assert_eq!(t3, t);
            // A block that cannot grow in place moves, keeping its contents.
            std::ptr::write_bytes(r, 7, 3 << 20);
            let r2 = a.realloc(r, mib(3), 8 << 20);
            assert_ne!(r2, r);
            assert!(std::slice::from_raw_parts(r2, 3 << 20)
                .iter()
                .all(|&b| b == 7));
            a.dealloc(r2, mib(8));
            a.dealloc(t3, mib(1));
            // Over-aligned and small blocks are the system's.
            let big_align = Layout::from_size_align(2 << 20, 2 * UNIT).unwrap();
            let o = a.alloc(big_align);
            assert_eq!(unit_of(o), None);
            a.dealloc(o, big_align);
            let small = Layout::from_size_align(4096, 8).unwrap();
            let m = a.alloc(small);
            assert_eq!(unit_of(m), None);
            a.dealloc(m, small);
            let s = stats();
            assert_eq!(s.blocks, 5, "four allocations and one move");
            assert_eq!(s.live_bytes, 0);
            assert!(s.live_bytes + s.kept_bytes <= s.peak_live_bytes + KEPT_ABOVE_PEAK);
        }
        // The region chose its pages as the system and the setting say, with the system's
        // page sizes.
        let choice = page_choice().expect("the region is reserved");
        let setting = HugePages::from_env().unwrap_or(HugePages::Auto);
        assert_eq!(choice.reason, page_reason(setting, thp()));
        assert_eq!(choice.page_bytes, page_bytes());
        assert_eq!(choice.huge_bytes, thp().huge_bytes);
        if choice.reason == Reason::Probed {
            assert!(choice.probes as usize >= first_probe_count(thp().huge_bytes));
            assert!(choice.slowest_probe > Duration::ZERO);
        } else {
            assert_eq!(choice.probes, 0);
        }
    }

    #[test]
    fn kept_memory_never_goes_above_the_live_peak() {
        let mut r = Region::new();
        r.base = map_anonymous(3 * SLACK * UNIT).unwrap();
        r.resident = Box::leak(vec![0u64; 1 << 10].into_boxed_slice()).as_mut_ptr();
        // Two blocks, freed: both stay resident and merge into one hole.
        let a = r.place(SLACK).unwrap();
        r.grow_live(SLACK);
        let b = r.place(SLACK).unwrap();
        r.grow_live(SLACK);
        r.free(a, SLACK);
        r.free(b, SLACK);
        assert_eq!(r.resident_free, 2 * SLACK);
        assert_eq!(&r.holes[..r.len], &[(0, 2 * SLACK)]);
        // One unit taken from it: stale, so a zeroed request would clear it.
        let c = r.place(1).unwrap();
        assert_eq!(c, 0);
        assert_eq!(r.claim(c, 1), Some((r.base, UNIT)));
        r.grow_live(1);
        assert_eq!(r.resident_free, 2 * SLACK - 1);
        // Live + kept (2 * SLACK) is within the peak (2 * SLACK) + SLACK. Lower the peak to
        // one unit, as if the blocks had been smaller: the highest free units go back to the
        // system until live + kept is the peak + SLACK again.
        r.peak = 1;
        r.grow_live(0);
        assert_eq!(r.live + r.resident_free, 1 + SLACK);
        assert!(r.is_resident(1) && r.is_resident(SLACK));
        assert!(!r.is_resident(SLACK + 1) && !r.is_resident(2 * SLACK - 1));
    }

    #[test]
    fn thp_files_are_read_as_the_kernel_writes_them() {
        assert_eq!(parse_thp_mode("always [madvise] never\n"), ThpMode::Madvise);
        assert_eq!(parse_thp_mode("[always] madvise never\n"), ThpMode::Always);
        assert_eq!(parse_thp_mode("always madvise [never]\n"), ThpMode::Never);
        assert_eq!(parse_thp_mode("always madvise never\n"), ThpMode::Absent);
        assert_eq!(parse_thp_mode("[sometimes]"), ThpMode::Absent);
        assert_eq!(parse_huge_bytes("2097152\n", 4096), Some(2 << 20));
        assert_eq!(parse_huge_bytes("536870912\n", 65536), Some(512 << 20));
        assert_eq!(
            parse_huge_bytes("3000000\n", 4096),
            None,
            "not a power of two"
        );
        assert_eq!(
            parse_huge_bytes("4096\n", 4096),
            None,
            "not above the base page"
        );
        assert_eq!(parse_huge_bytes("lots", 4096), None);
        // Without hpage_pmd_size: what one page table maps.
        assert_eq!(page_table_span(4096), 2 << 20);
        assert_eq!(page_table_span(16384), 32 << 20);
        assert_eq!(page_table_span(65536), 512 << 20);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn page_sizes_are_this_systems() {
        // SAFETY: sysconf only reads a system parameter.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        assert_eq!(page_bytes(), page);
        let dir = "/sys/kernel/mm/transparent_hugepage";
        let t = thp();
        match std::fs::read_to_string(format!("{dir}/hpage_pmd_size")) {
            Ok(s) => assert_eq!(t.huge_bytes, s.trim().parse::<usize>().unwrap()),
            Err(_) => assert_eq!(t.huge_bytes, page_table_span(page)),
        }
        match std::fs::read_to_string(format!("{dir}/enabled")) {
            Ok(s) if s.contains("[never]") => assert_eq!(t.mode, ThpMode::Never),
            Ok(s) if s.contains("[madvise]") => assert_eq!(t.mode, ThpMode::Madvise),
            Ok(s) if s.contains("[always]") => assert_eq!(t.mode, ThpMode::Always),
            _ => assert_eq!(t.mode, ThpMode::Absent),
        }
    }

    #[test]
    fn the_setting_and_the_system_decide_whether_to_probe() {
        let thp = |mode, huge_bytes| Thp { mode, huge_bytes };
        let two = 2 << 20;
        let (auto, always, never) = (HugePages::Auto, HugePages::Always, HugePages::Never);
        assert_eq!(
            page_reason(auto, thp(ThpMode::Madvise, two)),
            Reason::Probed
        );
        assert_eq!(page_reason(auto, thp(ThpMode::Always, two)), Reason::Probed);
        assert_eq!(
            page_reason(auto, thp(ThpMode::Never, two)),
            Reason::ThpOff(ThpMode::Never)
        );
        assert_eq!(
            page_reason(always, thp(ThpMode::Absent, two)),
            Reason::ThpOff(ThpMode::Absent),
            "no setting conjures huge pages the kernel does not have"
        );
        assert_eq!(
            page_reason(always, thp(ThpMode::Madvise, two)),
            Reason::Forced(always)
        );
        assert_eq!(
            page_reason(never, thp(ThpMode::Always, two)),
            Reason::Forced(never)
        );
        assert_eq!(
            page_reason(auto, thp(ThpMode::Madvise, 512 << 20)),
            Reason::TooLarge
        );
        assert_eq!(first_probe_count(two), 3);
        assert_eq!(first_probe_count(32 << 20), 1);
        // The setting's values; anything else is an error that names it.
        let parse = |v: &str| HugePages::parse(Some(std::ffi::OsStr::new(v)));
        assert_eq!(HugePages::parse(None), Ok(auto));
        assert_eq!(parse("auto"), Ok(auto));
        assert_eq!(parse("always"), Ok(always));
        assert_eq!(parse("never"), Ok(never));
        assert_eq!(
            parse("Never"),
            Err("HEAPDIFF_HUGE_PAGES=Never: expected auto, always or never".into())
        );
    }

    #[test]
    fn a_probe_is_quick_when_it_got_a_huge_page_at_half_a_gigabyte_a_second() {
        let probe = |micros, huge| Probe {
            took: Duration::from_micros(micros),
            huge,
        };
        let two = 2 << 20;
        assert!(probe(300, true).quick(two));
        assert!(probe(3_999, true).quick(two));
        assert!(!probe(4_000, true).quick(two));
        assert!(!probe(6_000, true).quick(two));
        assert!(!probe(100, false).quick(two), "given a base page");
        // The limit scales with the page: 32 MiB may take 64 ms.
        assert!(probe(63_000, true).quick(32 << 20));
        assert!(!probe(65_000, true).quick(32 << 20));
    }

    #[test]
    fn two_slow_later_probes_in_a_row_switch_to_base_pages() {
        // A whole region's address space: switching advises all of it after the probe.
        let mut r = Region::new();
        r.base = map_anonymous(RESERVE).unwrap();
        r.probing = true;
        r.choice.huge = true;
        let base = r.base;
        let mib = |m: usize| base + (m << 20);
        let (at2, at4, at6) = (mib(2), mib(4), mib(6));
        for (quick, end) in [(false, at2), (true, at4), (false, at6)] {
            r.after_probe(quick, end);
            assert!(r.choice.huge && r.probing);
        }
        r.after_probe(false, mib(8));
        assert!(!r.choice.huge && !r.probing);
        assert_eq!(r.choice.switched_after, Some(8 << 20));
        unmap(r.base, RESERVE);
    }

    #[test]
    fn the_choice_reads_as_timings_prints_it() {
        let mut c = PageChoice {
            page_bytes: 4096,
            huge_bytes: 2 << 20,
            huge: true,
            reason: Reason::Probed,
            switched_after: None,
            probes: 4,
            slow_probes: 0,
            base_page_probes: 0,
            slowest_probe: Duration::from_micros(312),
        };
        assert_eq!(
            c.to_string(),
            "2 MiB pages (2 MiB probes: 0 slow of 4, slowest 0.3 ms)"
        );
        (c.huge, c.slow_probes, c.probes) = (false, 2, 3);
        c.slowest_probe = Duration::from_micros(6_040);
        assert_eq!(
            c.to_string(),
            "4 KiB pages (2 MiB probes: 2 slow of 3, slowest 6.0 ms)"
        );
        (c.switched_after, c.probes, c.base_page_probes) = (Some(412 << 20), 9, 1);
        assert_eq!(
            c.to_string(),
            "4 KiB pages after 412 MiB on 2 MiB (2 MiB probes: 2 slow of 9, 1 given 4 KiB \
             pages, slowest 6.0 ms)"
        );
        c.switched_after = None;
        c.reason = Reason::Forced(HugePages::Never);
        assert_eq!(c.to_string(), "4 KiB pages (HEAPDIFF_HUGE_PAGES=never)");
        (c.reason, c.huge) = (Reason::Forced(HugePages::Always), true);
        assert_eq!(
            c.to_string(),
            "2 MiB pages (HEAPDIFF_HUGE_PAGES=always, not probed)"
        );
        (c.reason, c.huge) = (Reason::ThpOff(ThpMode::Never), false);
        assert_eq!(c.to_string(), "4 KiB pages (transparent huge pages: never)");
        c.reason = Reason::ThpOff(ThpMode::Absent);
        assert_eq!(c.to_string(), "4 KiB pages (no transparent huge pages)");
        (c.reason, c.page_bytes, c.huge_bytes) = (Reason::TooLarge, 64 << 10, 512 << 20);
        assert_eq!(
            c.to_string(),
            "64 KiB pages (512 MiB huge pages not used: above 32 MiB)"
        );
        c.reason = Reason::NoRegion;
        assert_eq!(
            c.to_string(),
            "system allocator for every block (no region)"
        );
    }
}
