//! The [`Partition`] type: the part of every node, with part sizes and members, and its file
//! formats (a small binary form for the cache, gpmetis text for interchange).

use crate::error::{Error, Result, io};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Format 2 ends with a checksum; format 1 files (no checksum) are recomputed, not trusted.
const MAGIC: &[u8; 8] = b"MILLEPT2";
const OLD_MAGIC: &[u8; 8] = b"MILLEPT1";
/// Magic, k (u32) and n (u64).
const HEADER: usize = 20;

/// A partition of `n` nodes into `k` parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    k: u32,
    part: Vec<u32>,
    ptr: Vec<u64>,
    nodes: Vec<u32>,
}

impl Partition {
    /// Builds a partition from the part of every node (each below `k`).
    pub fn new(k: u32, part: Vec<u32>) -> Result<Self> {
        if let Some((v, &p)) = part.iter().enumerate().find(|&(_, &p)| p >= k) {
            return Err(Error::Invalid(format!("node {v} is in part {p}, but there are only {k} parts")));
        }
        let mut ptr = vec![0u64; k as usize + 1];
        for &p in &part {
            ptr[p as usize + 1] += 1;
        }
        for i in 0..k as usize {
            ptr[i + 1] += ptr[i];
        }
        let mut cursor = ptr.clone();
        let mut nodes = vec![0u32; part.len()];
        for (v, &p) in part.iter().enumerate() {
            nodes[cursor[p as usize] as usize] = v as u32;
            cursor[p as usize] += 1;
        }
        Ok(Partition { k, part, ptr, nodes })
    }

    /// Number of parts.
    pub fn k(&self) -> u32 {
        self.k
    }
    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.part.len()
    }
    /// True for a partition of no node.
    pub fn is_empty(&self) -> bool {
        self.part.is_empty()
    }
    /// Part of every node.
    pub fn parts(&self) -> &[u32] {
        &self.part
    }
    /// Part of node `v`.
    pub fn part_of(&self, v: usize) -> u32 {
        self.part[v]
    }
    /// The nodes of part `p`, ascending.
    pub fn nodes(&self, p: u32) -> &[u32] {
        &self.nodes[self.ptr[p as usize] as usize..self.ptr[p as usize + 1] as usize]
    }
    /// Size of every part.
    pub fn sizes(&self) -> Vec<u64> {
        self.ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }
    /// Offsets of each part's nodes in [`Partition::ordered_nodes`] (`k + 1` of them).
    pub fn part_ptr(&self) -> &[u64] {
        &self.ptr
    }
    /// Every node, grouped by part (part 0's nodes first, each group ascending).
    pub fn ordered_nodes(&self) -> &[u32] {
        &self.nodes
    }

    /// Saves the binary form (magic, k, n, parts as little-endian u32, then the xxh3-64 of all
    /// that), atomically and durably: a cached partition is either whole or absent.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::with_capacity(HEADER + 4 * self.part.len() + 8);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.k.to_le_bytes());
        bytes.extend_from_slice(&(self.part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(bytemuck::cast_slice(&self.part));
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        Ok(mille_pipeline::durable::write_atomic(path, &bytes)?)
    }

    /// Loads the binary form written by [`Partition::save`], checking its checksum.
    pub fn load(path: &Path) -> Result<Self> {
        let mut bytes = Vec::new();
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| io(path, e))?;
        let bad = |m: &str| Error::Invalid(format!("{}: {m}", path.display()));
        if bytes.len() >= 8 && &bytes[..8] == OLD_MAGIC {
            return Err(bad("written by an older mille, without a checksum"));
        }
        if bytes.len() < HEADER + 8 || &bytes[..8] != MAGIC {
            return Err(bad("not a mille partition file"));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        let stored = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
        if xxhash_rust::xxh3::xxh3_64(body) != stored {
            return Err(bad("checksum mismatch: the file changed since it was written"));
        }
        let k = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes"));
        let n = u64::from_le_bytes(body[12..20].try_into().expect("8 bytes"));
        if Some(body.len() as u64) != n.checked_mul(4).and_then(|b| b.checked_add(HEADER as u64)) {
            return Err(bad(&format!("expected {n} node parts, found {} bytes of them", body.len() - HEADER)));
        }
        if k == 0 || k as u64 > n.max(1) {
            return Err(bad(&format!("{k} parts for {n} nodes: expected 1 to {}", n.max(1))));
        }
        let part: Vec<u32> =
            body[HEADER..].chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        Partition::new(k, part)
    }

    /// Writes the gpmetis text format: one part id per line, line `v + 1` for node `v`.
    pub fn write_gpmetis(&self, path: &Path) -> Result<()> {
        let mut f = BufWriter::new(std::fs::File::create(path).map_err(|e| io(path, e))?);
        for p in &self.part {
            writeln!(f, "{p}").map_err(|e| io(path, e))?;
        }
        f.flush().map_err(|e| io(path, e))
    }

    /// Reads the gpmetis text format for `n` nodes; `k` is one more than the largest part id.
    pub fn read_gpmetis(path: &Path, n: usize) -> Result<Self> {
        let f = std::fs::File::open(path).map_err(|e| io(path, e))?;
        let mut part = Vec::with_capacity(n);
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| io(path, e))?;
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            let p: u32 = t.parse().map_err(|_| {
                Error::Invalid(format!(
                    "{}:{}: expected a part id (a non-negative integer), found {t:?}",
                    path.display(),
                    i + 1
                ))
            })?;
            part.push(p);
        }
        if part.len() != n {
            return Err(Error::Invalid(format!(
                "{}: {} lines, but the graph has {n} nodes",
                path.display(),
                part.len()
            )));
        }
        let k = part.iter().max().map_or(1, |&m| m + 1);
        Partition::new(k, part)
    }
}
