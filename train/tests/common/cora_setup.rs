//! Cora's training setup, shared by the accuracy and the resumption tests.

use mille_train::conv::ConvKind;
use mille_train::graph::FeatureNorm;
use mille_train::model::ModelKind;
use mille_train::run::RunConfig;
use std::path::Path;

/// Cora's published GCN setup, with RevGNN blocks: 2 groups of 32, dropout 0.5, weight decay,
/// the whole graph as one batch, row-normalised bag-of-words.
pub fn cora_config(store: &Path) -> RunConfig {
    let mut c = RunConfig::new(store);
    c.model = ModelKind::Revgnn;
    c.conv = ConvKind::Gcn;
    c.layers = 8;
    c.hidden = 64;
    c.dropout = 0.5;
    c.lr = 0.005;
    c.weight_decay = 5e-4;
    c.sampler = mille_train::run::SamplerSetting::Cluster { parts: 1 };
    c.eval_parts = 1;
    c.epochs = 150;
    c.device = "cpu".into();
    c.feature_norm = FeatureNorm::Row;
    c
}
