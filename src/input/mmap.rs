//! The one place that maps files into memory (with `arena.rs`, where the crate uses
//! `unsafe`).
//!
//! Heap snapshots are read straight from the mapping; once a region has been parsed its pages
//! are dropped from this process (`MADV_DONTNEED`) so that peak RSS is the parsed arrays, not
//! the file: the page cache keeps them, so a second look only costs a minor fault.

use memmap2::{Advice, Mmap, UncheckedAdvice};
use std::fs::File;

/// A read-only mapping of a whole file.
pub struct Mapped {
    map: Mmap,
}

impl Mapped {
    pub fn open(file: &File) -> std::io::Result<Mapped> {
        // SAFETY: the mapping is read-only and private to this process. If another process
        // truncates the file while we read it, accesses past the new end raise SIGBUS; heap
        // dumps are written once and then read, and the same caveat holds for every tool
        // that maps its input (ripgrep, DevTools' loader via the browser cache).
        let map = unsafe { Mmap::map(file)? };
        let _ = map.advise(Advice::Sequential);
        Ok(Mapped { map })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Drop the pages of `start..end` from this process's resident set.
    pub fn release(&self, start: usize, end: usize) {
        let page = 4096;
        let start = start.div_ceil(page) * page;
        let end = end.min(self.map.len()) / page * page;
        if end > start {
            // SAFETY: the mapping is read-only and file-backed, so MADV_DONTNEED only drops
            // our page-table entries; the next access re-reads the same bytes from the page
            // cache. No Rust reference observes different contents.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }
}
