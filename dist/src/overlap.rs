//! All-reduce overlapped with the work that produces its values: the trainer hands over each
//! reversible block's gradients as the backward finishes it (last block first), and every
//! bucket's reduction starts at once, non-blocking, while the backward of earlier blocks goes on
//! (PyTorch DDP's design, with the blocks as its gradient hooks).

use crate::World;

/// A bucket on its way.
enum Slot {
    /// Reduced already (one process: nothing to add).
    Done(Vec<f32>),
    #[cfg(feature = "mpi")]
    InFlight(crate::mpi_world::PendingReduce),
}

/// Sums of a sequence of groups of values over the ranks, bucket by bucket as the groups come
/// in. Every rank must push groups of the same sizes in the same order (the buckets, and so
/// the collectives, then match); a rank may push them all late, it only waits longer.
pub struct Overlap<'w> {
    world: &'w World,
    filling: Vec<f32>,
    slots: Vec<Slot>,
}

impl<'w> Overlap<'w> {
    pub(crate) fn new(world: &'w World) -> Overlap<'w> {
        Overlap { world, filling: Vec::new(), slots: Vec::new() }
    }

    /// Adds the next group's values; a bucket full to [`World::bucket`] values starts its
    /// reduction now, and the reductions in flight are moved on.
    pub fn push(&mut self, values: &[f32]) {
        self.filling.extend_from_slice(values);
        if self.filling.len() >= self.world.bucket() {
            self.start();
        }
        self.progress();
    }

    /// Every group's sums over the ranks, concatenated in push order (waits for the last
    /// buckets, under the world's watchdog).
    pub fn finish(mut self) -> Vec<f32> {
        if !self.filling.is_empty() {
            self.start();
        }
        let slots = std::mem::take(&mut self.slots);
        self.world.watch("an all-reduce", || {
            let mut out = Vec::new();
            for s in slots {
                match s {
                    Slot::Done(v) => out.extend(v),
                    #[cfg(feature = "mpi")]
                    Slot::InFlight(p) => out.extend(p.wait()),
                }
            }
            out
        })
    }

    fn start(&mut self) {
        let bucket = std::mem::take(&mut self.filling);
        let slot = match self.world.communicator() {
            None => Slot::Done(bucket),
            #[cfg(feature = "mpi")]
            Some(m) => Slot::InFlight(m.start_all_reduce_f32(bucket)),
        };
        self.slots.push(slot);
    }

    fn progress(&mut self) {
        for s in &mut self.slots {
            match s {
                Slot::Done(_) => {}
                #[cfg(feature = "mpi")]
                Slot::InFlight(p) => {
                    p.test();
                }
            }
        }
    }
}
