//! indicatif bars for the pipeline's long tasks (a training run's progress is the trainer
//! programs' own, `src/bin/run_progress.rs`).

use indicatif::{ProgressBar, ProgressStyle};

/// indicatif bars on stderr for the pipeline's tasks (prepare's files, a download, synth), one
/// line each, drawn only on a terminal.
pub struct Bars {
    multi: indicatif::MultiProgress,
}

impl Bars {
    /// A reporter drawing bars when `draw`, else reporting nowhere.
    pub fn reporter(draw: bool) -> mille_pipeline::progress::Reporter {
        if draw {
            mille_pipeline::progress::Reporter::new(std::sync::Arc::new(Bars {
                multi: indicatif::MultiProgress::new(),
            }))
        } else {
            mille_pipeline::progress::Reporter::silent()
        }
    }
}

impl mille_pipeline::progress::Progress for Bars {
    fn task(&self, what: &str, len: u64, bytes: bool) -> mille_pipeline::progress::Task {
        let bar = self.multi.add(ProgressBar::new(len));
        let template = if bytes {
            "{prefix:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}"
        } else {
            "{prefix:>14} [{bar:30}] {pos}/{len} {msg}"
        };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
        bar.set_prefix(what.to_string());
        mille_pipeline::progress::Task::new(std::sync::Arc::new(BarTask(bar)))
    }
}

struct BarTask(ProgressBar);

impl mille_pipeline::progress::TaskSink for BarTask {
    fn set_len(&self, len: u64) {
        self.0.set_length(len);
    }
    fn set_position(&self, pos: u64) {
        self.0.set_position(pos);
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn set_message(&self, msg: &str) {
        self.0.set_message(msg.to_string());
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
