//! The binary's global allocator: big blocks come from one reserved region and are reused
//! while they are still resident; everything else is the system allocator.
//!
//! A run builds a few dozen column vectors of 1 to 150 MB, frees some and asks for others
//! (a 9M-node snapshot: 1.3 GB of big blocks asked for over a run whose peak of live big
//! blocks is 0.9 GB; a pair: 2.4 GB over a 1.3 GB peak). Every block the system allocator
//! maps afresh costs a page fault per page and the kernel clearing it, and on a virtual
//! machine whose balloon reports free memory to the host, often the host backing the page
//! first: 0.4–2.6 s per GB measured here, against a user-space `memset` at over 10 GB/s on a
//! page that is already resident. So blocks of at least [`THRESHOLD`] bytes are cut from one
//! region reserved at the first such request (address space only, `MAP_NORESERVE`),
//! in [`UNIT`]s, best fit over the free holes, which merge with their neighbours. A freed
//! block stays resident for the next request it fits; a zeroed request clears only the
//! units that were used before (untouched ones are the kernel's zero pages).
//!
//! Kept memory never raises the peak: whenever live plus resident free units would exceed
//! the largest live total so far (plus [`SLACK`]), free units are returned to the system
//! (`MADV_DONTNEED`), highest addresses first, so peak RSS stays what the program's own
//! live blocks make it. The region is backed by 2 MiB pages where the host still has free
//! memory backed, 4 KiB pages where it does not: huge-page faults are timed to tell
//! ([`Region::choose_pages`]). If the region cannot be reserved, is full, or a request needs
//! an alignment above a unit, the block comes from the system allocator as before.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Blocks of at least this many bytes come from the region.
pub const THRESHOLD: usize = 1 << 20;

/// The region's allocation unit (and the largest alignment it serves).
pub const UNIT: usize = 64 << 10;

/// Address space reserved for the region.
const RESERVE: usize = 256 << 30;

/// Units in the region.
const UNITS: usize = RESERVE / UNIT;

/// Resident free memory allowed above the largest live total so far.
const SLACK: usize = (32 << 20) / UNIT;

/// Free holes tracked at once; a freed block that finds no room is returned to the system
/// and its address range is not used again.
const MAX_HOLES: usize = 1024;

const HUGE: usize = 2 << 20;

/// The allocator. Install it in a binary with
/// `#[global_allocator] static A: heapdiff::arena::Arena = heapdiff::arena::Arena;`.
pub struct Arena;

/// Start of the region; 0 before it is reserved, 1 if it could not be.
static BASE: AtomicUsize = AtomicUsize::new(0);

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
    /// Whether fresh units are advised for huge pages (see [`Region::choose_pages`]).
    huge: bool,
    /// Whether the last probe was slow.
    slow_probe: bool,
    /// The slowest huge-page probe so far, for `--timings`.
    slowest_probe: std::time::Duration,
}

// SAFETY: `resident` points into a mapping owned by the region for the life of the process;
// it is only read or written under the lock.
unsafe impl Send for Region {}

static STATE: std::sync::Mutex<Region> = std::sync::Mutex::new(Region {
    base: 0,
    top: 0,
    holes: [(0, 0); MAX_HOLES],
    len: 0,
    resident: std::ptr::null_mut(),
    resident_free: 0,
    live: 0,
    peak: 0,
    huge: false,
    slow_probe: false,
    slowest_probe: std::time::Duration::ZERO,
});

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

/// Bytes per step of [`prefault_backwards`]: one huge page.
const PREFAULT_STEP: usize = 2 << 20;

/// Give the pages of `ranges` (address, bytes) memory now, from the end of the last range
/// towards the start of the first, a step at a time, until `stop` is set: a core with
/// nothing left to do pays for the first touches another task is about to make (the kernel
/// clears every fresh page; on a VM whose host takes idle memory back, that is most of a
/// first touch). Contents do not change (pages already there stay as they are, new ones read
/// as zeros), so the memory may belong to a block another thread is writing. Does nothing
/// where the kernel cannot (`MADV_POPULATE_WRITE` is Linux 5.14+).
pub fn prefault_backwards(ranges: &[(usize, usize)], stop: &std::sync::atomic::AtomicBool) {
    #[cfg(target_os = "linux")]
    for &(start, bytes) in ranges.iter().rev() {
        let page = 4096;
        let lo = start.div_ceil(page) * page;
        let mut hi = (start + bytes) / page * page;
        while hi > lo {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let from = hi.saturating_sub(PREFAULT_STEP).max(lo);
            // SAFETY: `from..hi` is inside a live allocation (the caller keeps it alive for
            // the call); populating pages writes nothing to them.
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
    #[cfg(not(target_os = "linux"))]
    let _ = (ranges, stop);
}

/// A first touch of a fresh huge page that takes longer than this is one the host had to
/// back first. Measured here: 0.1–0.3 ms for 2 MiB the host still has (just freed by some
/// process), 1.5–3.3 ms right after another process exits, 4.9–7.9 ms for 2 MiB it does
/// not have at all (free for a few seconds, reported to it). Benchmarked right after
/// another process, huge pages throughout were faster (1.34 s median) than small pages
/// chosen whenever a probe took over 1.5 ms (1.52 s): only the last kind counts as cold.
const COLD_HUGE_FAULT: std::time::Duration = std::time::Duration::from_micros(4000);

/// Huge pages timed when the region is reserved; if most are slow, the region starts with
/// small pages.
const FIRST_PROBES: usize = 3;

/// Fault in the huge page at `at` (2 MiB-aligned, fresh, inside the region): whether it
/// came quickly, and how long it took.
#[cfg(target_os = "linux")]
fn probe(at: usize) -> (bool, std::time::Duration) {
    let t = std::time::Instant::now();
    // SAFETY: one write into a fresh page of our own mapping; the byte written is the zero
    // it already reads as.
    unsafe { std::ptr::write_volatile(at as *mut u8, 0) };
    let took = t.elapsed();
    (took < COLD_HUGE_FAULT, took)
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
fn probe(_at: usize) -> (bool, std::time::Duration) {
    (false, std::time::Duration::ZERO)
}

#[cfg(not(target_os = "linux"))]
fn advise(_start: usize, _bytes: usize, _huge: bool) {}

/// How the region backs its blocks, for `--timings`: whether with huge pages at the end,
/// and the slowest huge-page probe (µs). `None` before the first big block, or without a
/// region.
pub fn page_choice() -> Option<(bool, u64)> {
    let r = state();
    (r.base > 1).then_some((r.huge, r.slowest_probe.as_micros() as u64))
}

impl Region {
    /// Decide the region's page size. Where the host still backs free memory (just freed by
    /// some process), a fresh 2 MiB page costs one fault and a 2 MiB clear (8–9 GB/s here,
    /// 512 times fewer faults than 4 KiB pages). Where it does not (memory free for a few
    /// seconds, which this VM's balloon reports to the host), the kernel's 2 MiB clear runs
    /// into the host backing it 4 KiB at a time: 0.37 GB/s measured, while 4 KiB pages,
    /// which the kernel takes from small free fragments first, still backed, go at 1.6–2.4
    /// GB/s. The first of the kernel's free huge pages is often backed when the rest are
    /// not, so a few are timed: huge pages if most came quickly, small pages otherwise. Each
    /// later fresh stretch of the region is probed once more ([`Region::fresh`]).
    fn choose_pages(&mut self) {
        advise(self.base, RESERVE, true);
        let mut fast = 0;
        for k in 0..FIRST_PROBES {
            let (quick, took) = probe(self.base + k * HUGE);
            fast += quick as usize;
            self.slowest_probe = self.slowest_probe.max(took);
        }
        self.huge = 2 * fast > FIRST_PROBES;
        if !self.huge {
            let done = FIRST_PROBES * HUGE;
            advise(self.base + done, RESERVE - done, false);
        }
    }

    /// Units `from..to` are handed out for the first time: while on huge pages, time the
    /// first whole huge page among them, and switch the rest of the region to small pages
    /// after two slow ones in a row.
    fn fresh(&mut self, from: usize, to: usize) {
        if !self.huge {
            return;
        }
        let (start, end) = (self.base + from * UNIT, self.base + to * UNIT);
        let page = start.next_multiple_of(HUGE);
        if page < FIRST_PROBES * HUGE + self.base || page + HUGE > end {
            return;
        }
        let (quick, took) = probe(page);
        self.slowest_probe = self.slowest_probe.max(took);
        let was_slow = std::mem::replace(&mut self.slow_probe, !quick);
        if !quick && was_slow {
            self.huge = false;
            let rest = page + HUGE;
            advise(rest, self.base + RESERVE - rest, false);
        }
    }

    /// Reserve the region on first use; false if it is not available.
    fn ready(&mut self) -> bool {
        if self.base == 0 {
            let region = map_anonymous(RESERVE + HUGE);
            let bits = map_anonymous(UNITS / 8);
            match (region, bits) {
                (Some(r), Some(b)) => {
                    self.base = r.next_multiple_of(HUGE);
                    self.resident = b as *mut u64;
                    self.choose_pages();
                }
                _ => self.base = 1,
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
        // Five steps and a bit, half written before (those pages are there already).
        let len = 5 * PREFAULT_STEP + 12_345;
        let mut v = vec![0u8; len];
        for (i, x) in v[..len / 2].iter_mut().enumerate() {
            *x = (i % 251) as u8 + 1;
        }
        let ranges = [(v.as_ptr() as usize + 1, len - 1)];
        // Whether the last whole page of `v` is in memory.
        let last_page_resident = || {
            let page = (v.as_ptr() as usize + len) / 4096 * 4096 - 4096;
            let mut vec = [0u8; 1];
            // SAFETY: one page inside `v`'s allocation; `vec` has room for its one entry.
            let r = unsafe { libc::mincore(page as *mut libc::c_void, 4096, vec.as_mut_ptr()) };
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
            let s = state();
            assert_eq!(s.live, 0);
            assert!(s.live + s.resident_free <= s.peak + SLACK);
        }
    }

    #[test]
    fn kept_memory_never_goes_above_the_live_peak() {
        let mut r = Region {
            base: map_anonymous(3 * SLACK * UNIT).unwrap(),
            top: 0,
            holes: [(0, 0); MAX_HOLES],
            len: 0,
            resident: Box::leak(vec![0u64; 1 << 10].into_boxed_slice()).as_mut_ptr(),
            resident_free: 0,
            live: 0,
            peak: 0,
            huge: false,
            slow_probe: false,
            slowest_probe: std::time::Duration::ZERO,
        };
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
}
