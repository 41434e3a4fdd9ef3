//! Labels as input and label reuse (the authors' ogbn-arxiv `--use-labels --n-label-iters`,
//! `examples/ogb_eff/ogbn_arxiv_dgl/main.py`): the one-hot labels of some nodes ride in the
//! input's label columns ([`crate::graph::LabelInput`]); reuse writes the model's own class
//! probabilities into the other nodes' columns and runs the model again.

use crate::graph::{GraphTensors, LabelInput};
use tch::{Kind, Tensor};

/// The rows a training batch's loss is taken on: its training nodes, less those whose label is
/// shown in the input (the authors' `train_pred_idx`).
pub fn loss_rows(g: &GraphTensors) -> Tensor {
    match &g.labelled {
        Some(shown) => g.train.logical_and(&shown.logical_not()).nonzero().squeeze_dim(1),
        None => g.train.nonzero().squeeze_dim(1),
    }
}

/// The rows whose label columns reuse rewrites: labelled nodes of the split (train, valid,
/// test) whose label is not shown. In training these are the hidden half of the training
/// nodes with the valid and test nodes (the authors' `train_pred_idx`, `val_idx`, `test_idx`);
/// in evaluation, where every training label is shown, the valid and test nodes.
pub fn reuse_rows(g: &GraphTensors) -> Option<Tensor> {
    let shown = g.labelled.as_ref()?;
    let split = g.train.logical_or(&g.valid).logical_or(&g.test);
    Some(split.logical_and(&shown.logical_not()).nonzero().squeeze_dim(1))
}

/// `x` with the label columns of `rows` replaced by `softmax(logits[rows])` (a new tensor; the
/// batch's own `x` stays as loaded).
pub fn rewritten(x: &Tensor, logits: &Tensor, rows: &Tensor, labels: &LabelInput) -> Tensor {
    tch::no_grad(|| {
        let p = logits.index_select(0, rows).softmax(-1, Kind::Float).to_kind(x.kind());
        let mut cols = x.narrow(1, labels.column, labels.classes).copy();
        let _ = cols.index_copy_(0, rows, &p);
        Tensor::cat(
            &[
                x.narrow(1, 0, labels.column),
                cols,
                x.narrow(1, labels.column + labels.classes, x.size()[1] - labels.column - labels.classes),
            ],
            1,
        )
    })
}

/// The model's input after `labels.reuse` passes of `forward` over `g` (each pass's
/// predictions written into the next one's label columns); `g.x` itself when there is no reuse.
pub fn reused_input(g: &GraphTensors, labels: Option<&LabelInput>, forward: impl Fn(&Tensor) -> Tensor) -> Tensor {
    let (Some(labels), Some(rows)) = (labels.filter(|l| l.reuse > 0), reuse_rows(g)) else {
        return g.x.shallow_clone();
    };
    let mut x = g.x.shallow_clone();
    for _ in 0..labels.reuse {
        let logits = forward(&x);
        x = rewritten(&x, &logits, &rows, labels);
    }
    x
}

/// Labels as input for a model on `store` (split `split`, default its first), its node feature
/// width `column`: every training label shown (evaluation's view; training replaces `shown`
/// each epoch with [`LabelInput::epoch`]).
pub fn from_store(
    store: &mille_pipeline::Store,
    split: Option<&str>,
    column: i64,
    classes: i64,
    reuse: usize,
) -> anyhow::Result<LabelInput> {
    let Some(mille_pipeline::Labels::MultiClass(y)) = store.labels() else {
        anyhow::bail!(
            "--use-labels shows one-hot classes as input; store {} has {}",
            store.path().display(),
            if store.labels().is_some() { "binary tasks" } else { "no labels" }
        );
    };
    let train = training_nodes(store, split)?;
    let mut shown = vec![false; store.num_nodes()];
    for &v in &train {
        shown[v as usize] = true;
    }
    Ok(LabelInput {
        y: std::sync::Arc::new(y.to_vec()),
        classes,
        shown: std::sync::Arc::new(shown),
        column,
        reuse,
        train: std::sync::Arc::new(train),
    })
}

fn training_nodes(store: &mille_pipeline::Store, split: Option<&str>) -> anyhow::Result<Vec<u32>> {
    let s = match split {
        Some(name) => store.split(name)?,
        None => {
            store.default_split().ok_or_else(|| anyhow::anyhow!("store {} has no split", store.path().display()))?
        }
    };
    Ok(s.train.to_vec())
}

impl LabelInput {
    /// A training epoch's view: each training node's label shown with probability `rate`, one
    /// uniform draw per training node in split order from libtorch's generator (the authors'
    /// `torch.rand(train_idx.shape) < mask_rate`).
    pub fn epoch(&self, rate: f64) -> LabelInput {
        let draws = Tensor::rand([self.train.len() as i64], (Kind::Float, tch::Device::Cpu));
        let draws: Vec<f32> = draws.try_into().expect("float draws");
        let mut shown = vec![false; self.shown.len()];
        for (&v, &d) in self.train.iter().zip(&draws) {
            shown[v as usize] = (d as f64) < rate;
        }
        LabelInput { shown: std::sync::Arc::new(shown), ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{HostBatch, NodeInputs};
    use std::sync::Arc;

    /// Six store nodes in a path, classes 0..3, two features; nodes 0-3 train, 4 valid, 5 test;
    /// labels of nodes 0 and 2 shown. The batch holds store nodes `nodes`.
    fn batch(nodes: &[u32], reuse: usize) -> (GraphTensors, LabelInput) {
        let y = vec![0, 1, 2, 0, 1, 2];
        let labels = LabelInput {
            y: Arc::new(y.clone()),
            classes: 3,
            shown: Arc::new(vec![true, false, true, false, false, false]),
            column: 2,
            reuse,
            train: Arc::new(vec![0, 1, 2, 3]),
        };
        let n = nodes.len();
        let indptr: Vec<u64> = (0..=n as u64).collect();
        let indices: Vec<u32> = (0..n as u32).collect();
        let feats: Vec<f32> = nodes.iter().flat_map(|&v| [v as f32 + 1.0, 10.0]).collect();
        let by = |f: fn(u32) -> bool| nodes.iter().map(|&v| f(v)).collect::<Vec<bool>>();
        let (train, valid, test) = (by(|v| v < 4), by(|v| v == 4), by(|v| v == 5));
        let ys: Vec<i32> = nodes.iter().map(|&v| y[v as usize]).collect();
        let inputs = NodeInputs { labels: Some(Arc::new(labels.clone())), ..Default::default() };
        let g = HostBatch::from_parts(&indptr, &indices, &feats, 2, Some(&ys), [&train, &valid, &test], None)
            .with_categorical(nodes, &inputs)
            .assemble();
        (g, labels)
    }

    fn rows(t: &Tensor) -> Vec<Vec<f32>> {
        let n = t.size()[0];
        (0..n).map(|i| Vec::<f32>::try_from(t.get(i)).unwrap()).collect()
    }

    #[test]
    fn a_hidden_label_never_reaches_the_input_and_the_loss_is_on_the_hidden_training_nodes() {
        // Store nodes in another order, as a batch has them.
        let (g, _) = batch(&[3, 2, 5, 0, 1, 4], 0);
        assert_eq!(
            rows(&g.x),
            vec![
                vec![4.0, 10.0, 0.0, 0.0, 0.0], // node 3: training, hidden
                vec![3.0, 10.0, 0.0, 0.0, 1.0], // node 2: shown, class 2
                vec![6.0, 10.0, 0.0, 0.0, 0.0], // node 5: test
                vec![1.0, 10.0, 1.0, 0.0, 0.0], // node 0: shown, class 0
                vec![2.0, 10.0, 0.0, 0.0, 0.0], // node 1: training, hidden
                vec![5.0, 10.0, 0.0, 0.0, 0.0], // node 4: valid
            ]
        );
        // The loss rows are the hidden training nodes (3 and 1): never a node whose label is in x.
        assert_eq!(Vec::<i64>::try_from(loss_rows(&g)).unwrap(), vec![0, 4]);
        // Reuse rewrites the hidden training, valid and test rows.
        assert_eq!(Vec::<i64>::try_from(reuse_rows(&g).unwrap()).unwrap(), vec![0, 2, 4, 5]);
    }

    #[test]
    fn reuse_writes_each_pass_probabilities_into_the_hidden_rows_only() {
        let (g, labels) = batch(&[0, 1, 2, 3, 4, 5], 2);
        let seen = std::cell::RefCell::new(Vec::new());
        // A "model" whose logits are the input's first feature in class 1 (so each pass's
        // probabilities are known), recording the inputs it was given.
        let forward = |x: &Tensor| {
            seen.borrow_mut().push(x.copy());
            let z = Tensor::zeros([6, 3], tch::kind::FLOAT_CPU);
            z.index_copy(1, &Tensor::from_slice(&[1i64]), &x.narrow(1, 0, 1))
        };
        let x = reused_input(&g, Some(&labels), forward);
        let passes = seen.borrow();
        assert_eq!(passes.len(), 2, "two reuse passes run the model twice before the last");
        assert!(passes[0].equal(&g.x), "the first pass sees the loaded input");
        let out = rows(&x);
        for (i, row) in out.iter().enumerate() {
            assert_eq!(&row[..2], &[i as f32 + 1.0, 10.0], "features stay");
            if [0usize, 2].contains(&i) {
                assert_eq!(row[2..], rows(&g.x)[i][2..], "a shown label stays");
            } else {
                let e = ((i as f32) + 1.0).exp();
                let want = [1.0 / (2.0 + e), e / (2.0 + e), 1.0 / (2.0 + e)];
                for (a, b) in row[2..].iter().zip(want) {
                    assert!((a - b).abs() < 1e-6, "row {i}: {row:?}");
                }
            }
        }
        // Without reuse, the input is the batch's own.
        let (g, labels) = batch(&[0, 1, 2, 3, 4, 5], 0);
        assert!(reused_input(&g, Some(&labels), |_| panic!("no pass without reuse")).equal(&g.x));
    }

    #[test]
    fn an_epoch_shows_about_the_mask_rate_of_the_training_nodes_and_nothing_else() {
        let train: Vec<u32> = (0..1000).map(|v| 2 * v).collect();
        let base = LabelInput {
            y: Arc::new(vec![0; 2000]),
            classes: 2,
            shown: Arc::new(vec![false; 2000]),
            column: 0,
            reuse: 0,
            train: Arc::new(train),
        };
        let _turn = crate::RNG_TEST.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(5);
        let e = base.epoch(0.5);
        let shown = e.shown.iter().filter(|&&s| s).count();
        assert!((400..600).contains(&shown), "{shown} of 1000 shown at rate 0.5");
        assert!(e.shown.iter().enumerate().all(|(v, &s)| !s || v % 2 == 0), "only training nodes are shown");
        tch::manual_seed(5);
        assert_eq!(base.epoch(0.5).shown, e.shown, "the draw is the epoch generator's");
    }
}
