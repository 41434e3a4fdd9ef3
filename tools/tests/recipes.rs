//! Every recipe runs end to end at reduced size on its synthetic stand-in, prepared as the
//! recipe's dataset is (`tools/synth --like`, `tools/prepare --name ogbn-...`), with flags beside
//! the recipe winning; a store of the wrong kind is refused before any run folder exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(bin: &str, args: &[&str]) -> Output {
    let exe = match bin {
        "prepare" => env!("CARGO_BIN_EXE_prepare"),
        "synth" => env!("CARGO_BIN_EXE_synth"),
        "train" => env!("CARGO_BIN_EXE_train"),
        _ => unreachable!(),
    };
    Command::new(exe).args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A synthetic stand-in of `like`, prepared under the catalog name `name` (extra prepare flags
/// after); the store's path.
fn stand_in(root: &Path, like: &str, synth: &[&str], name: &str, prepare: &[&str]) -> PathBuf {
    let raw = root.join(format!("{like}-raw"));
    let r = raw.to_str().unwrap();
    ok(run("synth", &[&["--like", like, "--nodes", "1500", "--out", r][..], synth].concat()));
    let said =
        ok(run("prepare", &[&["--from", r, "--name", name, "--root", root.to_str().unwrap()][..], prepare].concat()));
    assert!(said.contains(&format!("{name} is in the catalog: taking its facts")), "{said}");
    if prepare.contains(&"--to-undirected") {
        // ~1 % of the arxiv-like pairs cite each other both ways: merged, and counted.
        let removed: u64 =
            said.split("bidirected: ").nth(1).and_then(|t| t.split(' ').next()).unwrap().parse().unwrap();
        assert!(removed > 0 && said.contains("duplicate entries removed"), "{said}");
    }
    root.join(name)
}

#[test]
fn every_recipe_runs_end_to_end_at_reduced_size_and_records_its_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let proteins =
        stand_in(root, "proteins", &["--avg-degree", "20", "--tasks", "16", "--classes", "6"], "ogbn-proteins", &[]);
    let arxiv = stand_in(
        root,
        "arxiv",
        &["--avg-degree", "10", "--features", "32", "--classes", "10"],
        "ogbn-arxiv",
        &["--to-undirected"],
    );
    let products = stand_in(root, "products", &["--features", "32", "--classes", "10"], "ogbn-products", &[]);
    // The Planetoid recipes run on the real graphs.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let planetoid = |name: &str| {
        let src = mille_pipeline::datasets::require(&repo, name);
        ok(run("prepare", &["--from", src.to_str().unwrap(), "--name", name, "--root", root.to_str().unwrap()]));
        root.join(name)
    };
    let (cora, citeseer) = (planetoid("cora"), planetoid("citeseer"));
    let recipes = mille_train::run::recipe::names();
    assert_eq!(recipes.len(), 14);
    // The student reads the teacher's run, so the teacher goes first.
    let at = |n: &str| recipes.iter().position(|r| *r == n).unwrap();
    assert!(at("ogbn-arxiv-revgat-teacher") < at("ogbn-arxiv-revgat-selfkd"));
    for name in recipes {
        let store = match name.split('-').next().zip(name.split('-').nth(1)) {
            Some(("cora", _)) => &cora,
            Some(("citeseer", _)) => &citeseer,
            Some((_, "proteins")) => &proteins,
            Some((_, "arxiv")) => &arxiv,
            _ => &products,
        };
        let out = root.join(format!("run-{name}"));
        let mut args =
            vec!["--recipe", name, "--layers", "7", "--epochs", "2", "--out", out.to_str().unwrap(), "--json"];
        // RevGAT's hundreds of channels per head, narrower: the stand-in checks the path, not the width.
        let revgat = name.contains("revgat");
        if revgat {
            args.extend(["--hidden", "96"]);
        }
        let teacher = root.join("run-ogbn-arxiv-revgat-teacher");
        if name == "ogbn-arxiv-revgat-selfkd" {
            args.extend(["--teacher", teacher.to_str().unwrap()]);
        }
        let o = run("train", &[&[store.to_str().unwrap()][..], &args[..]].concat());
        ok(Output { status: o.status, stdout: Vec::new(), stderr: o.stderr.clone() });
        let summary: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
        let score = summary["multi_view"]["test"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{name}: {summary}");
        // config.toml: the recipe's settings, its name, and the flags given beside it.
        let cfg: toml::Table = toml::from_str(&std::fs::read_to_string(out.join("config.toml")).unwrap()).unwrap();
        let recipe = mille_train::run::recipe::Recipe::find(name).unwrap();
        for (k, v) in &recipe.settings {
            let want = match k.as_str() {
                "layers" => &toml::Value::Integer(7),
                "epochs" => &toml::Value::Integer(2),
                "hidden" if revgat => &toml::Value::Integer(96),
                // The teacher given beside the recipe, with the recipe's alpha and temperature,
                // and the checksum of what it read.
                "teacher" => {
                    let t = cfg["teacher"].as_table().unwrap();
                    let read = std::fs::canonicalize(&teacher).unwrap();
                    assert_eq!(t["run"].as_str(), read.to_str(), "{name}");
                    assert_eq!((t["alpha"].as_float(), t["temperature"].as_float()), (Some(0.95), Some(0.7)));
                    let sum = mille_pipeline::store::checksum_file(&read.join("predictions.npy")).unwrap();
                    assert_eq!(t["checksum"].as_str(), Some(sum.as_str()));
                    continue;
                }
                _ => v,
            };
            assert_eq!(cfg.get(k), Some(want), "{name}: {k}");
        }
        assert_eq!(cfg["recipe"].as_str(), Some(name));
        assert_eq!(summary["epoch_seconds"].as_array().unwrap().len(), 2, "{name}");
    }
}

#[test]
fn a_recipe_refuses_a_store_of_the_wrong_kind_before_writing_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // ogbn-arxiv prepared directed (no --to-undirected): the authors' graph is bidirected.
    let arxiv = stand_in(root, "arxiv", &["--avg-degree", "6", "--features", "8", "--classes", "4"], "ogbn-arxiv", &[]);
    let out = root.join("run");
    let o =
        run("train", &[arxiv.to_str().unwrap(), "--recipe", "ogbn-arxiv-revgcn-deep", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("recipe ogbn-arxiv-revgcn-deep needs a bidirected graph without duplicate edges"), "{err}");
    assert!(err.contains("tools/prepare --from DIR --name ogbn-arxiv --to-undirected"), "{err}");
    assert!(!out.exists(), "no run folder");
    // A proteins recipe on it: no edge features.
    let o = run(
        "train",
        &[arxiv.to_str().unwrap(), "--recipe", "ogbn-proteins-revgnn-deep", "--out", out.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs edge features"), "{err}");
    let o = run("train", &[arxiv.to_str().unwrap(), "--recipe", "ogbn-nothing", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown recipe \"ogbn-nothing\"; the recipes are: ogbn-proteins-revgnn-deep"), "{err}");
    assert!(!out.exists());
}
