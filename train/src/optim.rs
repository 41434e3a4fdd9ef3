//! Adam or RMSprop with gradient-norm clipping, their state in plain tensors so a checkpoint can
//! hold it and a resumed run continues exactly where it stopped (tch's optimiser keeps its state
//! out of reach).
//!
//! The moments live in flat buffers, not one tensor per parameter: a 1001-layer RevGNN has
//! ~20,000 parameter tensors, and 40,000 more tensor objects cost ~10 MiB of bookkeeping alone.

use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Kind, Tensor, nn};

/// Which update rule a run's optimiser follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Adam (Kingma & Ba), betas 0.9 / 0.999, eps 1e-8: mille's default and the authors'
    /// ogbn-proteins and products code.
    #[default]
    Adam,
    /// RMSprop as PyTorch's defaults have it (alpha 0.99, eps 1e-8 added after the square root,
    /// no momentum, not centred): the authors' ogbn-arxiv RevGAT
    /// (`examples/ogb_eff/ogbn_arxiv_dgl/main.py`, `optim.RMSprop(..., lr, weight_decay)`).
    Rmsprop,
}

mille_pipeline::choices!(Rule { Adam => "adam", Rmsprop => "rmsprop" });

/// Adam or RMSprop, with optional L2 weight decay added to the gradient.
#[derive(Debug)]
pub struct Optimizer {
    /// The update rule.
    pub rule: Rule,
    /// Learning rate.
    pub lr: f64,
    /// Adam's first-moment decay.
    pub beta1: f64,
    /// Adam's second-moment decay; RMSprop's smoothing constant (alpha).
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// L2 penalty added to gradients.
    pub weight_decay: f64,
    /// L2 penalty of the convolutions' parameters (names with a `conv` component), when it
    /// differs from `weight_decay`.
    pub conv_weight_decay: Option<f64>,
    /// Steps taken.
    pub step: i64,
    names: Vec<String>,
    params: Vec<Tensor>,
    /// (offset, length) of each parameter in the flat moment buffers.
    spans: Vec<(i64, i64)>,
    /// Adam's first moments (empty under RMSprop, which keeps none).
    m: Tensor,
    /// The second moments (RMSprop's `square_avg`).
    v: Tensor,
}

impl Optimizer {
    /// Adam over every trainable variable of `vs` (in name order, so state files line up).
    pub fn new(vs: &nn::VarStore, lr: f64) -> Optimizer {
        Optimizer::with_rule(vs, lr, Rule::Adam)
    }

    /// `rule` over every trainable variable of `vs`, with that rule's PyTorch defaults.
    pub fn with_rule(vs: &nn::VarStore, lr: f64, rule: Rule) -> Optimizer {
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let mut spans = Vec::with_capacity(named.len());
        let mut total = 0i64;
        for (_, t) in &named {
            spans.push((total, t.numel() as i64));
            total += t.numel() as i64;
        }
        let opts = named.first().map_or((tch::Kind::Float, tch::Device::Cpu), |(_, t)| (t.kind(), t.device()));
        let m = Tensor::zeros([if rule == Rule::Adam { total } else { 0 }], opts);
        let v = Tensor::zeros([total], opts);
        let (names, params) = named.into_iter().unzip();
        Optimizer {
            rule,
            lr,
            beta1: 0.9,
            beta2: if rule == Rule::Adam { 0.999 } else { 0.99 },
            eps: 1e-8,
            weight_decay: 0.0,
            conv_weight_decay: None,
            step: 0,
            names,
            params,
            spans,
            m,
            v,
        }
    }

    /// The L2 penalty of parameter `i`.
    fn decay_of(&self, i: usize) -> f64 {
        match self.conv_weight_decay {
            Some(d) if self.names[i].split('.').any(|part| part.starts_with("conv")) => d,
            _ => self.weight_decay,
        }
    }

    /// Parameter `i`'s gradient with its L2 penalty added; `None` when it has none.
    fn decayed_grad(&self, i: usize) -> Option<Tensor> {
        let g = self.params[i].grad();
        if !g.defined() {
            return None;
        }
        let decay = self.decay_of(i);
        Some(if decay > 0.0 { &g + &self.params[i] * decay } else { g })
    }

    /// Parameter `i`'s slice of a flat buffer, shaped as the parameter.
    fn slot(&self, flat: &Tensor, i: usize) -> Tensor {
        let (o, n) = self.spans[i];
        flat.narrow(0, o, n).view(self.params[i].size().as_slice())
    }

    /// The parameters it updates, in name order (the order gradients are reduced in).
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Their names in the var store (`block3.f0.conv.lin.weight`), in the same order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// Scales gradients so their global L2 norm is at most `max` (none when `max <= 0`);
    /// returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max: f64) -> f64 {
        let grads: Vec<Tensor> = self.params.iter().map(|p| p.grad()).filter(|g| g.defined()).collect();
        let total = grads.iter().map(|g| g.square().sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
        if max > 0.0 && total > max {
            let s = max / (total + 1e-6);
            tch::no_grad(|| {
                for mut g in grads {
                    let _ = g.g_mul_scalar_(s);
                }
            });
        }
        total
    }

    /// One update.
    pub fn step(&mut self) {
        match self.rule {
            Rule::Adam => self.adam_step(),
            Rule::Rmsprop => self.rmsprop_step(),
        }
    }

    /// RMSprop: `v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps)` (PyTorch's
    /// `torch.optim.RMSprop` without momentum or centring; `step` counts updates only).
    fn rmsprop_step(&mut self) {
        self.step += 1;
        let alpha = self.beta2;
        tch::no_grad(|| {
            for i in 0..self.params.len() {
                let Some(g) = self.decayed_grad(i) else { continue };
                let mut v = self.slot(&self.v, i);
                let _ = v.g_mul_scalar_(alpha);
                let _ = v.addcmul_(&(&g * (1.0 - alpha)), &g);
                let mut denom = v.sqrt();
                let _ = denom.g_add_scalar_(self.eps);
                let mut step = &g / &denom;
                let _ = step.g_mul_scalar_(self.lr);
                let _ = self.params[i].g_sub_(&step);
            }
        });
    }

    /// Adam with bias correction.
    fn adam_step(&mut self) {
        self.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.step as i32);
        let c2 = 1.0 - b2.powi(self.step as i32);
        tch::no_grad(|| {
            for i in 0..self.params.len() {
                let Some(g) = self.decayed_grad(i) else { continue };
                let (mut m, mut v) = (self.slot(&self.m, i), self.slot(&self.v, i));
                let _ = m.g_mul_scalar_(b1);
                let _ = v.g_mul_scalar_(b2);
                let _ = v.addcmul_(&(&g * (1.0 - b2)), &g);
                let _ = m.g_add_(&(&g * (1.0 - b1)));
                // p -= lr/c1 * m / (sqrt(v / c2) + eps), with two temporaries of p's size.
                let mut denom = v.sqrt();
                let _ = denom.g_div_scalar_(c2.sqrt()).g_add_scalar_(self.eps);
                let mut step = &m / &denom;
                let _ = step.g_mul_scalar_(self.lr / c1);
                let _ = self.params[i].g_sub_(&step);
            }
        });
    }

    /// The moment buffers this rule keeps, by the prefix they are saved under.
    fn buffers(&self) -> Vec<(&'static str, &Tensor)> {
        match self.rule {
            Rule::Adam => vec![("m", &self.m), ("v", &self.v)],
            Rule::Rmsprop => vec![("v", &self.v)],
        }
    }

    /// Writes the moments (safetensors) under `m.NAME` / `v.NAME` (RMSprop: `v.NAME` alone).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (i, n) in self.names.iter().enumerate() {
            for (prefix, flat) in self.buffers() {
                named.push((format!("{prefix}.{n}"), self.slot(flat, i)));
            }
        }
        Tensor::write_safetensors(&named, path)?;
        Ok(())
    }

    /// Reads moments written by [`Optimizer::save`]; every parameter's must be there with its
    /// shape.
    pub fn load(&mut self, path: &Path, step: i64) -> anyhow::Result<()> {
        let read: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(path)?.into_iter().collect();
        for (i, n) in self.names.iter().enumerate() {
            for (prefix, flat) in self.buffers() {
                let mut dst = self.slot(flat, i);
                let t = read
                    .get(&format!("{prefix}.{n}"))
                    .ok_or_else(|| anyhow::anyhow!("{}: no optimiser state for {n}", path.display()))?;
                anyhow::ensure!(
                    t.size() == dst.size(),
                    "{}: state of {n} has shape {:?}, the model {:?}",
                    path.display(),
                    t.size(),
                    dst.size()
                );
                tch::no_grad(|| dst.copy_(t));
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{Module, OptimizerConfig};

    /// Five steps of ours and of libtorch's own optimiser on the same regression, from the same
    /// weights: the parameters agree to float32 rounding.
    fn agrees_with_libtorch(rule: Rule, theirs: impl OptimizerConfig, decay: f64) {
        let _turn = crate::RNG_TEST.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(11);
        let (x, t) = (
            Tensor::randn([16, 5], (Kind::Float, tch::Device::Cpu)),
            Tensor::randn([16, 3], (Kind::Float, tch::Device::Cpu)),
        );
        let (a, mut b) = (nn::VarStore::new(tch::Device::Cpu), nn::VarStore::new(tch::Device::Cpu));
        let (la, lb) = (
            nn::linear(a.root() / "lin", 5, 3, Default::default()),
            nn::linear(b.root() / "lin", 5, 3, Default::default()),
        );
        b.copy(&a).unwrap();
        let start: Vec<(String, Tensor)> = a.variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
        let mut ours = Optimizer::with_rule(&a, 0.01, rule);
        ours.weight_decay = decay;
        let mut lib = theirs.build(&b, 0.01).unwrap();
        lib.set_weight_decay(decay);
        for _ in 0..5 {
            ours.zero_grad();
            (la.forward(&x) - &t).square().sum(Kind::Float).backward();
            ours.step();
            lib.zero_grad();
            (lb.forward(&x) - &t).square().sum(Kind::Float).backward();
            lib.step();
        }
        let (va, vb) = (a.variables(), b.variables());
        for (name, p) in &va {
            let diff = (p - &vb[name]).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{rule} {name}: differs from libtorch's by {diff}");
        }
        for (name, p0) in &start {
            let moved = (&va[name] - p0).abs().max().double_value(&[]);
            assert!(moved > 1e-3, "{rule} {name}: the steps moved it by {moved} only");
        }
    }

    #[test]
    fn rmsprop_takes_libtorchs_steps() {
        agrees_with_libtorch(
            Rule::Rmsprop,
            nn::RmsProp { alpha: 0.99, eps: 1e-8, wd: 0.0, momentum: 0.0, centered: false },
            0.0,
        );
        agrees_with_libtorch(
            Rule::Rmsprop,
            nn::RmsProp { alpha: 0.99, eps: 1e-8, wd: 0.0, momentum: 0.0, centered: false },
            0.05,
        );
    }

    #[test]
    fn adam_takes_libtorchs_steps() {
        agrees_with_libtorch(Rule::Adam, nn::Adam::default(), 0.0);
        agrees_with_libtorch(Rule::Adam, nn::Adam::default(), 0.05);
    }

    #[test]
    fn rmsprop_state_saves_and_loads_without_first_moments() {
        let _turn = crate::RNG_TEST.lock().unwrap_or_else(|e| e.into_inner());
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _ = nn::linear(vs.root() / "lin", 4, 2, Default::default());
        let mut o = Optimizer::with_rule(&vs, 0.1, Rule::Rmsprop);
        let _ = o.v.fill_(0.25);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("state.safetensors");
        o.save(&f).unwrap();
        let names: Vec<String> = Tensor::read_safetensors(&f).unwrap().into_iter().map(|(n, _)| n).collect();
        assert!(names.iter().all(|n| n.starts_with("v.")), "{names:?}");
        let mut back = Optimizer::with_rule(&vs, 0.1, Rule::Rmsprop);
        back.load(&f, 7).unwrap();
        assert_eq!((back.step, back.v.double_value(&[0])), (7, 0.25));
        // Adam refuses a state without its first moments, naming what is missing.
        let e = Optimizer::new(&vs, 0.1).load(&f, 7).unwrap_err().to_string();
        assert!(e.contains("no optimiser state for lin."), "{e}");
    }
}
