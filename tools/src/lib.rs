//! Shared pieces of mille's command-line programs: logging, exit codes, memory figures.

pub mod npy;
pub mod plot;
pub mod progress;
pub mod sampler;
pub mod signals;

use std::path::PathBuf;

/// Sets up `tracing` on stderr (`RUST_LOG` or `MILLE_LOG` picks the level; default `warn`).
pub fn init_logging() {
    let filter = std::env::var("MILLE_LOG").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Ends the program quietly with status 0 when what it prints has nowhere to go (`tools/inspect
/// STORE | head -1`): Rust ignores SIGPIPE, so a write to a closed pipe fails with EPIPE, and
/// `println!` turns that into a panic with a message on stderr. ripgrep ends quietly the same
/// way; any other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p.downcast_ref::<String>().map(String::as_str).or_else(|| p.downcast_ref::<&str>().copied());
        if msg.is_some_and(|m| m.starts_with("failed printing to stdout") && m.contains("Broken pipe")) {
            std::process::exit(0);
        }
        report(info);
    }));
}

/// Runs a program's body; on error prints `error: ...` (with causes) and exits with status 1.
pub fn run(body: impl FnOnce() -> anyhow::Result<()>) {
    signals::install();
    init_logging();
    quiet_on_closed_stdout();
    if let Err(e) = body() {
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}

pub use mille_pipeline::memory::{peak_rss_bytes, rss_bytes};

/// Per-user cache folder (`$MILLE_CACHE`, else `$XDG_CACHE_HOME/mille`, else `~/.cache/mille`).
pub fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("MILLE_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into())).join(".cache"));
    base.join("mille")
}

/// Whether stderr is a terminal (progress bars are drawn only then).
pub fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// Human-readable byte count in binary units (indicatif's `HumanBytes`: `412.20 MiB`).
pub fn human_bytes(b: u64) -> String {
    indicatif::HumanBytes(b).to_string()
}

/// jemalloc replacing `malloc` for the whole process (libtorch's CPU tensors included), never
/// returning freed pages to the kernel. With glibc's malloc, per-layer buffers freed during a
/// deep reversible backward stay resident behind small long-lived allocations (fragmentation),
/// so peak RSS grows with depth although live tensors don't; with decay off, jemalloc reuses
/// them and the peak stays flat, and runs faster for the same reason. Binaries that train use it
/// through [`use_jemalloc!`].
#[macro_export]
macro_rules! use_jemalloc {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::Jemalloc = $crate::Jemalloc;

        /// jemalloc reads its options from this symbol (a C string) at start-up.
        #[unsafe(no_mangle)]
        #[used]
        pub static malloc_conf: $crate::MallocConf =
            $crate::MallocConf(c"dirty_decay_ms:-1,muzzy_decay_ms:-1".as_ptr());
    };
}

pub use tikv_jemallocator::Jemalloc;

/// A `const char *` that may live in a static.
#[repr(transparent)]
pub struct MallocConf(pub *const std::ffi::c_char);
// SAFETY: points to a string literal, never written.
unsafe impl Sync for MallocConf {}
