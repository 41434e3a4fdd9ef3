//! Data parallelism: what every rank must do alike so that W ranks compute what one process
//! does with `--accumulate W` (see `Trainer::train_epoch`).

use mille_dist::World;
use tch::{Kind, Tensor, nn};

/// libtorch's seed for batch `index` of epoch `epoch`: dropout masks come from the batch, not
/// from what the process drew before, so any rank (or a resumed run) draws the same.
pub(crate) fn batch_seed(seed: u64, epoch: u64, index: usize) -> i64 {
    let mut z = seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= (index as u64).wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) & i64::MAX as u64) as i64
}

/// Sums every rank's gradients of `params` (when there are several ranks) and divides them by
/// `batches`, the step's batch count over all ranks. The sum over ranks is one addition per
/// rank in rank order, as `--accumulate` adds batches' gradients in batch order: with two
/// ranks, bit for bit the same.
pub(crate) fn average_gradients(world: &World, params: &[Tensor], batches: usize) {
    if world.size() > 1 {
        for p in params {
            if !p.grad().defined() {
                // A rank whose batches held no training node: its share is zero.
                (p.sum(Kind::Float) * 0.0).backward();
            }
        }
        let mut flat = flatten(params.iter().map(Tensor::grad));
        world.all_reduce_sum(&mut flat);
        tch::no_grad(|| unflatten(&flat, params.iter().map(Tensor::grad)));
    }
    if batches > 1 {
        tch::no_grad(|| {
            for p in params {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.g_mul_scalar_(1.0 / batches as f64);
                }
            }
        });
    }
}

/// Rank 0's weights into every rank's `vs` (in name order).
pub(crate) fn broadcast_weights(world: &World, vs: &nn::VarStore) {
    if world.size() == 1 {
        return;
    }
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut flat = flatten(named.iter().map(|(_, t)| t.shallow_clone()));
    world.broadcast(&mut flat, 0);
    tch::no_grad(|| unflatten(&flat, named.into_iter().map(|(_, t)| t)));
}

/// The tensors' values, one after another, as f32 on the host.
fn flatten(ts: impl Iterator<Item = Tensor>) -> Vec<f32> {
    let mut out = Vec::new();
    for t in ts {
        let t = t.to_kind(Kind::Float).to_device(tch::Device::Cpu).contiguous().view([-1]);
        let n = out.len();
        out.resize(n + t.numel(), 0.0);
        t.copy_data(&mut out[n..], t.numel());
    }
    out
}

/// Copies `flat` back into the tensors, in [`flatten`]'s order.
fn unflatten(flat: &[f32], ts: impl Iterator<Item = Tensor>) {
    let mut at = 0;
    for mut t in ts {
        let n = t.numel();
        let src = Tensor::from_slice(&flat[at..at + n]).view(t.size().as_slice());
        t.copy_(&src.to_kind(t.kind()).to_device(t.device()));
        at += n;
    }
}
