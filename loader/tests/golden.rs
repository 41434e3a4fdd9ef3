//! Golden values: a digest of every batch of two epochs of each sampler on Cora, recorded before
//! the samplers became plug-ins (issue 28). A change to how any plan, seed or batch is drawn
//! changes a digest; a refactor must leave them all as they are, so runs and stores made before
//! it reproduce bit for bit.

use mille_loader::*;
use mille_partition::random_balanced;
use mille_pipeline::Store;
use std::sync::Arc;

mod common;
use common::cora;

/// FNV-1a over bytes: fixed for good, unlike `std`'s hasher.
struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ x as u64).wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    fn u64s(&mut self, v: impl IntoIterator<Item = u64>) {
        let mut n = 0u64;
        for x in v {
            self.bytes(&x.to_le_bytes());
            n += 1;
        }
        self.bytes(&n.to_le_bytes());
    }
}

fn digest(b: &Batch, h: &mut Fnv) {
    h.u64s([b.index as u64, b.view as u64, b.feature_dim as u64, b.edge_feature_dim as u64]);
    h.u64s(b.nodes.iter().map(|&v| v as u64));
    h.u64s(b.indptr.iter().copied());
    h.u64s(b.indices.iter().map(|&v| v as u64));
    h.u64s(b.edge_pos.iter().copied());
    h.u64s(b.features.iter().map(|x| x.to_bits() as u64));
    h.u64s(b.edge_features.iter().map(|x| x.to_bits() as u64));
    match &b.labels {
        BatchLabels::None => h.u64s([]),
        BatchLabels::MultiClass(y) => h.u64s(y.iter().map(|&v| v as u64)),
        BatchLabels::MultiLabel { tasks, values } => {
            h.u64s(std::iter::once(*tasks as u64).chain(values.iter().map(|&v| v as u64)))
        }
    }
    for m in [&b.train_mask, &b.valid_mask, &b.test_mask] {
        h.u64s(m.iter().map(|&x| x as u64));
    }
    // (Before, absent parts were empty vectors: `None` hashes as one.)
    h.u64s(b.hops.as_deref().unwrap_or(&[]).iter().map(|&v| v as u64));
    let saint = b.saint.clone().unwrap_or_default();
    h.u64s(saint.node_norm.iter().map(|x| x.to_bits() as u64));
    h.u64s(saint.edge_norm.iter().map(|x| x.to_bits() as u64));
    h.u64s(saint.degree.iter().map(|&v| v as u64));
}

/// The nodes a loader keeps (`LoaderConfig::restrict_to`).
type Restrict = Option<Arc<Vec<u32>>>;

fn epochs_digest(s: &Arc<Store>, plan: PlanSpec, restrict: Restrict) -> u64 {
    let cfg =
        LoaderConfig { plan, seed: 11, workers: 2, self_loops: true, restrict_to: restrict, ..Default::default() };
    let l = Loader::new(s.clone(), cfg).unwrap();
    let mut h = Fnv(0xCBF2_9CE4_8422_2325);
    for epoch in [0, 3] {
        for b in l.epoch(epoch) {
            digest(&b.unwrap(), &mut h);
        }
    }
    h.0
}

#[test]
fn every_sampler_draws_the_batches_it_drew_before() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let n = s.num_nodes();
    let p = Arc::new(random_balanced(n, 12, 5));
    let some: Arc<Vec<u32>> = Arc::new((0..n as u32).filter(|v| v % 3 != 1).collect());
    let cases: Vec<(&str, PlanSpec, Restrict, u64)> = vec![
        ("random parts", PlanSpec::RandomParts { parts: 7 }, None, 0x43afe109660bffbc),
        ("random parts, restricted", PlanSpec::RandomParts { parts: 7 }, Some(some.clone()), 0xc4a7312b5f26446c),
        ("cluster-gcn", PlanSpec::ClusterGcn { partition: p.clone(), per_batch: 3 }, None, 0x88899d861d67d62a),
        ("full", PlanSpec::Full, None, 0xda8f3556e1c03ac5),
        (
            "cluster views",
            PlanSpec::ClusterViews { partition: p.clone(), views: 2, per_batch: 4 },
            None,
            0xc08da8ad4fbf34a6,
        ),
        ("views", PlanSpec::Views { views: 3, parts: 4 }, Some(some.clone()), 0x9e627f507298195a),
        (
            "neighbors",
            PlanSpec::Neighbors { fanouts: vec![5, 3], batch_size: 50, replace: false },
            None,
            0x5a69613dbed9ef34,
        ),
        (
            "neighbors, replace",
            PlanSpec::Neighbors { fanouts: vec![4], batch_size: 64, replace: true },
            Some(some.clone()),
            0xbe07e321df9ac68f,
        ),
        ("saint walk", PlanSpec::SaintRandomWalk { roots: 20, walk_length: 2, coverage: 20 }, None, 0x0710350a035c0626),
        ("saint nodes", PlanSpec::SaintNodes { budget: 60, coverage: 20 }, None, 0xb6620611429ed508),
    ];
    let mut wrong = Vec::new();
    for (name, plan, restrict, want) in cases {
        let got = epochs_digest(&s, plan, restrict);
        println!("(\"{name}\", {got:#018x}),");
        if got != want {
            wrong.push(format!("{name}: {got:#018x}, recorded {want:#018x}"));
        }
    }
    assert!(wrong.is_empty(), "batches differ from the recorded ones:\n{}", wrong.join("\n"));
}
