//! Forward CSR: `first_edge[i]..first_edge[i+1]` are node i's edges.
//!
//! V8 stores edges grouped by source in node order, so the index is a prefix sum of each
//! node's `edge_count`, computed in place. Cost: one pass over the nodes.
//!
//! An edge's source is implicit in that layout. [`SourceIndex`] finds it without a column
//! of 4 bytes per edge: the source of every 32nd edge is stored, and the source of any edge
//! lies between two of those, a short binary search in `first_edge`.

/// Turn per-node edge counts into `n + 1` offsets. The caller has checked the sum fits.
pub fn build_edge_index(mut edge_count: Vec<u32>) -> Vec<u32> {
    let mut acc = 0u32;
    for c in edge_count.iter_mut() {
        let next = acc + *c;
        *c = acc;
        acc = next;
    }
    edge_count.push(acc);
    edge_count
}

/// Source node of every edge is implicit; for code that needs it from an edge index alone.
pub fn edge_source(first_edge: &[u32], edge: u32) -> u32 {
    // The last node whose first edge is <= edge (nodes with no edges share offsets).
    (first_edge.partition_point(|&f| f <= edge) - 1) as u32
}

/// log2 of the edges per block of [`SourceIndex`].
const BLOCK_BITS: u32 = 5;

/// The source of edge `k << BLOCK_BITS` for every block `k`, then the last node: an edge's
/// source is found between its block's entry and the next one. 1/8 byte per edge.
#[derive(Debug, Clone, Default)]
pub struct SourceIndex {
    block_source: Vec<u32>,
}

impl SourceIndex {
    pub fn new(first_edge: &[u32]) -> SourceIndex {
        let n = first_edge.len().saturating_sub(1);
        let m = first_edge.last().copied().unwrap_or(0) as usize;
        let blocks = m.div_ceil(1 << BLOCK_BITS);
        let mut block_source = Vec::with_capacity(blocks + 1);
        for v in 0..n {
            // Blocks whose first edge belongs to v.
            while block_source.len() < blocks
                && ((block_source.len() << BLOCK_BITS) as u32) < first_edge[v + 1]
            {
                block_source.push(v as u32);
            }
        }
        block_source.push(n.saturating_sub(1) as u32);
        SourceIndex { block_source }
    }

    /// The node that owns edge `e` (`e` must be an edge of the graph).
    #[inline]
    pub fn source(&self, first_edge: &[u32], e: u32) -> u32 {
        let k = (e >> BLOCK_BITS) as usize;
        let lo = self.block_source[k] as usize;
        let hi = self.block_source[k + 1] as usize;
        // Offsets lo..=hi+1 bracket e: first_edge[lo] <= e < first_edge[hi + 1].
        let range = &first_edge[lo..=hi + 1];
        (lo + range.partition_point(|&f| f <= e) - 1) as u32
    }

    pub fn heap_bytes(&self) -> usize {
        self.block_source.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn prefix_sums() {
        let fe = build_edge_index(vec![2, 0, 3, 0]);
        assert_eq!(fe, vec![0, 2, 2, 5, 5]);
        assert_eq!(edge_source(&fe, 0), 0);
        assert_eq!(edge_source(&fe, 1), 0);
        assert_eq!(edge_source(&fe, 2), 2);
        assert_eq!(edge_source(&fe, 4), 2);
    }

    #[test]
    fn source_index_agrees_with_binary_search() {
        // Runs of edge-less nodes, nodes with one edge, and nodes with hundreds.
        let mut x = 12345u64;
        let counts: Vec<u32> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x % 10 {
                    0..=3 => 0,
                    4..=7 => (x >> 8) as u32 % 6,
                    8 => 1,
                    _ => (x >> 8) as u32 % 400,
                }
            })
            .collect();
        for counts in [
            counts,
            vec![0, 0, 7],
            vec![40, 0, 0],
            vec![1; 100],
            vec![64, 32],
        ] {
            let fe = build_edge_index(counts);
            let idx = SourceIndex::new(&fe);
            for e in 0..*fe.last().unwrap() {
                assert_eq!(idx.source(&fe, e), edge_source(&fe, e), "edge {e}");
            }
        }
    }
}
