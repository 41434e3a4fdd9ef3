//! Side streams of a GPU and the events that order them with the compute stream (libtorch's
//! current stream): the feed uploads batches on one, data-parallel training reduces gradients
//! with NCCL on another, both while the compute stream goes on.

use crate::device::{self, check};
use std::ffi::{c_int, c_void};
use tch::Tensor;

/// A side stream of one GPU (from libtorch's pool, so not the compute stream).
pub struct SideStream {
    raw: *mut c_void,
    pub(crate) device: usize,
}

// SAFETY: the handle is a heap-allocated c10 stream object, immutable after creation, used by
// one feed at a time.
unsafe impl Send for SideStream {}

impl SideStream {
    /// A stream from libtorch's pool for `cuda:index`.
    pub fn new(index: usize) -> anyhow::Result<SideStream> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        check(unsafe { device::mille_stream_new(index as c_int, &mut raw) }, "side stream")?;
        Ok(SideStream { raw, device: index })
    }

    /// Queues a copy of pinned host tensor `t` to the GPU on this stream; returns at once.
    pub fn upload(&self, t: &Tensor) -> anyhow::Result<Tensor> {
        let mut out = std::ptr::null_mut();
        // SAFETY: `t` is a live tensor; the glue returns a new heap tensor that we own.
        check(unsafe { device::mille_stream_upload(self.raw, t.as_ptr() as *const c_void, &mut out) }, "upload")?;
        // SAFETY: `out` is a fresh `at::Tensor*`, owned by the returned Tensor from now on.
        Ok(unsafe { Tensor::from_ptr(out.cast()) })
    }

    /// The stream's `cudaStream_t`, for NCCL.
    pub fn handle(&self) -> anyhow::Result<*mut c_void> {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid out-pointer; the handle lives as long as the stream.
        check(unsafe { device::mille_stream_handle(self.raw, &mut out) }, "stream handle")?;
        Ok(out)
    }

    /// Makes this stream wait for the work queued so far on the compute stream (the host goes
    /// on at once).
    pub fn wait_compute(&self) -> anyhow::Result<()> {
        // SAFETY: a live stream.
        check(unsafe { device::mille_stream_wait_current(self.raw) }, "side stream wait")
    }

    /// Marks `t` as used by this stream: the caching allocator keeps its memory until the work
    /// queued here so far is done, even if `t` is dropped first.
    pub fn record(&self, t: &Tensor) -> anyhow::Result<()> {
        // SAFETY: a live stream and tensor.
        check(unsafe { device::mille_stream_record(self.raw, t.as_ptr() as *const c_void) }, "record stream")
    }

    /// An event after everything queued on this stream so far.
    pub fn event(&self) -> anyhow::Result<Event> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        check(unsafe { device::mille_stream_event(self.raw, &mut raw) }, "side stream event")?;
        Ok(Event { raw, device: self.device })
    }
}

impl Drop for SideStream {
    fn drop(&mut self) {
        // SAFETY: created by mille_stream_new, freed once.
        unsafe { device::mille_stream_free(self.raw) }
    }
}

/// A point on a side stream the compute stream can wait for.
pub struct Event {
    raw: *mut c_void,
    pub(crate) device: usize,
}

// SAFETY: as for SideStream.
unsafe impl Send for Event {}

impl Event {
    /// Whether the work before the event has finished (never blocks).
    pub fn done(&self) -> anyhow::Result<bool> {
        let mut done = 0;
        // SAFETY: a live event; writes one int.
        check(unsafe { device::mille_event_query(self.raw, &mut done) }, "event query")?;
        Ok(done != 0)
    }

    /// Makes the compute stream wait for the event (the host goes on at once).
    pub fn wait(self) -> anyhow::Result<()> {
        // SAFETY: a live event.
        check(unsafe { device::mille_event_wait(self.raw, self.device as c_int) }, "wait for side stream")
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: created by mille_stream_event, freed once (the wait does not free it).
        unsafe { device::mille_event_free(self.raw) }
    }
}
