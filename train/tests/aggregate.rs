//! The CSR-row reductions (segment_reduce, what CUDA runs) against the index_add ones (what the
//! CPU ran before, and still runs for wide values): same values to 1e-6 and same gradients, on a
//! real batch (Cora) and on a graph with empty rows; each path repeating bit for bit; and two
//! runs of GEN and GAT, forward and backward, bit for bit equal.

mod common;

use mille_loader::{Loader, LoaderConfig, PlanSpec};
use mille_pipeline::Store;
use mille_train::conv::{Aggr, Conv, ConvKind};
use mille_train::graph::{Adjacency, GraphTensors, RowReduce};
use std::sync::Arc;
use tch::{Device, Kind, Tensor, nn};

/// libtorch's random generator is process-wide and the tests of this file run on parallel
/// threads: every seeded draw happens under this lock, start to end.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seeded<T>(seed: i64, f: impl FnOnce() -> T) -> T {
    let _hold = RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    f()
}

/// Cora with self loops as one batch (2,708 nodes, 13,264 entries), or None without the
/// shared datasets.
fn cora() -> Option<(GraphTensors, tempfile::TempDir)> {
    let src = common::dataset("cora");
    if !src.exists() {
        eprintln!("skipped the Cora half: {} is missing", src.display());
        return None;
    }
    let (path, tmp) = common::store(&src, false);
    let s = Arc::new(Store::open(path).unwrap());
    let l = Loader::new(s, LoaderConfig { plan: PlanSpec::Full, self_loops: true, ..Default::default() }).unwrap();
    let b = l.epoch(0).next().unwrap().unwrap();
    Some((GraphTensors::new(&b, Device::Cpu), tmp))
}

/// 6 nodes, rows 1 and 4 empty (no self loops), uneven degrees.
fn with_empty_rows() -> Adjacency {
    let rows: [&[u32]; 6] = [&[0, 2, 5], &[], &[1, 2, 3, 4, 5], &[0], &[], &[0, 1, 2, 3]];
    let mut indptr = vec![0u64];
    let mut indices = Vec::new();
    for r in rows {
        indices.extend_from_slice(r);
        indptr.push(indices.len() as u64);
    }
    Adjacency::new(&indptr, &indices, None, Device::Cpu)
}

fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let d = (a - b).abs().max().double_value(&[]);
    d / b.abs().max().double_value(&[]).max(1e-12)
}

/// Value and input gradient of `f` at `x` for a fixed random upstream gradient.
fn value_and_grad(f: impl Fn(&Tensor) -> Tensor, x: &Tensor, seed: i64) -> (Tensor, Tensor) {
    let x = x.detach().set_requires_grad(true);
    let y = f(&x);
    let up = seeded(seed, || Tensor::randn(y.size(), (Kind::Float, Device::Cpu)));
    (&y * up).sum(Kind::Float).backward();
    (y.detach(), x.grad())
}

fn check_all(adj: &Adjacency, what: &str) {
    let seg = adj.to_kind(Kind::Float).with_reduce(RowReduce::Segment);
    let idx = adj.to_kind(Kind::Float).with_reduce(RowReduce::IndexAdd);
    let auto = adj.to_kind(Kind::Float);
    assert_eq!(auto.reduce, RowReduce::Auto);
    let e = adj.num_entries();
    for width in [4, 16, 64] {
        let values = seeded(7, || Tensor::randn([e, width], (Kind::Float, Device::Cpu)) * 3);
        type Op = fn(&Adjacency, &Tensor) -> Tensor;
        let ops: [(&str, Op); 3] =
            [("sum", |a, v| a.sum_rows(v)), ("max", |a, v| a.max_rows(v)), ("softmax", |a, v| a.softmax(v))];
        for (name, op) in ops {
            let (y1, g1) = value_and_grad(|v| op(&seg, v), &values, 1);
            let (y0, g0) = value_and_grad(|v| op(&idx, v), &values, 1);
            assert_eq!(y1.size(), y0.size(), "{what} {name}");
            let (dv, dg) = (rel(&y1, &y0), rel(&g1, &g0));
            assert!(dv < 1e-6, "{what} {name} x{width}: values differ by {dv:e}");
            assert!(dg < 1e-6, "{what} {name} x{width}: gradients differ by {dg:e}");
            for a in [&seg, &idx, &auto] {
                let (ya, ga) = value_and_grad(|v| op(a, v), &values, 1);
                let (yb, gb) = value_and_grad(|v| op(a, v), &values, 1);
                assert!(ya.equal(&yb) && ga.equal(&gb), "{what} {name} x{width} {:?}: two runs differ", a.reduce);
            }
        }
    }
}

#[test]
fn csr_reductions_equal_the_index_add_ones_with_gradients() {
    check_all(&with_empty_rows(), "empty rows");
    if let Some((g, _tmp)) = cora() {
        check_all(&g.adj, "Cora");
    }
}

#[test]
fn empty_rows_sum_and_max_to_zero() {
    let adj = with_empty_rows();
    let v = Tensor::ones([adj.num_entries(), 2], (Kind::Float, Device::Cpu)) * -5.0;
    for out in [adj.sum_rows(&v), adj.max_rows(&v)] {
        let r: Vec<f32> = out.select(0, 1).try_into().unwrap();
        assert_eq!(r, vec![0.0, 0.0]);
    }
    let m: Vec<f32> = adj.max_rows(&v).select(0, 0).try_into().unwrap();
    assert_eq!(m, vec![-5.0, -5.0], "a row's max is its entries' max, negative or not");
}

/// A conv's output and every parameter's gradient, flattened.
fn run_conv(kind: ConvKind, g: &GraphTensors) -> Vec<Tensor> {
    let vs = nn::VarStore::new(Device::Cpu);
    let dim = 8;
    let conv = seeded(3, || Conv::new(&vs.root(), kind, dim, 0));
    let h = (g.x.narrow(1, 0, dim) * 10.0).detach().set_requires_grad(true);
    let out = conv.forward(&g.adj, &h);
    (&out * &out).sum(Kind::Float).backward();
    let mut all = vec![out.detach(), h.grad()];
    let mut vars = vs.variables().into_iter().collect::<Vec<_>>();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    all.extend(vars.into_iter().map(|(_, v)| v.grad()));
    all
}

#[test]
fn gen_and_gat_repeat_bit_for_bit() {
    let Some((g, _tmp)) = cora() else { return };
    for kind in [
        ConvKind::Gen(Aggr::Softmax),
        ConvKind::Gen(Aggr::Max),
        ConvKind::Gen(Aggr::Mean),
        ConvKind::Gen(Aggr::Sum),
        ConvKind::Gat(2),
    ] {
        let (a, b) = (run_conv(kind, &g), run_conv(kind, &g));
        for (x, y) in a.iter().zip(&b) {
            assert!(x.equal(y), "{kind} differs between two runs");
        }
    }
}
