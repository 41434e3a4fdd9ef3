//! METIS prints some of its failures (`***Cannot bisect a graph with 0 vertices!`, thousands of
//! times when the parts outnumber what a graph can be cut into) with C's `printf`, on standard
//! output, where they would break a caller's `--json`. While METIS runs, file descriptor 1
//! points at standard error instead.

use std::io::Write;

/// Standard output redirected to standard error until dropped. Callers hold the METIS lock:
/// two overlapping redirections would restore in the wrong order.
pub(crate) struct StdoutToStderr {
    saved: libc::c_int,
}

impl StdoutToStderr {
    /// Redirects, or returns `None` (output stays where it was) when descriptors can't be copied.
    pub(crate) fn new() -> Option<Self> {
        let _ = std::io::stdout().flush();
        // SAFETY: dup and dup2 on the process's own standard descriptors; a failure is reported
        // by a negative return, handled here, and changes nothing.
        unsafe {
            let saved = libc::dup(1);
            if saved < 0 {
                return None;
            }
            if libc::dup2(2, 1) < 0 {
                libc::close(saved);
                return None;
            }
            Some(StdoutToStderr { saved })
        }
    }
}

impl Drop for StdoutToStderr {
    fn drop(&mut self) {
        // SAFETY: flushes C's stdio buffers (what METIS printed must leave while descriptor 1 is
        // still standard error), then puts back the descriptor saved in `new` and closes the copy.
        unsafe {
            libc::fflush(std::ptr::null_mut());
            libc::dup2(self.saved, 1);
            libc::close(self.saved);
        }
    }
}
