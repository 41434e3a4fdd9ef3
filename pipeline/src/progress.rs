//! Progress of long pipeline work (downloads, prepare, synth), reported to whoever shows it:
//! the library draws nothing itself; `tools` turns these calls into indicatif bars.

use std::sync::Arc;

/// Receives progress: tasks, each a named amount of work, and their advances.
pub trait Progress: Send + Sync {
    /// Task `what` of `len` units starts (`bytes`: the units are bytes, else steps).
    fn task(&self, what: &str, len: u64, bytes: bool) -> Task;
}

/// What a task's handle reports to.
pub trait TaskSink: Send + Sync {
    /// The total changed (a download learns its size).
    fn set_len(&self, len: u64);
    /// The units done so far.
    fn set_position(&self, pos: u64);
    /// `n` more units done.
    fn inc(&self, n: u64);
    /// What the task is doing now.
    fn set_message(&self, msg: &str);
    /// The task is over.
    fn finish(&self);
}

/// One task's handle, shared by the threads that work on it.
#[derive(Clone)]
pub struct Task(Option<Arc<dyn TaskSink>>);

impl Task {
    /// A handle that reports nowhere.
    pub fn hidden() -> Task {
        Task(None)
    }
    /// A handle reporting to `sink`.
    pub fn new(sink: Arc<dyn TaskSink>) -> Task {
        Task(Some(sink))
    }
    /// See [`TaskSink::set_len`].
    pub fn set_len(&self, len: u64) {
        if let Some(s) = &self.0 {
            s.set_len(len);
        }
    }
    /// See [`TaskSink::set_position`].
    pub fn set_position(&self, pos: u64) {
        if let Some(s) = &self.0 {
            s.set_position(pos);
        }
    }
    /// See [`TaskSink::inc`].
    pub fn inc(&self, n: u64) {
        if let Some(s) = &self.0 {
            s.inc(n);
        }
    }
    /// See [`TaskSink::set_message`].
    pub fn set_message(&self, msg: &str) {
        if let Some(s) = &self.0 {
            s.set_message(msg);
        }
    }
    /// See [`TaskSink::finish`].
    pub fn finish(&self) {
        if let Some(s) = &self.0 {
            s.finish();
        }
    }
}

/// Where a pipeline call reports progress: nowhere by default.
#[derive(Clone, Default)]
pub struct Reporter(Option<Arc<dyn Progress>>);

impl Reporter {
    /// Reports to `p`.
    pub fn new(p: Arc<dyn Progress>) -> Reporter {
        Reporter(Some(p))
    }
    /// Reports nowhere.
    pub fn silent() -> Reporter {
        Reporter(None)
    }
    /// Starts task `what` of `len` units (see [`Progress::task`]).
    pub fn task(&self, what: &str, len: u64, bytes: bool) -> Task {
        match &self.0 {
            Some(p) => p.task(what, len, bytes),
            None => Task::hidden(),
        }
    }
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Reporter(..)" } else { "Reporter(silent)" })
    }
}
