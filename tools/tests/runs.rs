//! A run folder belongs to one run: concurrent writers are refused by the lock, an existing run
//! is never silently replaced, evaluation refuses weights that are missing or do not fit, a
//! signal or a failed write before the first checkpoint leaves nothing, and checkpoint and
//! prediction files are never left truncated. Bad settings are refused by name, and a signal
//! during METIS ends the program as that signal. `--save-init` writes the drawn weights whole.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn exe(bin: &str) -> &'static str {
    match bin {
        "prepare" => env!("CARGO_BIN_EXE_prepare"),
        "synth" => env!("CARGO_BIN_EXE_synth"),
        "train" => env!("CARGO_BIN_EXE_train"),
        "evaluate" => env!("CARGO_BIN_EXE_evaluate"),
        "partition" => env!("CARGO_BIN_EXE_partition"),
        "store" => env!("CARGO_BIN_EXE_store"),
        _ => unreachable!(),
    }
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(exe(bin)).args(args).current_dir(repo()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Cora prepared into `root`; its path.
fn cora(root: &Path) -> String {
    let src = mille_pipeline::datasets::require(&repo(), "cora");
    let o = run("prepare", &["--from", src.to_str().unwrap(), "--name", "cora", "--root", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    root.join("cora").display().to_string()
}

/// A quick training run's arguments (Cora, 2 layers).
fn quick<'a>(store: &'a str, out: &'a str, epochs: &'a str) -> Vec<&'a str> {
    vec![store, "--layers", "2", "--hidden", "16", "--epochs", epochs, "--parts", "1", "--device", "cpu", "--out", out]
}

/// Waits until `path` exists (a running trainer's first file).
fn wait_for(path: &Path, limit: Duration) {
    let t = Instant::now();
    while !path.exists() {
        assert!(t.elapsed() < limit, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_folder_is_held_by_one_process_and_never_silently_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    let out = tmp.path().join("run");
    let o = out.to_str().unwrap();
    // A long run holds the folder: a second run and a resume into it are refused, naming it.
    let mut first = Command::new(exe("train")).args(quick(&store, o, "400")).stderr(Stdio::null()).spawn().unwrap();
    wait_for(&out.join("metrics.jsonl"), Duration::from_secs(60));
    for extra in [&[][..], &["--resume"][..], &["--overwrite"][..]] {
        let args = [&quick(&store, o, "3")[..], extra].concat();
        let second = run("train", &args);
        let err = text(&second.stderr);
        assert_eq!(second.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(&format!("run folder {o} is in use by process {}", first.id())), "{extra:?}: {err}");
    }
    let _ = first.kill();
    first.wait().unwrap();
    // Its metrics hold one run's epochs, in order.
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let epochs: Vec<u64> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, (1..=epochs.len() as u64).collect::<Vec<_>>());
    // Finished or not, a folder holding a run is refused without --resume or --overwrite.
    let again = run("train", &quick(&store, o, "2"));
    let err = text(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{o} holds a run already: --resume continues it, --overwrite replaces all of it")),
        "{err}"
    );
    assert!(out.join("metrics.jsonl").exists(), "nothing of the old run was removed");
    // --overwrite replaces all of it, leftovers included.
    std::fs::write(out.join("predictions.npy"), b"old").unwrap();
    std::fs::create_dir_all(out.join("checkpoint-00999")).unwrap();
    let o2 = run("train", &[&quick(&store, o, "2")[..], &["--overwrite"]].concat());
    assert!(o2.status.success(), "{}", text(&o2.stderr));
    assert!(!out.join("checkpoint-00999").exists());
    assert_ne!(std::fs::read(out.join("predictions.npy")).unwrap(), b"old");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
}

#[test]
fn evaluation_refuses_a_run_without_weights_or_a_store_its_weights_do_not_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    let out = tmp.path().join("run");
    let o = out.to_str().unwrap();
    let r = run("train", &quick(&store, o, "1"));
    assert!(r.status.success(), "{}", text(&r.stderr));
    // Another store in config.toml: CiteSeer has other counts.
    let citeseer = mille_pipeline::datasets::require(&repo(), "citeseer");
    let p = run(
        "prepare",
        &["--from", citeseer.to_str().unwrap(), "--name", "citeseer", "--root", tmp.path().to_str().unwrap()],
    );
    assert!(p.status.success(), "{}", text(&p.stderr));
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    let other = tmp.path().join("citeseer").canonicalize().unwrap();
    let cora_abs = Path::new(&store).canonicalize().unwrap();
    std::fs::write(out.join("config.toml"), config.replace(cora_abs.to_str().unwrap(), other.to_str().unwrap()))
        .unwrap();
    let e = run("evaluate", &[o]);
    let err = text(&e.stderr);
    assert_eq!(e.status.code(), Some(1), "{err}");
    assert!(
        err.contains("trained on store cora (2708 nodes, 1433 node and 0 edge feature columns, 7 outputs)"),
        "{err}"
    );
    assert!(err.contains("(citeseer) is 3327 nodes") && err.contains("its weights do not fit that store"), "{err}");
    assert!(!err.contains("frame #"), "no C++ backtrace: {err}");
    // Only config.toml: nothing to evaluate.
    std::fs::write(out.join("config.toml"), &config).unwrap();
    for f in ["best.safetensors", "checkpoint.json"] {
        std::fs::remove_file(out.join(f)).unwrap();
    }
    let e = run("evaluate", &[o]);
    let err = text(&e.stderr);
    assert_eq!(e.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{o} has no trained weights (no best.safetensors, no checkpoint.json)")), "{err}");
}

#[test]
fn a_signal_before_the_first_checkpoint_leaves_no_folder_and_ends_as_that_signal() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    for (sig, name) in [(libc::SIGTERM, "term"), (libc::SIGINT, "int")] {
        let out = tmp.path().join(format!("run-{name}"));
        let o = out.to_str().unwrap();
        // 300 layers: the first epoch lasts long enough to be interrupted.
        let mut args = quick(&store, o, "5");
        args[2] = "300";
        let mut child = Command::new(exe("train")).args(&args).stderr(Stdio::null()).spawn().unwrap();
        wait_for(&out.join("config.toml"), Duration::from_secs(60));
        assert!(!out.join("checkpoint.json").exists(), "the signal must come before the first checkpoint");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(sig), "{name}: {status:?}");
        assert!(!out.exists(), "{name}: {o} was left behind");
    }
}

/// A command whose files may not grow past `bytes` (RLIMIT_FSIZE; SIGXFSZ ignored, so a write
/// past it fails with EFBIG, as a full disk fails with ENOSPC).
fn limited(bin: &str, args: &[&str], bytes: u64) -> Output {
    let mut c = Command::new(exe(bin));
    c.args(args).current_dir(repo());
    // SAFETY: async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            Ok(())
        });
    }
    c.output().unwrap()
}

#[test]
fn a_failed_write_leaves_no_truncated_file_and_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    // Before the first checkpoint (the model's weights exceed the limit): no folder.
    let out = tmp.path().join("run");
    let o = out.to_str().unwrap();
    let mut args = quick(&store, o, "2");
    args[4] = "256";
    let r = limited("train", &args, 1 << 20);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("model.safetensors") || err.contains("best.safetensors"), "names the file: {err}");
    assert!(!out.exists(), "{err}");
    // A run that checkpoints, then evaluation writing predictions past the limit.
    let r = run("train", &quick(&store, o, "1"));
    assert!(r.status.success(), "{}", text(&r.stderr));
    let pred = tmp.path().join("p.npy");
    let e = limited("evaluate", &[o, "--predictions", pred.to_str().unwrap()], 16 << 10);
    let err = text(&e.stderr);
    assert_eq!(e.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("writing {}", pred.display())), "{err}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(!pred.exists() && !left.iter().any(|n| n.to_string_lossy().contains("partial")), "{left:?}");
}

#[test]
fn settings_that_would_be_silently_wrong_or_panic_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    let out = tmp.path().join("run");
    let o = out.to_str().unwrap();
    for (extra, want) in [
        (&["--weight-decay", "-1"][..], "--weight-decay must be a finite number >= 0, got -1"),
        (&["--weight-decay", "nan"][..], "--weight-decay must be a finite number >= 0, got NaN"),
        (&["--clip", "-1"][..], "--clip must be a finite number >= 0 (0: off), got -1"),
        (&["--clip", "nan"][..], "--clip must be a finite number >= 0 (0: off), got NaN"),
        (&["--threads", "0"][..], "--threads must be at least 1"),
        (&["--workers", "0"][..], "--workers must be >= 1"),
        (&["--nproc", "0"][..], "--nproc must be at least 1"),
        (&["--layers", "100000"][..], "--layers 100000: at most 10000 blocks"),
        (&["--layers", "9000", "--hidden", "4096"][..], "GiB available"),
        (&["--split", "public", "--node-categorical", "year"][..], "categorical input \"year\""),
        (&["--norm", "layer"][..], "--norm sets RevGAT's norms (BatchNorm or LayerNorm): it needs --model revgat"),
        (
            &["--recipe", "cora-revgat", "--use-labels", "false"][..],
            "--label-reuse 1 writes predictions into the label",
        ),
    ] {
        let mut args = vec![&store[..], "--epochs", "1", "--parts", "1", "--device", "cpu", "--out", o];
        for (flag, value) in [("--layers", "2"), ("--hidden", "16")] {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        let r = run("train", &[&args[..], extra].concat());
        let err = text(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?} left {o}");
    }
    // A nproc of 0 in config.toml too.
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, format!("store = \"{store}\"\nnproc = 0\nworkers = 0\n")).unwrap();
    let r = run("train", &["--config", cfg.to_str().unwrap(), "--out", o]);
    assert!(
        text(&r.stderr).contains("--workers must be >= 1") || text(&r.stderr).contains("--nproc must be >= 1"),
        "{}",
        text(&r.stderr)
    );
    // A store name that is a path.
    let src = mille_pipeline::datasets::require(&repo(), "cora");
    for name in ["../escape", "/tmp/abs"] {
        let r =
            run("prepare", &["--from", src.to_str().unwrap(), "--name", name, "--root", tmp.path().to_str().unwrap()]);
        assert!(text(&r.stderr).contains("expected one plain folder name"), "{name}: {}", text(&r.stderr));
    }
    assert!(!tmp.path().parent().unwrap().join("escape").exists());
}

#[test]
fn an_empty_split_is_refused_for_training_and_an_undefined_validation_score_is_said() {
    let tmp = tempfile::tempdir().unwrap();
    // Cora with an empty training split, then with an empty validation split.
    let src = mille_pipeline::datasets::require(&repo(), "cora");
    for (part, name) in [("train", "notrain"), ("valid", "novalid")] {
        let dir = tmp.path().join(format!("src-{name}"));
        copy(&src, &dir);
        let gz = dir.join(format!("split/public/{part}.csv.gz"));
        let mut e = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
        std::io::Write::write_all(&mut e, b"").unwrap();
        e.finish().unwrap();
        let p =
            run("prepare", &["--from", dir.to_str().unwrap(), "--name", name, "--root", tmp.path().to_str().unwrap()]);
        assert!(p.status.success(), "{}", text(&p.stderr));
    }
    let out = tmp.path().join("run");
    let o = out.to_str().unwrap();
    let notrain = tmp.path().join("notrain").display().to_string();
    let r = run("train", &quick(&notrain, o, "1"));
    let err = text(&r.stderr);
    assert!(err.contains("split \"public\" of store") && err.contains("has no training nodes"), "{err}");
    assert!(!out.exists());
    let novalid = tmp.path().join("novalid").display().to_string();
    let r = run("train", &[&quick(&novalid, o, "3")[..], &["--json"]].concat());
    assert!(r.status.success(), "{}", text(&r.stderr));
    let s: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(s["best_epoch"], 3, "{s}");
    assert!(
        s["selection"].as_str().unwrap().starts_with("last evaluated epoch: the validation acc is undefined"),
        "{s}"
    );
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn a_signal_during_metis_ends_partition_as_that_signal_without_blaming_metis() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let s = run(
        "synth",
        &[
            "--nodes",
            "300000",
            "--avg-degree",
            "10",
            "--features",
            "2",
            "--classes",
            "5",
            "--out",
            raw.to_str().unwrap(),
        ],
    );
    assert!(s.status.success(), "{}", text(&s.stderr));
    let p = run(
        "prepare",
        &["--from", raw.to_str().unwrap(), "--name", "g", "--add-inverse-edge", "--root", tmp.path().to_str().unwrap()],
    );
    assert!(p.status.success(), "{}", text(&p.stderr));
    let store = tmp.path().join("g");
    let child = Command::new(exe("partition"))
        .args([store.to_str().unwrap(), "--method", "metis", "--parts", "64", "--no-cache"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{:?}: {err}", out.status);
    assert!(!err.contains("METIS returned an error"), "{err}");
}

#[test]
fn an_imported_partition_is_recorded_as_imported_in_a_shard_set() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    let parts = tmp.path().join("parts.txt");
    let lines: String = (0..2708).map(|v| format!("{}\n", v % 2)).collect();
    std::fs::write(&parts, lines).unwrap();
    let shards = tmp.path().join("shards");
    let r = run(
        "partition",
        &[&store, "--parts", "2", "--import", parts.to_str().unwrap(), "--shards", shards.to_str().unwrap(), "--json"],
    );
    assert!(r.status.success(), "{}", text(&r.stderr));
    let report: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(report["method"], "import");
    let manifest = std::fs::read_to_string(shards.join("shards.json")).unwrap();
    assert!(manifest.contains("\"import\"") && !manifest.contains("\"metis\""), "{manifest}");
}

#[test]
fn save_init_writes_the_weights_the_run_starts_from_or_fails_leaving_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = cora(tmp.path());
    let (out, init) = (tmp.path().join("run"), tmp.path().join("init.safetensors"));
    let mut args = quick(&store, out.to_str().unwrap(), "1");
    args.extend(["--save-init", init.to_str().unwrap()]);
    let o = run("train", &args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The weights the library draws for the run's settings, before any step.
    let cfg = mille_train::run::RunConfig::load(&out.join("config.toml")).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let drawn = mille_train::run::Trainer::new(cfg, fresh.path(), false).unwrap().var_store().variables();
    let saved = tch::Tensor::read_safetensors(&init).unwrap();
    assert_eq!(saved.len(), drawn.len());
    for (name, t) in &saved {
        assert!(t.equal(&drawn[name]), "{name} is not the drawn initial value");
    }
    // The run trained from them: its weights moved.
    let best = tch::Tensor::read_safetensors(out.join("best.safetensors")).unwrap();
    assert!(best.iter().any(|(n, t)| !t.equal(&drawn[n])), "one epoch moved no weight");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!left.iter().any(|n| n.to_string_lossy().contains("partial")), "{left:?}");

    // A FILE that cannot be written: the error names it, and the new run leaves no folder.
    let (out2, bad) = (tmp.path().join("run2"), tmp.path().join("missing/init.safetensors"));
    let mut args = quick(&store, out2.to_str().unwrap(), "1");
    args.extend(["--save-init", bad.to_str().unwrap()]);
    let o = run("train", &args);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("--save-init: writing") && text(&o.stderr).contains("missing/init.safetensors"));
    assert!(!out2.exists(), "a failed start left {}", out2.display());
}
