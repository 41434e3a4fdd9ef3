"""Type stubs of mille's Rust extension (see the docstrings of each item)."""

from os import PathLike
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, PathLike]
__version__: str

class MilleError(RuntimeError):
    """An error from mille's Rust side; the message names the file and what was expected."""

class Store:
    """A prepared mille store, opened and checked."""

    def __init__(self, path: _Path) -> None: ...
    @property
    def path(self) -> Path: ...
    @property
    def name(self) -> str: ...
    @property
    def num_nodes(self) -> int: ...
    @property
    def num_edges(self) -> int: ...
    @property
    def feature_dim(self) -> int: ...
    @property
    def edge_feature_dim(self) -> int: ...
    @property
    def num_classes(self) -> Optional[int]: ...
    @property
    def num_tasks(self) -> Optional[int]: ...
    @property
    def is_multilabel(self) -> bool: ...
    @property
    def metric(self) -> Optional[str]: ...
    @property
    def split_names(self) -> List[str]: ...
    @property
    def global_id(self) -> Optional[npt.NDArray[np.uint32]]:
        """A shard's rows in its source store, uint32 [N], read-only; None for other stores."""
    def features(self) -> Optional[npt.NDArray[np.float32]]:
        """Node features float32 [N, D], a read-only view of the memory map."""
    def labels(self) -> Optional[Union[npt.NDArray[np.int32], npt.NDArray[np.int8]]]:
        """int32 [N] classes (-1 unlabelled) or int8 [N, T] tasks (-1 missing), read-only."""
    def edge_attr(self) -> Optional[npt.NDArray[np.float32]]:
        """Edge features float32 [E, F] in CSR order, read-only."""
    def indptr(self) -> npt.NDArray[np.int64]:
        """CSR by target, int64 [N + 1], read-only."""
    def indices(self) -> npt.NDArray[np.uint32]:
        """CSR sources, uint32 [E], read-only."""
    def edge_index(self) -> npt.NDArray[np.int64]:
        """The whole graph as int64 [2, E] (row 0 sources, row 1 targets); a new array."""
    def split(self, name: Optional[str] = None) -> Dict[str, npt.NDArray[np.int64]]:
        """{"train", "valid", "test"} node ids of a split (default: the first)."""
    def verify(self) -> None:
        """Recomputes every checksum; raises MilleError on a mismatch."""

class Batch:
    """A mini-batch: the subgraph induced by n_id, in local ids 0..num_nodes."""

    @property
    def n_id(self) -> npt.NDArray[np.int64]: ...
    @property
    def edge_index(self) -> npt.NDArray[np.int64]: ...
    @property
    def x(self) -> npt.NDArray[np.float32]: ...
    @property
    def y(self) -> Optional[Union[npt.NDArray[np.int64], npt.NDArray[np.float32]]]: ...
    @property
    def train_mask(self) -> npt.NDArray[np.bool_]: ...
    @property
    def val_mask(self) -> npt.NDArray[np.bool_]: ...
    @property
    def test_mask(self) -> npt.NDArray[np.bool_]: ...
    @property
    def edge_attr(self) -> Optional[npt.NDArray[np.float32]]: ...
    @property
    def e_id(self) -> npt.NDArray[np.int64]: ...
    @property
    def indptr(self) -> npt.NDArray[np.int64]: ...
    @property
    def indices(self) -> npt.NDArray[np.uint32]: ...
    @property
    def node_norm(self) -> Optional[npt.NDArray[np.float32]]:
        """GraphSAINT loss weights S / (C_v T), one per node; None unless GraphSAINT."""
    @property
    def edge_norm(self) -> Optional[npt.NDArray[np.float32]]:
        """GraphSAINT aggregator weights C_v / C_uv, one per edge; None unless GraphSAINT."""
    @property
    def degree(self) -> Optional[npt.NDArray[np.uint32]]:
        """Full-graph in-degree of each node (with an added self loop); None unless GraphSAINT."""
    @property
    def batch_size(self) -> int:
        """Seeds of a neighbour-sampled batch (its first nodes); every node otherwise."""
    @property
    def num_sampled_nodes(self) -> List[int]: ...
    @property
    def num_sampled_edges(self) -> List[int]: ...
    @property
    def view(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def num_nodes(self) -> int: ...
    @property
    def num_edges(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    def to_pyg(self) -> Any:
        """A torch_geometric.data.Data whose tensors share this batch's memory."""
    def __len__(self) -> int: ...

class Epoch:
    """One epoch's batches in plan order; ending or dropping it joins the workers."""

    def __iter__(self) -> Iterator[Batch]: ...
    def __next__(self) -> Batch: ...
    def __len__(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Epoch": ...
    def __exit__(self, *exc: Any) -> bool: ...

class Loader:
    """Mini-batches of a store's induced subgraphs, built ahead by worker threads."""

    def __init__(
        self,
        store: Store,
        *,
        parts: Optional[int] = None,
        partition: Optional[npt.NDArray[np.int32]] = None,
        per_batch: int = 1,
        views: Optional[int] = None,
        full: bool = False,
        workers: int = 2,
        prefetch: int = 4,
        seed: int = 0,
        split: Optional[str] = None,
        self_loops: bool = False,
        edge_features: bool = True,
        residency: str = "auto",
        nodes: Optional[npt.NDArray[np.int64]] = None,
        fanouts: Optional[List[int]] = None,
        batch_size: int = 1024,
        replace: bool = False,
        roots: Optional[int] = None,
        walk_length: int = 2,
        budget: Optional[int] = None,
        coverage: int = 50,
    ) -> None:
        """Raises ValueError naming the argument when a count is negative, zero where it must
        not be, or too large for the machine (``parts=10**12``), and for ``fanouts`` with
        ``self_loops=True`` (sampled hops list their edges hop by hop, as PyG's
        ``trim_to_layer`` expects; self loops would break that layout)."""
    def epoch(self, epoch: int, *, rank: int = 0, world_size: int = 1) -> Epoch:
        """Epoch epoch's batches; with world_size > 1, rank's share (batches rank, rank + W, ...)."""
    def set_epoch(self, epoch: int) -> None: ...
    def plan(self, epoch: int) -> List[npt.NDArray[np.int64]]: ...
    @property
    def is_resident(self) -> bool: ...
    def __iter__(self) -> Epoch: ...
    def __len__(self) -> int:
        """Batches in the current epoch's plan (drawn once per epoch, then kept)."""

def partition(
    store: Store, parts: int, method: str = "metis", seed: int = 0, cache: bool = True
) -> npt.NDArray[np.int32]:
    """Each node's part (int32 [N]); cached in the store's partitions/ folder."""

def shard(store: Store, part: npt.NDArray[np.int32], out: _Path, method: str = "given") -> List[Path]:
    """Cuts store by part (a part id per node) into a shard set at out: one store per part and
    shards.json, for tools/train --shards. Returns the shard folders, part 0 first."""

def prepare(
    source: _Path,
    name: Optional[str] = None,
    root: _Path = "data",
    *,
    dataset: Optional[str] = None,
    add_inverse_edge: bool = False,
    to_undirected: bool = False,
    overwrite: bool = False,
    num_classes: Optional[int] = None,
    allow_many_classes: bool = False,
    verbose: bool = True,
) -> Path:
    """Prepares an OGB raw-layout folder into a store at root/name; returns its path.

    ``name`` must be one plain folder name (no ``/`` or ``..``). More than 1,000,000 classes
    (``num_classes`` or the labels' count) need ``allow_many_classes=True``.

    ``to_undirected`` makes the graph bidirected with duplicate edges removed. A graph with edge
    features and no node features (ogbn-proteins) gets each node's full-graph sum of its edges'
    features as node features (``Store.features()``)."""

def synth(
    out: _Path,
    nodes: int = 20000,
    avg_degree: float = 20.0,
    features: int = 100,
    classes: int = 47,
    seed: int = 0,
    *,
    like: str = "products",
    tasks: int = 112,
) -> Path:
    """Writes a synthetic graph in OGB's raw layout to out: like ``"products"``, ``"proteins"``
    (edge features, species, ``tasks`` binary labels; ``classes`` latent communities) or
    ``"arxiv"`` (directed citations, years, a time split)."""
