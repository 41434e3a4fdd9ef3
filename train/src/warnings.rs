//! libtorch's warnings (c10's `TORCH_WARN`, e.g. "Sparse CSR tensor support is in beta state",
//! printed on every run) go to `tracing` at debug level instead of stderr: `MILLE_LOG=debug`
//! shows them, with the C++ file and line they came from.

use std::ffi::{CStr, c_char};
use std::sync::Once;

unsafe extern "C" {
    fn mille_route_warnings(f: extern "C" fn(*const c_char, usize, *const c_char, u32));
}

extern "C" fn forward(msg: *const c_char, len: usize, file: *const c_char, line: u32) {
    // Never unwind into C++: a panic here would abort the process.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: c10 passes its message's bytes and length and a NUL-terminated file name (or
        // null), valid for this call; both are copied out before returning.
        let (msg, file) = unsafe {
            let bytes = std::slice::from_raw_parts(msg.cast::<u8>(), len);
            let file = if file.is_null() { "?".into() } else { CStr::from_ptr(file).to_string_lossy() };
            (String::from_utf8_lossy(bytes).into_owned(), file.into_owned())
        };
        tracing::debug!(target: "libtorch", "{file}:{line}: {msg}");
    });
}

/// Routes libtorch's warnings to `tracing` (once per process; later calls do nothing).
pub fn route_to_tracing() {
    static ONCE: Once = Once::new();
    // SAFETY: installs a handler that lives for the whole process (a static in the glue) and a
    // callback that copies its arguments and never unwinds; done once, as c10 asks.
    ONCE.call_once(|| unsafe { mille_route_warnings(forward) });
}
