//! A global allocator that asks Linux for transparent huge pages on big blocks.
//!
//! The graph lives in a few dozen column vectors of tens to hundreds of MB each. Filled
//! 4 KiB page by page, a 9M-node snapshot costs a few hundred thousand page faults, about a
//! fifth of the CPU time of a run. Blocks of at least [`THRESHOLD`] bytes are marked
//! `MADV_HUGEPAGE` right after the system allocator returns them (glibc maps such blocks
//! fresh, untouched), so the kernel backs them with 2 MiB pages where it can: 512 times fewer
//! faults. Everything else is the system allocator unchanged. Where the kernel says no (huge
//! pages disabled, another OS), the advice is ignored and nothing else changes.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks smaller than this are left alone: a huge page only pays off when it is filled.
pub const THRESHOLD: usize = 8 << 20;

/// The system allocator, with huge-page advice on big blocks. Install it in a binary with
/// `#[global_allocator] static A: heapdiff::hugepages::HugePages = heapdiff::hugepages::HugePages;`.
pub struct HugePages;

const HUGE: usize = 2 << 20;

#[cfg(target_os = "linux")]
fn advise(p: *mut u8, size: usize) {
    let start = (p as usize).next_multiple_of(HUGE);
    let end = (p as usize + size) & !(HUGE - 1);
    if end > start {
        // SAFETY: the range lies inside a block the allocator just handed out; MADV_HUGEPAGE
        // changes how the kernel backs it, never its contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_p: *mut u8, _size: usize) {}

// SAFETY: every call goes to `System` with the caller's arguments; `advise` only adds a hint.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() && layout.size() >= THRESHOLD {
            advise(p, layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() && layout.size() >= THRESHOLD {
            advise(p, layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout)
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() && new_size >= THRESHOLD {
            advise(q, new_size);
        }
        q
    }
}

/// Fix glibc's mmap threshold at 1 MiB. Left alone, glibc raises it to the size of the
/// biggest block freed so far (up to 32 MiB), after which the parsers' per-chunk buffers of a
/// few MB come from the heap arenas, and what they leave behind when freed stays resident:
/// about 65 MB on a 9M-node snapshot. Above the fixed threshold every block is its own
/// mapping, returned to the system when freed.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called first thing in main.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
