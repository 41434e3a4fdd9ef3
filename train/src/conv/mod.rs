//! Graph convolutions of `dim -> dim` channels over a batch's [`Adjacency`]: SAGE (mean), GCN
//! (symmetric normalisation), GEN (DeeperGCN's generalised aggregation) and GAT (multi-head
//! attention).

mod gat;
mod gen_conv;
mod sage_gcn;

pub use gat::Gat;
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
}

/// What `--conv` and `conv =` accept.
const CONV_CHOICES: &str = "sage, gcn, gat[:HEADS] or gen[:softmax|max|mean|sum]";

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

/// A convolution of `dim -> dim` channels.
#[derive(Debug)]
pub enum Conv {
    /// SAGE.
    Sage(Sage),
    /// GCN.
    Gcn(Gcn),
    /// GEN.
    Gen(Gen),
    /// GAT.
    Gat(Gat),
}

impl Conv {
    /// A new convolution under `path`; `edge_dim` is the width of the batches' edge features
    /// (0: none), which GEN encodes into its messages.
    pub fn new(path: &nn::Path, kind: ConvKind, dim: i64, edge_dim: i64) -> Conv {
        crate::cpu_math::warm_up();
        match kind {
            ConvKind::Sage => Conv::Sage(Sage::new(path, dim)),
            ConvKind::Gcn => Conv::Gcn(Gcn::new(path, dim)),
            ConvKind::Gen(aggr) => Conv::Gen(Gen::new(path, dim, aggr, edge_dim)),
            ConvKind::Gat(heads) => Conv::Gat(Gat::new(path, dim, heads)),
        }
    }

    /// The parameters that scale the output linearly (the last layer's weights and bias).
    pub fn output_params(&self) -> Vec<Tensor> {
        let lin = |l: &nn::Linear| l.bs.iter().chain([&l.ws]).map(Tensor::shallow_clone).collect::<Vec<_>>();
        match self {
            Conv::Sage(c) => lin(&c.lin).into_iter().chain(lin(&c.root)).collect(),
            Conv::Gcn(c) => lin(&c.lin),
            Conv::Gen(c) => lin(&c.lin2),
            Conv::Gat(c) => lin(&c.lin).into_iter().chain([c.bias.shallow_clone()]).collect(),
        }
    }

    /// Applies the convolution.
    pub fn forward(&self, adj: &Adjacency, h: &Tensor) -> Tensor {
        match self {
            Conv::Sage(c) => c.forward(adj, h),
            Conv::Gcn(c) => c.forward(adj, h),
            Conv::Gen(c) => c.forward(adj, h),
            Conv::Gat(c) => c.forward(adj, h),
        }
    }
}
