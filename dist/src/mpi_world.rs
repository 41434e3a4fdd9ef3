//! The MPI backend: the `mpi` crate over the system's MPI (OpenMPI 4.1 here).

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

/// MPI's world communicator; dropping it finalises MPI.
pub(crate) struct MpiWorld {
    world: SimpleCommunicator,
    _universe: Universe,
}

impl MpiWorld {
    /// Initialises MPI (once per process).
    pub(crate) fn init() -> anyhow::Result<MpiWorld> {
        let universe = mpi::initialize().ok_or_else(|| anyhow::anyhow!("MPI was initialised twice in one process"))?;
        Ok(MpiWorld { world: universe.world(), _universe: universe })
    }
    pub(crate) fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    pub(crate) fn size(&self) -> usize {
        self.world.size() as usize
    }
    pub(crate) fn all_reduce_f32(&self, send: &[f32], recv: &mut [f32]) {
        self.world.all_reduce_into(send, recv, SystemOperation::sum());
    }
    pub(crate) fn all_reduce_f64(&self, send: &[f64], recv: &mut [f64]) {
        self.world.all_reduce_into(send, recv, SystemOperation::sum());
    }
    pub(crate) fn broadcast_f32(&self, buf: &mut [f32], root: usize) {
        self.world.process_at_rank(root as i32).broadcast_into(buf);
    }
    pub(crate) fn barrier(&self) {
        self.world.barrier();
    }
}
