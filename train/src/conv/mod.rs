//! Graph convolutions of `dim -> dim` channels over a batch's [`Adjacency`]: SAGE (mean), GCN
//! (symmetric normalisation), GEN (DeeperGCN's generalised aggregation), GAT (multi-head
//! attention) and GCNII (GCN with an initial residual and an identity map).

mod gat;
mod gcnii;
mod gen_conv;
mod sage_gcn;

pub use gat::Gat;
pub use gcnii::{Gcnii, Initial};
pub use gen_conv::{Aggr, Gen, MESSAGE_EPS};
pub use sage_gcn::{Gcn, Sage};

use crate::graph::Adjacency;
use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

/// Which convolution a block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ConvKind {
    /// GraphSAGE with mean aggregation: `W_l mean(h_N(i)) + W_r h_i`.
    Sage,
    /// GCN: `W (Â h)`, Â symmetric-normalised (self loops come from the loader).
    Gcn,
    /// GEN with the given aggregation.
    Gen(Aggr),
    /// GAT with this many heads (concatenated).
    Gat(i64),
    /// GCNII with the initial residual `alpha` and identity-map `lambda`, both in thousandths
    /// (so the kind stays `Eq` and prints back exactly what was read).
    Gcnii {
        /// `alpha` x 1000.
        alpha_milli: u32,
        /// `lambda` x 1000.
        lambda_milli: u32,
    },
}

/// What `--conv` and `conv =` accept.
const CONV_CHOICES: &str = "sage, gcn, gat[:HEADS], gen[:softmax|max|mean|sum] or gcnii[:ALPHA:LAMBDA]";

/// GCNII's settings for Cora in its paper and `chennnM/GCNII` (`--alpha 0.1 --lamda 0.5`).
pub const GCNII_DEFAULT: ConvKind = ConvKind::Gcnii { alpha_milli: 100, lambda_milli: 500 };

impl ConvKind {
    /// GCNII's `(alpha, lambda)`, or `None` for the other convolutions.
    pub fn gcnii(&self) -> Option<(f64, f64)> {
        match *self {
            ConvKind::Gcnii { alpha_milli, lambda_milli } => {
                Some((f64::from(alpha_milli) / 1000.0, f64::from(lambda_milli) / 1000.0))
            }
            _ => None,
        }
    }
}

/// A GCNII parameter in thousandths: `0.1` -> 100; at most three decimals, `alpha` in [0, 1].
fn milli(text: &str, max: f64) -> Option<u32> {
    let v: f64 = text.parse().ok()?;
    let m = (v * 1000.0).round();
    (v.is_finite() && (0.0..=max).contains(&v) && (m - v * 1000.0).abs() < 1e-6).then_some(m as u32)
}

impl std::str::FromStr for ConvKind {
    type Err = String;
    /// Parses `sage`, `gcn`, `gat`, `gat:HEADS`, `gen` (softmax), `gen:softmax|max|mean|sum`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, arg) = s.split_once(':').map_or((s, None), |(a, b)| (a, Some(b)));
        let bad = || format!("unknown convolution {s:?}: expected {CONV_CHOICES}");
        Ok(match (name, arg) {
            ("sage", None) => ConvKind::Sage,
            ("gcn", None) => ConvKind::Gcn,
            ("gat", None) => ConvKind::Gat(4),
            ("gat", Some(h)) => ConvKind::Gat(h.parse().ok().filter(|&h: &i64| h > 0).ok_or_else(bad)?),
            ("gen", None) => ConvKind::Gen(Aggr::Softmax),
            ("gen", Some(a)) => ConvKind::Gen(a.parse().map_err(|_| bad())?),
            ("gcnii", None) => GCNII_DEFAULT,
            ("gcnii", Some(args)) => {
                let (a, l) = args
                    .split_once(':')
                    .ok_or_else(|| format!("{s:?}: gcnii takes both ALPHA and LAMBDA (gcnii:0.1:0.5), or neither"))?;
                let range =
                    || format!("{s:?}: ALPHA must be in [0, 1] and LAMBDA in [0, 100], with at most three decimals");
                ConvKind::Gcnii {
                    alpha_milli: milli(a, 1.0).ok_or_else(range)?,
                    lambda_milli: milli(l, 100.0).ok_or_else(range)?,
                }
            }
            _ => return Err(bad()),
        })
    }
}

impl std::fmt::Display for ConvKind {
    /// The name `FromStr` reads back (`gat:4`, `gen:softmax`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvKind::Sage => f.write_str("sage"),
            ConvKind::Gcn => f.write_str("gcn"),
            ConvKind::Gat(h) => write!(f, "gat:{h}"),
            ConvKind::Gen(a) => write!(f, "gen:{a}"),
            ConvKind::Gcnii { .. } => {
                let (a, l) = self.gcnii().expect("gcnii");
                write!(f, "gcnii:{a}:{l}")
            }
        }
    }
}

impl TryFrom<String> for ConvKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<ConvKind> for String {
    fn from(c: ConvKind) -> String {
        c.to_string()
    }
}

/// What every convolution does: the one trait a new convolution implements (in its own file),
/// beside its [`ConvKind`] variant and the arm that makes it in [`Conv::new`].
pub trait Operator: std::fmt::Debug + Send {
    /// `dim -> dim` channels over `adj`; `init` is the initial representation, which only the
    /// convolutions that mix it in read (GCNII).
    fn apply(&self, adj: &Adjacency, h: &Tensor, init: Option<Initial<'_>>) -> Tensor;

    /// The parameters that scale the output linearly (the last layer's weights and bias): what
    /// a DEQ block shrinks at initialisation to start contractive.
    fn output_params(&self) -> Vec<Tensor>;
}

/// A linear layer's bias and weight, in that order.
pub(crate) fn linear_params(l: &nn::Linear) -> Vec<Tensor> {
    l.bs.iter().chain([&l.ws]).map(Tensor::shallow_clone).collect()
}

/// A convolution of `dim -> dim` channels.
#[derive(Debug)]
pub struct Conv(Box<dyn Operator>);

impl Conv {
    /// A new convolution under `path`; `edge_dim` is the width of the batches' edge features
    /// (0: none), which GEN encodes into its messages.
    pub fn new(path: &nn::Path, kind: ConvKind, dim: i64, edge_dim: i64) -> Conv {
        crate::cpu_math::warm_up();
        Conv(match kind {
            ConvKind::Sage => Box::new(Sage::new(path, dim)),
            ConvKind::Gcn => Box::new(Gcn::new(path, dim)),
            ConvKind::Gen(aggr) => Box::new(Gen::new(path, dim, aggr, edge_dim)),
            ConvKind::Gat(heads) => Box::new(Gat::new(path, dim, heads)),
            ConvKind::Gcnii { .. } => {
                let (alpha, lambda) = kind.gcnii().expect("gcnii");
                Box::new(Gcnii::new(path, dim, alpha, lambda))
            }
        })
    }

    /// The parameters that scale the output linearly (see [`Operator::output_params`]).
    pub fn output_params(&self) -> Vec<Tensor> {
        self.0.output_params()
    }

    /// Applies the convolution. GCNII needs its initial representation: use
    /// [`Conv::forward_with`].
    pub fn forward(&self, adj: &Adjacency, h: &Tensor) -> Tensor {
        self.0.apply(adj, h, None)
    }

    /// Applies the convolution; `init` is read by GCNII alone (the others ignore it).
    pub fn forward_with(&self, adj: &Adjacency, h: &Tensor, init: Option<Initial<'_>>) -> Tensor {
        self.0.apply(adj, h, init)
    }
}
