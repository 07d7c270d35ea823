//! The `self_size` column: 64-bit sizes stored in 32 bits per node.
//!
//! V8 writes `self_size` as a `size_t`: one `ArrayBuffer` backing store, Wasm memory or
//! external allocation of 4 GiB or more gives a node a size that does not fit 32 bits.
//! Such nodes are a handful in millions, so the column stays `u32` (4 bytes a node less
//! than `u64`, 36 MB on a 9M-node heap, where the whole graph is ~0.8 GB) and a size of
//! [`SelfSizes::WIDE`] or more is kept in a sorted side table, its column entry a sentinel.

/// Self sizes of all nodes, read through [`SelfSizes::get`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SelfSizes {
    column: Vec<u32>,
    /// `(node, size)` of every node whose column entry is [`SelfSizes::WIDE`], by node.
    wide: Vec<(u32, u64)>,
}

impl SelfSizes {
    /// The column entry of a node whose size is in the side table: sizes from this value
    /// up (4 GiB - 1 included, so that the sentinel never doubles as a size).
    pub const WIDE: u32 = u32::MAX;

    /// A column and its side table, as the parser fills them: every [`Self::WIDE`] entry of
    /// `column` has exactly one entry in `wide`, which is sorted by node.
    pub(crate) fn from_parts(column: Vec<u32>, wide: Vec<(u32, u64)>) -> SelfSizes {
        debug_assert!(wide.is_sorted_by_key(|w| w.0));
        debug_assert_eq!(
            column.iter().filter(|&&s| s == Self::WIDE).count(),
            wide.len()
        );
        SelfSizes { column, wide }
    }

    /// Node `v`'s self size.
    #[inline(always)]
    pub fn get(&self, v: usize) -> u64 {
        let s = self.column[v];
        if s != Self::WIDE {
            s as u64
        } else {
            self.wide_size(v)
        }
    }

    #[cold]
    #[inline(never)]
    fn wide_size(&self, v: usize) -> u64 {
        self.wide
            .binary_search_by_key(&(v as u32), |w| w.0)
            .map_or(Self::WIDE as u64, |k| self.wide[k].1)
    }

    /// Whether node `v` has no size (V8's synthetic roots and placeholders, which no class
    /// counts).
    #[inline(always)]
    pub fn is_zero(&self, v: usize) -> bool {
        self.column[v] == 0
    }

    pub fn len(&self) -> usize {
        self.column.len()
    }

    pub fn is_empty(&self) -> bool {
        self.column.is_empty()
    }

    /// The 32-bit column: zero exactly where the size is zero, [`Self::WIDE`] where the size
    /// is in the side table. For bulk tests of "has a size"; sizes come from [`Self::get`].
    pub fn column(&self) -> &[u32] {
        &self.column
    }

    /// `(node, size)` of the nodes of 4 GiB - 1 or more, by node.
    pub fn wide(&self) -> &[(u32, u64)] {
        &self.wide
    }

    /// Sum of all sizes, or `None` if it does not fit 64 bits.
    pub fn total(&self) -> Option<u64> {
        use rayon::prelude::*;
        // Fewer than 2^32 entries of less than 2^32 each: the column's sum fits.
        let column: u64 = self
            .column
            .par_iter()
            .with_min_len(1 << 16)
            .map(|&s| s as u64)
            .sum();
        let sentinels = Self::WIDE as u64 * self.wide.len() as u64;
        self.wide
            .iter()
            .try_fold(column - sentinels, |acc, w| acc.checked_add(w.1))
    }

    pub fn heap_bytes(&self) -> usize {
        self.column.capacity() * 4 + self.wide.capacity() * 16
    }
}

/// Sizes given as 64-bit values (tests, synthetic graphs).
impl FromIterator<u64> for SelfSizes {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> SelfSizes {
        let mut wide = Vec::new();
        let column = iter
            .into_iter()
            .enumerate()
            .map(|(v, s)| {
                if s >= Self::WIDE as u64 {
                    wide.push((v as u32, s));
                    Self::WIDE
                } else {
                    s as u32
                }
            })
            .collect();
        SelfSizes { column, wide }
    }
}

#[cfg(test)]
mod tests {
    use super::SelfSizes;

    #[test]
    fn wide_sizes_come_from_the_side_table() {
        let sizes = [
            0,
            1,
            u32::MAX as u64 - 1,
            u32::MAX as u64,
            5 << 30,
            1 << 40,
            7,
        ];
        let s: SelfSizes = sizes.iter().copied().collect();
        for (v, &want) in sizes.iter().enumerate() {
            assert_eq!(s.get(v), want, "node {v}");
            assert_eq!(s.is_zero(v), want == 0);
        }
        assert_eq!(
            s.wide(),
            &[(3, u32::MAX as u64), (4, 5 << 30), (5, 1 << 40)]
        );
        assert_eq!(s.total(), Some(sizes.iter().sum()));
        let s: SelfSizes = [u64::MAX, 1].into_iter().collect();
        assert_eq!(s.total(), None);
    }
}
