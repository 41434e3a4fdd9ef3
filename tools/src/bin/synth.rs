//! `tools/synth`: a synthetic graph in OGB's raw layout, like ogbn-products, ogbn-proteins or
//! ogbn-arxiv.

use clap::Parser;
use mille_pipeline::synth::{Like, SynthConfig, generate};
use std::path::PathBuf;

/// Write a degree-corrected block-model graph in OGB's raw layout.
///
/// --like products (the default): class-centroid features, each undirected edge once (prepare it
/// with --add-inverse-edge), split sales_ranking 8/2/90 %. --like proteins: 8 edge features in
/// [0, 1] and no node features, a species per node (node_species), --tasks binary labels that
/// depend on each node's full-graph sums of its edges' features and on its species, split
/// `species` (prepare it as `--name ogbn-proteins`, or with --add-inverse-edge); --classes counts
/// its latent communities. --like arxiv: directed citations (newer to older, ~1 % both ways), a
/// year per node (node_year), split `time` (prepare with --to-undirected for the authors' graph).
#[derive(Parser)]
#[command(
    name = "synth",
    version,
    after_help = "Products scale: --nodes 2449029 --avg-degree 50 --features 100 --classes 47\n\
                  Proteins-like (20k nodes): --like proteins --nodes 20000 --avg-degree 60\n\
                  Arxiv-like: --like arxiv --nodes 20000 --avg-degree 14"
)]
struct Args {
    /// Which dataset to imitate: products, proteins or arxiv.
    #[arg(long, default_value = "products")]
    like: Like,
    /// Nodes.
    #[arg(long, default_value_t = 20_000)]
    nodes: u64,
    /// Average degree (E = nodes * avg-degree / 2 undirected edges).
    #[arg(long, default_value_t = 20.0)]
    avg_degree: f64,
    /// Feature dimension (default 100; arxiv 128; proteins has none).
    #[arg(long)]
    features: Option<usize>,
    /// Classes (default 47; arxiv 40); for proteins, latent communities (default 16).
    #[arg(long)]
    classes: Option<usize>,
    /// Proteins: binary tasks.
    #[arg(long, default_value_t = 112)]
    tasks: usize,
    /// Proteins: species (the last two are the validation and test species).
    #[arg(long, default_value_t = 8)]
    species: usize,
    /// Proteins: edge feature dimension.
    #[arg(long, default_value_t = 8)]
    edge_features: usize,
    /// Probability that an edge stays inside its block.
    #[arg(long, default_value_t = 0.8)]
    homophily: f64,
    /// Feature noise (standard deviation; centroids are N(0, I)).
    #[arg(long, default_value_t = 4.0)]
    noise: f64,
    /// Fraction of nodes placed in another class's block.
    #[arg(long, default_value_t = 0.1)]
    block_noise: f64,
    /// Zipf exponent of the class sizes.
    #[arg(long, default_value_t = 1.0)]
    class_skew: f64,
    /// Power-law exponent of the degrees.
    #[arg(long, default_value_t = 2.5)]
    degree_exponent: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
}

fn main() {
    mille_tools::run(|| {
        let a = Args::parse();
        let (features, classes) = match a.like {
            Like::Products => (a.features.unwrap_or(100), a.classes.unwrap_or(47)),
            Like::Arxiv => (a.features.unwrap_or(128), a.classes.unwrap_or(40)),
            Like::Proteins => {
                anyhow::ensure!(
                    a.features.is_none(),
                    "--like proteins has no node features (its inputs come from edge features): drop --features"
                );
                (0, a.classes.unwrap_or(16))
            }
        };
        let cfg = SynthConfig {
            like: a.like,
            nodes: a.nodes,
            avg_degree: a.avg_degree,
            features,
            classes,
            tasks: a.tasks,
            species: a.species,
            edge_features: a.edge_features,
            homophily: a.homophily,
            noise: a.noise,
            class_skew: a.class_skew,
            degree_exponent: a.degree_exponent,
            block_noise: a.block_noise,
            seed: a.seed,
            ..SynthConfig::default()
        };
        let r = generate(&cfg, &a.out, &mille_tools::progress::Bars::reporter(mille_tools::interactive()))?;
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            eprintln!(
                "synth: {} nodes, {} edges, label homophily {:.3}, {:.1} s",
                r.nodes, r.edges, r.label_homophily, r.seconds
            );
            println!("{}", a.out.display());
        }
        Ok(())
    })
}
