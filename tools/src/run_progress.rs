//! How the programs show a run's progress (the trainer only reports it): on a terminal a bar
//! with the running loss and batches per second, and on stderr one readable line per epoch, as
//! PyG's examples print; with `--json`, each epoch's `metrics.jsonl` line instead.
//!
//! Not a module of the mille-tools library: `train` and `evaluate` include it (`#[path]`). In
//! the library, its references to the trainer's types shared an object file with code every
//! data program calls, and so linked libtorch into prepare, synth, inspect... (tools/tests/link.rs).

use indicatif::{ProgressBar, ProgressStyle};
use mille_train::run::{EpochReport, Progress};

/// Bars (when `draw`) and one line per epoch (readable, or JSON when `json`).
pub struct RunProgress {
    draw: bool,
    json: bool,
    bar: Option<ProgressBar>,
    loss_sum: f64,
    losses: u64,
}

impl RunProgress {
    /// Bars only when `draw` (a terminal); epoch lines as JSON when `json`.
    pub fn new(draw: bool, json: bool) -> Self {
        RunProgress { draw, json, bar: None, loss_sum: 0.0, losses: 0 }
    }
}

impl Progress for RunProgress {
    fn begin(&mut self, what: &str, len: u64) {
        (self.loss_sum, self.losses) = (0.0, 0);
        if self.draw {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.to_string());
            self.bar = Some(bar);
        }
    }

    fn step(&mut self, loss: Option<f64>) {
        if let Some(l) = loss {
            self.loss_sum += l;
            self.losses += 1;
        }
        if let Some(bar) = &self.bar {
            if self.losses > 0 {
                bar.set_message(format!("loss {:.4}", self.loss_sum / self.losses as f64));
            }
            bar.inc(1);
        }
    }

    fn end(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn epoch(&mut self, r: &EpochReport<'_>) {
        if self.json {
            eprintln!("{}", r.line);
        } else {
            eprintln!("{}", epoch_line(r));
        }
    }
}

/// `epoch   3/20  loss 1.2345  41.2 batches/s  acc train 0.7100 valid 0.6900 test 0.7000  best valid 0.6900 (epoch 3)`.
pub fn epoch_line(r: &EpochReport<'_>) -> String {
    let width = r.epochs.to_string().len();
    let mut s =
        format!("epoch {:>width$}/{}  loss {:.4}  {:.1} batches/s", r.epoch, r.epochs, r.loss, r.batches_per_second);
    if let Some(sc) = r.scores {
        s += &format!("  {} train {:.4} valid {:.4} test {:.4}", r.metric, sc.train, sc.valid, sc.test);
    }
    if let Some((e, b)) = r.best {
        s += &format!("  best valid {:.4} (epoch {e})", b.valid);
    }
    s
}
