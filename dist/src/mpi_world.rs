//! The MPI backend: the `mpi` crate over the system's MPI (OpenMPI 4.1 here).

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::ffi;
use mpi::raw::AsRaw;
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
    pub(crate) fn broadcast<T: Equivalence>(&self, buf: &mut [T], root: usize) {
        self.world.process_at_rank(root as i32).broadcast_into(buf);
    }
    pub(crate) fn barrier(&self) {
        self.world.barrier();
    }

    /// Starts summing `send` over the ranks without waiting (`MPI_Iallreduce`); the result
    /// arrives in the returned request's own buffer.
    pub(crate) fn start_all_reduce_f32(&self, send: Vec<f32>) -> PendingReduce {
        let mut recv = vec![0f32; send.len()];
        let count = i32::try_from(send.len()).expect("a bucket fits MPI's int count");
        let mut req = std::mem::MaybeUninit::<ffi::MPI_Request>::uninit();
        // SAFETY: both buffers live on the heap inside the returned `PendingReduce` until the
        // request completes (its `Drop` waits for it), and neither is touched meanwhile; moving
        // a Vec does not move its heap buffer.
        let rc = unsafe {
            ffi::MPI_Iallreduce(
                send.as_ptr().cast(),
                recv.as_mut_ptr().cast(),
                count,
                ffi::RSMPI_FLOAT,
                ffi::RSMPI_SUM,
                self.world.as_raw(),
                req.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "MPI_Iallreduce failed ({rc})");
        // SAFETY: MPI_Iallreduce wrote the request.
        PendingReduce { _send: send, recv, req: unsafe { req.assume_init() }, done: false }
    }
}

/// An all-reduce in flight; its buffers stay put until it completes.
pub(crate) struct PendingReduce {
    _send: Vec<f32>,
    recv: Vec<f32>,
    req: ffi::MPI_Request,
    done: bool,
}

impl PendingReduce {
    /// Lets MPI move the reduction on (MPI progresses non-blocking collectives inside its
    /// calls); true once it is complete.
    pub(crate) fn test(&mut self) -> bool {
        if !self.done {
            let mut flag = 0;
            // SAFETY: a live request; MPI_Test frees it on completion and sets it to null.
            unsafe { ffi::MPI_Test(&mut self.req, &mut flag, ffi::RSMPI_STATUS_IGNORE) };
            self.done = flag != 0;
        }
        self.done
    }

    /// Waits for the sums.
    pub(crate) fn wait(mut self) -> Vec<f32> {
        self.complete();
        std::mem::take(&mut self.recv)
    }

    fn complete(&mut self) {
        if !self.done {
            // SAFETY: a live request; MPI_Wait frees it.
            unsafe { ffi::MPI_Wait(&mut self.req, ffi::RSMPI_STATUS_IGNORE) };
            self.done = true;
        }
    }
}

impl Drop for PendingReduce {
    fn drop(&mut self) {
        // MPI may still write into `recv`: never free it under a running request.
        self.complete();
    }
}
