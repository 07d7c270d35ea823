//! Forward CSR: `first_edge[i]..first_edge[i+1]` are node i's edges.
//!
//! V8 stores edges grouped by source in node order, so the index is a prefix sum of each
//! node's `edge_count`, computed in place. Cost: one pass over the nodes.

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
}
