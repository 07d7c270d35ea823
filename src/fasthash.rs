//! The hasher of the hot maps (jemalloc addresses and stacks, retainer-path tries): small
//! integer keys, millions of lookups.

use std::collections::HashMap;

/// A hash map with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

/// A multiply-rotate hasher (the one rustc uses, "FxHash") for the hot maps keyed by
/// addresses, frame ids, path steps and string ids: several times faster than SipHash on
/// these small keys. Not resistant to chosen collisions; a hostile dump could only make
/// itself slow to read.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, x: u8) {
        self.add(u64::from(x));
    }
    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.add(u64::from(x));
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.add(x);
    }
    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.add(x as u64);
    }
    fn finish(&self) -> u64 {
        // The product's low bits depend only on the key's low bits, and the table picks
        // its bucket from the low bits: keys spaced by a power of two (node indexes of a
        // regular heap, aligned addresses) would share a few buckets. The high bits mix
        // every input bit; rotate them down.
        self.0.rotate_left(26)
    }
}
