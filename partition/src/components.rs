//! Connected components, edges taken both ways, with petgraph's union-find (linear in the
//! edges, `5N` bytes: a petgraph `Graph` of ogbn-products would take gigabytes): of the whole
//! graph (`tools/inspect`) and of each part's induced subgraph (`tools/partition`). A METIS part
//! can be disconnected, and a Cluster-GCN batch of a disconnected part carries less structure.

use petgraph::unionfind::UnionFind;
use serde::Serialize;

/// Components of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Components {
    /// Number of connected components (an isolated node is one).
    pub count: u64,
    /// Nodes in the largest.
    pub largest: u64,
}

/// Components of the graph in CSR form (`indptr` `[N+1]`, `indices`), edges in either direction.
pub fn components(indptr: &[u64], indices: &[u32]) -> Components {
    let n = indptr.len().saturating_sub(1);
    let mut uf = UnionFind::<u32>::new(n);
    for v in 0..n {
        for &u in &indices[indptr[v] as usize..indptr[v + 1] as usize] {
            uf.union(u, v as u32);
        }
    }
    let mut size = vec![0u64; n];
    let mut count = 0;
    for v in 0..n as u32 {
        let r = uf.find_mut(v);
        count += u64::from(r == v);
        size[r as usize] += 1;
    }
    Components { count, largest: size.into_iter().max().unwrap_or(0) }
}

/// Components of every part's induced subgraph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartComponents {
    /// Parts (with nodes) whose induced subgraph has more than one component.
    pub disconnected_parts: u32,
    /// The largest component's share of its part, smallest over the parts with nodes.
    pub min_largest_share: f64,
    /// The same share, averaged over the parts with nodes.
    pub mean_largest_share: f64,
    /// Components of each part (0 for an empty part).
    pub per_part: Vec<u32>,
}

/// Components of each part of `parts` (`part[v]` below `k`) on the CSR graph.
pub fn part_components(indptr: &[u64], indices: &[u32], parts: &[u32], k: u32) -> PartComponents {
    let n = parts.len();
    let mut uf = UnionFind::<u32>::new(n);
    for v in 0..n {
        for &u in &indices[indptr[v] as usize..indptr[v + 1] as usize] {
            if parts[u as usize] == parts[v] {
                uf.union(u, v as u32);
            }
        }
    }
    let (mut size, mut part_size) = (vec![0u32; n], vec![0u32; k as usize]);
    let mut comps = vec![0u32; k as usize];
    for v in 0..n as u32 {
        let r = uf.find_mut(v);
        size[r as usize] += 1;
        part_size[parts[v as usize] as usize] += 1;
        comps[parts[v as usize] as usize] += u32::from(r == v);
    }
    let mut largest = vec![0u32; k as usize];
    for v in 0..n {
        if size[v] > 0 {
            let p = parts[v] as usize;
            largest[p] = largest[p].max(size[v]);
        }
    }
    let shares: Vec<f64> =
        (0..k as usize).filter(|&p| part_size[p] > 0).map(|p| largest[p] as f64 / part_size[p] as f64).collect();
    PartComponents {
        disconnected_parts: comps.iter().filter(|&&c| c > 1).count() as u32,
        min_largest_share: shares.iter().copied().fold(f64::INFINITY, f64::min).min(1.0),
        mean_largest_share: if shares.is_empty() { 0.0 } else { shares.iter().sum::<f64>() / shares.len() as f64 },
        per_part: comps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CSR by destination of undirected `edges` on `n` nodes (both directions stored).
    fn csr(n: usize, edges: &[(u32, u32)]) -> (Vec<u64>, Vec<u32>) {
        let mut rows = vec![Vec::new(); n];
        for &(a, b) in edges {
            rows[b as usize].push(a);
            rows[a as usize].push(b);
        }
        let mut indptr = vec![0u64];
        let mut indices = Vec::new();
        for mut r in rows {
            r.sort();
            indices.extend(r);
            indptr.push(indices.len() as u64);
        }
        (indptr, indices)
    }

    #[test]
    fn components_of_hand_built_graphs() {
        // A triangle, a path of 4, an isolated node: three components, the largest of 4.
        let (p, i) = csr(8, &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 6)]);
        assert_eq!(components(&p, &i), Components { count: 3, largest: 4 });
        // A single directed CSR entry still joins its two ends.
        assert_eq!(components(&[0, 0, 1], &[0]), Components { count: 1, largest: 2 });
        assert_eq!(components(&[0], &[]), Components { count: 0, largest: 0 });
    }

    #[test]
    fn a_part_split_across_two_components_is_counted_disconnected() {
        // Two triangles {0,1,2} and {3,4,5} joined by the edge 2-3.
        let (p, i) = csr(6, &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (2, 3)]);
        // Part 0 = {0, 1, 4}: 0-1 connected, 4 alone; part 1 = {2, 3, 5}: 2-3-5 connected.
        let parts = [0, 0, 1, 1, 0, 1];
        let c = part_components(&p, &i, &parts, 3);
        assert_eq!(c.per_part, vec![2, 1, 0]);
        assert_eq!(c.disconnected_parts, 1);
        assert!((c.min_largest_share - 2.0 / 3.0).abs() < 1e-12, "{c:?}");
        assert!((c.mean_largest_share - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12, "{c:?}");
        // The natural cut: both parts connected.
        let c = part_components(&p, &i, &[0, 0, 0, 1, 1, 1], 2);
        assert_eq!((c.disconnected_parts, c.min_largest_share), (0, 1.0));
    }
}
