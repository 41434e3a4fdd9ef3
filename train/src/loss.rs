//! The training losses: cross-entropy (or BCE for binary tasks), the authors' log-CE, and the
//! self-knowledge-distillation term; on the device for training and on the host for the
//! validation loss that selects a run's best epoch.

use crate::graph::{GraphTensors, Targets};
use mille_pipeline::Labels;
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

/// The per-node loss of multi-class nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Cross-entropy (BCE with logits over present labels for binary tasks): mille's default.
    #[default]
    Ce,
    /// `ln(eps + CE) - ln(eps)` per node, eps = 1 - ln 2, then averaged: the authors' ogbn-arxiv
    /// loss (`examples/ogb_eff/ogbn_arxiv_dgl/main.py`, `custom_loss_function`). It damps the
    /// nodes already fitted (a CE near 0 changes little) less than CE does. Multi-class only.
    Logce,
}

mille_pipeline::choices!(LossKind { Ce => "ce", Logce => "logce" });

/// The log-CE's epsilon, `1 - ln 2` (the authors' `epsilon`).
pub const LOGCE_EPS: f64 = 1.0 - std::f64::consts::LN_2;

/// `ln(eps + ce) - ln(eps)`, elementwise: zero where the CE is, and CE's slope `1 / eps` there.
pub fn logce_of(ce: &Tensor) -> Tensor {
    (ce + LOGCE_EPS).log() - LOGCE_EPS.ln()
}

/// How the distillation term averages the KL divergence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KdReduction {
    /// Over nodes x classes: PyTorch's `KLDivLoss()` default, what the authors' `loss.py`
    /// computes (each node's KL divided by the class count as well as the node count).
    #[default]
    Mean,
    /// Over nodes: the KL divergence's textbook average (`KLDivLoss(reduction="batchmean")`), a
    /// departure from the authors' code that weighs the term `classes` times more.
    Batchmean,
}

mille_pipeline::choices!(KdReduction { Mean => "mean", Batchmean => "batchmean" });

/// The self-KD term, `T^2 KL(softmax(teacher / T) || softmax(student / T))` over the rows of
/// `student` and `teacher` (`[n, classes]` each), averaged as `reduction` says (the authors'
/// `loss_kd_only` in `examples/ogb_eff/ogbn_arxiv_dgl/loss.py`).
pub fn kd(student: &Tensor, teacher: &Tensor, temperature: f64, reduction: KdReduction) -> Tensor {
    let log_s = (student / temperature).log_softmax(-1, Kind::Float);
    let p_t = (teacher.to_kind(Kind::Float) / temperature).softmax(-1, Kind::Float);
    let t2 = temperature * temperature;
    match reduction {
        KdReduction::Mean => log_s.kl_div(&p_t, Reduction::Mean, false) * t2,
        KdReduction::Batchmean => {
            let n = student.size()[0].max(1) as f64;
            log_s.kl_div(&p_t, Reduction::Sum, false) * (t2 / n)
        }
    }
}

/// The training loss on `rows` of a batch: their mean, or with the batch's loss weights
/// (GraphSAINT) their weighted sum. Multi-class nodes take `kind`; binary tasks BCE with logits
/// over present labels (the trainer refuses `logce` for them).
pub fn on_rows(kind: LossKind, logits: &Tensor, g: &GraphTensors, rows: &Tensor) -> Tensor {
    let out = logits.index_select(0, rows);
    let per_class_node = |y: &Tensor| {
        let ce = out.cross_entropy_loss::<Tensor>(&y.index_select(0, rows), None, Reduction::None, -100, 0.0);
        match kind {
            LossKind::Ce => ce,
            LossKind::Logce => logce_of(&ce),
        }
    };
    if let Some(w) = &g.loss_weight {
        let w = w.index_select(0, rows).to_kind(out.kind());
        let per_node = match &g.targets {
            Targets::Classes(y) => per_class_node(y),
            Targets::Binary { y, present } => {
                let p = present.index_select(0, rows).to_kind(out.kind());
                let l = out.binary_cross_entropy_with_logits::<Tensor>(
                    &y.index_select(0, rows),
                    None,
                    None,
                    Reduction::None,
                );
                (l * &p).sum_dim_intlist(1, false, out.kind()) / p.sum_dim_intlist(1, false, out.kind()).clamp_min(1.0)
            }
            Targets::None => unreachable!("the trainer checks the store has labels"),
        };
        return (per_node * w).sum(out.kind());
    }
    match &g.targets {
        // Plain CE keeps libtorch's fused kernel: the figures measured with it stay as they were.
        Targets::Classes(y) if kind == LossKind::Ce => out.cross_entropy_for_logits(&y.index_select(0, rows)),
        Targets::Classes(y) => per_class_node(y).mean(out.kind()),
        Targets::Binary { y, present } => {
            let w = present.index_select(0, rows).to_kind(out.kind());
            let l = out.binary_cross_entropy_with_logits(
                &y.index_select(0, rows),
                Some(w.shallow_clone()),
                None,
                Reduction::Sum,
            );
            l / w.sum(Kind::Float).clamp_min(1.0)
        }
        Targets::None => unreachable!("the trainer checks the store has labels"),
    }
}

/// The loss of host logits (`[n, dim]` row-major) on `rows`, as a (sum, count) pair that shards
/// add up: per node under `kind` for multi-class labels; for binary tasks BCE summed over the
/// present labels, counted by them (what [`on_rows`] averages). Computed in f64.
pub fn host_sum(kind: LossKind, logits: &[f32], dim: usize, labels: &Labels, rows: &[usize]) -> (f64, f64) {
    let mut sum = 0.0;
    let mut count = 0.0;
    for &r in rows {
        let l = &logits[r * dim..(r + 1) * dim];
        match labels {
            Labels::MultiClass(y) => {
                let top = l.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                let lse = top + l.iter().map(|&v| (v as f64 - top).exp()).sum::<f64>().ln();
                let ce = lse - l[y[r] as usize] as f64;
                sum += match kind {
                    LossKind::Ce => ce,
                    LossKind::Logce => (LOGCE_EPS + ce).ln() - LOGCE_EPS.ln(),
                };
                count += 1.0;
            }
            Labels::MultiLabel(y) => {
                for (t, &v) in l.iter().enumerate() {
                    let target = y.data[r * dim + t];
                    if target < 0 {
                        continue;
                    }
                    // BCE with logits, stably: max(x, 0) - x y + ln(1 + e^-|x|).
                    let x = v as f64;
                    sum += x.max(0.0) - x * target as f64 + (-x.abs()).exp().ln_1p();
                    count += 1.0;
                }
            }
        }
    }
    (sum, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], rows: i64) -> Tensor {
        Tensor::from_slice(v).reshape([rows, -1])
    }

    #[test]
    fn kd_matches_the_kl_worked_by_hand_under_both_reductions() {
        // Two nodes, two classes, T = 2. Node 0: student (0, 0), teacher (2 ln 3, 0) -> teacher
        // probabilities (3/4, 1/4) at T = 2, student (1/2, 1/2).
        let s = t(&[0.0, 0.0, 1.0, 1.0], 2);
        let ln3 = 3f32.ln();
        let tt = t(&[2.0 * ln3, 0.0, 3.0, 3.0], 2);
        // KL row 0: 3/4 ln(3/2) + 1/4 ln(1/2); row 1: both uniform, 0.
        let row0 = 0.75 * 1.5f64.ln() + 0.25 * 0.5f64.ln();
        let mean = kd(&s, &tt, 2.0, KdReduction::Mean).double_value(&[]);
        let batchmean = kd(&s, &tt, 2.0, KdReduction::Batchmean).double_value(&[]);
        // T^2 = 4; mean divides by nodes x classes = 4, batchmean by nodes = 2.
        assert!((mean - 4.0 * row0 / 4.0).abs() < 1e-6, "{mean} vs {}", row0);
        assert!((batchmean - 4.0 * row0 / 2.0).abs() < 1e-6, "{batchmean} vs {}", 2.0 * row0);
        assert!((batchmean / mean - 2.0).abs() < 1e-5, "batchmean is classes (2) times mean");
    }

    #[test]
    fn logce_is_zero_at_zero_and_bends_ce_by_the_authors_epsilon() {
        let ce = Tensor::from_slice(&[0.0f64, 1.0, 5.0]);
        let got: Vec<f64> = logce_of(&ce).try_into().unwrap();
        let eps = 1.0 - 2f64.ln();
        assert_eq!(got[0], 0.0);
        for (g, c) in got.iter().zip([0.0, 1.0, 5.0]) {
            assert!((g - ((eps + c).ln() - eps.ln())).abs() < 1e-12);
        }
    }

    #[test]
    fn host_loss_equals_libtorchs_cross_entropy() {
        let logits = [0.3f32, -1.2, 2.0, 0.5, 0.5, -0.25, 4.0, 1.0, 0.0];
        let y = [2i32, 0, 1];
        let rows = [0usize, 2];
        let labels = Labels::MultiClass(&y);
        let x = t(&logits, 3).index_select(0, &Tensor::from_slice(&[0i64, 2]));
        let target = Tensor::from_slice(&[2i64, 1]);
        let ce = x.cross_entropy_loss::<Tensor>(&target, None, Reduction::None, -100, 0.0);
        for kind in [LossKind::Ce, LossKind::Logce] {
            let (sum, n) = host_sum(kind, &logits, 3, &labels, &rows);
            let want = match kind {
                LossKind::Ce => ce.sum(Kind::Double).double_value(&[]),
                LossKind::Logce => logce_of(&ce.to_kind(Kind::Double)).sum(Kind::Double).double_value(&[]),
            };
            assert_eq!(n, 2.0);
            assert!((sum - want).abs() < 1e-5, "{kind}: {sum} vs {want}");
        }
    }
}
