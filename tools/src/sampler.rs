//! The sampler flags the data programs share (`tools/bench loader`, `tools/store batches`): one
//! vocabulary, read into the loader's [`SamplerSetting`], which checks and resolves it.
//! (`tools/train` takes the same kinds as `--batching` and lays its flags over a recipe's or a
//! resumed run's setting with the same [`SamplerOptions`].)

use mille_loader::{SamplerKind, SamplerOptions, SamplerSetting};

/// Sampler flags.
#[derive(clap::Args, Debug, Clone)]
pub struct SamplerArgs {
    /// How batches are drawn: cluster (random clusters redrawn every epoch, --parts), metis
    /// (a cached METIS partition into --metis-parts clusters grouped into --parts batches),
    /// store-parts (a relabelled store's parts grouped into --parts batches), full (the whole
    /// graph), neighbor (--fanouts, --batch-size, --replace from the training nodes), saint or
    /// saint-walk (GraphSAINT's walks: --roots, --walk-length, --coverage), saint-node
    /// (GraphSAINT's node sampler: --budget, --coverage).
    #[arg(long, default_value = "cluster")]
    pub sampler: SamplerKind,
    /// Batches per epoch (cluster, metis, store-parts).
    #[arg(long, default_value_t = 10)]
    pub parts: u32,
    /// METIS clusters (default 10 x --parts).
    #[arg(long)]
    pub metis_parts: Option<u32>,
    /// Neighbour sampling: in-neighbours drawn per node, hop by hop.
    #[arg(long, value_delimiter = ',', default_value = "15,10,5")]
    pub fanouts: Vec<u32>,
    /// Neighbour sampling: seeds per batch.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Neighbour sampling: draw with replacement.
    #[arg(long)]
    pub replace: bool,
    /// GraphSAINT: walks per batch.
    #[arg(long, default_value_t = 3000)]
    pub roots: usize,
    /// GraphSAINT: steps per walk.
    #[arg(long, default_value_t = 2)]
    pub walk_length: usize,
    /// GraphSAINT's node sampler: nodes drawn per batch.
    #[arg(long, default_value_t = 8000)]
    pub budget: usize,
    /// GraphSAINT: pre-sampled subgraphs, in multiples of the node count.
    #[arg(long, default_value_t = 50)]
    pub coverage: u32,
}

impl SamplerArgs {
    /// The setting the flags name, checked.
    pub fn setting(&self) -> anyhow::Result<SamplerSetting> {
        anyhow::ensure!(
            self.metis_parts.is_none() || self.sampler == SamplerKind::Metis,
            "--metis-parts belongs to --sampler metis, not {}",
            self.sampler
        );
        // Every value has a default here, so each kind takes its own and leaves the rest.
        let options = SamplerOptions {
            kind: Some(self.sampler),
            parts: Some(self.parts),
            metis_parts: self.metis_parts,
            fanouts: Some(self.fanouts.clone()),
            batch_size: Some(self.batch_size),
            replace: Some(self.replace),
            roots: Some(self.roots),
            walk_length: Some(self.walk_length),
            coverage: Some(self.coverage),
            budget: Some(self.budget),
        };
        let s = SamplerSetting::defaults(self.sampler).with(&options, false).map_err(|e| anyhow::anyhow!("{e}"))?;
        s.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(s)
    }
}
