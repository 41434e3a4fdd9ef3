//! The loop over epochs (metrics, selection, checkpoints) and the run's end (best weights,
//! multi-view inference, predictions and summary).

use super::epoch::EpochStats;
use super::evaluate::better;
use super::*;

impl Trainer {
    /// Trains the remaining epochs (checkpointing after each), then evaluates the best model
    /// with multi-view inference and writes predictions and the summary.
    pub fn fit(&mut self) -> anyhow::Result<Summary> {
        let metrics_path = self.out.join("metrics.jsonl");
        while self.state.epoch < self.cfg.epochs {
            let epoch = self.state.epoch;
            self.set_pretraining(epoch + 1);
            let st = self.train_epoch(epoch)?;
            let (loss, seconds) = (st.loss, st.seconds);
            anyhow::ensure!(loss.is_finite(), "training diverged at epoch {} (loss {loss})", epoch + 1);
            self.usage.gpu_peak = self.usage.gpu_peak.max(st.gpu_peak);
            let mut line = self.epoch_metrics(epoch, &st);
            let scores = self.evaluate_epoch(epoch, &mut line)?;
            if self.writes {
                append_line(&metrics_path, &line)?;
            }
            tracing::info!("epoch {}: {line}", epoch + 1);
            self.progress.epoch(&EpochReport {
                epoch: epoch + 1,
                epochs: self.cfg.epochs,
                loss,
                seconds,
                batches_per_second: st.batches as f64 / seconds,
                scores,
                best: self.state.best,
                metric: self.eval.metric.name(),
                line: &line,
            });
            self.state.epoch = epoch + 1;
            self.state.step = self.opt.step;
            self.state.epoch_seconds.push(seconds);
            if self.writes {
                checkpoint::save(&self.out, &self.vs, &self.opt, &self.state)?;
            }
        }
        self.finish()
    }

    /// The epoch's metrics line (evaluation fills its scores).
    fn epoch_metrics(&self, epoch: u64, st: &EpochStats) -> EpochMetrics {
        let solves = self.model.last_solves();
        EpochMetrics {
            epoch: epoch + 1,
            loss: st.loss,
            seconds: st.seconds,
            batches_per_second: st.batches as f64 / st.seconds,
            train_rows: st.train_rows,
            batch_wait_seconds: st.wait_seconds,
            batch_bytes: st.bytes,
            peak_memory_bytes: peak_rss_bytes(),
            peak_anon_rss_bytes: self.usage.anon.bytes(),
            rss_file_bytes: memory::status_bytes("RssFile:"),
            device: self.device_name.clone(),
            gpu_peak_memory_bytes: st.gpu_peak,
            deq_forward_iterations: solves.map(|(fwd, _)| fwd.iterations),
            deq_forward_residual: solves.map(|(fwd, _)| fwd.residual),
            deq_adjoint_iterations: solves.map(|(_, adj)| adj.iterations),
            train: None,
            valid: None,
            test: None,
            valid_loss: None,
        }
    }

    /// Every `eval_every` epochs and at the last: a single-view evaluation, its scores put in
    /// `line`, the weights kept when they are the best so far.
    fn evaluate_epoch(&mut self, epoch: u64, line: &mut EpochMetrics) -> anyhow::Result<Option<Scores>> {
        if !(epoch + 1).is_multiple_of(self.cfg.eval_every) && epoch + 1 != self.cfg.epochs {
            return Ok(None);
        }
        let (s, _) = self.evaluate_with(1, self.cfg.train_eval_parts.unwrap_or(self.cfg.eval_parts))?;
        (line.train, line.valid, line.test, line.valid_loss) =
            (Some(s.train), Some(s.valid), Some(s.test), s.valid_loss);
        if better(self.cfg.select, &s, self.state.best.as_ref().map(|(_, b)| b)) {
            self.state.best = Some((epoch + 1, s));
            self.save_best()?;
        }
        Ok(Some(s))
    }

    /// Loads the best weights, runs multi-view inference, writes `predictions.npy` and
    /// `summary.json`.
    pub fn finish(&mut self) -> anyhow::Result<Summary> {
        self.load_best()?;
        self.set_pretraining(self.state.best.map_or(self.state.epoch, |(e, _)| e));
        let (single, best_epoch) = match self.state.best {
            Some((e, s)) => (s, e),
            None => {
                (self.evaluate_with(1, self.cfg.train_eval_parts.unwrap_or(self.cfg.eval_parts))?.0, self.state.epoch)
            }
        };
        crate::device::reset_gpu_peak(self.device);
        let (multi, logits) = self.evaluate(self.cfg.views)?;
        self.usage.gpu_peak = self.usage.gpu_peak.max(crate::device::gpu_memory(self.device).map(|m| m.peak_allocated));
        self.write_predictions(&logits)?;
        let summary = self.summary(single, best_epoch, multi);
        if self.writes {
            let path = self.out.join("summary.json");
            mille_pipeline::durable::write_atomic(&path, &serde_json::to_vec_pretty(&summary)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(summary)
    }
}

impl Trainer {
    /// The final logits as `predictions.npy` (rank 0), or each rank's shard's.
    fn write_predictions(&self, logits: &[f32]) -> anyhow::Result<()> {
        let dim = self.model.config().out_dim as usize;
        if self.shards.is_some() {
            // Each rank holds only its shard's logits; rows follow the shard's `shard/global_id`.
            std::fs::create_dir_all(&self.out)?;
            infer::write_npy(&self.out.join(format!("predictions-shard-{}.npy", self.world.rank())), logits, dim)?;
        } else if self.writes {
            infer::write_npy(&self.out.join("predictions.npy"), logits, dim)?;
        }
        Ok(())
    }

    /// The run's summary: `single` (the chosen epoch's scores) and `multi` (the final
    /// multi-view inference's) beside what the run was and what it used.
    fn summary(&self, single: Scores, best_epoch: u64, multi: Scores) -> Summary {
        let mut sorted = self.state.epoch_seconds.clone();
        sorted.sort_by(f64::total_cmp);
        let selection = self.selection(&single);
        Summary {
            metric: self.eval.metric.name().into(),
            train: single.train,
            valid: single.valid,
            test: single.test,
            best_epoch,
            selection,
            multi_view: multi,
            views: self.cfg.views,
            eval_parts: self.cfg.eval_parts,
            params: num_params(&self.vs),
            peak_memory_bytes: peak_rss_bytes(),
            peak_anon_rss_bytes: self.usage.anon.bytes(),
            epoch_seconds: self.state.epoch_seconds.clone(),
            epoch_seconds_median: sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN),
            gpu_peak_memory_bytes: self.usage.gpu_peak,
            device: self.device_name.clone(),
            model: match self.cfg.model {
                // RevGAT's layers are its own GAT: `--conv` plays no part.
                crate::model::ModelKind::Revgat => format!("revgat/gat:{}", self.cfg.heads),
                m => format!("{m}/{}", self.cfg.conv),
            },
            batching: self.cfg.sampler.kind().to_string(),
            layers: self.cfg.layers,
            hidden: self.cfg.hidden,
            world_size: self.world.size(),
            evaluated_nodes: self.eval.evaluated,
            sharding: self.shards.as_ref().map(|m| Sharding {
                shards: m.shards.len(),
                edges: m.edges,
                lost_edges: m.lost_edges,
                lost_fraction: m.lost_fraction(),
            }),
        }
    }

    /// How the summary's weights were chosen, in words.
    fn selection(&self, single: &Scores) -> String {
        match self.cfg.select {
            Select::ValidMetric if single.valid.is_nan() => format!(
                "last evaluated epoch: the validation {} is undefined (no labelled validation node, or one class)",
                self.eval.metric.name()
            ),
            Select::ValidMetric => format!("best validation {}", self.eval.metric.name()),
            Select::ValidLoss if single.valid_loss.is_none_or(f64::is_nan) => {
                "last evaluated epoch: the validation loss is undefined (no labelled validation node)".to_string()
            }
            Select::ValidLoss => format!("lowest validation loss ({})", self.cfg.loss),
        }
    }
}

/// Appends `line` (one JSON line) to `path`.
fn append_line(path: &Path, line: &EpochMetrics) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{line}").with_context(|| format!("writing {}", path.display()))
}

/// Drops metric lines of epochs after `epoch` (written by a run killed before its checkpoint).
pub(super) fn truncate_metrics(path: &Path, epoch: u64) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["epoch"].as_u64())
                .is_some_and(|e| e <= epoch)
        })
        .collect();
    let mut body = kept.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    std::fs::write(path, body)?;
    Ok(())
}
