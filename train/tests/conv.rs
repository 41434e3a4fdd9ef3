//! Every convolution against a dense reference written node by node from its formula.

mod common;

use common::max_rel;
use mille_train::conv::{Aggr, Conv, ConvKind, GCNII_DEFAULT, Initial, MESSAGE_EPS};
use mille_train::graph::Adjacency;
use std::collections::HashMap;
use tch::{Device, Kind, Tensor, nn};

const D: i64 = 6;

/// A 7-node graph with self loops and uneven degrees; CSR by destination.
fn graph() -> (Vec<u64>, Vec<u32>) {
    let rows: [&[u32]; 7] = [&[0, 1, 2], &[1, 0], &[2, 0, 3, 4, 6], &[3], &[4, 5], &[5, 4, 6], &[6, 2, 0, 5]];
    let mut indptr = vec![0u64];
    let mut indices = Vec::new();
    for r in rows {
        let mut r = r.to_vec();
        r.sort_unstable();
        indices.extend(r);
        indptr.push(indices.len() as u64);
    }
    (indptr, indices)
}

fn neighbours(indptr: &[u64], indices: &[u32], i: usize) -> Vec<i64> {
    indices[indptr[i] as usize..indptr[i + 1] as usize].iter().map(|&j| j as i64).collect()
}

/// Variables by path, written with `/` (tch joins path segments with `.`).
fn weights(vs: &nn::VarStore) -> HashMap<String, Tensor> {
    vs.variables().into_iter().map(|(k, v)| (k.replace('.', "/"), v)).collect()
}

fn lin(w: &HashMap<String, Tensor>, name: &str, x: &Tensor) -> Tensor {
    let out = x.matmul(&w[&format!("{name}/weight")].tr());
    match w.get(&format!("{name}/bias")) {
        Some(b) => out + b,
        None => out,
    }
}

fn layer_norm(w: &HashMap<String, Tensor>, name: &str, x: &Tensor) -> Tensor {
    let mean = x.mean_dim(-1, true, Kind::Double);
    let var = (x - &mean).square().mean_dim(-1, true, Kind::Double);
    (x - mean) / (var + 1e-5).sqrt() * &w[&format!("{name}/weight")] + &w[&format!("{name}/bias")]
}

/// The reference output of node `i`.
fn reference(
    kind: ConvKind,
    w: &HashMap<String, Tensor>,
    h: &Tensor,
    e: Option<&Tensor>,
    g: &(Vec<u64>, Vec<u32>),
    i: usize,
    init: &Initial<'_>,
) -> Tensor {
    let nb = neighbours(&g.0, &g.1, i);
    let deg = |v: usize| (g.0[v + 1] - g.0[v]) as f64;
    let hj = h.index_select(0, &Tensor::from_slice(&nb));
    let hi = h.get(i as i64);
    match kind {
        ConvKind::Sage => lin(w, "c/lin", &hj.mean_dim(0, false, Kind::Double)) + lin(w, "c/root", &hi),
        ConvKind::Gcn => {
            let scale: Vec<f64> = nb.iter().map(|&j| 1.0 / (deg(i) * deg(j as usize)).sqrt()).collect();
            let agg = (hj * Tensor::from_slice(&scale).unsqueeze(1)).sum_dim_intlist(0, false, Kind::Double);
            lin(w, "c/lin", &agg)
        }
        ConvKind::Gcnii { .. } => {
            let (alpha, lambda) = kind.gcnii().unwrap();
            let scale: Vec<f64> = nb.iter().map(|&j| 1.0 / (deg(i) * deg(j as usize)).sqrt()).collect();
            let agg = (hj * Tensor::from_slice(&scale).unsqueeze(1)).sum_dim_intlist(0, false, Kind::Double);
            let support = agg * (1.0 - alpha) + init.h0.get(i as i64) * alpha;
            let beta = (lambda / init.layer as f64 + 1.0).ln();
            lin(w, "c/lin", &support) * beta + support * (1.0 - beta)
        }
        ConvKind::Gen(aggr) => {
            let mut m = hj;
            if let Some(e) = e {
                let rows: Vec<i64> = (g.0[i] as i64..g.0[i + 1] as i64).collect();
                m += lin(w, "c/edge", &e.index_select(0, &Tensor::from_slice(&rows)));
            }
            let m = m.relu() + MESSAGE_EPS;
            let agg = match aggr {
                Aggr::Sum => m.sum_dim_intlist(0, false, Kind::Double),
                Aggr::Mean => m.mean_dim(0, false, Kind::Double),
                Aggr::Max => m.amax(0, false),
                Aggr::Softmax => {
                    let a = (&m * &w["c/t"]).softmax(0, Kind::Double);
                    (a * &m).sum_dim_intlist(0, false, Kind::Double)
                }
            };
            let z = lin(w, "c/mlp1", &(hi + agg));
            lin(w, "c/mlp2", &layer_norm(w, "c/mlp_norm", &z).relu())
        }
        ConvKind::Gat(heads) => {
            let per = D / heads;
            let zi = lin(w, "c/lin", &hi).reshape([heads, per]);
            let zj = lin(w, "c/lin", &hj).reshape([-1, heads, per]);
            let mut out = Vec::new();
            for k in 0..heads {
                let a_s = w["c/att_src"].get(0).get(k);
                let a_d = w["c/att_dst"].get(0).get(k);
                let zjk = zj.select(1, k);
                let s = zjk.matmul(&a_s) + zi.get(k).dot(&a_d);
                let s = s.relu() - (-&s).relu() * 0.2;
                let alpha = s.softmax(0, Kind::Double);
                out.push((zjk * alpha.unsqueeze(1)).sum_dim_intlist(0, false, Kind::Double));
            }
            Tensor::cat(&out, 0) + &w["c/bias"]
        }
    }
}

#[test]
fn every_operator_matches_its_dense_reference() {
    tch::manual_seed(5);
    let g = graph();
    let n = 7;
    let edges = g.1.len();
    let edge_feat: Vec<f32> = (0..edges * 3).map(|k| ((k * 37 % 11) as f32 - 5.0) / 4.0).collect();
    for (kind, with_edges) in [
        (ConvKind::Sage, false),
        (ConvKind::Gcn, false),
        (ConvKind::Gen(Aggr::Softmax), false),
        (ConvKind::Gen(Aggr::Softmax), true),
        (ConvKind::Gen(Aggr::Max), true),
        (ConvKind::Gen(Aggr::Mean), false),
        (ConvKind::Gen(Aggr::Sum), true),
        (ConvKind::Gat(1), false),
        (ConvKind::Gat(3), false),
        (GCNII_DEFAULT, false),
        ("gcnii:0.3:1.5".parse().unwrap(), false),
    ] {
        let adj =
            Adjacency::new(&g.0, &g.1, with_edges.then_some((&edge_feat[..], 3)), Device::Cpu).to_kind(Kind::Double);
        let mut vs = nn::VarStore::new(Device::Cpu);
        let conv = Conv::new(&(vs.root() / "c"), kind, D, if with_edges { 3 } else { 0 });
        vs.double();
        // Non-trivial temperature, norms and attention vectors.
        tch::no_grad(|| {
            for (name, mut t) in vs.variables() {
                if name.ends_with(".t") || name.contains("norm") || name.contains("att") || name.ends_with("bias") {
                    t.copy_(&(Tensor::randn(t.size(), (Kind::Double, Device::Cpu)) * 0.5 + &t));
                }
            }
        });
        let h = Tensor::randn([n, D], (Kind::Double, Device::Cpu));
        let h0 = Tensor::randn([n, D], (Kind::Double, Device::Cpu));
        let init = Initial { h0: &h0, layer: 3 };
        let got = tch::no_grad(|| conv.forward_with(&adj, &h, Some(init)));
        let w = weights(&vs);
        let want = tch::no_grad(|| {
            Tensor::stack(
                &(0..n as usize)
                    .map(|i| reference(kind, &w, &h, adj.edge_attr.as_ref(), &g, i, &init))
                    .collect::<Vec<_>>(),
                0,
            )
        });
        let e = max_rel(&got, &want);
        assert!(e < 1e-10, "{kind:?} (edge features: {with_edges}): relative error {e}");
    }
}

#[test]
fn the_sparse_products_gradients_equal_a_dense_operators() {
    // SAGE's and GCN's products back-propagate through the operator's transpose, built once:
    // their input gradients against the dense matrix's.
    let g = graph();
    let adj = Adjacency::new(&g.0, &g.1, None, Device::Cpu).to_kind(Kind::Double);
    let up = Tensor::randn([7, D], (Kind::Double, Device::Cpu));
    type Product = fn(&Adjacency, &Tensor) -> Tensor;
    let cases: [(&str, Product, Tensor); 2] = [
        ("mean", Adjacency::mean_of, adj.mean().to_dense(None, false)),
        ("sym", Adjacency::sym_of, adj.sym().to_dense(None, false)),
    ];
    for (name, product, dense) in cases {
        let h = Tensor::randn([7, D], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let out = product(&adj, &h);
        (&out * &up).sum(Kind::Double).backward();
        let got = h.grad().copy();
        assert!(out.allclose(&dense.matmul(&h), 1e-12, 1e-12, false), "{name} forward");
        let h2 = h.detach().set_requires_grad(true);
        (dense.matmul(&h2) * &up).sum(Kind::Double).backward();
        let e = max_rel(&got, &h2.grad());
        assert!(e <= 1e-12, "{name}: gradient off by {e}");
        // Twice more: the cached transpose serves every call.
        for _ in 0..2 {
            let h3 = h.detach().set_requires_grad(true);
            (product(&adj, &h3) * &up).sum(Kind::Double).backward();
            assert!(h3.grad().allclose(&got, 1e-12, 1e-12, false), "{name} repeated");
        }
    }
}
