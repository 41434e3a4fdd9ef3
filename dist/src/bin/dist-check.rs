//! Checks (and times) the collectives of the world it is started in: `mpirun -np N dist-check`.
//! Every rank fills buffers of several sizes with values it can recompute for every other rank,
//! all-reduces (at once, and overlapped group by group) and broadcasts them, and compares with the exact result; `--bench P` then times
//! all-reduces of P floats (RevGNN-1001's gradient is 4.3M) against a memcpy of the same bytes.
//! `--nccl` then sets up NCCL among the ranks (exit 4, with NCCL's reason, where it cannot).
//! Prints one JSON line per rank; exits 1 on a wrong value.

use mille_dist::World;
use std::time::{Duration, Instant};

/// Value `i` of rank `r`'s buffer: integers small enough that any order of summation is exact,
/// plus a fraction that only rank 0's broadcast carries.
fn value(r: usize, i: usize) -> f32 {
    ((i * 7 + r * 13) % 1024) as f32
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| -> Option<usize> {
        args.iter().position(|a| a == k).and_then(|p| args.get(p + 1)).and_then(|v| v.parse().ok())
    };
    let bucket: usize = arg("--bucket").unwrap_or(World::DEFAULT_BUCKET);
    let world = match World::from_env(Duration::from_secs(arg("--timeout").unwrap_or(60) as u64)) {
        Ok(w) => w.with_bucket(bucket),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let (rank, size) = (world.rank(), world.size());
    if arg("--kill-rank") == Some(rank) {
        // A rank that dies as under `kill -9`: the others are left waiting in the all-reduce.
        // SAFETY: signalling this process has no preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    if arg("--stall-rank") == Some(rank) {
        // A rank that is alive but never joins: only the others' watchdogs can end the job.
        std::thread::sleep(Duration::from_secs(3600));
    }
    let mut bad = Vec::new();
    for n in [1, 1000, bucket - 1, bucket, bucket + 7, 3 * bucket + 1] {
        let mut buf: Vec<f32> = (0..n).map(|i| value(rank, i)).collect();
        world.all_reduce_sum(&mut buf);
        if let Some(i) = (0..n).find(|&i| buf[i] != (0..size).map(|r| value(r, i)).sum::<f32>()) {
            bad.push(format!("all-reduce of {n}: value {i} is {}", buf[i]));
        }
        let mut b: Vec<f32> = (0..n).map(|i| if rank == 0 { i as f32 + 0.25 } else { -1.0 }).collect();
        world.broadcast(&mut b, 0);
        if let Some(i) = (0..n).find(|&i| b[i] != i as f32 + 0.25) {
            bad.push(format!("broadcast of {n}: value {i} is {}", b[i]));
        }
    }
    // Overlapped: groups of uneven sizes crossing bucket edges, one rank pushing them late.
    let groups = [3, bucket - 1, 5, 2 * bucket + 1, 1];
    let mut o = world.overlap();
    let mut at = 0;
    for &g in &groups {
        if rank == 1 {
            std::thread::sleep(Duration::from_millis(20));
        }
        o.push(&(at..at + g).map(|i| value(rank, i)).collect::<Vec<_>>());
        at += g;
    }
    let sums = o.finish();
    if sums.len() != at {
        bad.push(format!("overlapped all-reduce: {} values, expected {at}", sums.len()));
    } else if let Some(i) = (0..at).find(|&i| sums[i] != (0..size).map(|r| value(r, i)).sum::<f32>()) {
        bad.push(format!("overlapped all-reduce: value {i} is {}", sums[i]));
    }
    let mut counts = [rank as f64, 1.0];
    world.all_reduce_sum_f64(&mut counts);
    if counts != [(size * (size - 1) / 2) as f64, size as f64] {
        bad.push(format!("f64 all-reduce: {counts:?}"));
    }
    let mut line = format!("{{\"rank\": {rank}, \"size\": {size}, \"bucket\": {bucket}, \"ok\": {}", bad.is_empty());
    if args.iter().any(|a| a == "--nccl") {
        // NCCL's set-up among the ranks on CUDA's current device (GPU 0; one rank a GPU): the
        // id broadcast over MPI, the communicator joined. Where NCCL or a GPU is missing, every
        // rank must stop with the reason rather than wait.
        let mut world = world;
        if let Err(e) = world.start_nccl() {
            eprintln!("error: {e:#}");
            std::process::exit(4);
        }
        line += &format!(", \"nccl\": \"{}\"", world.describe());
        println!("{line}}}");
        std::process::exit(if bad.is_empty() { 0 } else { 1 });
    }
    if let Some(p) = arg("--bench") {
        let p: usize = p;
        let mut g = vec![1f32; p];
        world.all_reduce_sum(&mut g); // warm-up: connections, pages
        let reps = 10;
        let t = Instant::now();
        for _ in 0..reps {
            world.all_reduce_sum(&mut g);
        }
        let secs = t.elapsed().as_secs_f64() / reps as f64;
        let src = vec![1f32; p];
        let mut dst = vec![0f32; p];
        let t = Instant::now();
        for _ in 0..reps {
            dst.copy_from_slice(std::hint::black_box(&src));
        }
        let copy = t.elapsed().as_secs_f64() / reps as f64;
        let gb = (p * 4) as f64 / 1e9;
        line += &format!(
            ", \"params\": {p}, \"all_reduce_seconds\": {secs}, \"all_reduce_gb_per_second\": {}, \"memcpy_gb_per_second\": {}",
            gb / secs,
            gb / copy
        );
    }
    println!("{line}}}");
    for b in &bad {
        eprintln!("rank {rank}: {b}");
    }
    world.barrier();
    drop(world);
    std::process::exit(if bad.is_empty() { 0 } else { 1 });
}
