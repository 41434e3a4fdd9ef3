//! Recipes: every file of `recipes/` is built in and parses, every setting it names lands in the
//! run's configuration, flags laid over it win, and a store of the wrong kind is refused with
//! the command that prepares the right one.

use mille_pipeline::Store;
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use mille_train::run::RunConfig;
use mille_train::run::recipe::{BUILT_IN, Recipe, names};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_recipes_folder_holds_exactly_the_built_in_recipes_and_each_parses() {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("recipes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut built: Vec<String> = names().iter().map(|n| format!("{n}.toml")).collect();
    built.sort();
    assert_eq!(files, built, "recipes/ and recipe::BUILT_IN differ");
    for (name, text) in BUILT_IN {
        let on_disk = std::fs::read_to_string(repo().join(format!("recipes/{name}.toml"))).unwrap();
        assert_eq!(&on_disk, text);
        let r = Recipe::find(name).unwrap();
        assert_eq!(&r.info.name, name);
        let known = r.info.dataset.starts_with("ogbn-") || ["cora", "citeseer", "pubmed"].contains(&&*r.info.dataset);
        assert!(known, "{name}: dataset {}", r.info.dataset);
        assert!(name.starts_with(&format!("{}-", r.info.dataset)), "{name} starts with its dataset");
        assert!(!r.info.published.is_empty() && !r.info.source.is_empty(), "{name} cites its source and score");
        assert!(text.starts_with("# "), "{name} opens with its comment block");
        // Every setting the recipe names is the run's.
        let cfg = r.apply(RunConfig::new("/data/s"), name).unwrap();
        cfg.check().unwrap_or_else(|e| panic!("{name}: {e}"));
        let toml::Value::Table(got) = toml::Value::try_from(&cfg).unwrap() else { panic!() };
        for (k, v) in &r.settings {
            assert_eq!(got.get(k), Some(v), "{name}: {k}");
        }
        assert_eq!(cfg.recipe.as_deref(), Some(*name));
        assert_eq!(cfg.store, Path::new("/data/s"));
        // What config.toml records reads back as the same settings.
        assert_eq!(toml::from_str::<RunConfig>(&cfg.to_toml()).unwrap(), cfg);
    }
}

#[test]
fn an_unknown_recipe_or_setting_is_an_error_naming_it() {
    let e = Recipe::find("ogbn-nothing").unwrap_err().to_string();
    assert!(e.contains("unknown recipe \"ogbn-nothing\"") && e.contains("ogbn-proteins-revgnn-deep"), "{e}");
    let r = Recipe::parse("layers = 3\nlayerz = 4\n", "mine.toml").unwrap();
    let e = format!("{:#}", r.apply(RunConfig::new("s"), "mine.toml").unwrap_err());
    assert!(e.contains("mine.toml") && e.contains("layerz"), "{e}");
    let r = Recipe::parse("layers = \"many\"\n", "mine.toml").unwrap();
    let e = format!("{:#}", r.apply(RunConfig::new("s"), "mine.toml").unwrap_err());
    assert!(e.contains("layers") || e.contains("invalid type"), "{e}");
}

fn prepared(fixture: &str, opts: PrepareOptions, root: &Path) -> Store {
    let src = repo().join("fixtures").join(fixture);
    let path = prepare_dir(&src, &root.join(&opts.name), &opts).unwrap().path;
    Store::open(path).unwrap()
}

#[test]
fn a_store_of_the_wrong_kind_is_refused_with_how_to_prepare_it() {
    let tmp = tempfile::tempdir().unwrap();
    let proteins = prepared("proteins_like", PrepareOptions::new("p", true), tmp.path());
    let products = prepared("products_like", PrepareOptions::new("q", true), tmp.path());
    let directed = prepared("products_like", PrepareOptions::new("d", false), tmp.path());
    let arxiv = prepared("arxiv_like", PrepareOptions::new("a", false), tmp.path());
    let arxiv_u =
        prepared("arxiv_like", PrepareOptions { to_undirected: true, ..PrepareOptions::new("u", false) }, tmp.path());
    for name in names().iter().filter(|n| n.starts_with("ogbn-proteins")) {
        Recipe::find(name).unwrap().check_store(&proteins).unwrap();
        let e = Recipe::find(name).unwrap().check_store(&products).unwrap_err().to_string();
        assert!(e.contains("needs edge features") && e.contains("--name ogbn-proteins"), "{e}");
    }
    let arxiv_recipe = Recipe::find("ogbn-arxiv-revgcn-deep").unwrap();
    arxiv_recipe.check_store(&arxiv_u).unwrap();
    let e = arxiv_recipe.check_store(&arxiv).unwrap_err().to_string();
    assert!(e.contains("bidirected graph without duplicate edges") && e.contains("--to-undirected"), "{e}");
    let e = arxiv_recipe.check_store(&proteins).unwrap_err().to_string();
    assert!(e.contains("--to-undirected"), "{e}");
    for name in ["ogbn-products-revgnn-112", "ogbn-products-revgnn-56"] {
        let r = Recipe::find(name).unwrap();
        r.check_store(&products).unwrap();
        let e = r.check_store(&directed).unwrap_err().to_string();
        assert!(e.contains("needs the graph with inverse edges"), "{e}");
    }
}
