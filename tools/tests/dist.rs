//! `tools/train --nproc`: two local ranks through `mpirun`; a rank killed with -9 stops the job
//! with an error and `--resume` completes the run from its last checkpoint. Without MPI,
//! `--nproc 2` says how to get it.

use std::path::{Path, PathBuf};
use std::process::Command;
#[cfg(feature = "mpi")]
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn cora(root: &Path) -> String {
    let src = mille_pipeline::datasets::require(&repo(), "cora");
    let out = Command::new(env!("CARGO_BIN_EXE_prepare"))
        .args(["--from", src.to_str().unwrap(), "--name", "cora", "--root", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    root.join("cora").display().to_string()
}

fn train(store: &str, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_train"));
    c.args([store, "--out", out.to_str().unwrap(), "--model", "revgnn", "--conv", "sage", "--layers", "3"]);
    c.args(["--hidden", "32", "--parts", "4", "--device", "cpu", "--threads", "1", "--workers", "1"]);
    c.args(extra);
    c
}

#[cfg(not(feature = "mpi"))]
#[test]
fn without_mpi_nproc_says_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    let out = train(&store, &tmp.path().join("run"), &["--nproc", "2", "--epochs", "1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--nproc 2: this build of mille has no MPI: install OpenMPI"), "{err}");
}

/// NCCL sums GPU memory: asked for on the CPU, alone or on two ranks, the run is refused by
/// name on every rank and leaves no run folder.
#[test]
fn nccl_on_the_cpu_is_refused_before_the_run_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    let nproc: &[&str] = if cfg!(feature = "mpi") { &["--nproc", "2"] } else { &[] };
    for extra in [&[][..], nproc] {
        let run = tmp.path().join("run");
        let mut args = vec!["--dist-backend", "nccl", "--epochs", "1"];
        args.extend_from_slice(extra);
        let out = train(&store, &run, &args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        let want = "--dist-backend nccl sums CUDA tensors, but this run's device is cpu";
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(!run.exists(), "{extra:?}: a refused run left {}", run.display());
    }
}

/// The pids of the ranks (train processes started without --nproc) whose command line names
/// `out`.
#[cfg(feature = "mpi")]
fn ranks_of(out: &Path) -> Vec<i32> {
    let want = out.to_str().unwrap();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmd.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let is_train = args.first().is_some_and(|a| a.ends_with("/train"));
        if is_train && args.iter().any(|a| a == want) && !args.iter().any(|a| a == "--nproc") {
            pids.push(pid);
        }
    }
    pids
}

#[cfg(feature = "mpi")]
#[test]
fn a_killed_rank_stops_the_job_with_an_error_and_resume_completes_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    let run = tmp.path().join("run");
    let epochs = "60";
    let job = train(&store, &run, &["--nproc", "2", "--epochs", epochs, "--dist-timeout", "20", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once a checkpoint exists, kill rank 1 (or whichever rank is found second) as `kill -9` would.
    let t = Instant::now();
    while !run.join("checkpoint.json").exists() {
        assert!(t.elapsed() < Duration::from_secs(120), "no checkpoint after 2 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ranks = ranks_of(&run);
    assert_eq!(ranks.len(), 2, "two ranks running: {ranks:?}");
    // SAFETY: signalling a process has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(ranks[1], libc::SIGKILL) }, 0);
    let killed = Instant::now();
    let out = job.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job must fail: {err}");
    assert!(killed.elapsed() < Duration::from_secs(20), "stopped {:?} after the kill", killed.elapsed());
    assert!(err.contains("signal 9") || err.contains("Killed") || err.contains("waited"), "{err}");
    assert!(!run.join("summary.json").exists(), "an interrupted run has no summary");
    let done: u64 = {
        let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        text.lines().count() as u64
    };
    assert!(done < 60, "the run was stopped midway ({done} epochs)");

    let out = train(&store, &run, &["--nproc", "2", "--epochs", epochs, "--resume", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["world_size"], 2);
    assert_eq!(summary["epoch_seconds"].as_array().unwrap().len(), 60);
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 60, "each epoch once");
    // A resumed run keeps its rank count: one process is refused by name.
    let out = train(&store, &run, &["--epochs", "61", "--resume"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--nproc 1 differs from the run's 2"), "{err}");
}

/// A command training on the shard set `shards` (no STORE; --nproc from the shard count).
#[cfg(feature = "mpi")]
fn train_shards(shards: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_train"));
    c.args(["--shards", shards.to_str().unwrap(), "--out", out.to_str().unwrap(), "--layers", "3"]);
    c.args(["--hidden", "32", "--parts", "2", "--device", "cpu", "--threads", "1", "--workers", "1"]);
    c.args(extra);
    c
}

#[cfg(feature = "mpi")]
#[test]
fn a_sharded_run_trains_and_evaluates_every_node_exactly_once() {
    use mille_pipeline::{Labels, Store};
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    let shards = tmp.path().join("shards");
    let out = Command::new(env!("CARGO_BIN_EXE_partition"))
        .args([&store, "--method", "metis", "--parts", "2", "--shards", shards.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lost = report["shards"]["lost_edges"].as_u64().unwrap();
    assert_eq!(Some(lost), report["cut_edges"].as_u64(), "the lost entries are the cut ones");

    let run = tmp.path().join("run");
    let out = train_shards(&shards, &run, &["--epochs", "20", "--views", "2", "--eval-parts", "2", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["world_size"], 2);
    assert_eq!(summary["evaluated_nodes"], 2708);
    assert_eq!(summary["sharding"]["lost_edges"].as_u64(), Some(lost));
    // Training: every epoch's loss covered the 140 training nodes, each once (the shards'
    // training nodes are disjoint and each shard's random parts cover it once).
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    for line in metrics.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["train_rows"], 140, "{line}");
    }
    // Evaluation: each rank predicted its own shard; mapped back to the store's ids they cover
    // every node exactly once, and scoring them together gives the run's multi-view scores.
    let source = Store::open(&store).unwrap();
    let Some(Labels::MultiClass(y)) = source.labels() else { panic!("cora has classes") };
    let mut logits = vec![f32::NAN; 2708 * 7];
    let mut times = vec![0u32; 2708];
    for r in 0..2 {
        let shard = Store::open(shards.join(format!("shard-{r}"))).unwrap();
        let global: &[u32] = shard.array(mille_partition::GLOBAL_ID).unwrap();
        let p = tch::Tensor::read_npy(run.join(format!("predictions-shard-{r}.npy"))).unwrap();
        assert_eq!(p.size(), [global.len() as i64, 7]);
        let flat: Vec<f32> = p.reshape([-1]).try_into().unwrap();
        for (v, &g) in global.iter().enumerate() {
            let row = &flat[v * 7..(v + 1) * 7];
            assert!(row.iter().all(|x| x.is_finite()) && row.iter().any(|&x| x != 0.0), "node {g} predicted");
            logits[g as usize * 7..(g as usize + 1) * 7].copy_from_slice(row);
            times[g as usize] += 1;
        }
    }
    assert!(times.iter().all(|&t| t == 1), "every node in exactly one shard's predictions");
    let split = source.default_split().unwrap();
    let acc = |ids: &[u32]| {
        let hit = ids
            .iter()
            .filter(|&&v| {
                let l = &logits[v as usize * 7..(v as usize + 1) * 7];
                let best = (0..7).fold(0, |b, k| if l[k] > l[b] { k } else { b });
                best as i32 == y[v as usize]
            })
            .count();
        hit as f64 / ids.len() as f64
    };
    let mv = &summary["multi_view"];
    assert_eq!(mv["test"].as_f64().unwrap(), acc(split.test));
    assert_eq!(mv["valid"].as_f64().unwrap(), acc(split.valid));
    assert_eq!(mv["train"].as_f64().unwrap(), acc(split.train));
    assert!(mv["test"].as_f64().unwrap() > 0.4, "it learned: {mv}");

    // Resumed when done, alone (its ranks are started for it), it repeats the final inference.
    let out = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["--resume", "--out", run.to_str().unwrap(), "--json", "--threads", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(again["multi_view"], summary["multi_view"]);

    // One rank per shard: another count is refused by name.
    let out = train_shards(&shards, &tmp.path().join("run3"), &["--nproc", "3", "--epochs", "1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("holds 2 shards, one per rank: train it with --nproc 2 (this job has 3 ranks)"), "{err}");
}

/// With two ranks and METIS batches, rank 0 partitions and caches while the other waits and
/// reads the cache: one partition file, both ranks on it. On a store where the cache cannot be
/// written (its `partitions` is a file, as a read-only store refuses the folder), the run goes
/// on from memory with a warning.
#[cfg(feature = "mpi")]
#[test]
fn one_rank_partitions_for_metis_batches_and_an_uncachable_store_still_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    let args = ["--nproc", "2", "--epochs", "1", "--batching", "metis", "--metis-parts", "8", "--json"];
    let out = train(&store, &tmp.path().join("run"), &args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cached: Vec<_> = std::fs::read_dir(Path::new(&store).join("partitions")).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    std::fs::remove_dir_all(Path::new(&store).join("partitions")).unwrap();
    std::fs::write(Path::new(&store).join("partitions"), b"not a folder").unwrap();
    let out = train(&store, &tmp.path().join("run2"), &args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("could not cache the partition") && err.contains("using it from memory"), "{err}");
}
