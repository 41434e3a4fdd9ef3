//! The collectives across real processes on this machine (`mpirun` over shared memory and
//! loopback): exact sums and broadcasts of several sizes, bucket edges included; a killed or a
//! stalled rank ends the job with an error instead of a hang. Without the `mpi` feature: a
//! process started as one of several ranks is refused with the way to get MPI.

use std::process::Command;
#[cfg(feature = "mpi")]
use std::{
    process::Output,
    time::{Duration, Instant},
};

fn check() -> &'static str {
    env!("CARGO_BIN_EXE_dist-check")
}

#[cfg(feature = "mpi")]
fn mpirun(np: usize, args: &[&str]) -> (Output, Duration) {
    let exe = std::path::Path::new(check());
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    let t = Instant::now();
    let out = mille_dist::launch_command(np, exe, &args).output().expect("mpirun runs (openmpi-bin installed?)");
    (out, t.elapsed())
}

#[cfg(feature = "mpi")]
#[test]
fn all_reduce_and_broadcast_are_exact_on_2_and_3_ranks_at_every_bucket_edge() {
    for np in [2, 3] {
        let (out, _) = mpirun(np, &["--bucket", "1000"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{np} ranks: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with('{')).collect();
        assert_eq!(lines.len(), np, "{stdout}");
        for r in 0..np {
            let want = format!("{{\"rank\": {r}, \"size\": {np}, \"bucket\": 1000, \"ok\": true}}");
            assert!(lines.contains(&want.as_str()), "rank {r} of {np}: {stdout}");
        }
    }
}

#[cfg(feature = "mpi")]
#[test]
fn a_killed_rank_ends_the_job_non_zero_naming_it() {
    let (out, took) = mpirun(2, &["--kill-rank", "1", "--timeout", "20"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // mpirun names the rank whose process died (its signal), or the survivor's watchdog fires.
    assert!(err.contains("rank 1") || err.contains("signal 9") || err.contains("waited"), "{err}");
}

#[cfg(feature = "mpi")]
#[test]
fn a_stalled_rank_ends_the_job_at_the_timeout() {
    let (out, took) = mpirun(2, &["--stall-rank", "1", "--timeout", "3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(err.contains("rank 0: an all-reduce waited 3 s for the other ranks (--dist-timeout)"), "{err}");
}

#[cfg(not(feature = "mpi"))]
#[test]
fn without_mpi_a_process_started_as_one_of_several_ranks_is_refused() {
    let out = Command::new(check()).env("OMPI_COMM_WORLD_SIZE", "2").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("started as one of 2 ranks, but this build of mille has no MPI"), "{err}");
}

#[test]
fn alone_the_world_is_one_rank_and_collectives_keep_the_values() {
    let out = Command::new(check()).env_remove("OMPI_COMM_WORLD_SIZE").env_remove("PMI_SIZE").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"rank\": 0, \"size\": 1, \"bucket\": 1048576, \"ok\": true")
    );
}

/// The torch wheel's NCCL opens (the set-up installs it) and reports a 2.x version.
#[test]
fn nccl_opens_from_the_torch_wheel() {
    let lib = mille_dist::NcclLib::open().expect("libnccl.so.2 from the torch wheel");
    let v = lib.version().unwrap();
    assert!(v.starts_with("2.") && v.split('.').count() == 3, "{v} from {}", lib.path());
}

/// NCCL's set-up over MPI on two ranks that share GPU 0 (or have none, as here): NCCL refuses
/// them (two ranks on one GPU, or no GPU), and every rank must stop within seconds with NCCL's
/// reason naming its rank, never wait for a peer. Where it does succeed (a machine whose ranks
/// see different GPUs), both ranks report the communicator.
#[cfg(feature = "mpi")]
#[test]
fn nccl_set_up_over_mpi_stops_every_rank_with_the_reason_or_joins_them_all() {
    let (out, took) = mpirun(2, &["--nccl", "--bucket", "1000", "--timeout", "30"]);
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(took < Duration::from_secs(30), "took {took:?}: {err}");
    if out.status.success() {
        assert_eq!(stdout.lines().filter(|l| l.contains("\"nccl\": \"MPI, rank")).count(), 2, "{stdout}");
    } else {
        // The MPI checks before it passed; each rank's own error says what NCCL said.
        assert!(stdout.contains("\"ok\": true") || stdout.is_empty(), "{stdout}");
        for r in 0..2 {
            let want = format!("error: rank {r} of 2: setting up NCCL: ncclCommInitRank: ");
            assert!(err.contains(&want) || err.contains("job has been aborted"), "rank {r}: {err}");
        }
        assert!(err.contains("setting up NCCL: ncclCommInitRank: ") && err.contains("NCCL error"), "{err}");
    }
}
