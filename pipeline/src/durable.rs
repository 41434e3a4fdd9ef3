//! Durable writes: data reaches the disk before the rename that publishes it, and the rename
//! itself is made durable by syncing the folder that holds it (what SQLite and tantivy do).
//! Without it a power cut after the rename could leave a published name whose files are empty.

use crate::error::{IoContext, Result};
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Flushes `path`'s data and metadata to the disk.
pub fn sync_file(path: &Path) -> Result<()> {
    File::open(path).and_then(|f| f.sync_all()).at(path)
}

/// Flushes folder `path`'s entries (names created, renamed or removed in it) to the disk.
pub fn sync_dir(path: &Path) -> Result<()> {
    File::open(path).and_then(|f| f.sync_all()).at(path)
}

/// Replaces `path` with `bytes` atomically and durably: a temporary file beside it, synced,
/// renamed over it, and the folder synced. A reader sees the old content or the new, never part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(crate::Error::io(&tmp, e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(crate::Error::io(path, e));
    }
    sync_dir(parent(path))
}

/// The folder holding `path` (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
