//! `tools/synth`: a synthetic graph in OGB's raw layout (ogbn-products style).

use clap::Parser;
use mille_pipeline::synth::{SynthConfig, generate};
use std::path::PathBuf;

/// Write a degree-corrected block-model graph with class-centroid features in OGB's raw layout
/// (each undirected edge once: prepare it with --add-inverse-edge), split sales_ranking 8/2/90 %.
#[derive(Parser)]
#[command(
    name = "synth",
    version,
    after_help = "Products scale: --nodes 2449029 --avg-degree 50 --features 100 --classes 47"
)]
struct Args {
    /// Nodes.
    #[arg(long, default_value_t = 20_000)]
    nodes: u64,
    /// Average degree (E = nodes * avg-degree / 2 undirected edges).
    #[arg(long, default_value_t = 20.0)]
    avg_degree: f64,
    /// Feature dimension.
    #[arg(long, default_value_t = 100)]
    features: usize,
    /// Classes.
    #[arg(long, default_value_t = 47)]
    classes: usize,
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
        let cfg = SynthConfig {
            nodes: a.nodes,
            avg_degree: a.avg_degree,
            features: a.features,
            classes: a.classes,
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
