//! The programs as a user runs them: exit codes, messages, and what is left on disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn run(bin: &str, args: &[&str]) -> Output {
    let exe = match bin {
        "prepare" => env!("CARGO_BIN_EXE_prepare"),
        "inspect" => env!("CARGO_BIN_EXE_inspect"),
        "synth" => env!("CARGO_BIN_EXE_synth"),
        "store" => env!("CARGO_BIN_EXE_store"),
        "bench" => env!("CARGO_BIN_EXE_bench"),
        "partition" => env!("CARGO_BIN_EXE_partition"),
        "train" => env!("CARGO_BIN_EXE_train"),
        "evaluate" => env!("CARGO_BIN_EXE_evaluate"),
        "report" => env!("CARGO_BIN_EXE_report"),
        _ => unreachable!(),
    };
    Command::new(exe).args(args).current_dir(repo()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `tools/prepare` of Cora into `root`; the store's path.
fn prepared_cora(root: &str) -> String {
    let cora = mille_pipeline::datasets::require(&repo(), "cora");
    let out = run("prepare", &["--from", cora.to_str().unwrap(), "--name", "cora", "--root", root]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    format!("{root}/cora")
}

#[test]
fn cora_prepares_and_inspects_with_the_published_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let cora = mille_pipeline::datasets::require(&repo(), "cora");
    let out = run("prepare", &["--from", cora.to_str().unwrap(), "--name", "cora", "--root", root]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("{root}/cora"));
    let out = run("inspect", &[&format!("{root}/cora"), "--json", "--verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["nodes"], 2708);
    assert_eq!(v["edges"], 10556);
    assert_eq!(v["node_feature_dim"], 1433);
    assert_eq!(v["num_classes"], 7);
    assert_eq!(v["splits"]["public"], serde_json::json!({"train": 140, "valid": 500, "test": 1000}));
    assert_eq!(v["label_counts"], serde_json::json!([351, 217, 418, 818, 426, 298, 180]));
    // Cora's published structure: 78 connected components, the largest of 2,485 nodes.
    assert_eq!((v["components"]["count"].as_u64(), v["components"]["largest"].as_u64()), (Some(78), Some(2485)));
}

#[test]
fn every_broken_fixture_fails_cleanly_naming_file_and_line() {
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("fixtures/broken/cases.json")).unwrap()).unwrap();
    let cases = cases.as_object().unwrap();
    assert!(cases.len() >= 15);
    for (name, c) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_str().unwrap();
        let src = format!("fixtures/broken/{name}");
        let out = run("prepare", &["--from", &src, "--name", "x", "--add-inverse-edge", "--root", root]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        let file = format!("{src}/{}", c["file"].as_str().unwrap());
        let place = match c["line"].as_u64() {
            Some(line) => format!("{file}:{line}: "),
            None => file.to_string(),
        };
        assert!(err.contains(&place), "{name}: expected {place:?} in {err:?}");
        assert!(err.contains(c["expect"].as_str().unwrap()), "{name}: expected {:?} in {err:?}", c["expect"]);
        assert!(text(&out.stdout).is_empty(), "{name}: nothing on stdout");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "{name}: no store and no leftovers");
    }
}

#[test]
fn an_escaping_zip_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        "prepare",
        &["--from", "fixtures/broken/escaping.zip", "--name", "x", "--root", tmp.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("escapes the extraction folder"));
    assert!(!tmp.path().join("x").exists());
    assert!(!tmp.path().parent().unwrap().join("escaped.txt").exists());
}

#[test]
fn a_killed_prepare_leaves_no_store_and_the_next_run_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let out = run(
        "synth",
        &["--nodes", "300000", "--avg-degree", "30", "--features", "64", "--seed", "3", "--out", raw.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let root = tmp.path().join("stores");
    let args = ["--from", raw.to_str().unwrap(), "--name", "g", "--add-inverse-edge", "--root", root.to_str().unwrap()];
    let mut child = Command::new(env!("CARGO_BIN_EXE_prepare")).args(args).spawn().unwrap();
    // Wait until it is writing (its temporary folder exists), then kill it hard.
    let t0 = std::time::Instant::now();
    while !(root.exists()
        && std::fs::read_dir(&root).unwrap().flatten().any(|e| e.file_name().to_string_lossy().contains(".partial-")))
    {
        assert!(t0.elapsed().as_secs() < 60, "prepare never started writing");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed before it finished");
    assert!(!root.join("g").exists(), "no store at the target");
    assert!(mille_pipeline::Store::open(root.join("g")).is_err());
    // The next run cleans the dead run's temporary folder and succeeds.
    let out = run("prepare", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let left: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("g")]);
    let s = mille_pipeline::Store::open(root.join("g")).unwrap();
    assert_eq!(s.num_nodes(), 300_000);
    s.verify().unwrap();
}

#[test]
fn unknown_dataset_names_the_known_ones() {
    let out = run("prepare", &["ogbn-nothing"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("ogbn-products") && err.contains("ogbn-papers100M"), "{err}");
}

#[test]
fn every_program_has_help() {
    for bin in ["prepare", "inspect", "synth", "store", "bench", "partition", "train", "evaluate", "report"] {
        let out = run(bin, &["--help"]);
        assert!(out.status.success(), "{bin}");
        assert!(text(&out.stdout).contains("Usage"), "{bin}");
    }
}

#[test]
fn store_compress_and_decompress_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    assert!(
        run("prepare", &["--from", "fixtures/proteins_like", "--name", "q", "--add-inverse-edge", "--root", root])
            .status
            .success()
    );
    let z = format!("{root}/q.zst");
    let out = run("store", &["compress", &format!("{root}/q"), &z]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run("store", &["decompress", &z, &format!("{root}/q2")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a = mille_pipeline::Store::open(format!("{root}/q")).unwrap();
    let b = mille_pipeline::Store::open(format!("{root}/q2")).unwrap();
    assert_eq!(a.meta().arrays, b.meta().arrays, "same arrays and checksums");
}

#[test]
fn train_evaluate_and_report_a_run_on_cora() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let run_dir = format!("{root}/run");
    let args = [
        store.as_str(),
        "--model",
        "wt-revgnn",
        "--conv",
        "gen:softmax",
        "--layers",
        "4",
        "--hidden",
        "16",
        "--epochs",
        "3",
        "--parts",
        "2",
        "--eval-parts",
        "2",
        "--views",
        "3",
        "--feature-norm",
        "row",
        "--device",
        "cpu",
        "--out",
        &run_dir,
        "--json",
    ];
    let out = run("train", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // libtorch's own warnings (the sparse CSR one) go to tracing at debug level, not stderr.
    assert!(!text(&out.stderr).contains("Warning:"), "{}", text(&out.stderr));
    // With --json, each epoch's metrics line on stderr, the summary alone on stdout.
    let epochs: Vec<serde_json::Value> =
        text(&out.stderr).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(epochs.iter().map(|e| e["epoch"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["metric"], "acc");
    assert_eq!(s["device"], "cpu");
    assert_eq!(s["epoch_seconds"].as_array().unwrap().len(), 3);
    for f in ["config.toml", "metrics.jsonl", "summary.json", "predictions.npy", "loss.png", "accuracy.png"] {
        assert!(Path::new(&run_dir).join(f).exists(), "{f} missing");
    }
    // The PNGs are real images.
    let png = std::fs::read(Path::new(&run_dir).join("loss.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Re-evaluating with the run's own multi-view settings gives its numbers back.
    let out = run("evaluate", &[&run_dir, "--views", "3", "--eval-parts", "2", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["test"], s["multi_view"]["test"]);
    assert_eq!(e["valid"], s["multi_view"]["valid"]);
    // The saved config reruns the run exactly, in every fresh process (a libtorch CPU first-call
    // effect once broke this in about one process in ten: see mille_train::cpu_math).
    let again = format!("{root}/again");
    for _ in 0..5 {
        let out =
            run("train", &["--config", &format!("{run_dir}/config.toml"), "--out", &again, "--overwrite", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let s2: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((&s2["test"], &s2["multi_view"]), (&s["test"], &s["multi_view"]));
    }
    let out = run("report", &[&run_dir, &again]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches("wt-revgnn/gen:softmax").count(), 2);
}

#[test]
fn a_missing_gpu_is_a_one_line_error_and_auto_says_where_it_ran() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let run_dir = format!("{root}/run");
    let base = [store.as_str(), "--layers", "2", "--hidden", "8", "--epochs", "1", "--parts", "2", "--out", &run_dir];
    let gpu = text(
        &run("bench", &["memory-step", "--model", "revgnn", "--layers", "1", "--hidden", "8", "--nodes", "10"]).stdout,
    );
    let out = run("train", &[&base[..], &["--device", "cuda:0"]].concat());
    let err = text(&out.stderr);
    if !gpu.contains("\"device\":\"cpu\"") {
        eprintln!("skipped the no-GPU half: this machine has a GPU");
    } else {
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("error: device cuda:0 requested, but ") && err.contains("CUDA"), "{err}");
        assert!(!Path::new(&run_dir).exists(), "a failed start left {run_dir}");
    }
    let out = run("train", &[&base[..], &["--device", "auto", "--json"]].concat());
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chose = s["device"].as_str().unwrap().to_string();
    assert!(err.contains(&format!("device: auto chose {chose}")), "{err}");
    let metrics = std::fs::read_to_string(format!("{run_dir}/metrics.jsonl")).unwrap();
    for line in metrics.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["device"], s["device"]);
        assert!(v["batch_wait_seconds"].as_f64().unwrap() >= 0.0 && v["peak_anon_rss_bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn store_parts_batching_trains_part_by_part_and_needs_a_relabelled_store() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let relabelled = format!("{root}/cora-parts");
    let out = run("partition", &[&store, "--method", "metis", "--parts", "8", "--relabel", &relabelled]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run_dir = format!("{root}/run");
    let args = ["--batching", "store-parts", "--parts", "4", "--eval-parts", "2", "--views", "2", "--layers", "2"];
    let out =
        run("train", &[&[relabelled.as_str()][..], &args, &["--epochs", "4", "--out", &run_dir, "--json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(s["test"].as_f64().unwrap() > 0.3, "{s}");
    assert_eq!(s["views"], 2);
    let out = run("train", &[&[store.as_str()][..], &args, &["--out", &format!("{root}/bad")]].concat());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("store-parts needs a store relabelled by part") && err.contains(&store), "{err}");
}

#[test]
fn programs_end_quietly_when_their_stdout_is_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = prepared_cora(tmp.path().to_str().unwrap());
    for (bin, args) in [
        (env!("CARGO_BIN_EXE_inspect"), vec![store.as_str(), "--verify"]),
        (env!("CARGO_BIN_EXE_partition"), vec![store.as_str(), "--method", "random", "--parts", "4"]),
    ] {
        // A pipe whose reading end is already closed: the first write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(bin).args(&args).current_dir(repo()).stdout(writer).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{bin}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("panicked"), "{bin}: {}", text(&out.stderr));
    }
}

#[test]
fn resume_without_a_checkpoint_or_with_a_broken_one_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let run_dir = format!("{root}/run");
    let args = [store.as_str(), "--layers", "2", "--hidden", "8", "--parts", "2", "--out", &run_dir];
    let out = run("train", &[&args[..], &["--epochs", "1", "--resume"]].concat());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--resume:") && err.contains(&format!("{run_dir}/checkpoint.json is missing")), "{err}");
    assert!(!Path::new(&run_dir).exists(), "a refused --resume left {run_dir}");
    let out = run("train", &[&args[..], &["--epochs", "1"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(format!("{run_dir}/checkpoint.json"), "{\"dir\":\n").unwrap();
    let out = run("train", &[&args[..], &["--epochs", "2", "--resume"]].concat());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{run_dir}/checkpoint.json: not a checkpoint pointer")), "{err}");
    std::fs::write(format!("{run_dir}/checkpoint.json"), "{\"dir\":\"checkpoint-00009\"}").unwrap();
    let out = run("train", &[&args[..], &["--epochs", "2", "--resume"]].concat());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("names checkpoint folder \"checkpoint-00009\""), "{err}");
}

#[test]
fn resume_from_another_folder_uses_the_saved_absolute_store_and_a_given_store_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    // Started with a relative store path, from the repository.
    let rel = pathdiff(&store);
    let run_dir = format!("{root}/run");
    let args = ["--layers", "2", "--hidden", "8", "--parts", "2", "--out", &run_dir];
    let out = run("train", &[&[rel.as_str()][..], &args, &["--epochs", "1"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Off a terminal, one readable line per epoch (no JSON without --json).
    let err = text(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("epoch 1/1  loss ")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(" batches/s  acc train ") && line.contains("best valid"), "{line}");
    assert!(!err.contains("{\""), "{err}");
    let saved = std::fs::read_to_string(format!("{run_dir}/config.toml")).unwrap();
    let abs = std::fs::canonicalize(&store).unwrap();
    assert!(saved.contains(&format!("store = \"{}\"", abs.display())), "{saved}");

    // Resumed from another working folder without the STORE: the saved absolute path.
    let exe = env!("CARGO_BIN_EXE_train");
    let out = Command::new(exe)
        .args([&args[..], &["--epochs", "2", "--resume"]].concat())
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The store moved: the STORE given wins over the saved path.
    let moved = format!("{root}/moved");
    std::fs::rename(&store, &moved).unwrap();
    let out = Command::new(exe)
        .args([&args[..], &["--epochs", "3", "--resume"]].concat())
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("{}", abs.display())), "{}", text(&out.stderr));
    let out = Command::new(exe)
        .args([&["moved"][..], &args, &["--epochs", "3", "--resume"]].concat())
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{run_dir}/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["epoch_seconds"].as_array().unwrap().len(), 3, "{summary}");

    // A setting that decides the result is refused on --resume, by its flag; nothing changes.
    let out = Command::new(exe)
        .args([&["moved"][..], &args, &["--epochs", "4", "--lr", "0.5", "--resume"]].concat())
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--resume: --lr 0.5 differs from the run's 0.003"), "{}", text(&out.stderr));
    let saved = std::fs::read_to_string(format!("{run_dir}/config.toml")).unwrap();
    let moved_abs = std::fs::canonicalize(&moved).unwrap();
    assert!(saved.contains(&format!("store = \"{}\"", moved_abs.display())), "{saved}");
}

/// `path` relative to the repository (where `run` starts programs), through `..` as needed.
fn pathdiff(path: &str) -> String {
    let up = repo().components().count() - 1;
    format!("{}{}", "../".repeat(up), path.trim_start_matches('/'))
}

#[test]
fn out_of_range_counts_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let import = format!("{root}/parts.txt");
    let mut ids = vec!["0"; 2708];
    ids[5] = "7";
    std::fs::write(&import, ids.join("\n") + "\n").unwrap();
    let run_dir = format!("{root}/run");
    for (bin, args, want) in [
        (
            "partition",
            vec![store.as_str(), "--method", "metis", "--parts", "100000"],
            "into 100000 parts: every part needs a node".to_string(),
        ),
        ("partition", vec![store.as_str(), "--method", "random", "--parts", "0"], "at least 1".to_string()),
        (
            "partition",
            vec![store.as_str(), "--parts", "4", "--import", &import],
            format!("{import}: part ids go up to 7, outside --parts 4"),
        ),
        (
            "bench",
            vec!["loader", store.as_str(), "--parts", "0"],
            "sampler cluster: parts must be at least 1".to_string(),
        ),
        ("bench", vec!["loader", store.as_str(), "--workers", "0"], "--workers must be at least 1".to_string()),
        ("train", vec![store.as_str(), "--epochs", "0", "--out", &run_dir], "--epochs must be >= 1".to_string()),
    ] {
        let out = run(bin, &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bin} {args:?}: {err}");
        assert!(err.contains(&want), "{bin} {args:?}: {err}");
        assert!(out.stdout.is_empty(), "{bin} {args:?} printed {}", text(&out.stdout));
    }
    assert!(!Path::new(&run_dir).exists());
}

#[test]
fn partition_refuses_options_of_another_method_instead_of_ignoring_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let import = format!("{root}/parts.txt");
    std::fs::write(&import, "0\n".repeat(2708)).unwrap();
    let s = store.as_str();
    for (args, want) in [
        (
            vec![s, "--parts", "4", "--method", "random", "--scheme", "kway"],
            "--scheme does not apply to --method random",
        ),
        (
            vec![s, "--parts", "4", "--method", "fennel", "--ufactor", "5", "--uniform"],
            "--ufactor, --uniform do not apply to --method fennel",
        ),
        (vec![s, "--parts", "4", "--passes", "3"], "--passes does not apply to --method metis"),
        (vec![s, "--parts", "4", "--method", "metis", "--uniform"], "--uniform does not apply to --method metis"),
        (
            vec![s, "--parts", "4", "--import", &import, "--method", "fennel", "--seed", "3"],
            "--method, --seed do not apply to an imported partition (--import)",
        ),
    ] {
        let out = run("partition", &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(!Path::new(&format!("{store}/partitions")).exists(), "a refused partition wrote its cache");
    // The options of the method chosen still work.
    for args in [
        vec![s, "--parts", "4", "--method", "fennel", "--passes", "3", "--json"],
        vec![s, "--parts", "4", "--method", "random", "--uniform", "--seed", "2", "--json"],
        vec![s, "--parts", "4", "--scheme", "kway", "--ufactor", "50", "--json"],
    ] {
        let out = run("partition", &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn a_label_outside_the_stores_classes_is_refused_when_the_store_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{store}/meta.json")).unwrap()).unwrap();
    assert_eq!(meta["num_classes"], 7);
    let labels = format!("{store}/{}", meta["arrays"]["labels"]["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&labels).unwrap();
    bytes[12..16].copy_from_slice(&1000i32.to_le_bytes()); // node 3
    std::fs::write(&labels, bytes).unwrap();
    let run_dir = format!("{root}/run");
    let out = run("train", &[&store, "--epochs", "1", "--out", &run_dir]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.ends_with(&format!("{labels}: labels[3] is 1000, expected -1 (none) or a class in 0..=6\n")), "{err}");
    assert!(!Path::new(&run_dir).exists());
}

#[test]
fn the_stores_metric_is_used_and_one_that_does_not_fit_its_labels_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let meta_path = format!("{store}/meta.json");
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    assert!(meta.contains("\"metric\": \"acc\""), "{meta}");
    std::fs::write(&meta_path, meta.replace("\"metric\": \"acc\"", "\"metric\": \"rocauc\"")).unwrap();
    let run_dir = format!("{root}/run");
    let out = run("train", &[&store, "--epochs", "1", "--out", &run_dir]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.ends_with(&format!(
            "{meta_path}: metric rocauc does not fit the store's multi-class labels (expected acc)\n"
        )),
        "{err}"
    );
    assert!(!Path::new(&run_dir).exists());
}

#[test]
fn a_run_that_fails_before_its_first_epoch_leaves_no_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let run_dir = format!("{root}/run");
    let out = run("train", &[&store, "--split", "nosuch", "--epochs", "1", "--out", &run_dir]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nosuch"), "{err}");
    assert!(!Path::new(&run_dir).exists(), "{run_dir} left behind");
}

#[test]
fn device_check_dry_run_lists_its_steps() {
    let out = Command::new("bash").arg(repo().join("tools/device-check")).arg("--dry-run").output().unwrap();
    let o = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for step in [
        "--test cuda",
        "memory-depth --device cuda:0 --layers 7,112,1001",
        "bench upload",
        "--nproc 2",
        "pyg_revgnn_device.py",
        "dist-check --nccl",
        "--dist-backend nccl --out",
        "same_weights.py",
    ] {
        assert!(o.contains(step), "{step} missing from: {o}");
    }
    // From a pack: the packed programs, no build, no launcher the GPU machine lacks.
    let out = Command::new("bash")
        .arg(repo().join("tools/device-check"))
        .args(["--prebuilt", "/nonexistent/pack", "--dry-run"])
        .output()
        .unwrap();
    let o = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for step in [
        "/nonexistent/pack/bin/cuda-tests",
        "/nonexistent/pack/bin/bench memory-depth",
        "/nonexistent/pack/scripts/same_weights.py",
    ] {
        assert!(o.contains(step), "{step} missing from: {o}");
    }
    assert!(!o.contains("cargo") && !o.contains("--nproc"), "{o}");
}

#[test]
fn train_rejects_bad_settings_with_clear_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("run");
    let o = out_dir.to_str().unwrap();
    for (args, want) in
        [(vec!["/nonexistent/store", "--out", o], "/nonexistent/store"), (vec!["--out", o], "give the STORE")]
    {
        let out = run("train", &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // A word outside a choice is a usage error (clap's exit code 2), from the library type's
    // own parser: the message lists the choices.
    for (args, want) in [
        (
            vec!["fixtures/products_like", "--conv", "gcm", "--out", o],
            "invalid value 'gcm' for '--conv <CONV>': unknown convolution \"gcm\": expected sage, gcn, gat[:HEADS], gen[:softmax|max|mean|sum] or gcnii[:ALPHA:LAMBDA]",
        ),
        (
            vec!["fixtures/products_like", "--model", "rev", "--out", o],
            "invalid value 'rev' for '--model <MODEL>': \"rev\": expected resgnn, revgnn, wt-revgnn, deq or revgat",
        ),
        (
            vec!["fixtures/products_like", "--batching", "x", "--out", o],
            "\"x\": expected cluster, metis, store-parts, full, neighbor, saint-walk, saint-node (random reads as \
             cluster, saint as saint-walk)",
        ),
    ] {
        let out = run("train", &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let prepared = tmp.path().join("p");
    let out = run(
        "prepare",
        &[
            "--from",
            "fixtures/products_like",
            "--name",
            "p",
            "--add-inverse-edge",
            "--root",
            tmp.path().to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p = prepared.to_str().unwrap();
    for (args, want) in [
        (vec![p, "--hidden", "15", "--groups", "2", "--out", o], "--hidden 15 must split into --groups 2"),
        (vec![p, "--device", "tpu", "--out", o], "unknown device \"tpu\""),
        (vec![p, "--dropout", "1.5", "--out", o], "--dropout must be in [0, 1)"),
        (vec![p, "--sampler", "saint", "--conv", "gat", "--out", o], "--conv gat:4 has no GraphSAINT normalisation"),
        (
            vec![p, "--sampler", "saint", "--roots", "0", "--out", o],
            "--batching saint-walk: sampler saint-walk: roots must be at least 1",
        ),
        (
            vec![p, "--fanouts", "5,5", "--budget", "9", "--out", o],
            "--fanouts, --budget are not a setting of the cluster sampler",
        ),
    ] {
        let out = run("train", &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let out = run("evaluate", &[tmp.path().to_str().unwrap()]);
    assert!(text(&out.stderr).contains("is not a run folder"), "{}", text(&out.stderr));
}

#[test]
fn partition_runs_either_metis_scheme_and_the_bench_reports_both() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let part = |extra: &[&str]| {
        let mut args = vec![store.as_str(), "--method", "metis", "--parts", "8", "--json"];
        args.extend_from_slice(extra);
        let out = run("partition", &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let rb = part(&[]);
    let kway = part(&["--scheme", "kway"]);
    assert_eq!((rb["scheme"].as_str(), kway["scheme"].as_str()), (Some("recursive"), Some("kway")));
    // Two schemes, two cache entries, each a real partition far below random's cut (0.87 at k=8).
    assert_ne!(rb["path"], kway["path"]);
    for p in [&rb, &kway] {
        assert_eq!((p["parts"].as_u64(), p["empty_parts"].as_u64()), (Some(8), Some(0)));
        assert!(p["edge_cut_fraction"].as_f64().unwrap() < 0.2, "{p}");
        // Cora has 78 components: some part holds pieces of several; most of a part is one.
        let (d, share) =
            (p["disconnected_parts"].as_u64().unwrap(), p["mean_largest_component_share"].as_f64().unwrap());
        assert!((1..=8).contains(&d) && share > 0.5 && share < 1.0, "{p}");
    }
    assert_eq!(part(&[])["cached"], true);
    let out = run("bench", &["partition", &store, "--parts", "8", "--methods", "metis,metis-kway", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<_> = rows.as_array().unwrap().iter().map(|r| r["method"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["metis", "metis-kway"]);
    assert_eq!(rows[0]["edge_cut_fraction"], rb["edge_cut_fraction"]);
    assert_eq!(rows[1]["edge_cut_fraction"], kway["edge_cut_fraction"]);
}

#[test]
fn a_store_whose_csr_points_outside_the_graph_is_refused_by_every_program() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let indices = format!("{store}/indices.bin");
    let mut bytes = std::fs::read(&indices).unwrap();
    bytes[40..44].copy_from_slice(&5000u32.to_le_bytes());
    std::fs::write(&indices, bytes).unwrap();
    let run_dir = format!("{root}/run");
    let want = format!("store {indices}: indices[10] is 5000, expected a node id below 2708\n");
    for (bin, args) in [
        ("inspect", vec![store.as_str()]),
        ("partition", vec![store.as_str(), "--method", "metis", "--parts", "4"]),
        ("bench", vec!["loader", store.as_str(), "--epochs", "1"]),
        ("train", vec![store.as_str(), "--epochs", "1", "--out", &run_dir]),
    ] {
        let out = run(bin, &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bin}: {err}");
        assert!(err.ends_with(&want), "{bin}: {err}");
    }
    assert!(!Path::new(&run_dir).exists());
}

#[test]
fn an_empty_split_file_is_read_by_every_program() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let src = tmp.path().join("src");
    copy_dir(&repo().join("fixtures/products_like"), &src);
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(src.join("split/sales_ranking/valid.csv.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.finish().unwrap();
    let out = run("prepare", &["--from", src.to_str().unwrap(), "--name", "p", "--root", root, "--add-inverse-edge"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let store = format!("{root}/p");
    let out = run("inspect", &[&store, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["splits"]["sales_ranking"]["valid"], 0, "{v}");
    let out = run("bench", &["loader", &store, "--parts", "2", "--epochs", "1", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run_dir = format!("{root}/run");
    let args = [
        store.as_str(),
        "--epochs",
        "1",
        "--layers",
        "2",
        "--hidden",
        "8",
        "--parts",
        "2",
        "--out",
        &run_dir,
        "--json",
    ];
    let out = run("train", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert!(s["valid"].is_null() && s["test"].is_number(), "no validation nodes: no validation score; {s}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn bench_depth_trains_every_point_and_reports_what_each_run_scored() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let store = prepared_cora(root);
    let (runs, png, json) = (format!("{root}/runs"), format!("{root}/depth.png"), format!("{root}/depth.json"));
    let args = [
        "depth",
        &store,
        "--layers",
        "1,2",
        "--seeds",
        "2",
        "--models",
        "revgnn",
        "--convs",
        "gcn,gcnii",
        "--runs",
        &runs,
        "--plot",
        &png,
        "--json",
        "--",
        "--epochs",
        "3",
        "--hidden",
        "16",
        "--parts",
        "1",
        "--device",
        "cpu",
    ];
    let out = run("bench", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 8, "1 model x 2 convs x 2 depths x 2 seeds");
    for r in &rows {
        let dir =
            format!("{runs}/revgnn-{}-{}-{}", r["conv"].as_str().unwrap().replace(':', "_"), r["layers"], r["seed"]);
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}/summary.json")).unwrap()).unwrap();
        assert_eq!(r["test"], s["test"], "{dir}");
        let cfg = std::fs::read_to_string(format!("{dir}/config.toml")).unwrap();
        assert!(cfg.contains(&format!("layers = {}", r["layers"])) && cfg.contains("epochs = 3"), "{cfg}");
    }
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    // Re-plotted and tabled from the JSON without training.
    std::fs::write(&json, &out.stdout).unwrap();
    let out = run("bench", &["depth", &store, "--from-json", &json]);
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(table.lines().count(), 5, "a header and 4 points: {table}");
    assert!(table.lines().any(|l| l.starts_with("revgnn") && l.contains("gcnii:0.1:0.5") && l.contains(" 2 ")));
}
