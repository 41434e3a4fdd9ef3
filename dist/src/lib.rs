//! Data-parallel collectives for mille's trainer: a [`World`] of ranks started by an MPI launcher
//! (`mpirun`, Slurm's `srun`), or one process. The trainer sums gradients with
//! [`World::all_reduce_sum`] (in buckets of [`World::bucket`] values) and starts every rank from
//! rank 0's weights with [`World::broadcast`]; [`World::overlap`] reduces buckets while the
//! backward that produces them goes on. Every collective runs under a watchdog: one that
//! waits longer than the world's timeout (a rank lost or stuck) ends this process with an error
//! naming the collective, so a job never hangs.
//!
//! Gradients on a GPU can instead be summed by NCCL on the device ([`World::start_nccl`],
//! [`Nccl`]), its communicator bootstrapped over MPI.
//!
//! Without the `mpi` feature a process is always a world of one, and one started by a launcher
//! as one of several ranks is refused with the way to build with MPI ([`World::from_env`]).

mod launch;
#[cfg(feature = "mpi")]
mod mpi_world;
mod nccl;
mod overlap;
mod watchdog;
mod world;

pub use launch::{HOW_TO_GET_MPI, launch_command, launched_local_rank, launched_ranks};
pub use nccl::{Nccl, NcclLib};
pub use overlap::Overlap;
pub use world::World;

/// Whether this build has MPI.
pub const HAS_MPI: bool = cfg!(feature = "mpi");
