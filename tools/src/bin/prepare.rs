//! `tools/prepare`: an OGB dataset (downloaded by name, or a local zip or folder) into a store.

use anyhow::{Context, bail};
use clap::Parser;
use mille_pipeline::ogb::{self, DownloadOptions, PrepareOptions};
use std::path::{Path, PathBuf};

/// Prepare an OGB node-property dataset as a memory-mapped mille store.
///
/// By name it downloads OGB's zip into the cache (resuming an interrupted download), extracts it
/// and parses it; with --from it reads a local zip or a folder in OGB's raw layout. The store is
/// written atomically to ROOT/NAME and its path printed on stdout.
#[derive(Parser)]
#[command(
    name = "prepare",
    version,
    after_help = "Known datasets: ogbn-products, ogbn-proteins, ogbn-arxiv, ogbn-papers100M.\n\nExamples:\n  tools/prepare ogbn-products\n  tools/prepare --from ../shared/datasets/cora --name cora"
)]
struct Args {
    /// Dataset to download and prepare (e.g. ogbn-products).
    dataset: Option<String>,
    /// Read this zip or extracted folder instead of downloading.
    #[arg(long, value_name = "ZIP_OR_DIR")]
    from: Option<PathBuf>,
    /// Store name (default: the dataset's); required with --from for an unknown dataset.
    #[arg(long)]
    name: Option<String>,
    /// Folder that receives the store.
    #[arg(long, default_value = "data")]
    root: PathBuf,
    /// Add the reverse of every edge, as OGB does for undirected datasets stored once
    /// (automatic for ogbn-products and ogbn-proteins, by name or as --name with --from).
    #[arg(long, conflicts_with = "no_add_inverse_edge")]
    add_inverse_edge: bool,
    /// Keep the input's edges as given even where the catalog adds inverse edges.
    #[arg(long)]
    no_add_inverse_edge: bool,
    /// Make the graph bidirected with duplicate edges removed (inverse edges added, then each
    /// repeated entry dropped: DGL's `to_bidirected`, as the authors' ogbn-arxiv code does);
    /// the report counts the duplicates removed.
    #[arg(long, conflicts_with = "no_add_inverse_edge")]
    to_undirected: bool,
    /// Download from this address instead of OGB's.
    #[arg(long)]
    url: Option<String>,
    /// Folder for downloaded zips (default: the per-user cache, ~/.cache/mille/downloads).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Replace an existing store.
    #[arg(long)]
    force: bool,
    /// Bytes of memory for edges while the CSR is built (12 per directed edge); past it they
    /// go through scratch files beside the store. Default: 256 MiB.
    #[arg(long, value_name = "BYTES")]
    scratch_memory: Option<u64>,
    /// Classes of the labels, for a dataset the catalog does not know (default: the largest
    /// label + 1, refused past 65,536). A label outside 0..CLASSES is an error.
    #[arg(long, value_name = "CLASSES", value_parser = clap::value_parser!(u64).range(1..=(i32::MAX as u64)))]
    num_classes: Option<u64>,
    /// Accept --num-classes above 1,000,000 (a store with more classes is refused unless it was
    /// prepared with this).
    #[arg(long)]
    allow_many_classes: bool,
    /// The longest line of text accepted, in bytes: a longer one is an error naming the file and
    /// line, found without reading more of it.
    #[arg(long, value_name = "BYTES", default_value_t = ogb::DEFAULT_MAX_LINE)]
    max_line_bytes: usize,
    /// Print a JSON report instead of the path.
    #[arg(long)]
    json: bool,
}

fn main() {
    mille_tools::run(|| {
        let a = Args::parse();
        let info = a.dataset.as_deref().map(|d| {
            ogb::lookup(d).with_context(|| {
                format!(
                    "unknown dataset {d:?}; known: {} (or use --from DIR --name NAME)",
                    ogb::catalog::names().join(", ")
                )
            })
        });
        let info = match (info, &a.from) {
            (Some(i), _) => Some(i?),
            (None, Some(_)) => None,
            (None, None) => {
                bail!("give a dataset name (e.g. ogbn-products) or --from ZIP_OR_DIR; see --help")
            }
        };
        let name = match (&a.name, info) {
            (Some(n), _) => n.clone(),
            (None, Some(i)) => i.name.to_string(),
            (None, None) => bail!("--from needs --name NAME for the store"),
        };
        ogb::check_store_name(&name)?;
        // A folder prepared under a catalog name gets the catalog's facts, as a download would.
        let info = info.or_else(|| ogb::catalog::CATALOG.iter().find(|d| d.name == name));
        let inverse = !a.no_add_inverse_edge && (a.add_inverse_edge || info.is_some_and(|i| i.add_inverse_edge));
        if let (Some(i), Some(_)) = (info, &a.from) {
            let edges = match (a.to_undirected, inverse, i.add_inverse_edge) {
                (true, _, _) => "made bidirected without duplicates (--to-undirected)",
                (false, true, true) => "inverse edges added (--no-add-inverse-edge keeps the input's)",
                (false, true, false) => "inverse edges added (--add-inverse-edge)",
                (false, false, true) => {
                    "the input's edges as given (--no-add-inverse-edge; the catalog adds inverse edges)"
                }
                (false, false, false) => "the input's edges as given, directed (--to-undirected makes it bidirected)",
            };
            let labels = if i.num_tasks == 1 { format!("{} classes", i.num_classes) } else { "binary tasks".into() };
            eprintln!("{name} is in the catalog: taking its facts: {edges}; {labels}; metric {}", i.metric);
        }
        let progress = mille_tools::progress::Bars::reporter(mille_tools::interactive());
        let source_path = match &a.from {
            Some(p) => p.clone(),
            None => {
                let info = info.expect("checked above");
                let url = a.url.clone().unwrap_or_else(|| info.url.to_string());
                let cache = a.cache.clone().unwrap_or_else(|| mille_tools::cache_dir().join("downloads"));
                let dest = cache.join(format!("{}.zip", info.download_name));
                eprintln!("downloading {url} -> {}", dest.display());
                ogb::download(&url, &dest, &DownloadOptions { progress: progress.clone(), ..Default::default() })?
            }
        };
        let opts = PrepareOptions {
            durable: true,
            name: name.clone(),
            add_inverse_edge: inverse,
            to_undirected: a.to_undirected,
            many_classes: a.allow_many_classes,
            overwrite: a.force,
            progress,
            info,
            source: source_path.display().to_string(),
            scratch_memory: a.scratch_memory,
            num_classes: a.num_classes,
            max_line_bytes: a.max_line_bytes,
        };
        let target = a.root.join(&name);
        let report = prepare_path(&source_path, &target, &opts, &a.root)?;
        if a.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            eprintln!("prepared {name}: {} nodes, {} edges in {:.1} s", report.nodes, report.edges, report.seconds);
            if a.to_undirected {
                eprintln!("  bidirected: {} duplicate entries removed", report.duplicates_removed);
            }
            if report.node_feat_from.is_some() {
                eprintln!("  node features: each node's sum of its edges' features (the input has none)");
            }
            println!("{}", report.path.display());
        }
        Ok(())
    })
}

/// A zip is extracted next to the store (and removed after); a folder is read in place.
fn prepare_path(src: &Path, target: &Path, opts: &PrepareOptions, root: &Path) -> anyhow::Result<ogb::PrepareReport> {
    if !src.exists() {
        bail!("{}: no such file or folder", src.display());
    }
    if src.is_dir() {
        return Ok(ogb::prepare_dir(src, target, opts)?);
    }
    let tmp = root.join(format!(".{}.raw-{}", opts.name, std::process::id()));
    std::fs::create_dir_all(root).with_context(|| root.display().to_string())?;
    ogb::extract_zip(src, &tmp)?;
    let res = ogb::prepare_dir(&tmp, target, opts);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(res?)
}
