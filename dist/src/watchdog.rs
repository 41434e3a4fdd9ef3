//! A thread that ends the process when a collective waits too long: MPI's collectives block until
//! every rank joins, and a rank that is stuck (or lost where the launcher does not notice) would
//! otherwise hang the job.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What is waiting, and since when.
#[derive(Default)]
struct State {
    current: Option<(&'static str, Instant)>,
    done: bool,
}

/// Watches the collectives of one rank.
pub(crate) struct Watchdog {
    state: Arc<(Mutex<State>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    /// Ends the process with exit code 3 when one collective of rank `rank` takes longer than
    /// `timeout`.
    pub(crate) fn start(rank: usize, timeout: Duration) -> Watchdog {
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let s = state.clone();
        let thread = std::thread::Builder::new()
            .name("mille-dist-watchdog".into())
            .spawn(move || {
                let (lock, cv) = &*s;
                let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
                while !st.done {
                    match st.current {
                        Some((what, since)) if since.elapsed() >= timeout => {
                            eprintln!(
                                "error: rank {rank}: {what} waited {:.0} s for the other ranks (--dist-timeout): \
                                 a rank was lost or is stuck; stopping (resume the run with --resume)",
                                since.elapsed().as_secs_f64()
                            );
                            std::process::exit(3);
                        }
                        Some((_, since)) => {
                            let left = timeout.saturating_sub(since.elapsed());
                            st = cv.wait_timeout(st, left).unwrap_or_else(|p| p.into_inner()).0;
                        }
                        None => st = cv.wait(st).unwrap_or_else(|p| p.into_inner()),
                    }
                }
            })
            .expect("spawning the watchdog thread");
        Watchdog { state, thread: Some(thread) }
    }

    /// Runs `f` (one collective, `what`) under the watch.
    pub(crate) fn watch<T>(&self, what: &'static str, f: impl FnOnce() -> T) -> T {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap_or_else(|p| p.into_inner()).current = Some((what, Instant::now()));
        cv.notify_one();
        let out = f();
        lock.lock().unwrap_or_else(|p| p.into_inner()).current = None;
        out
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap_or_else(|p| p.into_inner()).done = true;
        cv.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
