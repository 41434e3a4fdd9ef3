//! One training epoch: the loader of the run's sampler, the steps (gradients accumulated over
//! batches and summed over ranks), the learning-rate schedule.

use super::*;

impl Trainer {
    /// The loader of training epochs, drawn by the run's sampler (`RunConfig::sampler`; a
    /// METIS partition computed on rank 0 and cached for the others).
    pub(super) fn train_loader(&mut self) -> anyhow::Result<&Loader> {
        if self.train_loader.is_none() {
            let (cfg, store) = (&self.cfg, &self.store);
            let plan = cfg.sampler.resolve_with(store, |k| {
                let method = mille_partition::Method::Metis(Default::default());
                let get = || mille_partition::cached_or_compute_or_keep(store, &method, k, cfg.seed);
                // One rank partitions and caches; the others wait, then read the cache
                // (or, on a read-only store, compute the same partition themselves).
                let world = &self.world;
                let alone = world.size() == 1 || self.shards.is_some(); // a shard's ranks each have their own
                let first = if world.is_root() || alone { Some(get()) } else { None };
                let mut failed = [first.as_ref().is_some_and(|r| r.is_err()) as u8 as f64];
                if !alone {
                    world.all_reduce_sum_f64(&mut failed);
                }
                Ok(match first {
                    Some(r) => r?.0,
                    None if failed[0] > 0.0 => {
                        let why = "rank 0 could not partition the store (its error says why)";
                        return Err(mille_loader::Error::Invalid(why.into()));
                    }
                    None => get()?.0,
                })
            })?;
            self.train_loader = Some(Loader::new(store.clone(), loader_config(cfg, plan))?);
        }
        Ok(self.train_loader.as_ref().expect("just built"))
    }

    /// One training epoch. Each optimiser step takes `accumulate x ranks` consecutive batches
    /// of the epoch's plan, `accumulate` of them on each rank (rank r the r-th of every `ranks`),
    /// and averages their gradients over the batches that hold a training node; each batch's
    /// dropout comes from (seed, epoch, batch index). So W ranks and one process with
    /// `--accumulate W` take the same steps. On a shard set every rank draws its own plan over
    /// its shard and a step takes `accumulate` of its batches on each rank; the ranks take as
    /// many steps as the longest plan needs (a rank whose plan ran out adds nothing).
    pub(super) fn train_epoch(&mut self, epoch: u64) -> anyhow::Result<EpochStats> {
        tch::manual_seed(Seed::new(self.cfg.seed).torch_epoch(epoch));
        self.opt.lr = lr_at(&self.cfg, epoch);
        crate::device::reset_gpu_peak(self.device);
        let t0 = Instant::now();
        let mut inputs = self.inputs.clone();
        // This epoch's shown labels, drawn first from the epoch's generator.
        inputs.labels = inputs.labels.map(|l| Arc::new(l.epoch(self.cfg.mask_rate)));
        let shown = EpochInputs { epoch, labels: inputs.labels.clone() };
        let (accumulate, sharded, device) = (self.cfg.accumulate.max(1), self.shards.is_some(), self.device);
        self.train_loader()?;
        let loader = self.train_loader.as_ref().expect("just built");
        // One draw of the plan: its length sizes the steps, and the rank's share comes from it.
        let plan = loader.plan(epoch);
        let steps = StepPlan::new(plan.len(), accumulate, &self.world, sharded);
        let share = loader.run_rank(plan, steps.share_rank, steps.share_ranks);
        let mut batches = Feed::new(share, device, inputs)?;
        self.progress.begin(&format!("epoch {}", epoch + 1), steps.steps as u64);
        let names = self.opt.names();
        let grads = parallel::GradGroups::new(match self.overlap {
            true => self.model.gradient_groups(names),
            false => vec![(0..names.len()).collect()],
        });
        let (mut loss_sum, mut counted, mut train_rows) = (0.0, 0usize, 0.0f64);
        for step in 0..steps.steps {
            self.opt.zero_grad();
            let mut sums = self.step_backward(&steps, step, &mut batches, &grads, &shown)?;
            self.world.all_reduce_sum_f64(&mut sums);
            train_rows += sums[2];
            let used = sums[1] as usize;
            if used == 0 {
                self.progress.step(None);
                continue;
            }
            parallel::scale_gradients(self.opt.params(), used);
            self.opt.clip_grad_norm(self.cfg.clip);
            self.opt.step();
            parallel::average_buffers(&self.world, &self.vs);
            loss_sum += sums[0];
            counted += used;
            self.progress.step(Some(sums[0] / used as f64));
        }
        self.progress.end();
        crate::device::synchronize(self.device);
        Ok(EpochStats {
            loss: loss_sum / counted.max(1) as f64,
            seconds: t0.elapsed().as_secs_f64(),
            batches: steps.all_batches,
            train_rows: train_rows as u64,
            wait_seconds: batches.waited().as_secs_f64(),
            bytes: batches.bytes(),
            gpu_peak: crate::device::gpu_memory(self.device).map(|m| m.peak_allocated),
        })
    }

    /// One step's batches on this rank, forward and backward, their gradients summed over the
    /// ranks (with NCCL set up even one rank sums, over itself: a one-GPU machine then runs the
    /// whole device path, which must leave the weights as they would be without it). Returns
    /// this rank's `[loss sum, batches used, loss rows]`.
    fn step_backward(
        &self,
        steps: &StepPlan,
        step: usize,
        batches: &mut Feed,
        grads: &parallel::GradGroups,
        shown: &EpochInputs,
    ) -> anyhow::Result<[f64; 3]> {
        let parallel = self.world.size() > 1 || self.comm.is_some();
        let mut reduce = parallel.then(|| parallel::StepReduce::new(&self.world, self.comm.as_ref()));
        let mut wire_error = None;
        // The step's last batch here: its blocks' gradients are final as its backward
        // completes them, so their all-reduce starts then.
        let last = steps.last(step);
        let mut sums = [0.0; 3];
        for j in 0..steps.accumulate {
            if steps.position(step, j) >= steps.total {
                break; // the epoch's last step is short
            }
            let Fed { batch, graph } = batches.next_batch().context("the loader ended before its plan")??;
            // The teacher's rows are the batch's store node ids.
            let nodes = self.teacher.as_ref().map(|_| {
                let ids: Vec<i64> = batch.nodes.iter().map(|&v| v as i64).collect();
                Tensor::from_slice(&ids).to_device(self.device)
            });
            let index = batch.index;
            batches.recycle(batch);
            let mut on_last = match (&mut reduce, Some(j) == last) {
                (Some(r), true) => Some(r),
                _ => None,
            };
            let params = self.opt.params();
            let mut after_block = |b| {
                if let Some(r) = on_last.as_deref_mut()
                    && let Err(e) = r.block_done(grads, params, b)
                {
                    wire_error.get_or_insert(e);
                }
            };
            if let Some((loss, rows)) = self.batch_backward(&graph, index, nodes.as_ref(), shown, &mut after_block) {
                sums[0] += loss;
                sums[1] += 1.0;
                sums[2] += rows as f64;
            }
        }
        if let Some(e) = wire_error {
            return Err(e.context("reducing the gradients"));
        }
        if let Some(r) = reduce {
            r.finish(grads, self.opt.params()).context("reducing the gradients")?;
        }
        Ok(sums)
    }

    /// One batch's forward and backward (its gradients added to the parameters'), dropout
    /// seeded by (seed, epoch, batch `index`); `nodes`: its store node ids (the teacher's rows).
    /// Returns the loss and its row count, or `None` for a batch without a loss row.
    fn batch_backward(
        &self,
        g: &crate::graph::GraphTensors,
        index: usize,
        nodes: Option<&Tensor>,
        shown: &EpochInputs,
        after_block: &mut dyn FnMut(usize),
    ) -> Option<(f64, usize)> {
        let rows = crate::labels::loss_rows(g);
        if rows.size()[0] == 0 {
            return None;
        }
        // Shards number their batches alike: the rank tells theirs apart.
        let (ranks, rank) = (self.world.size(), self.world.rank());
        let index = if self.shards.is_some() { index * ranks + rank } else { index };
        tch::manual_seed(Seed::new(self.cfg.seed).epoch(shown.epoch).torch_batch(index));
        let x = crate::labels::reused_input(g, shown.labels.as_deref(), |x| self.model.logits_train(&g.adj, x));
        let loss = |logits: &Tensor| {
            let l = crate::loss::on_rows(self.cfg.loss, logits, g, &rows);
            match (&self.teacher, nodes) {
                (Some(t), Some(n)) => t.blend(l, logits, n),
                _ => l,
            }
        };
        let loss = self.model.backward_with(&g.adj, &x, loss, after_block);
        Some((loss, rows.size()[0] as usize))
    }

    /// DEQ: weights of epoch `epoch` (1-based) run the way that epoch trained them: the block
    /// unrolled during the `pretrain_epochs`, solved after.
    pub(super) fn set_pretraining(&self, epoch: u64) {
        let unrolled = epoch <= self.cfg.pretrain_epochs;
        self.model.set_unrolled(unrolled.then_some(self.cfg.pretrain_steps));
    }
}

/// The epoch's part of every batch's input: the epoch (dropout seeds) and its shown labels.
struct EpochInputs {
    epoch: u64,
    labels: Option<Arc<crate::graph::LabelInput>>,
}

/// How one epoch's plan is cut into optimiser steps, computed once before the first.
struct StepPlan {
    /// Batches in the plan this rank draws from (every rank's, unless sharded).
    total: usize,
    /// Batches a step takes on each rank.
    accumulate: usize,
    /// Plan positions one step spans: `accumulate x ranks` (`accumulate` on a shard set).
    span: usize,
    /// Steps this epoch (on a shard set, as many as the longest plan needs).
    steps: usize,
    /// Every rank's batches.
    all_batches: usize,
    /// This rank's share of the plan: the `share_rank`-th of every `share_ranks` batches.
    share_rank: usize,
    share_ranks: usize,
}

impl StepPlan {
    fn new(total: usize, accumulate: usize, world: &World, sharded: bool) -> StepPlan {
        let (ranks, rank) = (world.size(), world.rank());
        let (share_rank, share_ranks) = if sharded { (0, 1) } else { (rank, ranks) };
        let (span, steps, all_batches) = if sharded {
            let mut totals = vec![0.0f64; ranks];
            totals[rank] = total as f64;
            world.all_reduce_sum_f64(&mut totals);
            let most = totals.iter().map(|&t| t as usize).max().unwrap_or(0);
            (accumulate, most.div_ceil(accumulate), totals.iter().sum::<f64>() as usize)
        } else {
            (accumulate * ranks, total.div_ceil(accumulate * ranks), total)
        };
        StepPlan { total, accumulate, span, steps, all_batches, share_rank, share_ranks }
    }

    /// The plan position of this rank's `j`-th batch of `step`.
    fn position(&self, step: usize, j: usize) -> usize {
        step * self.span + j * self.share_ranks + self.share_rank
    }

    /// This rank's last batch of `step` (`None`: it has none).
    fn last(&self, step: usize) -> Option<usize> {
        (0..self.accumulate).rev().find(|&j| self.position(step, j) < self.total)
    }
}

/// What one training epoch measured.
pub(super) struct EpochStats {
    /// Mean loss over its batches.
    pub(super) loss: f64,
    /// Wall seconds (batches, forward, backward, step).
    pub(super) seconds: f64,
    /// Batches (every rank's).
    pub(super) batches: usize,
    /// Training rows the loss was taken over (every rank's).
    pub(super) train_rows: u64,
    /// Seconds of it spent waiting for the loader (what prefetching did not hide).
    pub(super) wait_seconds: f64,
    /// Bytes of batch tensors moved to the device.
    pub(super) bytes: usize,
    /// On CUDA, the epoch's peak allocated GPU memory.
    pub(super) gpu_peak: Option<u64>,
}

/// The learning rate of (0-based) `epoch`: `lr * (epoch + 1) / warmup` during the warm-up
/// epochs, `lr` after (the authors' `adjust_learning_rate`: `lr * epoch / 50` for 1-based
/// epochs up to 50).
pub(super) fn lr_at(cfg: &RunConfig, epoch: u64) -> f64 {
    if epoch < cfg.warmup { cfg.lr * (epoch + 1) as f64 / cfg.warmup as f64 } else { cfg.lr }
}

pub(super) fn loader_config(cfg: &RunConfig, plan: PlanSpec) -> LoaderConfig {
    LoaderConfig {
        plan,
        seed: cfg.seed,
        workers: cfg.workers.max(1),
        prefetch: 2,
        self_loops: cfg.self_loops,
        edge_features: true,
        split: cfg.split.clone(),
        // The model, not the loader, bounds a training step (the loader builds batches ~10x
        // faster than RevGNN consumes them), so the loader's in-memory copy would only add its
        // memory; training reads through the store's map.
        residency: mille_loader::Residency::Mapped,
        ..Default::default()
    }
}
