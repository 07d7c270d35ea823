//! A global allocator that asks Linux for transparent huge pages on big blocks.
//!
//! The graph lives in a few dozen column vectors of tens to hundreds of MB each. Filled
//! 4 KiB page by page, a 9M-node snapshot costs a few hundred thousand page faults, about a
//! fifth of the CPU time of a run. Blocks of at least [`THRESHOLD`] bytes are marked
//! `MADV_HUGEPAGE` right after the system allocator returns them (glibc maps such blocks
//! fresh, untouched), so the kernel backs them with 2 MiB pages where it can: 512 times fewer
//! faults. Everything else is the system allocator unchanged. Where the kernel says no (huge
//! pages disabled, another OS), the advice is ignored and nothing else changes.
//!
//! Freed big blocks are also kept (up to eight) for the next big allocation they
//! fit (at most a quarter bigger than asked for). A fresh page costs a fault and the
//! kernel clearing it, which on a virtual machine can mean the host backing it first
//! (0.4–2.6 s per GB measured here); a kept block is already resident, and clearing it for a
//! zeroed allocation is a user-space memset. The build frees and asks for several 36 MB
//! columns (one `u32` per node) in turn. A big allocation that no kept block fits first
//! returns every kept block to the system, so keeping blocks never adds to the peak of
//! big blocks.

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

/// Freed big blocks kept for the next big allocation they fit. Each is a glibc block of
/// at least `size` bytes, already faulted in.
struct Kept {
    blocks: [(usize, usize); KEPT],
    len: usize,
}

/// At most this many blocks are kept.
const KEPT: usize = 8;

static RECYCLED: std::sync::Mutex<Kept> = std::sync::Mutex::new(Kept {
    blocks: [(0, 0); KEPT],
    len: 0,
});

/// Blocks the system allocator aligns on its own (glibc: 16 bytes); only those are kept.
const PLAIN_ALIGN: usize = 16;

impl Kept {
    /// A kept block of at least `size` bytes and at most a quarter more, the smallest one.
    fn take(&mut self, size: usize) -> Option<*mut u8> {
        let fits = |&(_, s): &(usize, usize)| s >= size && s - size <= size / 4;
        let k = (0..self.len)
            .filter(|&k| fits(&self.blocks[k]))
            .min_by_key(|&k| self.blocks[k].1)?;
        let (p, _) = self.blocks[k];
        self.len -= 1;
        self.blocks[k] = self.blocks[self.len];
        Some(p as *mut u8)
    }

    /// Keep a freed block of at least `size` bytes, if there is room.
    fn keep(&mut self, p: *mut u8, size: usize) -> bool {
        if self.len == KEPT {
            return false;
        }
        self.blocks[self.len] = (p as usize, size);
        self.len += 1;
        true
    }

    /// Return every kept block to the system.
    fn release(&mut self) {
        for &(p, s) in &self.blocks[..self.len] {
            // SAFETY: each kept block came from `System` with this size and PLAIN_ALIGN,
            // and nothing else holds it.
            unsafe {
                System.dealloc(
                    p as *mut u8,
                    Layout::from_size_align_unchecked(s, PLAIN_ALIGN),
                )
            };
        }
        self.len = 0;
    }
}

/// Whether a block of this layout is one that is recycled.
fn recycled(layout: Layout) -> bool {
    layout.size() >= THRESHOLD && layout.align() <= PLAIN_ALIGN
}

/// The kept blocks, under their lock.
fn kept() -> std::sync::MutexGuard<'static, Kept> {
    RECYCLED.lock().unwrap_or_else(|e| e.into_inner())
}

/// A kept block for `layout` (cleared if `zeroed`). On a miss every kept block goes back
/// to the system first, so that none sits beside the fresh block the caller takes next.
fn reuse(layout: Layout, zeroed: bool) -> Option<*mut u8> {
    let mut kept = kept();
    let Some(p) = kept.take(layout.size()) else {
        kept.release();
        return None;
    };
    drop(kept);
    if zeroed {
        // SAFETY: the block holds at least layout.size() bytes and is ours.
        unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
    }
    Some(p)
}

// SAFETY: every block comes from `System` with the caller's size or larger, at
// PLAIN_ALIGN or the caller's alignment; a kept block is handed out to one caller at a time
// (under the lock) and only after its owner freed it; `advise` only adds a hint.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = recycled(layout).then(|| reuse(layout, false)).flatten() {
            return p;
        }
        let p = System.alloc(layout);
        if !p.is_null() && layout.size() >= THRESHOLD {
            advise(p, layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = recycled(layout).then(|| reuse(layout, true)).flatten() {
            return p;
        }
        let p = System.alloc_zeroed(layout);
        if !p.is_null() && layout.size() >= THRESHOLD {
            advise(p, layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if recycled(layout) && kept().keep(p, layout.size()) {
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_big_block_comes_back_zeroed_only_for_a_size_it_fits() {
        // The only test that calls this allocator (the library's tests run on the system
        // allocator), so the kept blocks are this test's alone.
        let a = HugePages;
        let size = 2 * THRESHOLD;
        let layout = Layout::from_size_align(size, 8).unwrap();
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 0xAB, size);
            a.dealloc(p, layout);
            // Same size, zeroed: the same block, cleared.
            let q = a.alloc_zeroed(layout);
            assert_eq!(q, p);
            assert!(std::slice::from_raw_parts(q, size).iter().all(|&b| b == 0));
            a.dealloc(q, layout);
            // A quarter smaller still fits; more than a quarter smaller does not.
            let smaller = Layout::from_size_align(size - size / 5, 8).unwrap();
            let r = a.alloc(smaller);
            assert_eq!(r, p);
            a.dealloc(r, smaller);
            let small = Layout::from_size_align(size / 2 + 4096, 8).unwrap();
            let s = a.alloc(small);
            assert_ne!(s, p);
            // That miss returned the kept block to the system: nothing is kept now.
            assert_eq!(kept().len, 0);
            a.dealloc(s, small);
            // Over-aligned blocks are never kept.
            let aligned = Layout::from_size_align(size, 4096).unwrap();
            let t = a.alloc(aligned);
            a.dealloc(t, aligned);
            assert_eq!(kept().len, 1);
        }
    }
}
