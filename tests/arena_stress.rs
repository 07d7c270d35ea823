//! The global allocator under load, installed as this test binary's own: several threads
//! allocate, grow, shrink, hand over and free blocks of sizes on both sides of every line the
//! allocator draws (the region's 1 MiB threshold, its 64 KiB units, alignments above a
//! unit), and every block's contents are checked before it changes hands. Built without the
//! `arena` feature the same test runs on the system allocator (a control for the test
//! itself), and only the region's own counts are not checked.
//!
//! One test in this binary, so the region's counts are this test's alone.

use heapdiff::arena::{THRESHOLD, UNIT};
use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};
use std::sync::Mutex;

#[cfg(feature = "arena")]
#[global_allocator]
static A: heapdiff::arena::Arena = heapdiff::arena::Arena;

const THREADS: usize = 4;
const STEPS: usize = 1000;
/// Blocks each thread holds at once.
const SLOTS: usize = 8;
/// No block grows past this (live memory stays around 100 MB).
const MAX_SIZE: usize = 8 << 20;
/// Contents are stamped one word every this many bytes (and in a block's last word): enough
/// to see two blocks overlap, or a block move without its contents.
const STRIDE: usize = 256;

/// splitmix64: a fixed sequence per thread, so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A size from one of the allocator's ranges, edges included.
fn size(rng: &mut Rng) -> usize {
    match rng.below(8) {
        0 => 1 + rng.below(4096),
        1 => 4096 + rng.below(THRESHOLD - 4096),
        2 => [THRESHOLD - 1, THRESHOLD, THRESHOLD + 1][rng.below(3)],
        // Whole units and one byte either side, 1–6 MiB.
        3 | 4 => (16 + rng.below(81)) * UNIT + rng.below(3) - 1,
        _ => THRESHOLD + rng.below(7 * THRESHOLD),
    }
}

fn align(rng: &mut Rng) -> usize {
    match rng.below(10) {
        0 => 4096,
        1 => UNIT,
        // Above a unit: never the region's.
        2 => 2 * UNIT,
        _ => 8,
    }
}

/// A live block and the tag its contents were stamped with.
struct Block {
    p: *mut u8,
    layout: Layout,
    tag: u64,
    /// Whether the region holds it: it was allocated or grown to the region's sizes (it
    /// stays there when it shrinks).
    in_region: bool,
}

// SAFETY: a block is owned by whoever holds it; handing it over moves that ownership.
unsafe impl Send for Block {}

fn word(tag: u64, offset: usize) -> u64 {
    tag.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ offset as u64
}

/// The offsets stamped in the first `len` bytes.
fn stamps(len: usize) -> impl Iterator<Item = usize> {
    let last = (len >= 8).then(|| len / 8 * 8 - 8);
    (0..len.saturating_sub(7)).step_by(STRIDE).chain(last)
}

/// Stamp the first `len` bytes of a block.
unsafe fn stamp(b: &Block, len: usize) {
    for o in stamps(len) {
        b.p.add(o).cast::<u64>().write_unaligned(word(b.tag, o));
    }
}

/// Whether the first `len` bytes carry their stamps.
unsafe fn check(b: &Block, len: usize, what: &str) {
    check_at(b, stamps(len), what)
}

/// Whether the strided stamps in the first `len` bytes are there.
unsafe fn check_strided(b: &Block, len: usize, what: &str) {
    check_at(b, (0..len.saturating_sub(7)).step_by(STRIDE), what)
}

unsafe fn check_at(b: &Block, offsets: impl Iterator<Item = usize>, what: &str) {
    for o in offsets {
        let w = b.p.add(o).cast::<u64>().read_unaligned();
        assert_eq!(
            w,
            word(b.tag, o),
            "{what}: block of {} bytes (align {}) at {:p}, tag {}, offset {o}",
            b.layout.size(),
            b.layout.align(),
            b.p,
            b.tag
        );
    }
}

/// What one thread did that the region must have seen.
#[derive(Default)]
struct Counts {
    /// Allocations, and moves by `realloc` out of the system allocator, that the region
    /// serves (size from the threshold up, alignment up to a unit).
    region_blocks: usize,
    zeroed_checked_bytes: usize,
    handed_over: usize,
}

fn eligible(layout: Layout) -> bool {
    layout.size() >= THRESHOLD && layout.align() <= UNIT
}

fn worker(id: usize, exchange: &Mutex<Vec<Block>>) -> Counts {
    let mut rng = Rng(0x5EED ^ (id as u64) << 32);
    let mut slots: Vec<Option<Block>> = (0..SLOTS).map(|_| None).collect();
    let mut counts = Counts::default();
    let mut next_tag = (id as u64) << 40;
    let mut tag = || {
        next_tag += 1;
        next_tag
    };
    for _ in 0..STEPS {
        let k = rng.below(SLOTS);
        // SAFETY: every block is allocated with the layout it is later freed, grown or shrunk
        // with, and read or written only within its size.
        unsafe {
            match slots[k].take() {
                None => {
                    let layout = Layout::from_size_align(size(&mut rng), align(&mut rng)).unwrap();
                    let zeroed = rng.below(4) == 0;
                    let p = if zeroed {
                        alloc_zeroed(layout)
                    } else {
                        alloc(layout)
                    };
                    assert!(!p.is_null(), "out of memory for {layout:?}");
                    assert_eq!(p as usize % layout.align(), 0, "{layout:?} misaligned");
                    counts.region_blocks += eligible(layout) as usize;
                    if zeroed {
                        let bytes = std::slice::from_raw_parts(p, layout.size());
                        // Words at a time (the blocks are 8-aligned), then the tail.
                        let (words, tail) = bytes.split_at(layout.size() / 8 * 8);
                        let nonzero = words
                            .chunks_exact(8)
                            .position(|w| u64::from_ne_bytes(w.try_into().unwrap()) != 0)
                            .map(|w| w * 8)
                            .or_else(|| tail.iter().position(|&x| x != 0).map(|t| words.len() + t));
                        if let Some(at) = nonzero {
                            panic!("zeroed block of {layout:?} at {p:p}: word at {at} is not zero");
                        }
                        counts.zeroed_checked_bytes += layout.size();
                    }
                    let b = Block {
                        p,
                        layout,
                        tag: tag(),
                        in_region: eligible(layout),
                    };
                    stamp(&b, layout.size());
                    slots[k] = Some(b);
                }
                Some(mut b) => match rng.below(5) {
                    // Grow, perhaps across the threshold (out of the system allocator).
                    0 => {
                        check(&b, b.layout.size(), "before growing");
                        let old = b.layout.size();
                        let new = (old + 1 + rng.below(old.max(THRESHOLD / 4) * 2)).min(MAX_SIZE);
                        if new <= old {
                            slots[k] = Some(b);
                            continue;
                        }
                        let p = realloc(b.p, b.layout, new);
                        assert!(!p.is_null());
                        let new_layout = Layout::from_size_align(new, b.layout.align()).unwrap();
                        if !b.in_region && eligible(new_layout) {
                            // Out of the system allocator into the region.
                            counts.region_blocks += 1;
                            b.in_region = true;
                        }
                        b.p = p;
                        b.layout = new_layout;
                        check(&b, old, "after growing");
                        stamp(&b, new);
                        slots[k] = Some(b);
                    }
                    // Shrink, perhaps below the threshold.
                    1 => {
                        let new = 1 + rng.below(b.layout.size());
                        let p = realloc(b.p, b.layout, new);
                        assert!(!p.is_null());
                        b.p = p;
                        b.layout = Layout::from_size_align(new, b.layout.align()).unwrap();
                        // The stamps kept are the strided ones; the last word is new.
                        check_strided(&b, new, "after shrinking");
                        stamp(&b, new);
                        slots[k] = Some(b);
                    }
                    // Hand it to whichever thread comes next, and take one over.
                    2 => {
                        check(&b, b.layout.size(), "before handing over");
                        let mut shared = exchange.lock().unwrap();
                        shared.push(b);
                        counts.handed_over += 1;
                        if shared.len() > 1 {
                            let i = rng.below(shared.len() - 1);
                            let other = shared.swap_remove(i);
                            check(&other, other.layout.size(), "taken over");
                            slots[k] = Some(other);
                        }
                    }
                    _ => {
                        check(&b, b.layout.size(), "before freeing");
                        dealloc(b.p, b.layout);
                    }
                },
            }
        }
    }
    for b in slots.into_iter().flatten() {
        // SAFETY: as above.
        unsafe {
            check(&b, b.layout.size(), "at the end");
            dealloc(b.p, b.layout);
        }
    }
    counts
}

#[test]
fn threads_allocating_growing_shrinking_and_freeing_never_share_or_lose_a_byte() {
    let exchange = Mutex::new(Vec::new());
    let counts: Vec<Counts> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|id| {
                let exchange = &exchange;
                s.spawn(move || worker(id, exchange))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for b in exchange.into_inner().unwrap() {
        // SAFETY: blocks left in the exchange are owned by no thread now.
        unsafe {
            check(&b, b.layout.size(), "left over");
            dealloc(b.p, b.layout);
        }
    }
    let region_blocks: usize = counts.iter().map(|c| c.region_blocks).sum();
    let zeroed: usize = counts.iter().map(|c| c.zeroed_checked_bytes).sum();
    let handed: usize = counts.iter().map(|c| c.handed_over).sum();
    // The sizes really straddle the lines: many blocks for the region, many zeroed bytes
    // checked, blocks freed by threads that did not allocate them.
    assert!(region_blocks > THREADS * STEPS / 8, "{region_blocks}");
    assert!(zeroed > 100 << 20, "{zeroed}");
    assert!(handed > THREADS * STEPS / 20, "{handed}");
    #[cfg(feature = "arena")]
    {
        use heapdiff::arena::{page_choice, stats, KEPT_ABOVE_PEAK};
        let s = stats();
        // Moves of region blocks by realloc are more blocks still.
        assert!(s.blocks >= region_blocks, "{s:?}, {region_blocks}");
        assert_eq!(s.live_bytes, 0, "every block was freed: {s:?}");
        assert!(
            s.kept_bytes <= s.peak_live_bytes + KEPT_ABOVE_PEAK,
            "kept memory above the live peak: {s:?}"
        );
        assert!(s.peak_live_bytes >= 8 * THRESHOLD, "{s:?}");
        let choice = page_choice().expect("the region was reserved");
        assert_ne!(choice.reason, heapdiff::arena::Reason::NoRegion);
    }
}
