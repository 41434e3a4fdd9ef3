//! DEQ-GNN: one weight-tied block whose output is its own input, `Z* = f(Z*, X)`, found by
//! Broyden's method; gradients by implicit differentiation (the adjoint `u = J_f(Z*)^T u + g`
//! is solved by Broyden too, on vector-Jacobian products), so memory does not depend on how many
//! iterations the solver takes.
//!
//! `f(Z, X)`: `Z' = Conv1(Z); Z'' = Norm1(Z' + X); Z''' = Conv2(Dropout(ReLU(Z'')));
//! f = Norm2(ReLU(Z''' + Z'))`.

use crate::conv::{Conv, ConvKind};
use crate::graph::Adjacency;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// Solver settings.
#[derive(Debug, Clone, Copy)]
pub struct SolverOptions {
    /// Most iterations.
    pub max_iter: usize,
    /// Stop once `||f(z) - z|| / ||f(z)||` falls below this.
    pub tol: f64,
}

impl Default for SolverOptions {
    fn default() -> Self {
        SolverOptions { max_iter: 30, tol: 1e-4 }
    }
}

/// What one solve did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveStats {
    /// Function evaluations.
    pub iterations: usize,
    /// Relative residual of the returned point.
    pub residual: f64,
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    (a * b).sum(Kind::Double).double_value(&[])
}

fn norm(a: &Tensor) -> f64 {
    dot(a, a).sqrt()
}

/// Finds a root of `g` from `x0` by Broyden's ("good") method with the inverse Jacobian kept as
/// `-I + sum u_k v_k^T` (Sherman-Morrison), at most `opts.max_iter` pairs. Returns the point
/// with the smallest relative residual `||g(x)|| / scale(x)` seen, and the stats.
pub fn broyden(
    mut g: impl FnMut(&Tensor) -> Tensor,
    x0: &Tensor,
    scale: impl Fn(&Tensor, &Tensor) -> f64,
    opts: SolverOptions,
) -> (Tensor, SolveStats) {
    let mut x = x0.shallow_clone();
    let mut gx = g(&x);
    let rel = |x: &Tensor, gx: &Tensor| norm(gx) / scale(x, gx).max(1e-12);
    let (mut best, mut best_res) = (x.shallow_clone(), rel(&x, &gx));
    let mut us: Vec<Tensor> = Vec::new();
    let mut vs: Vec<Tensor> = Vec::new();
    // H y = -y + sum u_i (v_i . y);  y^T H = -y^T + sum (y . u_i) v_i^T.
    let h_mul =
        |us: &[Tensor], vs: &[Tensor], y: &Tensor| us.iter().zip(vs).fold(-y, |acc, (u, v)| acc + u * dot(v, y));
    let ht_mul =
        |us: &[Tensor], vs: &[Tensor], y: &Tensor| us.iter().zip(vs).fold(-y, |acc, (u, v)| acc + v * dot(y, u));
    let mut iterations = 1;
    while iterations < opts.max_iter && best_res > opts.tol {
        let dx = -h_mul(&us, &vs, &gx);
        let x_new = &x + &dx;
        let g_new = g(&x_new);
        iterations += 1;
        let dg = &g_new - &gx;
        x = x_new;
        gx = g_new;
        let r = rel(&x, &gx);
        if r < best_res {
            best = x.shallow_clone();
            best_res = r;
        }
        let h_dg = h_mul(&us, &vs, &dg);
        let v = ht_mul(&us, &vs, &dx);
        let denom = dot(&v, &dg);
        if !denom.is_finite() || denom.abs() < 1e-30 {
            break;
        }
        us.push((&dx - h_dg) / denom);
        vs.push(v);
    }
    (best, SolveStats { iterations, residual: best_res })
}

/// Initial scale of the DEQ block's `Z -> Z'` convolution.
pub const DEQ_INIT_SCALE: f64 = 0.1;

/// The DEQ block.
#[derive(Debug)]
pub struct DeqBlock {
    conv1: Conv,
    norm1: nn::LayerNorm,
    conv2: Conv,
    norm2: nn::LayerNorm,
}

impl DeqBlock {
    /// New weights under `path`. The `Z -> Z'` convolution starts scaled by
    /// [`DEQ_INIT_SCALE`]: LayerNorm makes `f` expansive when `Z'` is as large as the injected
    /// input, and Broyden then finds no equilibrium; a weak `Z` path starts `f` contractive.
    pub fn new(path: &nn::Path, kind: ConvKind, dim: i64, edge_dim: i64) -> DeqBlock {
        let conv1 = Conv::new(&(path / "conv1"), kind, dim, edge_dim);
        tch::no_grad(|| {
            for mut p in conv1.output_params() {
                let _ = p.g_mul_scalar_(DEQ_INIT_SCALE);
            }
        });
        DeqBlock {
            conv1,
            norm1: nn::layer_norm(path / "norm1", vec![dim], Default::default()),
            conv2: Conv::new(&(path / "conv2"), kind, dim, edge_dim),
            norm2: nn::layer_norm(path / "norm2", vec![dim], Default::default()),
        }
    }

    /// `f(z, x)` with dropout mask `mask` (fixed for a whole solve).
    pub fn f(&self, adj: &Adjacency, z: &Tensor, x: &Tensor, mask: Option<&Tensor>) -> Tensor {
        let z1 = self.conv1.forward(adj, z);
        let z2 = self.norm1.forward(&(&z1 + x)).relu();
        let z2 = match mask {
            Some(m) => z2 * m,
            None => z2,
        };
        let z3 = self.conv2.forward(adj, &z2);
        self.norm2.forward(&(z3 + z1).relu())
    }

    /// The equilibrium `Z* = f(Z*, x)` from `Z = 0`, without a graph.
    pub fn solve(
        &self,
        adj: &Adjacency,
        x: &Tensor,
        mask: Option<&Tensor>,
        opts: SolverOptions,
    ) -> (Tensor, SolveStats) {
        tch::no_grad(|| {
            let x = x.detach();
            broyden(|z| self.f(adj, z, &x, mask) - z, &x.zeros_like(), |z, g| norm(&(z + g)), opts)
        })
    }

    /// Implicit backward: given `z*` and `grad = dL/dz*`, solves `u = J_f(z*)^T u + grad` and
    /// backpropagates `sum(f(z*, x) * u)`, which accumulates the parameters' gradients and sends
    /// the right gradient into `x`'s graph. Returns the adjoint solve's stats.
    pub fn backward(
        &self,
        adj: &Adjacency,
        z_star: &Tensor,
        x: &Tensor,
        grad: &Tensor,
        mask: Option<&Tensor>,
        opts: SolverOptions,
    ) -> SolveStats {
        let z = z_star.detach().set_requires_grad(true);
        let fz = self.f(adj, &z, &x.detach(), mask);
        let vjp = |u: &Tensor| {
            let s = (&fz * u.detach()).sum(fz.kind());
            Tensor::run_backward(&[s], &[&z], true, false).pop().expect("one input")
        };
        let scale = norm(grad).max(1e-12);
        let (u, stats) = broyden(|u| vjp(u) + grad - u, &grad.zeros_like(), |_, _| scale, opts);
        drop(fz);
        let fz = self.f(adj, &z_star.detach(), x, mask);
        (fz * u.detach()).sum(grad.kind()).backward();
        stats
    }
}
