//! Read-only memory maps of whole files, the way every reader in the pipeline takes them.

use crate::error::{IoContext, Result};
use memmap2::Mmap;
use std::fs::File;
use std::path::Path;

/// Maps `file` (at `path`, for errors) read-only, or `None` when it is empty: Linux refuses a
/// zero-length mapping, and an empty array reads as `&[]` anyway.
///
/// # Safety
/// Nothing may truncate or write the file while the map lives: a truncated page faults
/// (SIGBUS) on access. Callers say why that holds for their files.
pub(crate) unsafe fn map_unless_empty(file: &File, path: &Path) -> Result<Option<Mmap>> {
    if file.metadata().at(path)?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: the caller's contract above.
    Ok(Some(unsafe { Mmap::map(file) }.at(path)?))
}
