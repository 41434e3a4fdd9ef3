//! Batches onto the device. On the CPU a batch's arrays become tensors in place of the loader's
//! buffers. On CUDA each batch is copied into pinned host memory and uploaded on a side stream
//! while the previous batch's step still runs on the compute stream (double buffering); an event
//! recorded after the upload makes the compute stream wait for it without blocking the host.
//! The feed also counts the time spent waiting for the loader, the share of an epoch that
//! loading did not hide.

use crate::graph::{GraphTensors, HostBatch, NodeInputs, upload};
use crate::stream::{Event, SideStream};
use mille_loader::{Batch, Epoch};
use std::time::{Duration, Instant};
use tch::Device;

/// Uploads `h` on the side stream: each tensor copied into pinned memory on the host, then
/// queued for the GPU. (The pinned block goes back to libtorch's host allocator when its tensor
/// drops, which holds it until the copy reading it has finished.)
pub fn upload_on(side: &SideStream, h: HostBatch) -> anyhow::Result<(HostBatch, Event)> {
    let device = Device::Cuda(side.device);
    let failed = std::cell::RefCell::new(None);
    let up = h.upload_with(&|t| match side.upload(&t.pin_memory(device)) {
        Ok(d) => d,
        Err(e) => {
            failed.borrow_mut().get_or_insert(e);
            t
        }
    });
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    Ok((up, side.event()?))
}

/// A batch on the device, with the loader's batch it came from (its node ids, for inference;
/// hand it back with [`Feed::recycle`]).
pub struct Fed {
    /// The loader's batch.
    pub batch: Batch,
    /// Its tensors on the device.
    pub graph: GraphTensors,
}

struct Pending {
    batch: Batch,
    up: HostBatch,
    ready: Option<Event>,
}

/// An epoch of batches on `device`: the next batch is uploaded while the caller computes on the
/// current one (on CUDA; the CPU needs no copy).
pub struct Feed {
    epoch: Epoch,
    device: Device,
    inputs: NodeInputs,
    side: Option<SideStream>,
    pending: Option<Pending>,
    waited: Duration,
    bytes: usize,
}

impl Feed {
    /// Feeds `epoch` to `device`, the model inputs made as `inputs` says (a [`FeatureNorm`]
    /// alone: the node features, normalised).
    ///
    /// [`FeatureNorm`]: crate::graph::FeatureNorm
    pub fn new(epoch: Epoch, device: Device, inputs: impl Into<NodeInputs>) -> anyhow::Result<Feed> {
        let inputs = inputs.into();
        let side = match device {
            Device::Cuda(i) => Some(SideStream::new(i)?),
            _ => None,
        };
        Ok(Feed { epoch, device, inputs, side, pending: None, waited: Duration::ZERO, bytes: 0 })
    }

    /// Batches in the epoch.
    pub fn len(&self) -> usize {
        self.epoch.len()
    }

    /// True for an epoch without batches.
    pub fn is_empty(&self) -> bool {
        self.epoch.is_empty()
    }

    /// Time spent so far waiting for the loader to hand over a batch.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Bytes of tensor data moved to the device so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Hands a consumed batch back to the loader's workers.
    pub fn recycle(&self, batch: Batch) {
        self.epoch.recycle(batch);
    }

    /// The loader's next batch, its upload started.
    fn fetch(&mut self) -> Option<anyhow::Result<Pending>> {
        let t = Instant::now();
        let next = self.epoch.next();
        self.waited += t.elapsed();
        let batch = match next? {
            Ok(b) => b,
            Err(e) => return Some(Err(e.into())),
        };
        if let Err(e) = check_finite(&batch) {
            return Some(Err(e));
        }
        let host = HostBatch::from_batch(&batch).with_categorical(&batch.nodes, &self.inputs);
        self.bytes += host.bytes();
        Some(match &self.side {
            Some(side) => upload_on(side, host).map(|(up, ev)| Pending { batch, up, ready: Some(ev) }),
            None => Ok(Pending { batch, up: host.upload_with(&|t| upload(t, self.device)), ready: None }),
        })
    }

    /// The next batch on the device: the compute stream waits for its upload, and the upload
    /// of the batch after it is already queued.
    pub fn next_batch(&mut self) -> Option<anyhow::Result<Fed>> {
        let current = match self.pending.take() {
            Some(p) => p,
            None => match self.fetch()? {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            },
        };
        if self.side.is_some() {
            match self.fetch() {
                Some(Ok(p)) => self.pending = Some(p),
                Some(Err(e)) => return Some(Err(e)),
                None => {}
            }
        }
        if let Some(ev) = current.ready
            && let Err(e) = ev.wait()
        {
            return Some(Err(e));
        }
        let g = current.up.assemble_with(self.inputs.norm);
        Some(Ok(Fed { batch: current.batch, graph: g }))
    }
}

/// Refuses a batch whose features hold NaN or infinity, naming the store row: a store whose
/// float arrays were changed under fixed checksums would otherwise train to a NaN loss with no
/// file named. One pass over the batch's features on the host (a branch-free scan, ~10 ms per
/// 100 MB batch here; the loader's gather already touched the same bytes).
fn check_finite(b: &Batch) -> anyhow::Result<()> {
    if let Some(i) = first_non_finite(&b.features) {
        let (row, col) = (i / b.feature_dim.max(1), i % b.feature_dim.max(1));
        anyhow::bail!(
            "the store's node features (node_feat) hold {} at node {}, column {col}: expected finite numbers \
             (tools/inspect STORE --verify checks every value)",
            b.features[i],
            b.nodes[row]
        );
    }
    if let Some(i) = first_non_finite(&b.edge_features) {
        let (k, col) = (i / b.edge_feature_dim.max(1), i % b.edge_feature_dim.max(1));
        anyhow::bail!(
            "the store's edge features (edge_feat) hold {} at CSR entry {}, column {col}: expected finite numbers \
             (tools/inspect STORE --verify checks every value)",
            b.edge_features[i],
            b.edge_pos[k]
        );
    }
    Ok(())
}

/// Position of the first NaN or infinity.
fn first_non_finite(v: &[f32]) -> Option<usize> {
    v.chunks(4096).enumerate().find_map(|(c, chunk)| {
        // Finite iff the exponent bits are not all ones: an or-reduction that vectorises.
        let bad = chunk.iter().fold(false, |acc, x| acc | (x.to_bits() & 0x7f80_0000 == 0x7f80_0000));
        bad.then(|| c * 4096 + chunk.iter().position(|x| !x.is_finite()).expect("found above"))
    })
}
