//! jemalloc (and gperftools) heap profiles: the data model of one dump, its parser, the
//! `MAPPED_LIBRARIES` section, and un-sampling.
//!
//! This module owns everything that can be known from the dump's bytes alone. Turning
//! addresses into functions is [`crate::symbolize`]'s job; comparing two dumps is
//! [`crate::jemalloc_diff`]'s.
//!
//! Two layouts are read (both described in `shared/docs/formats.md`):
//!
//! - **`heap_v2`** (jemalloc ≥ 4): a `heap_v2/<period>` line, the all-threads `t*:` line and
//!   one `t<N>:` line per thread (optionally followed by the thread's name, which may contain
//!   spaces), then per stack an `@ 0x… 0x…` line, its `t*:` line and its per-thread lines.
//! - **legacy** (jemalloc 3, gperftools): `heap profile: N: N [N: N] @ heap_v2/<period>` and
//!   then one `N: N [N: N] @ 0x… 0x…` line per stack.
//!
//! Either may end with `MAPPED_LIBRARIES:` (or gperftools' `--- Memory map: ---`) and a copy
//! of `/proc/<pid>/maps`.
//!
//! Counts are kept exactly as written. The header's totals are kept for display only: under
//! sampling jemalloc 5.3 writes distorted per-stack counts that only
//! [`unsample`](unsample::unsample) turns back into estimates, so the header is not the sum of
//! the stacks and must never be used as a total.

mod maps;
mod parse;
pub mod unsample;

pub use maps::parse_maps;
pub use parse::{parse, MAX_COUNT, MAX_SAMPLE_PERIOD, MAX_STACK_DEPTH};
pub use unsample::{unsample, Sampling, Unsampled};

/// One `curobjs: curbytes [accumobjs: accumbytes]` group, as written in the dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Live (sampled) objects.
    pub curobjs: u64,
    /// Live (sampled) bytes, in allocator size classes.
    pub curbytes: u64,
    /// Objects allocated since start; 0 unless jemalloc ran with `prof_accum`.
    pub accumobjs: u64,
    /// Bytes allocated since start; 0 unless jemalloc ran with `prof_accum`.
    pub accumbytes: u64,
}

/// Which of the two text layouts a dump uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `heap_v2/<period>` with `t*:` / `t<N>:` lines (jemalloc ≥ 4).
    HeapV2,
    /// `heap profile: …` with one line per stack (jemalloc 3, gperftools).
    Legacy,
}

/// One per-thread summary line of a `heap_v2` header (`t<N>: … [<name>]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSummary {
    /// jemalloc's thread uid (the `N` of `t<N>`).
    pub thread: u64,
    pub counts: Counts,
    /// The name set with `thread.prof.name`, if any (may contain spaces).
    pub name: Option<String>,
}

/// One line of the `MAPPED_LIBRARIES` section (a `/proc/<pid>/maps` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    /// One past the last mapped address.
    pub end: u64,
    /// `rwxp`-style permissions, as written.
    pub perms: [u8; 4],
    /// Offset into the file of `start`.
    pub offset: u64,
    /// Device as written (`fe:00`).
    pub dev: String,
    /// Inode of the file; 0 for anonymous mappings.
    pub inode: u64,
    /// The file (or `[vdso]`, `[stack]`, …); empty for anonymous mappings. A trailing
    /// ` (deleted)` is removed and recorded in `deleted`.
    pub path: String,
    /// The file had been deleted (or replaced) when the dump was taken.
    pub deleted: bool,
}

impl Mapping {
    /// Whether the mapping is executable (`r-xp`).
    pub fn is_executable(&self) -> bool {
        self.perms[2] == b'x'
    }

    /// Whether the mapping is backed by a file on disk (not anonymous, not `[vdso]`).
    pub fn is_file(&self) -> bool {
        self.path.starts_with('/')
    }
}

/// Where one stack's addresses sit in [`Profile`]'s shared address column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StackRecord {
    first: usize,
    len: usize,
    counts: Counts,
    offset: u64,
}

/// One stack of a dump, borrowed from its [`Profile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stack<'a> {
    /// Return addresses, innermost first, as written (not yet adjusted by −1).
    pub addrs: &'a [u64],
    /// The stack's all-threads (`t*`) counts, as written (still sampled).
    pub counts: Counts,
    /// Byte offset of the stack's line in the input, for messages.
    pub offset: u64,
}

/// One parsed heap profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub format: Format,
    /// How the counts were sampled, from the header.
    pub sampling: Sampling,
    /// The header's all-threads counts, as written. Not a total: see the module docs.
    pub header: Counts,
    /// The header's per-thread lines (`heap_v2` only).
    pub threads: Vec<ThreadSummary>,
    /// The `MAPPED_LIBRARIES` section, sorted by start address; `None` when the dump has
    /// none (jemalloc could not read `/proc/<pid>/maps`).
    pub mappings: Option<Vec<Mapping>>,
    addrs: Vec<u64>,
    stacks: Vec<StackRecord>,
}

impl Profile {
    /// Number of stacks in the dump.
    pub fn stack_count(&self) -> usize {
        self.stacks.len()
    }

    /// Total number of addresses over all stacks.
    pub fn address_count(&self) -> usize {
        self.addrs.len()
    }

    /// Stack `i`, in file order.
    pub fn stack(&self, i: usize) -> Option<Stack<'_>> {
        self.stacks.get(i).map(|r| self.view(r))
    }

    /// All stacks, in file order.
    pub fn stacks(&self) -> impl ExactSizeIterator<Item = Stack<'_>> + '_ {
        self.stacks.iter().map(|r| self.view(r))
    }

    /// Stack `i`'s un-sampled estimate (see [`unsample()`]).
    pub fn unsampled(&self, i: usize) -> Option<Unsampled> {
        self.stacks
            .get(i)
            .map(|r| unsample(r.counts.curobjs, r.counts.curbytes, self.sampling))
    }

    /// The mapping that contains `addr`, if the dump has mappings and one does.
    pub fn mapping_of(&self, addr: u64) -> Option<&Mapping> {
        let i = self.mapping_index_of(addr)?;
        self.mappings.as_ref()?.get(i)
    }

    /// Index in [`Profile::mappings`] of the mapping that contains `addr`.
    pub fn mapping_index_of(&self, addr: u64) -> Option<usize> {
        let maps = self.mappings.as_deref()?;
        let i = maps.partition_point(|m| m.start <= addr).checked_sub(1)?;
        (addr < maps[i].end).then_some(i)
    }

    fn view(&self, r: &StackRecord) -> Stack<'_> {
        Stack {
            addrs: &self.addrs[r.first..r.first + r.len],
            counts: r.counts,
            offset: r.offset,
        }
    }
}
