//! Starting N local ranks through `mpirun`, and reading how many a launcher started.

use std::path::Path;
use std::process::Command;

/// What a user needs to train on several ranks with a build that has no MPI.
pub const HOW_TO_GET_MPI: &str = "this build of mille has no MPI: install OpenMPI (as root: apt-get install \
libopenmpi-dev openmpi-bin libclang-dev) and build with `cargo build --release --features mille-tools/mpi` \
(tools/test and tools/demo do so when OpenMPI is installed)";

/// The number of ranks the launcher that started this process started (OpenMPI's
/// `OMPI_COMM_WORLD_SIZE`, PMI's `PMI_SIZE` as MPICH and Slurm's `srun --mpi=pmi2` set it), or
/// `None` when no launcher did.
pub fn launched_ranks() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|k| std::env::var(k).ok().and_then(|v| v.parse().ok()))
}

/// This process's rank among the ranks the launcher started on this machine (OpenMPI's
/// `OMPI_COMM_WORLD_LOCAL_RANK`, Slurm's `SLURM_LOCALID`, MPICH's `MPI_LOCALRANKID`), or `None`
/// when no launcher says: the trainer gives local rank `l` the GPU `l`.
pub fn launched_local_rank() -> Option<usize> {
    ["OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"]
        .iter()
        .find_map(|k| std::env::var(k).ok().and_then(|v| v.parse().ok()))
}

/// The `mpirun` command that starts `nproc` ranks of `exe args` on this machine: oversubscribed
/// when there are more ranks than cores, unbound (each rank's loader threads share its cores),
/// allowed to run as root (OpenMPI refuses otherwise), and told to abort the whole job when one
/// rank fails.
pub fn launch_command(nproc: usize, exe: &Path, args: &[std::ffi::OsString]) -> Command {
    let mut c = Command::new("mpirun");
    c.arg("-np").arg(nproc.to_string()).args(["--bind-to", "none"]);
    if nproc > std::thread::available_parallelism().map_or(1, |n| n.get()) {
        c.arg("--oversubscribe");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        c.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    }
    c.arg(exe).args(args);
    c
}
