//! Native stacks to functions, for jemalloc heap profiles.
//!
//! This module owns the way from a raw return address in a dump to the frames a person reads:
//!
//! 1. **Mapping.** The dump's own `MAPPED_LIBRARIES` section says which file was mapped where,
//!    so an address becomes (module, file offset) = (path, `addr − start + offset`). Every
//!    frame but the innermost is a return address, which points after the call: it is looked
//!    up as `addr − 1` so that the line is the call's, not the next statement's.
//! 2. **Finding the module.** The file at the dump's path is used when its inode matches the
//!    dump's and its `PT_LOAD` layout matches the mappings. Otherwise the `search_dirs` are
//!    searched by file name; a candidate must have the same build id as the original when the
//!    original is known, else the same load layout as the dump's mappings. A module that
//!    cannot be found, or changed since the dump, is reported once (a warning string) and its
//!    frames fall back to `module+0xoffset` names, which are still stable across processes.
//! 3. **Resolving.** DWARF (with inline frames) from the binary, or from a separate debug file
//!    found by build id (`<dir>/.build-id/xx/yyyy.debug`) or `.gnu_debuglink` (next to the
//!    binary, in `.debug/`, under each debug dir, in each search dir); ELF `.symtab` and
//!    `.dynsym` (with symbol sizes) where DWARF has nothing.
//! 4. **Trimming.** Allocator frames at the innermost end of each stack are dropped: anything
//!    mapped from libjemalloc, and the functions in [`ALLOCATOR_FUNCTIONS`] /
//!    [`ALLOCATOR_PREFIXES`].
//!
//! The crate is `addr2line` (gimli's DWARF reader, the one Rust's own backtraces use) plus
//! `object` for the ELF parts: both are small, maintained by the gimli-rs team, and build on
//! this crate's `rust-version`. `blazesym` would also follow debug links, but it needs a newer
//! compiler and we need `object` anyway to read build ids and load segments for verifying
//! moved binaries.
//!
//! Everything is cached: one open module per (path, inode), one lookup per (module, file
//! offset). Two dumps of one binary, from one process or two, share both caches.

mod rust_names;

pub use rust_names::canonical_rust_name;

use crate::fasthash::FastMap;
use crate::input::jemalloc::{Mapping, Profile, Sampling};
use crate::input::mmap::Mapped;
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Functions that are the allocator itself, matched against the bare (demangled, argument
/// list removed) name. A stack's innermost frames are dropped while they match.
pub const ALLOCATOR_FUNCTIONS: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "free",
    "memalign",
    "posix_memalign",
    "aligned_alloc",
    "valloc",
    "pvalloc",
    "mallocx",
    "rallocx",
    "xallocx",
    "sdallocx",
    "__libc_malloc",
    "__libc_calloc",
    "__libc_realloc",
    "__libc_memalign",
    "__rust_alloc",
    "__rust_alloc_zeroed",
    "__rust_realloc",
    "__rdl_alloc",
    "__rdl_alloc_zeroed",
    "__rdl_realloc",
    "__rg_alloc",
    "__rg_alloc_zeroed",
    "__rg_realloc",
];

/// Name prefixes of allocator frames: jemalloc's internals (`je_*`, `imalloc*`, `prof_*`), the
/// `_rjem_` prefix of Rust builds (tikv-jemallocator), every `operator new` (demangled, and
/// mangled: `_Znwm`, `_Znam`, `_ZnwmRKSt9nothrow_t`, `_ZnwmSt11align_val_t`, …), and jemalloc's
/// C++ `newImpl`.
pub const ALLOCATOR_PREFIXES: &[&str] = &[
    "je_",
    "imalloc",
    "prof_",
    "_rjem_",
    "operator new",
    "_Znw",
    "_Zna",
    "newImpl",
    "<tikv_jemallocator::Jemalloc as core::alloc::global::GlobalAlloc>::",
];

/// Name prefixes of Rust's global-allocator glue (`alloc::alloc::alloc`, `alloc_zeroed`,
/// `<alloc::alloc::Global>::alloc_impl`, `<alloc::alloc::Global as
/// core::alloc::Allocator>::allocate`, the `__rustc::__rust_alloc` shims). Allocator frames
/// too, but usually inlined into the code that allocates (`Box::new` in a user function): only
/// these frames are trimmed, not the function they were inlined into.
pub const INLINED_GLUE_PREFIXES: &[&str] = &[
    "alloc::alloc::",
    "<alloc::alloc::Global",
    // The allocator shims only: `__rustc::__rust_start_panic` and friends allocate nothing.
    "__rustc::__rust_alloc",
    "__rustc::__rust_realloc",
    "__rustc::__rust_dealloc",
];

/// File name prefix of the jemalloc shared library: every frame mapped from it is allocator.
pub const ALLOCATOR_LIBRARY_PREFIX: &str = "libjemalloc";

/// How deep the `search_dirs` are walked looking for binaries by name.
pub const SEARCH_MAX_DEPTH: usize = 8;

/// Most directory entries read from the `search_dirs` (a guard against pointing `--symbols` at
/// `/`).
pub const SEARCH_MAX_ENTRIES: usize = 200_000;

/// Page sizes a mapping's offset and length may be rounded to (x86-64 4 KiB; arm64 4, 16 or
/// 64 KiB), for the load-layout check.
const PAGE_SIZES: [u64; 3] = [4096, 16384, 65536];

/// Where to look for binaries and debug files.
#[derive(Debug, Clone)]
pub struct SymbolizeOptions {
    /// Folders searched (recursively, by file name) for binaries that are not at the dump's
    /// path any more or changed since (`--symbols DIR`), and for debug files.
    pub search_dirs: Vec<PathBuf>,
    /// Roots of separate debug files (`.build-id/xx/yyyy.debug` and debug-link trees).
    pub debug_dirs: Vec<PathBuf>,
    /// Open binaries at all. `false` names every frame `module+0xoffset` without touching the
    /// file system (deterministic; what a dump says and nothing else).
    pub read_files: bool,
}

impl Default for SymbolizeOptions {
    fn default() -> Self {
        SymbolizeOptions {
            search_dirs: Vec::new(),
            debug_dirs: vec![PathBuf::from("/usr/lib/debug")],
            read_files: true,
        }
    }
}

impl SymbolizeOptions {
    /// Options that never open a file: frames are `module+0xoffset`.
    pub fn addresses_only() -> Self {
        SymbolizeOptions {
            read_files: false,
            ..SymbolizeOptions::default()
        }
    }
}

/// Index of a [`Frame`] in its [`Symbolizer`].
pub type FrameId = u32;

/// One frame of a symbolized stack. A return address with inlined calls expands to several
/// frames, innermost first; all but the last have `inlined` set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Frame {
    /// The bare function name (demangled, argument list removed); for an unresolved address
    /// `module+0xoffset` (the file offset looked up), or `0x…` when no mapping holds it.
    pub function: String,
    /// Source file, when DWARF knows it.
    pub file: Option<String>,
    /// Source line (of the call, for return addresses), when DWARF knows it.
    pub line: Option<u32>,
    /// File name of the module the address is in (`""` when unmapped).
    pub module: String,
    /// This frame was inlined into the next one (same address).
    pub inlined: bool,
    /// The address is inside the allocator (trimmed at the innermost end of stacks).
    pub allocator: bool,
    /// The name came from symbols or DWARF (not a `module+0xoffset` fallback).
    pub resolved: bool,
}

/// One stack after symbolization: allocator frames trimmed, counts un-sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolizedStack {
    /// Frames, innermost first, without the allocator frames at the innermost end. Never
    /// empty: a stack with no addresses is `(no backtrace)`, one made only of allocator
    /// frames is `(allocator)`.
    pub frames: Box<[FrameId]>,
    /// Un-sampled live objects (see [`unsample`](mod@crate::input::jemalloc::unsample)).
    pub objects: u64,
    /// Un-sampled live bytes.
    pub bytes: u64,
}

/// A profile with every stack symbolized. Frame ids index the [`Symbolizer`] that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolizedProfile {
    pub stacks: Vec<SymbolizedStack>,
    pub sampling: Sampling,
}

impl SymbolizedProfile {
    /// Sum of the un-sampled live bytes of all stacks.
    pub fn total_bytes(&self) -> u64 {
        self.stacks
            .iter()
            .fold(0u64, |a, s| a.saturating_add(s.bytes))
    }
    /// Sum of the un-sampled live objects of all stacks.
    pub fn total_objects(&self) -> u64 {
        self.stacks
            .iter()
            .fold(0u64, |a, s| a.saturating_add(s.objects))
    }
}

/// One loadable segment of an ELF file: file range and the virtual address it maps to.
#[derive(Debug, Clone, Copy)]
struct Segment {
    file_offset: u64,
    file_size: u64,
    vaddr: u64,
    executable: bool,
}

/// A function symbol: address, size (0 when unknown), name as in the symbol table (demangled
/// only when an address resolves to it: a big C++ binary has a million symbols).
#[derive(Debug)]
struct Symbol {
    addr: u64,
    size: u64,
    name: Box<str>,
}

/// What one ELF file says about itself.
struct ElfInfo {
    build_id: Option<Vec<u8>>,
    debuglink: Option<(Vec<u8>, u32)>,
    segments: Vec<Segment>,
    has_dwarf: bool,
    symbols: Vec<Symbol>,
}

/// A module that was found and opened.
struct LoadedModule {
    /// Load segments of the binary (to turn file offsets into the addresses DWARF uses).
    segments: Vec<Segment>,
    /// DWARF of the binary or its debug file, if any.
    dwarf: Option<addr2line::Loader>,
    /// Function symbols of the binary and its debug file, sorted by address.
    symbols: Vec<Symbol>,
}

struct Module {
    /// File name shown in fallback names.
    name: String,
    loaded: Option<LoadedModule>,
}

/// The result of looking up one address: a run of frames and whether it is allocator code.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: u32,
    len: u32,
    allocator: bool,
}

/// Turns profiles' addresses into frames. Keeps every module it opened and every address it
/// resolved, so it can be reused for several dumps (their frame ids are then comparable).
pub struct Symbolizer {
    options: SymbolizeOptions,
    modules: Vec<Module>,
    module_ids: HashMap<(String, u64), usize>,
    frames: Vec<Frame>,
    frame_ids: HashMap<Frame, FrameId>,
    group_frames: Vec<FrameId>,
    groups: FastMap<(usize, u64), Group>,
    warnings: Vec<String>,
    name_index: Option<HashMap<OsString, Vec<PathBuf>>>,
}

/// Lookups already made for one profile: by (adjusted) address, and the module of each of
/// its mappings. Saves the mapping search and the module key on every repeat address.
struct ProfileCache {
    by_probe: FastMap<u64, Group>,
    modules: Vec<Option<usize>>,
}

/// Module id used in the lookup cache for addresses not in a file mapping.
const NO_MODULE: usize = usize::MAX;

impl Symbolizer {
    pub fn new(options: SymbolizeOptions) -> Self {
        Symbolizer {
            options,
            modules: Vec::new(),
            module_ids: HashMap::new(),
            frames: Vec::new(),
            frame_ids: HashMap::new(),
            group_frames: Vec::new(),
            groups: FastMap::default(),
            warnings: Vec::new(),
            name_index: None,
        }
    }

    /// The frame with this id.
    pub fn frame(&self, id: FrameId) -> &Frame {
        &self.frames[id as usize]
    }

    /// All frames, indexed by [`FrameId`].
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Problems met so far (missing or changed modules, dumps without mappings), each once.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Symbolize every stack of `profile` and un-sample its counts.
    pub fn symbolize(&mut self, profile: &Profile) -> SymbolizedProfile {
        if profile.mappings.is_none() && profile.address_count() > 0 {
            self.warn(
                "a dump has no MAPPED_LIBRARIES section: its addresses cannot be symbolized and \
                 are shown raw (they differ between processes)"
                    .to_string(),
            );
        }
        let mut cache = ProfileCache {
            by_probe: FastMap::default(),
            modules: vec![None; profile.mappings.as_ref().map_or(0, Vec::len)],
        };
        let mut stacks = Vec::with_capacity(profile.stack_count());
        let mut frames: Vec<FrameId> = Vec::new();
        for (i, stack) in profile.stacks().enumerate() {
            frames.clear();
            let mut trimming = true;
            for (k, &addr) in stack.addrs.iter().enumerate() {
                let g = self.lookup(profile, &mut cache, addr, k > 0);
                if trimming && g.allocator {
                    continue;
                }
                let mut run = &self.group_frames[g.start as usize..(g.start + g.len) as usize];
                if trimming {
                    // Allocator glue inlined into the caller (Rust's `alloc::alloc::alloc`
                    // inside `Box::new`): drop those frames, keep the caller's.
                    while let [first, rest @ ..] = run {
                        if !self.frames[*first as usize].allocator {
                            break;
                        }
                        run = rest;
                    }
                }
                trimming = false;
                frames.extend_from_slice(run);
            }
            if frames.is_empty() {
                let label = if stack.addrs.is_empty() {
                    "(no backtrace)"
                } else {
                    "(allocator)"
                };
                let id = self.intern(pseudo_frame(label));
                frames.push(id);
            }
            let u = profile.unsampled(i).unwrap_or_default();
            stacks.push(SymbolizedStack {
                frames: frames.as_slice().into(),
                objects: u.objects,
                bytes: u.bytes,
            });
        }
        SymbolizedProfile {
            stacks,
            sampling: profile.sampling,
        }
    }

    /// The frames for one address of `profile` (innermost first) and whether it is allocator
    /// code. `is_return`: the address is a return address (every frame but a stack's first).
    pub fn frames_at(
        &mut self,
        profile: &Profile,
        addr: u64,
        is_return: bool,
    ) -> (Vec<Frame>, bool) {
        let mut cache = ProfileCache {
            by_probe: FastMap::default(),
            modules: vec![None; profile.mappings.as_ref().map_or(0, Vec::len)],
        };
        let g = self.lookup(profile, &mut cache, addr, is_return);
        let run = g.start as usize..(g.start + g.len) as usize;
        let frames = self.group_frames[run]
            .iter()
            .map(|&id| self.frames[id as usize].clone())
            .collect();
        (frames, g.allocator)
    }

    fn warn(&mut self, w: String) {
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// The id of `f`, adding it if new (for building stacks by hand, e.g. in tests).
    pub fn intern(&mut self, f: Frame) -> FrameId {
        if let Some(&id) = self.frame_ids.get(&f) {
            return id;
        }
        let id = self.frames.len() as FrameId;
        self.frames.push(f.clone());
        self.frame_ids.insert(f, id);
        id
    }

    fn push_group(&mut self, frames: Vec<Frame>, allocator: bool) -> Group {
        let start = self.group_frames.len() as u32;
        let len = frames.len() as u32;
        for f in frames {
            let id = self.intern(f);
            self.group_frames.push(id);
        }
        Group {
            start,
            len,
            allocator,
        }
    }

    fn lookup(
        &mut self,
        profile: &Profile,
        cache: &mut ProfileCache,
        addr: u64,
        is_return: bool,
    ) -> Group {
        // A return address points after the call: look up the call itself.
        let probe = if is_return {
            addr.wrapping_sub(1)
        } else {
            addr
        };
        if let Some(&g) = cache.by_probe.get(&probe) {
            return g;
        }
        let g = self.lookup_uncached(profile, cache, probe);
        cache.by_probe.insert(probe, g);
        g
    }

    fn lookup_uncached(
        &mut self,
        profile: &Profile,
        cache: &mut ProfileCache,
        probe: u64,
    ) -> Group {
        let (Some(i), Some(maps)) = (profile.mapping_index_of(probe), &profile.mappings) else {
            return self.cached((NO_MODULE, probe), |_| {
                (vec![pseudo_frame(&format!("{probe:#x}"))], false)
            });
        };
        let m = &maps[i];
        if !m.is_file() {
            let label = if m.path.is_empty() {
                "[anon]".to_string()
            } else {
                m.path.clone()
            };
            let frame = pseudo_frame(&format!("{label}+{:#x}", probe - m.start));
            return self.cached((NO_MODULE, probe), |_| (vec![frame], false));
        }
        // Offsets come from the dump: wrap rather than trust them not to overflow.
        let file_offset = (probe - m.start).wrapping_add(m.offset);
        let module = match cache.modules.get(i).copied().flatten() {
            Some(id) => id,
            None => {
                let id = self.module_for(profile, m);
                if let Some(slot) = cache.modules.get_mut(i) {
                    *slot = Some(id);
                }
                id
            }
        };
        self.cached((module, file_offset), |me| me.resolve(module, file_offset))
    }

    fn cached(
        &mut self,
        key: (usize, u64),
        make: impl FnOnce(&mut Self) -> (Vec<Frame>, bool),
    ) -> Group {
        if let Some(&g) = self.groups.get(&key) {
            return g;
        }
        let (frames, allocator) = make(self);
        let g = self.push_group(frames, allocator);
        self.groups.insert(key, g);
        g
    }

    /// Frames for `file_offset` in module `id`.
    fn resolve(&mut self, id: usize, file_offset: u64) -> (Vec<Frame>, bool) {
        let module = &self.modules[id];
        let name = module.name.clone();
        let library_is_allocator = name.starts_with(ALLOCATOR_LIBRARY_PREFIX);
        let fallback = || Frame {
            function: format!("{name}+{file_offset:#x}"),
            file: None,
            line: None,
            module: name.clone(),
            inlined: false,
            allocator: library_is_allocator,
            resolved: false,
        };
        let Some(loaded) = &module.loaded else {
            return (vec![fallback()], library_is_allocator);
        };
        let Some(vaddr) = file_offset_to_vaddr(&loaded.segments, file_offset) else {
            return (vec![fallback()], library_is_allocator);
        };
        let mut frames = Vec::new();
        if let Some(dwarf) = &loaded.dwarf {
            if let Ok(mut iter) = dwarf.find_frames(vaddr) {
                while let Ok(Some(f)) = iter.next() {
                    let function = f.function.as_ref().and_then(|n| {
                        let raw = n.raw_name().ok()?;
                        Some(function_name(&raw, n.language))
                    });
                    let (file, line) = match &f.location {
                        Some(l) => (l.file.map(str::to_string), l.line),
                        None => (None, None),
                    };
                    frames.push((function, file, line));
                }
            }
        }
        // Where DWARF has no name (no unit covers the address, or a frame without a
        // function), the symbol table names the physical function.
        let symbol = lookup_symbol(&loaded.symbols, vaddr).map(|s| function_name(&s.name, None));
        if frames.is_empty() {
            frames.push((None, None, None));
        }
        let last = frames.len() - 1;
        let mut out = Vec::with_capacity(frames.len());
        for (i, (function, file, line)) in frames.into_iter().enumerate() {
            let function = function.or_else(|| if i == last { symbol.clone() } else { None });
            let resolved = function.is_some();
            out.push(Frame {
                function: function.unwrap_or_else(|| format!("{name}+{file_offset:#x}")),
                file,
                line,
                module: name.clone(),
                inlined: i != last,
                allocator: false,
                resolved,
            });
        }
        // The address is allocator code when its library is jemalloc, or when its physical
        // function (the outermost of the inline run) or its innermost frame is an allocator
        // function: inlined helpers of `malloc` are allocator too, whatever they are called.
        // Rust's allocator glue is the exception: inlined into the allocating function, only
        // its own frames are allocator (trimmed at the innermost end of a stack), so that the
        // function it was inlined into stays.
        let innermost = &out[0].function;
        let allocator = library_is_allocator
            || is_allocator_function(&out[last].function)
            || (is_allocator_function(innermost) && !is_inlined_glue(innermost));
        for f in &mut out {
            f.allocator = allocator || is_allocator_function(&f.function);
        }
        (out, allocator)
    }

    /// The module id for mapping `m`, opening (and verifying) it the first time.
    fn module_for(&mut self, profile: &Profile, m: &Mapping) -> usize {
        let key = (m.path.clone(), m.inode);
        if let Some(&id) = self.module_ids.get(&key) {
            return id;
        }
        let name = file_name(&m.path);
        let loaded = if self.options.read_files {
            let maps: Vec<&Mapping> = profile
                .mappings
                .iter()
                .flatten()
                .filter(|x| x.path == m.path && x.inode == m.inode)
                .collect();
            self.open_module(m, &maps)
        } else {
            None
        };
        let id = self.modules.len();
        self.modules.push(Module { name, loaded });
        self.module_ids.insert(key, id);
        id
    }

    /// Find, verify and open the file for the module mapped by `m` (`maps`: all the dump's
    /// mappings of it). Warns and returns `None` when no trustworthy file is found.
    fn open_module(&mut self, m: &Mapping, maps: &[&Mapping]) -> Option<LoadedModule> {
        let path = Path::new(&m.path);
        let mut problem = None;
        let mut original: Option<(PathBuf, ElfInfo)> = None;
        match std::fs::metadata(path) {
            Err(_) => problem = Some(format!("{}: not found", m.path)),
            Ok(meta) => {
                let inode = inode_of(&meta);
                if m.deleted {
                    problem = Some(format!(
                        "{}: was deleted or replaced while the process ran",
                        m.path
                    ));
                } else if m.inode != 0 && inode.is_some_and(|i| i != m.inode) {
                    problem = Some(format!(
                        "{}: changed since the dump (inode {} now, {} in the dump)",
                        m.path,
                        inode.unwrap_or(0),
                        m.inode
                    ));
                } else {
                    match read_elf(path) {
                        Err(e) => problem = Some(format!("{}: {e}", m.path)),
                        Ok(info) if !layout_matches(&info, maps) => {
                            problem = Some(format!(
                                "{}: changed since the dump (its load segments do not match the \
                                 dump's mappings)",
                                m.path
                            ))
                        }
                        Ok(info) => original = Some((path.to_path_buf(), info)),
                    }
                }
            }
        }

        if let Some((bin_path, info)) = original {
            // The dumped file itself. If it has no DWARF of its own or in a debug file, an
            // unstripped copy with the same build id in the search dirs may.
            let want = info.build_id.clone();
            let mut loaded = self.load(&bin_path, info);
            if loaded.dwarf.is_none() && !self.options.search_dirs.is_empty() {
                if let Some(want) = want {
                    for cand in self.candidates(&m.path) {
                        if cand == bin_path {
                            continue;
                        }
                        match read_elf(&cand) {
                            Ok(ci) if ci.build_id.as_deref() == Some(&want[..]) => {
                                let better = self.load(&cand, ci);
                                if better.dwarf.is_some()
                                    || better.symbols.len() > loaded.symbols.len()
                                {
                                    loaded = better;
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            if loaded.dwarf.is_none() && loaded.symbols.is_empty() {
                self.warn(format!(
                    "{}: stripped and no debug file found; its frames are shown as \
                     {}+0xOFFSET (point --symbols at an unstripped copy)",
                    m.path,
                    file_name(&m.path)
                ));
            }
            return Some(loaded);
        }

        // The original is missing or changed: look for a copy by name.
        let mut rejected = Vec::new();
        for cand in self.candidates(&m.path) {
            match read_elf(&cand) {
                Ok(info) if layout_matches(&info, maps) => {
                    let loaded = self.load(&cand, info);
                    self.warn(format!(
                        "{} (using {}, matched by name and load layout)",
                        problem.unwrap_or_else(|| m.path.clone()),
                        cand.display()
                    ));
                    return Some(loaded);
                }
                _ => rejected.push(cand.display().to_string()),
            }
        }
        let name = file_name(&m.path);
        let mut w = format!(
            "{}; its frames are shown as {name}+0xOFFSET",
            problem.unwrap_or_else(|| format!("{}: cannot be used", m.path))
        );
        if rejected.is_empty() {
            if self.options.search_dirs.is_empty() {
                w.push_str(" (point --symbols at a folder holding the binary)");
            }
        } else {
            w.push_str(&format!(
                " ({} does not match the dump's load layout)",
                rejected.join(", ")
            ));
        }
        self.warn(w);
        None
    }

    /// Open `bin` for lookups: its segments and symbols, and DWARF from it or its debug file.
    fn load(&mut self, bin: &Path, info: ElfInfo) -> LoadedModule {
        let mut symbols = info.symbols;
        let mut dwarf_path = info.has_dwarf.then(|| bin.to_path_buf());
        if dwarf_path.is_none() {
            if let Some((debug, debug_info)) =
                self.find_debug_file(bin, &info.build_id, &info.debuglink)
            {
                symbols.extend(debug_info.symbols);
                dwarf_path = Some(debug);
            }
        }
        let dwarf = dwarf_path.and_then(|p| match addr2line::Loader::new(&p) {
            Ok(l) => Some(l),
            Err(e) => {
                self.warn(format!("{}: cannot read DWARF: {e}", p.display()));
                None
            }
        });
        symbols.sort_by(|a, b| a.addr.cmp(&b.addr).then(b.size.cmp(&a.size)));
        symbols.dedup_by_key(|s| s.addr);

        LoadedModule {
            segments: info.segments,
            dwarf,
            symbols,
        }
    }

    /// A separate debug file for `bin`: by build id, then by `.gnu_debuglink` (verified by
    /// build id when both have one, else by the link's CRC32).
    fn find_debug_file(
        &mut self,
        bin: &Path,
        build_id: &Option<Vec<u8>>,
        debuglink: &Option<(Vec<u8>, u32)>,
    ) -> Option<(PathBuf, ElfInfo)> {
        let roots: Vec<PathBuf> = self
            .options
            .debug_dirs
            .iter()
            .chain(self.options.search_dirs.iter())
            .cloned()
            .collect();
        if let Some(id) = build_id.as_deref().filter(|id| id.len() >= 2) {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            for root in &roots {
                let p = root
                    .join(".build-id")
                    .join(&hex[..2])
                    .join(format!("{}.debug", &hex[2..]));
                if let Ok(info) = read_elf(&p) {
                    if info.has_dwarf && info.build_id.as_deref() == Some(id) {
                        return Some((p, info));
                    }
                }
            }
        }
        let (link, crc) = debuglink.as_ref()?;
        let link = Path::new(std::str::from_utf8(link).ok()?);
        let dir = bin.parent().unwrap_or(Path::new("/"));
        let abs_dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut cands = vec![dir.join(link), dir.join(".debug").join(link)];
        for root in &self.options.debug_dirs {
            cands.push(
                root.join(abs_dir.strip_prefix("/").unwrap_or(&abs_dir))
                    .join(link),
            );
        }
        for root in &self.options.search_dirs {
            cands.push(root.join(link));
        }
        for c in cands {
            if c == bin {
                continue;
            }
            let Ok(info) = read_elf(&c) else { continue };
            if !info.has_dwarf {
                continue;
            }
            let ok = match (build_id, &info.build_id) {
                (Some(a), Some(b)) => a == b,
                _ => file_crc32(&c) == Some(*crc),
            };
            if ok {
                return Some((c, info));
            } else {
                self.warn(format!(
                    "{}: debug link {} does not belong to this build; ignored",
                    bin.display(),
                    c.display()
                ));
            }
        }
        None
    }

    /// Files in the search dirs with the same file name as `path`, in a stable order.
    fn candidates(&mut self, path: &str) -> Vec<PathBuf> {
        if self.options.search_dirs.is_empty() {
            return Vec::new();
        }
        let index = self
            .name_index
            .get_or_insert_with(|| index_dirs(&self.options.search_dirs));
        let name = Path::new(path).file_name().map(|n| n.to_os_string());
        name.and_then(|n| index.get(&n).cloned())
            .unwrap_or_default()
    }
}

/// A frame that names a situation, not code.
fn pseudo_frame(label: &str) -> Frame {
    Frame {
        function: label.to_string(),
        file: None,
        line: None,
        module: String::new(),
        inlined: false,
        allocator: false,
        resolved: false,
    }
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

#[cfg(unix)]
fn inode_of(meta: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(meta.ino())
}

#[cfg(not(unix))]
fn inode_of(_meta: &std::fs::Metadata) -> Option<u64> {
    None
}

/// The bare, canonical name of a function from its raw (usually mangled) name, the same
/// whether DWARF or the symbol table gave it: Rust names in [`canonical_rust_name`]'s
/// spelling (so that a function is one row whichever mangling scheme its copy used), others
/// demangled with their argument list removed. `language`: the DWARF unit's, when known.
pub fn function_name(raw: &str, language: Option<addr2line::gimli::DwLang>) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(raw) {
        return canonical_rust_name(&format!("{d:#}"));
    }
    let demangled = addr2line::demangle_auto(raw.into(), language);
    if language == Some(addr2line::gimli::DW_LANG_Rust) {
        // A Rust unit's name that is not mangled (DWARF without a linkage name).
        return canonical_rust_name(&demangled);
    }
    bare_function_name(&demangled)
}

/// Whether `name` is Rust allocator glue ([`INLINED_GLUE_PREFIXES`]).
pub fn is_inlined_glue(name: &str) -> bool {
    INLINED_GLUE_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether `name` (a bare function name) is allocator code.
pub fn is_allocator_function(name: &str) -> bool {
    ALLOCATOR_FUNCTIONS.contains(&name)
        || ALLOCATOR_PREFIXES.iter().any(|p| name.starts_with(p))
        || is_inlined_glue(name)
}

/// A demangled name without its argument list and trailing qualifiers, as jeprof's short
/// names: `ns::Foo::bar(int) const` → `ns::Foo::bar`, `operator new[](unsigned long)` →
/// `operator new[]`. Template arguments and namespaces are kept.
pub fn bare_function_name(name: &str) -> String {
    let mut s = name.trim_end();
    loop {
        let before = s.len();
        for q in [" const", " volatile", " &&", " &", " noexcept"] {
            if let Some(t) = s.strip_suffix(q) {
                s = t.trim_end();
            }
        }
        if s.len() == before {
            break;
        }
    }
    if s.ends_with(')') {
        let mut depth = 0i32;
        for (i, c) in s.char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' => {
                    depth -= 1;
                    if depth == 0 {
                        if i > 0 {
                            s = s[..i].trim_end();
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    s.to_string()
}

/// The symbol containing `vaddr`: the last one starting at or before it, if `vaddr` is within
/// its size (symbols of unknown size are taken as reaching the next symbol).
fn lookup_symbol(symbols: &[Symbol], vaddr: u64) -> Option<&Symbol> {
    let i = symbols.partition_point(|s| s.addr <= vaddr);
    let s = symbols.get(i.checked_sub(1)?)?;
    (s.size == 0 || vaddr < s.addr.saturating_add(s.size)).then_some(s)
}

fn file_offset_to_vaddr(segments: &[Segment], off: u64) -> Option<u64> {
    segments
        .iter()
        .find(|s| off >= s.file_offset && off - s.file_offset < s.file_size)
        .map(|s| (off - s.file_offset).wrapping_add(s.vaddr))
}

/// Whether every executable mapping the dump has of a module lines up with an executable
/// `PT_LOAD` segment of `info` (same page-aligned file offset and length). A rebuilt or
/// different binary almost always moves or resizes its text.
fn layout_matches(info: &ElfInfo, maps: &[&Mapping]) -> bool {
    maps.iter().filter(|m| m.is_executable()).all(|m| {
        let len = m.end - m.start;
        info.segments.iter().filter(|s| s.executable).any(|s| {
            PAGE_SIZES.iter().any(|&page| {
                let start = s.file_offset / page * page;
                let end = s
                    .file_offset
                    .checked_add(s.file_size)
                    .and_then(|e| e.div_ceil(page).checked_mul(page));
                start == m.offset && end.is_some_and(|end| end - start == len)
            })
        })
    })
}

fn read_elf(path: &Path) -> Result<ElfInfo, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mapped = Mapped::open(&file).map_err(|e| format!("cannot map: {e}"))?;
    let obj = object::File::parse(mapped.bytes()).map_err(|e| format!("not an ELF file: {e}"))?;
    let build_id = obj.build_id().ok().flatten().map(<[u8]>::to_vec);
    let debuglink = obj
        .gnu_debuglink()
        .ok()
        .flatten()
        .map(|(n, crc)| (n.to_vec(), crc));
    let segments = obj
        .segments()
        .map(|s| {
            let (file_offset, file_size) = s.file_range();
            let executable = match s.flags() {
                object::SegmentFlags::Elf { p_flags } => p_flags & object::elf::PF_X != 0,
                _ => true,
            };
            Segment {
                file_offset,
                file_size,
                vaddr: s.address(),
                executable,
            }
        })
        .collect();
    let has_dwarf = obj
        .section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0);
    let mut symbols = Vec::new();
    // Functions, plus untyped labels in executable sections (assembly entry points such as
    // ld.so's `_dl_start_user`). Section flags, not kinds: in a debug-only file `.text` is
    // NOBITS, which `object` calls uninitialized data.
    let in_code = |sym: &object::Symbol<'_, '_>| {
        sym.section_index()
            .and_then(|i| obj.section_by_index(i).ok())
            .is_some_and(|s| match s.flags() {
                object::SectionFlags::Elf { sh_flags } => {
                    sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0
                }
                _ => false,
            })
    };
    for sym in obj.symbols().chain(obj.dynamic_symbols()) {
        let wanted = match sym.kind() {
            SymbolKind::Text => sym.is_definition(),
            // `object` counts size-0 untyped symbols as undefined; their section says more.
            SymbolKind::Unknown => in_code(&sym),
            _ => false,
        };
        if !wanted || sym.address() == 0 {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        if name.is_empty() {
            continue;
        }
        symbols.push(Symbol {
            addr: sym.address(),
            size: sym.size(),
            name: name.into(),
        });
    }
    Ok(ElfInfo {
        build_id,
        debuglink,
        segments,
        has_dwarf,
        symbols,
    })
}

fn file_crc32(path: &Path) -> Option<u32> {
    let file = File::open(path).ok()?;
    let mapped = Mapped::open(&file).ok()?;
    let mut h = crc32fast::Hasher::new();
    h.update(mapped.bytes());
    Some(h.finalize())
}

/// Map file name → paths under `dirs` (regular files, depth ≤ [`SEARCH_MAX_DEPTH`], at most
/// [`SEARCH_MAX_ENTRIES`] entries; symlinked folders are not followed).
fn index_dirs(dirs: &[PathBuf]) -> HashMap<OsString, Vec<PathBuf>> {
    let mut index: HashMap<OsString, Vec<PathBuf>> = HashMap::new();
    let mut seen = 0usize;
    let mut todo: Vec<(PathBuf, usize)> = dirs.iter().map(|d| (d.clone(), 0)).collect();
    while let Some((dir, depth)) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            seen += 1;
            if seen > SEARCH_MAX_ENTRIES {
                return index;
            }
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if depth < SEARCH_MAX_DEPTH {
                    todo.push((e.path(), depth + 1));
                }
            } else if ft.is_file() || ft.is_symlink() {
                index.entry(e.file_name()).or_default().push(e.path());
            }
        }
    }
    for v in index.values_mut() {
        v.sort();
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names() {
        assert_eq!(bare_function_name("main"), "main");
        assert_eq!(
            bare_function_name("ns::Foo::bar(int, char const*) const"),
            "ns::Foo::bar"
        );
        assert_eq!(
            bare_function_name("operator new(unsigned long)"),
            "operator new"
        );
        assert_eq!(
            bare_function_name("operator new[](unsigned long, std::nothrow_t const&)"),
            "operator new[]"
        );
        assert_eq!(
            bare_function_name("Foo::operator()(int)"),
            "Foo::operator()"
        );
        assert_eq!(
            bare_function_name("std::vector<int, std::allocator<int> >::push_back(int&&)"),
            "std::vector<int, std::allocator<int> >::push_back"
        );
        assert_eq!(
            bare_function_name("alloc::vec::Vec<T,A>::push"),
            "alloc::vec::Vec<T,A>::push"
        );
    }

    #[test]
    fn allocator_names() {
        for n in [
            "malloc",
            "calloc",
            "realloc",
            "posix_memalign",
            "aligned_alloc",
            "mallocx",
            "operator new",
            "operator new[]",
            "_Znwm",
            "_Znam",
            "_ZnwmRKSt9nothrow_t",
            "_ZnamSt11align_val_t",
            "je_malloc_default",
            "imalloc_body",
            "prof_backtrace_impl",
            "_rjem_malloc",
            "_rjem_je_prof_backtrace",
            "alloc::alloc::alloc",
            "alloc::alloc::alloc_zeroed",
            "<alloc::alloc::Global>::alloc_impl_runtime",
            "<alloc::alloc::Global as core::alloc::Allocator>::allocate",
            "__rustc::__rust_alloc",
        ] {
            assert!(is_allocator_function(n), "{n}");
        }
        for n in [
            "main",
            "remember_request",
            "mallocate_things",
            "std::vector<int>::push_back",
            "<alloc::raw_vec::RawVecInner>::try_allocate_in",
            "<alloc::boxed::Box<u8>>::new",
        ] {
            assert!(!is_allocator_function(n), "{n}");
        }
    }

    #[test]
    fn symbols_respect_sizes() {
        let syms = vec![
            Symbol {
                addr: 100,
                size: 10,
                name: "a".into(),
            },
            Symbol {
                addr: 200,
                size: 0,
                name: "b".into(),
            },
        ];
        assert_eq!(lookup_symbol(&syms, 105).map(|s| &*s.name), Some("a"));
        assert!(lookup_symbol(&syms, 150).is_none());
        assert!(lookup_symbol(&syms, 50).is_none());
        assert_eq!(lookup_symbol(&syms, 9999).map(|s| &*s.name), Some("b"));
    }

    proptest::proptest! {
        /// Whatever the dump says about its mappings and addresses, symbolizing does not
        /// panic (offsets near 2^64, addresses at mapping edges, unmapped addresses).
        #[test]
        fn symbolizing_arbitrary_dumps_never_panics(
            maps in proptest::collection::vec((any_u64(), 0u64..0x10000, any_u64(), proptest::bool::ANY), 0..6),
            addrs in proptest::collection::vec(proptest::collection::vec(any_u64(), 1..6), 1..6),
        ) {
            let mut text = String::from("heap_v2/524288\n  t*: 1: 1 [0: 0]\n");
            for a in &addrs {
                text.push('@');
                for x in a {
                    text += &format!(" {x:#x}");
                }
                text += "\n  t*: 1: 112 [0: 0]\n";
            }
            text += "\nMAPPED_LIBRARIES:\n";
            for (start, len, offset, exec) in &maps {
                let perms = if *exec { "r-xp" } else { "r--p" };
                let end = start.saturating_add(*len);
                text += &format!("{start:x}-{end:x} {perms} {offset:x} fe:00 7 /nonexistent/libjemalloc-or-not.so\n");
            }
            let profile = crate::input::jemalloc::parse(text.as_bytes()).expect("well-formed");
            for opts in [SymbolizeOptions::addresses_only(), SymbolizeOptions::default()] {
                let mut sym = Symbolizer::new(opts);
                let out = sym.symbolize(&profile);
                proptest::prop_assert_eq!(out.stacks.len(), addrs.len());
                proptest::prop_assert!(out.stacks.iter().all(|s| !s.frames.is_empty()));
            }
        }
    }

    fn any_u64() -> impl proptest::strategy::Strategy<Value = u64> {
        use proptest::strategy::Strategy;
        proptest::prop_oneof![
            proptest::num::u64::ANY,
            (0u64..0x3000).prop_map(|x| x + 0x1000),
            (0u64..16).prop_map(|x| u64::MAX - x)
        ]
    }

    #[test]
    fn offsets_to_addresses() {
        let segs = [
            Segment {
                file_offset: 0,
                file_size: 0x500,
                vaddr: 0,
                executable: false,
            },
            Segment {
                file_offset: 0x1000,
                file_size: 0x300,
                vaddr: 0x401000,
                executable: true,
            },
        ];
        assert_eq!(file_offset_to_vaddr(&segs, 0x1010), Some(0x401010));
        assert_eq!(file_offset_to_vaddr(&segs, 0x10), Some(0x10));
        assert_eq!(file_offset_to_vaddr(&segs, 0x1300), None);
    }
}
