//! Data parallelism: what every rank must do alike so that W ranks compute what one process
//! does with `--accumulate W` (see `Trainer::train_epoch`).

use crate::stream::SideStream;
use mille_dist::{Nccl, World};
use tch::{Kind, Tensor, nn};

/// The parameters' gradients in the groups a step reduces them in, in the order the backward
/// completes them ([`crate::model::Model::gradient_groups`]): blocks last to first, reduced
/// while the blocks before them run backward, then everything else.
pub(crate) struct GradGroups {
    /// Indices into the optimiser's parameters, group by group.
    groups: Vec<Vec<usize>>,
    /// Blocks with a group of their own: block `i` is group `blocks - 1 - i`.
    blocks: usize,
}

impl GradGroups {
    /// `groups`: one per block, last block first, then the rest (at least that one).
    pub(crate) fn new(groups: Vec<Vec<usize>>) -> GradGroups {
        let blocks = groups.len().saturating_sub(1);
        GradGroups { groups, blocks }
    }
}

/// One step's gradient sum over the ranks, fed group by group as the backward completes them.
pub(crate) struct StepReduce<'w> {
    wire: Wire<'w>,
    /// Groups pushed so far.
    next: usize,
}

/// How the sums travel: through host memory and MPI, or on the GPU with NCCL.
enum Wire<'w> {
    Host(mille_dist::Overlap<'w>),
    Device(DeviceOverlap<'w>),
}

impl<'w> StepReduce<'w> {
    /// Through host memory (MPI), or with NCCL on `comm`'s GPU when the world has NCCL and the
    /// trainer a stream for it.
    pub(crate) fn new(world: &'w World, comm: Option<&'w SideStream>) -> StepReduce<'w> {
        let wire = match (world.nccl(), comm) {
            (Some(nccl), Some(side)) => Wire::Device(DeviceOverlap::new(world, nccl, side)),
            _ => Wire::Host(world.overlap()),
        };
        StepReduce { wire, next: 0 }
    }

    /// Block `block`'s gradients are complete: it and the groups before it go on the wire.
    pub(crate) fn block_done(&mut self, groups: &GradGroups, params: &[Tensor], block: usize) -> anyhow::Result<()> {
        if block < groups.blocks {
            self.push_through(groups, params, groups.blocks - 1 - block)?;
        }
        Ok(())
    }

    fn push_through(&mut self, groups: &GradGroups, params: &[Tensor], last: usize) -> anyhow::Result<()> {
        while self.next <= last {
            // A gradient not yet defined (no training node in this rank's batches) counts as 0.
            let grads = groups.groups[self.next].iter().map(|&k| {
                let g = params[k].grad();
                if g.defined() { g } else { params[k].zeros_like() }
            });
            match &mut self.wire {
                Wire::Host(o) => o.push(&flatten(grads)),
                Wire::Device(o) => o.push(grads)?,
            }
            self.next += 1;
        }
        Ok(())
    }

    /// Pushes what is left, waits for the sums and puts them back as the gradients.
    pub(crate) fn finish(mut self, groups: &GradGroups, params: &[Tensor]) -> anyhow::Result<()> {
        self.push_through(groups, params, groups.groups.len() - 1)?;
        let sums = match self.wire {
            Wire::Host(o) => Tensor::from_slice(&o.finish()),
            Wire::Device(o) => o.finish()?,
        };
        for p in params {
            if !p.grad().defined() {
                // This rank's batches held no training node: its share was zero.
                (p.sum(Kind::Float) * 0.0).backward();
            }
        }
        tch::no_grad(|| unflatten(&sums, groups.groups.iter().flatten().map(|&k| params[k].grad())));
        Ok(())
    }
}

/// Gradient buckets summed by NCCL on the GPU while the backward goes on: each full bucket is
/// copied into one buffer on the compute stream, then reduced in place on the comm stream once
/// the compute stream has reached that point; the compute stream waits for the comm stream
/// only before the sums are put back.
struct DeviceOverlap<'w> {
    world: &'w World,
    nccl: &'w Nccl,
    side: &'w SideStream,
    /// Groups not yet in a bucket (flattened on the compute stream) and their length.
    filling: Vec<Tensor>,
    filled: usize,
    /// Buckets queued for reduction, in order.
    buckets: Vec<Tensor>,
}

impl<'w> DeviceOverlap<'w> {
    fn new(world: &'w World, nccl: &'w Nccl, side: &'w SideStream) -> DeviceOverlap<'w> {
        DeviceOverlap { world, nccl, side, filling: Vec::new(), filled: 0, buckets: Vec::new() }
    }

    fn push(&mut self, grads: impl Iterator<Item = Tensor>) -> anyhow::Result<()> {
        let flat: Vec<Tensor> = grads.map(|g| g.to_kind(Kind::Float).reshape([-1])).collect();
        if flat.is_empty() {
            return Ok(());
        }
        let group = Tensor::cat(&flat, 0);
        self.filled += group.numel();
        self.filling.push(group);
        if self.filled >= self.world.bucket() { self.start() } else { Ok(()) }
    }

    /// Queues the filling bucket's reduction on the comm stream.
    fn start(&mut self) -> anyhow::Result<()> {
        let parts = std::mem::take(&mut self.filling);
        self.filled = 0;
        let bucket = if parts.len() == 1 { parts.into_iter().next().unwrap() } else { Tensor::cat(&parts, 0) };
        self.side.wait_compute()?;
        // SAFETY: `bucket` is a contiguous f32 tensor on this rank's GPU; it is kept in
        // `buckets` and recorded on the comm stream, so its memory outlives the reduction, and
        // nothing writes it until the compute stream has waited for the comm stream (finish).
        // Every rank pushes the same groups in the same order, so the reductions match.
        unsafe { self.nccl.all_reduce_sum_f32(bucket.data_ptr().cast(), bucket.numel(), self.side.handle()?)? };
        self.side.record(&bucket)?;
        self.buckets.push(bucket);
        Ok(())
    }

    /// Waits (under the world's watchdog, watching NCCL for errors a lost peer raises) for the
    /// last reduction, makes the compute stream wait for the comm stream, and returns every
    /// group's sums in push order, on the GPU.
    fn finish(mut self) -> anyhow::Result<Tensor> {
        if !self.filling.is_empty() {
            self.start()?;
        }
        let done = self.side.event()?;
        let nccl = self.nccl;
        self.world.watch("an all-reduce (NCCL)", || -> anyhow::Result<()> {
            while !done.done()? {
                nccl.async_error()?;
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            Ok(())
        })?;
        done.wait()?;
        Ok(Tensor::cat(&self.buckets, 0))
    }
}

/// Divides the step's gradients by `batches`, its batch count over all ranks. The sum over
/// ranks is one addition per rank in rank order, as `--accumulate` adds batches' gradients in
/// batch order: with two ranks, bit for bit the same.
pub(crate) fn scale_gradients(params: &[Tensor], batches: usize) {
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
    let named = sorted_variables(vs, |_| true);
    let mut flat = flatten(named.iter().map(|(_, t)| t.shallow_clone()));
    world.broadcast(&mut flat, 0);
    tch::no_grad(|| unflatten(&Tensor::from_slice(&flat), named.into_iter().map(|(_, t)| t)));
}

/// Every rank's `vs` tensors that take no gradient (RevGAT's BatchNorm running statistics)
/// set to their mean over the ranks, after a step. Each rank moved them by its own batches;
/// evaluation, which the ranks split, must then normalise alike on every rank, or they would
/// score one model each. One process accumulating W batches moves them W times in a row
/// instead, so with BatchNorm these statistics, and only they, differ from `--accumulate W`'s.
/// (PyTorch's DistributedDataParallel copies rank 0's at each forward instead; the mean uses
/// every rank's batches.)
pub(crate) fn average_buffers(world: &World, vs: &nn::VarStore) {
    if world.size() == 1 {
        return;
    }
    let named = sorted_variables(vs, |t| !t.requires_grad());
    if named.is_empty() {
        return;
    }
    let mut flat = flatten(named.iter().map(|(_, t)| t.shallow_clone()));
    world.all_reduce_sum(&mut flat);
    let ranks = world.size() as f32;
    flat.iter_mut().for_each(|v| *v /= ranks);
    tch::no_grad(|| unflatten(&Tensor::from_slice(&flat), named.into_iter().map(|(_, t)| t)));
}

/// `vs`'s variables that `keep` accepts, in name order (the same on every rank).
fn sorted_variables(vs: &nn::VarStore, keep: impl Fn(&Tensor) -> bool) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| keep(t)).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
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

/// Copies the 1-d `flat` (host or device) back into the tensors, in [`flatten`]'s order.
fn unflatten(flat: &Tensor, ts: impl Iterator<Item = Tensor>) {
    let mut at = 0;
    for mut t in ts {
        let n = t.numel() as i64;
        let src = flat.narrow(0, at, n).view(t.size().as_slice());
        t.copy_(&src.to_kind(t.kind()).to_device(t.device()));
        at += n;
    }
}
