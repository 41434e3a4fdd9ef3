//! Adam with gradient-norm clipping, its state in plain tensors so a checkpoint can hold it and a
//! resumed run continues exactly where it stopped (tch's optimiser keeps its state out of reach).
//!
//! The moments live in two flat buffers, not one tensor per parameter: a 1001-layer RevGNN has
//! ~20,000 parameter tensors, and 40,000 more tensor objects cost ~10 MiB of bookkeeping alone.

use std::path::Path;
use tch::{Kind, Tensor, nn};

/// Adam (Kingma & Ba), with optional L2 weight decay added to the gradient.
#[derive(Debug)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
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
    m: Tensor,
    v: Tensor,
}

impl Adam {
    /// Adam over every trainable variable of `vs` (in name order, so state files line up).
    pub fn new(vs: &nn::VarStore, lr: f64) -> Adam {
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let mut spans = Vec::with_capacity(named.len());
        let mut total = 0i64;
        for (_, t) in &named {
            spans.push((total, t.numel() as i64));
            total += t.numel() as i64;
        }
        let opts = named.first().map_or((tch::Kind::Float, tch::Device::Cpu), |(_, t)| (t.kind(), t.device()));
        let m = Tensor::zeros([total], opts);
        let v = Tensor::zeros([total], opts);
        let (names, params) = named.into_iter().unzip();
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
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
        self.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.step as i32);
        let c2 = 1.0 - b2.powi(self.step as i32);
        tch::no_grad(|| {
            for i in 0..self.params.len() {
                let g = self.params[i].grad();
                if !g.defined() {
                    continue;
                }
                let decay = self.decay_of(i);
                let g = if decay > 0.0 { &g + &self.params[i] * decay } else { g };
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

    /// Writes the moments (safetensors) under `m.NAME` / `v.NAME`.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (i, n) in self.names.iter().enumerate() {
            named.push((format!("m.{n}"), self.slot(&self.m, i)));
            named.push((format!("v.{n}"), self.slot(&self.v, i)));
        }
        Tensor::write_safetensors(&named, path)?;
        Ok(())
    }

    /// Reads moments written by [`Adam::save`]; every parameter's must be there with its shape.
    pub fn load(&mut self, path: &Path, step: i64) -> anyhow::Result<()> {
        let read: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(path)?.into_iter().collect();
        for (i, n) in self.names.iter().enumerate() {
            for (prefix, mut dst) in [("m", self.slot(&self.m, i)), ("v", self.slot(&self.v, i))] {
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
