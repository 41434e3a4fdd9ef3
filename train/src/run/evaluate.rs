//! Evaluation: single- and multi-view scores of the current weights, and the best weights kept.

use super::epoch::loader_config;
use super::*;

impl Trainer {
    /// Scores of the current weights with `views` views of `eval_parts` parts, and the averaged
    /// logits.
    pub fn evaluate(&mut self, views: u32) -> anyhow::Result<(Scores, Vec<f32>)> {
        self.evaluate_with(views, self.cfg.eval_parts)
    }

    /// Scores with `views` views of `parts` parts each, and the averaged logits.
    pub fn evaluate_with(&mut self, views: u32, parts: u32) -> anyhow::Result<(Scores, Vec<f32>)> {
        anyhow::ensure!(views >= 1 && parts >= 1, "views and parts must be at least 1");
        if self.eval.loader.as_ref().is_none_or(|(key, _)| *key != (views, parts)) {
            let plan = match self.cfg.sampler {
                mille_loader::SamplerSetting::StoreParts { .. } => {
                    let p = mille_loader::stored_parts(&self.store)?;
                    PlanSpec::ClusterViews { views, per_batch: p.k().div_ceil(parts), partition: p }
                }
                _ => PlanSpec::Views { views, parts },
            };
            let loader = Loader::new(self.store.clone(), loader_config(&self.cfg, plan))?;
            self.eval.loader = Some(((views, parts), loader));
        }
        let loader = &self.eval.loader.as_ref().expect("just built").1;
        let progress = &mut self.progress;
        // On a shard set each rank predicts all of its own shard and the ranks score together;
        // else the ranks split the views and each scores the whole average.
        let single = World::single();
        let (predicting, scoring) = if self.shards.is_some() { (&single, &self.world) } else { (&self.world, &single) };
        let share = ((views * parts) as usize).div_ceil(predicting.size());
        progress.begin("evaluate", share as u64);
        let (model, device, inputs) = (&self.model, self.device, self.inputs.clone());
        let avg = infer::predict_in(predicting, model, loader, 0, device, inputs, || progress.step(None))?;
        progress.end();
        let dim = avg.dim;
        let mut seen = [avg.seen() as f64];
        scoring.all_reduce_sum_f64(&mut seen);
        self.eval.evaluated = seen[0] as u64;
        let logits = avg.into_mean();
        let split = self.cfg.split.as_deref();
        let mut scores = infer::score_shards(scoring, &self.store, split, &logits, dim)?;
        let loss = infer::valid_loss_shards(scoring, &self.store, split, &logits, dim, self.cfg.loss)?;
        scores.valid_loss = Some(loss);
        Ok((scores, logits))
    }

    /// Keeps the current weights as the best: in `best.safetensors` on the writing rank, in
    /// memory on the others.
    pub(super) fn save_best(&mut self) -> anyhow::Result<()> {
        if self.writes {
            // Under a hidden name, then renamed: a failed write never leaves truncated weights.
            // The name keeps its `.safetensors` ending: tch picks the format from it.
            let (best, tmp) = (self.out.join("best.safetensors"), self.out.join(".best.partial.safetensors"));
            let saved = self
                .vs
                .save(&tmp)
                .map_err(anyhow::Error::from)
                .and_then(|()| std::fs::rename(&tmp, &best).map_err(anyhow::Error::from));
            if saved.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            saved.with_context(|| format!("writing {}", best.display()))?;
        } else {
            let vars = self.vs.variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
            self.eval.best_copy = Some(vars);
        }
        Ok(())
    }

    /// Loads the best weights kept by [`Trainer::save_best`], if any.
    pub(super) fn load_best(&mut self) -> anyhow::Result<()> {
        match &self.eval.best_copy {
            Some(vars) => {
                let mut now = self.vs.variables();
                tch::no_grad(|| {
                    for (n, t) in vars {
                        if let Some(v) = now.get_mut(n) {
                            v.copy_(t);
                        }
                    }
                });
            }
            None => {
                let best = self.out.join("best.safetensors");
                if best.exists() {
                    self.vs.load(&best).with_context(|| weights_mismatch(&best))?;
                }
            }
        }
        Ok(())
    }
}

/// Whether `s` beats the best kept so far under `select`. An undefined score (NaN) on either
/// side selects the newer epoch: the latest stands until a defined one comes.
pub(super) fn better(select: Select, s: &Scores, best: Option<&Scores>) -> bool {
    let Some(b) = best else { return true };
    match select {
        Select::ValidMetric => s.valid > b.valid || s.valid.is_nan() || b.valid.is_nan(),
        Select::ValidLoss => {
            let (a, b) = (s.valid_loss.unwrap_or(f64::NAN), b.valid_loss.unwrap_or(f64::NAN));
            a < b || a.is_nan() || b.is_nan()
        }
    }
}
