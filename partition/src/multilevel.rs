//! METIS through the `metis` crate (METIS 5.2.1 built from source), on the symmetrised graph
//! without self loops: multilevel recursive bisection or multilevel k-way.

use crate::error::{Error, Result};
use crate::partition::Partition;
use mille_pipeline::Store;
use serde::{Deserialize, Serialize};

/// METIS's 32-bit build holds at most this many adjacency entries (and nodes).
pub const METIS_MAX_ADJACENCY: u64 = i32::MAX as u64;

/// Which of METIS's two multilevel partitioners runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetisScheme {
    /// `METIS_PartGraphRecursive`: k parts by repeated bisection. The default: on the
    /// block-model graphs mille trains on it cuts ~10 % fewer edges than k-way, with parts
    /// within 0.1 % of equal, and runs faster (figures in `docs/RESULTS.md`).
    #[default]
    Recursive,
    /// `METIS_PartGraphKway`: k parts at once on the coarsest graph, then k-way refinement
    /// (pymetis's default for k > 8).
    Kway,
}

mille_pipeline::choices!(MetisScheme { Recursive => "recursive", Kway => "kway" });

/// METIS settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetisOptions {
    /// Recursive bisection (default) or k-way.
    #[serde(default)]
    pub scheme: MetisScheme,
    /// Load imbalance allowed, in thousandths (METIS's `ufactor`; its default is 30 = 3 % for
    /// k-way, 1 per bisection for recursive bisection).
    pub ufactor: Option<i32>,
    /// Refinement iterations per level (METIS's `niter`; its default is 10).
    pub niter: Option<i32>,
    /// Partitionings computed, the best kept (METIS's `ncuts`; its default is 1).
    pub ncuts: Option<i32>,
    /// Balance the nodes of this split's train set across parts too (a second constraint).
    pub balance_train_of: Option<String>,
    /// The adjacency limit; only tests lower it from [`METIS_MAX_ADJACENCY`].
    #[serde(skip)]
    pub max_adjacency: u64,
}

impl Default for MetisOptions {
    fn default() -> Self {
        MetisOptions {
            scheme: MetisScheme::default(),
            ufactor: None,
            niter: None,
            ncuts: None,
            balance_train_of: None,
            max_adjacency: METIS_MAX_ADJACENCY,
        }
    }
}

/// The symmetrised adjacency of the store without self loops or duplicates, as METIS wants it.
/// Directed stores get both directions here, built once from the CSR (no copy of the store).
pub fn symmetric_adjacency(store: &Store, max_adjacency: u64) -> Result<(Vec<i32>, Vec<i32>)> {
    let n = store.num_nodes();
    if n as u64 > max_adjacency {
        return Err(Error::TooLarge(format!(
            "{n} nodes is more than METIS's 32-bit limit of {max_adjacency}; use --method fennel"
        )));
    }
    let indptr = store.indptr();
    let indices = store.indices();
    // Upper bound of each row: in-degree + out-degree.
    let mut ptr = vec![0u64; n + 1];
    for v in 0..n {
        for &u in &indices[indptr[v] as usize..indptr[v + 1] as usize] {
            if u as usize != v {
                ptr[v + 1] += 1;
                ptr[u as usize + 1] += 1;
            }
        }
    }
    for v in 0..n {
        ptr[v + 1] += ptr[v];
    }
    let mut adj = vec![0u32; ptr[n] as usize];
    let mut cur: Vec<u64> = ptr[..n].to_vec();
    for v in 0..n {
        for &u in &indices[indptr[v] as usize..indptr[v + 1] as usize] {
            let u = u as usize;
            if u != v {
                adj[cur[v] as usize] = u as u32;
                cur[v] += 1;
                adj[cur[u] as usize] = v as u32;
                cur[u] += 1;
            }
        }
    }
    drop(cur);
    // Sort and de-duplicate each row, compacting in place.
    let mut xadj = Vec::with_capacity(n + 1);
    xadj.push(0u64);
    let mut w = 0usize;
    for v in 0..n {
        let (a, b) = (ptr[v] as usize, ptr[v + 1] as usize);
        adj[a..b].sort_unstable();
        let mut last = u32::MAX;
        for i in a..b {
            if adj[i] != last {
                last = adj[i];
                adj[w] = last;
                w += 1;
            }
        }
        xadj.push(w as u64);
    }
    drop(ptr);
    if w as u64 > max_adjacency {
        return Err(Error::TooLarge(format!(
            "the symmetrised graph has {w} adjacency entries, more than METIS's 32-bit limit of {max_adjacency}; \
             use the streaming partitioner (--method fennel) instead"
        )));
    }
    adj.truncate(w);
    let adjncy: Vec<i32> = adj.into_iter().map(|u| u as i32).collect();
    let xadj: Vec<i32> = xadj.into_iter().map(|x| x as i32).collect();
    Ok((xadj, adjncy))
}

/// METIS keeps its random state in globals: two calls at once would disturb each other's
/// sequence (and results for a seed), so calls from this process take turns.
static METIS_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// METIS partition of the store into `k` parts, by `opts.scheme`.
pub fn metis(store: &Store, k: u32, seed: u64, opts: &MetisOptions) -> Result<Partition> {
    let n = store.num_nodes();
    if k == 1 || n == 0 {
        return Partition::new(k, vec![0; n]);
    }
    let (xadj, adjncy) = symmetric_adjacency(store, opts.max_adjacency)?;
    let weights = match &opts.balance_train_of {
        Some(split) => {
            let train = store.split(split)?.train;
            let mut w = vec![1i32; 2 * n];
            for v in 0..n {
                w[2 * v + 1] = 0;
            }
            for &v in train {
                w[2 * v as usize + 1] = 1;
            }
            Some(w)
        }
        None => None,
    };
    let ncon = if weights.is_some() { 2 } else { 1 };
    let mut part = vec![0i32; n];
    let mut g = metis::Graph::new(ncon, k as i32, &xadj, &adjncy)
        .map_err(|e| Error::Metis(format!("invalid input graph: {e}")))?
        .set_option(metis::option::Seed(seed as i32));
    if let Some(u) = opts.ufactor {
        g = g.set_option(metis::option::UFactor(u));
    }
    if let Some(i) = opts.niter {
        g = g.set_option(metis::option::NIter(i));
    }
    if let Some(c) = opts.ncuts {
        g = g.set_option(metis::option::NCuts(c));
    }
    if let Some(w) = &weights {
        g = g.set_vwgt(w);
    }
    let _turn = METIS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let quiet = crate::quiet::StdoutToStderr::new();
    let result = match opts.scheme {
        MetisScheme::Recursive => g.part_recursive(&mut part),
        MetisScheme::Kway => g.part_kway(&mut part),
    };
    drop(quiet);
    result.map_err(|e| Error::Metis(e.to_string()))?;
    Partition::new(k, part.into_iter().map(|p| p as u32).collect())
}
