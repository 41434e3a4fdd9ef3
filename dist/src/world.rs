//! The ranks of a data-parallel job, and the collectives the trainer needs.

use crate::launch::launched_ranks;
use crate::nccl::{Nccl, NcclLib};
use crate::overlap::Overlap;
use crate::watchdog::Watchdog;
use std::time::Duration;

enum Backend {
    Single,
    #[cfg(feature = "mpi")]
    Mpi(crate::mpi_world::MpiWorld),
}

/// This process's place among the ranks of a job, and the collectives among them.
pub struct World {
    rank: usize,
    size: usize,
    bucket: usize,
    /// The job's NCCL communicator, once [`World::start_nccl`] set it up (declared before
    /// `backend`: dropped before MPI is finalised).
    nccl: Option<Nccl>,
    backend: Backend,
    watchdog: Option<Watchdog>,
}

impl World {
    /// Values per all-reduce call: 2^20 floats (4 MiB, PyTorch DDP's buckets are 25 MB): a
    /// gradient is reduced in pieces, so a large one needs no second buffer of its size and a
    /// piece is on the wire while the next is copied.
    pub const DEFAULT_BUCKET: usize = 1 << 20;

    /// One process alone.
    pub fn single() -> World {
        World { rank: 0, size: 1, bucket: Self::DEFAULT_BUCKET, backend: Backend::Single, watchdog: None, nccl: None }
    }

    /// The world a launcher started this process in (MPI, when `mpirun` or `srun` started
    /// several ranks), else one process; collectives that wait longer than `timeout` end the
    /// process. Refused, with how to get MPI, when several ranks were started and this build has
    /// none.
    pub fn from_env(timeout: Duration) -> anyhow::Result<World> {
        match launched_ranks() {
            Some(n) if n > 1 => Self::mpi(n, timeout),
            _ => Ok(World::single()),
        }
    }

    #[cfg(feature = "mpi")]
    fn mpi(_n: usize, timeout: Duration) -> anyhow::Result<World> {
        let m = crate::mpi_world::MpiWorld::init()?;
        let (rank, size) = (m.rank(), m.size());
        let watchdog = Some(Watchdog::start(rank, timeout));
        Ok(World { rank, size, bucket: Self::DEFAULT_BUCKET, backend: Backend::Mpi(m), watchdog, nccl: None })
    }

    #[cfg(not(feature = "mpi"))]
    fn mpi(n: usize, _timeout: Duration) -> anyhow::Result<World> {
        anyhow::bail!("started as one of {n} ranks, but {}", crate::launch::HOW_TO_GET_MPI)
    }

    /// With `bucket` values per all-reduce call (at least 1).
    pub fn with_bucket(mut self, bucket: usize) -> World {
        self.bucket = bucket.max(1);
        self
    }

    /// This process's rank, `0..size`.
    pub fn rank(&self) -> usize {
        self.rank
    }
    /// Ranks in the job.
    pub fn size(&self) -> usize {
        self.size
    }
    /// Whether this is rank 0 (the one that writes).
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }
    /// Values per all-reduce call.
    pub fn bucket(&self) -> usize {
        self.bucket
    }
    /// What the world runs on, for logs: `1 process` or `MPI, rank r of n`, with NCCL's
    /// version once it is set up.
    pub fn describe(&self) -> String {
        let base = match self.backend {
            Backend::Single => "1 process".to_string(),
            #[cfg(feature = "mpi")]
            Backend::Mpi(_) => format!("MPI, rank {} of {}", self.rank, self.size),
        };
        match &self.nccl {
            Some(n) => format!("{base}, {}", n.describe()),
            None => base,
        }
    }

    /// Runs `f`, a wait on the other ranks (`what`: "an all-reduce"), under the world's
    /// watchdog: past the timeout the process ends with an error naming it.
    pub fn watch<T>(&self, what: &'static str, f: impl FnOnce() -> T) -> T {
        match &self.watchdog {
            Some(w) => w.watch(what, f),
            None => f(),
        }
    }

    /// Every rank's `buf` summed, into every rank's `buf`, [`World::bucket`] values at a time.
    #[cfg_attr(not(feature = "mpi"), allow(unused_variables, dead_code))]
    pub fn all_reduce_sum(&self, buf: &mut [f32]) {
        match &self.backend {
            Backend::Single => {}
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => self.watch("an all-reduce", || {
                let mut scratch = vec![0f32; self.bucket.min(buf.len())];
                for piece in buf.chunks_mut(self.bucket) {
                    let out = &mut scratch[..piece.len()];
                    m.all_reduce_f32(piece, out);
                    piece.copy_from_slice(out);
                }
            }),
        }
    }

    /// Every rank's `buf` summed (counts, loss totals), into every rank's `buf`.
    #[cfg_attr(not(feature = "mpi"), allow(unused_variables, dead_code))]
    pub fn all_reduce_sum_f64(&self, buf: &mut [f64]) {
        match &self.backend {
            Backend::Single => {}
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => self.watch("an all-reduce", || {
                let mut out = vec![0f64; buf.len()];
                m.all_reduce_f64(buf, &mut out);
                buf.copy_from_slice(&out);
            }),
        }
    }

    /// Rank `root`'s bytes into every rank's `buf` (NCCL's id).
    #[cfg_attr(not(feature = "mpi"), allow(unused_variables))]
    fn broadcast_bytes(&self, buf: &mut [u8], root: usize) {
        match &self.backend {
            Backend::Single => {}
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => self.watch("a broadcast", || m.broadcast(buf, root)),
        }
    }

    /// Sets up NCCL among the ranks, on CUDA's current device of each (the caller chooses it
    /// first: one GPU per rank); [`World::nccl`] then reduces device memory. Rank 0 draws the
    /// communicator's id and broadcasts it over MPI. Every rank fails alike, with its own
    /// reason or the rank that failed, when any rank cannot load NCCL; a rank whose GPU NCCL
    /// refuses (two ranks on one device) ends with NCCL's message, and the launcher then ends
    /// the job.
    pub fn start_nccl(&mut self) -> anyhow::Result<()> {
        if self.nccl.is_some() {
            return Ok(());
        }
        let opened = NcclLib::open().and_then(|lib| {
            let id = if self.is_root() { lib.unique_id()? } else { [0; crate::nccl::UNIQUE_ID_BYTES] };
            Ok((lib, id))
        });
        let mut failed = vec![0f64; self.size];
        failed[self.rank] = opened.is_err() as u8 as f64;
        self.all_reduce_sum_f64(&mut failed);
        let (lib, mut id) = match opened {
            Err(e) => return Err(e.context(format!("rank {}: setting up NCCL", self.rank))),
            Ok(ok) => ok,
        };
        if let Some(r) = failed.iter().position(|&f| f > 0.0) {
            anyhow::bail!("rank {}: setting up NCCL: rank {r} could not (its error says why)", self.rank);
        }
        self.broadcast_bytes(&mut id, 0);
        // Ranks holding different ids would wait in the set-up for peers that never come.
        let c = id.iter().enumerate().map(|(i, &b)| (i as f64 + 1.0) * b as f64).sum::<f64>();
        let mut check = [c, c * c];
        self.all_reduce_sum_f64(&mut check);
        let n = self.size as f64;
        anyhow::ensure!(
            check == [n * c, n * c * c],
            "rank {}: setting up NCCL: the ranks received different communicator ids",
            self.rank
        );
        let (ranks, rank) = (self.size, self.rank);
        let nccl = self
            .watch("setting up NCCL", || lib.join(id, ranks, rank))
            .map_err(|e| e.context(format!("rank {rank} of {ranks}: setting up NCCL")))?;
        self.nccl = Some(nccl);
        Ok(())
    }

    /// The NCCL communicator, once [`World::start_nccl`] has set it up.
    pub fn nccl(&self) -> Option<&Nccl> {
        self.nccl.as_ref()
    }

    /// Rank `root`'s `buf` into every rank's `buf`.
    #[cfg_attr(not(feature = "mpi"), allow(unused_variables, dead_code))]
    pub fn broadcast(&self, buf: &mut [f32], root: usize) {
        match &self.backend {
            Backend::Single => {}
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => self.watch("a broadcast", || {
                for piece in buf.chunks_mut(self.bucket) {
                    m.broadcast(piece, root);
                }
            }),
        }
    }

    /// An all-reduce fed group by group, each full bucket reduced while the caller goes on
    /// (see [`Overlap`]).
    pub fn overlap(&self) -> Overlap<'_> {
        Overlap::new(self)
    }

    /// The MPI communicator, if this is a world of MPI ranks.
    #[cfg(feature = "mpi")]
    pub(crate) fn communicator(&self) -> Option<&crate::mpi_world::MpiWorld> {
        match &self.backend {
            Backend::Mpi(m) => Some(m),
            Backend::Single => None,
        }
    }

    /// No MPI in this build.
    #[cfg(not(feature = "mpi"))]
    pub(crate) fn communicator(&self) -> Option<std::convert::Infallible> {
        None
    }

    /// Waits until every rank gets here.
    pub fn barrier(&self) {
        match &self.backend {
            Backend::Single => {}
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => self.watch("a barrier", || m.barrier()),
        }
    }
}
