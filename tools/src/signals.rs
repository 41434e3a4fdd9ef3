//! SIGINT and SIGTERM end a program as the signal would, whatever runs when they arrive, after
//! removing what the program registered as unfinished (a fresh run folder with no checkpoint).
//!
//! Why not the default disposition: METIS (GKlib) installs its own SIGTERM handler while it runs
//! and turns the signal into `METIS_ERROR`, so `tools/partition` ended with "METIS returned an
//! error", exit 1, blaming METIS. Here both signals are blocked in every thread (the mask is set
//! before any other thread exists, and threads inherit it) and one thread takes them with
//! `sigwait`, whatever handler GKlib has set meanwhile: it removes the registered paths, then
//! restores the default disposition and re-raises, so the parent sees the process killed by the
//! signal (a shell reports 130 and 143).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Paths removed when a signal ends the program, with the file whose presence keeps each.
static UNFINISHED: Mutex<Vec<(PathBuf, Option<PathBuf>)>> = Mutex::new(Vec::new());

/// Blocks SIGINT and SIGTERM in this thread (call it first in `main`, before any thread starts)
/// and starts the thread that ends the program when one arrives.
pub fn install() {
    // SAFETY: plain libc calls on a local, zeroed signal set; no other thread exists yet.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        let _ = std::thread::Builder::new().name("mille-signals".into()).spawn(move || {
            let mut sig: libc::c_int = 0;
            if libc::sigwait(&set, &mut sig) == 0 {
                remove_unfinished();
                libc::signal(sig, libc::SIG_DFL);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(sig);
                // Unreachable unless the signal is ignored: still end with its status.
                libc::_exit(128 + sig);
            }
        });
    }
}

/// Removes `path` (a folder or file) if a signal ends the program, unless `kept_by` exists by
/// then (e.g. a run folder's `checkpoint.json`: a run with a checkpoint can be resumed).
pub fn remove_on_signal(path: &Path, kept_by: Option<&Path>) {
    if let Ok(mut u) = UNFINISHED.lock() {
        u.push((path.to_path_buf(), kept_by.map(Path::to_path_buf)));
    }
}

/// Forgets `path` (it is finished).
pub fn keep(path: &Path) {
    if let Ok(mut u) = UNFINISHED.lock() {
        u.retain(|(p, _)| p != path);
    }
}

fn remove_unfinished() {
    let Ok(u) = UNFINISHED.lock() else { return };
    for (path, kept_by) in u.iter() {
        if kept_by.as_ref().is_some_and(|k| k.exists()) {
            continue;
        }
        // The program's other threads run on while this one removes: a file written into
        // the folder meanwhile (a run's store record after its config.toml) makes
        // remove_dir_all fail with the folder not empty, so it tries again for up to a second.
        for _ in 0..100 {
            let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
            if !path.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
