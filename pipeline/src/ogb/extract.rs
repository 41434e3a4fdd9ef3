//! Safe zip extraction: every entry must stay inside the target folder.

use crate::error::{Error, IoContext, Result};
use std::fs::{self, File};
use std::io::BufReader;
use std::path::Path;

/// Extracts `zip_path` into the new folder `dest` (via a temporary folder renamed at the end).
/// An entry whose path is absolute or climbs out with `..` fails the whole extraction and
/// leaves nothing behind.
pub fn extract_zip(zip_path: &Path, dest: &Path) -> Result<()> {
    let f = File::open(zip_path).at(zip_path)?;
    let mut z = zip::ZipArchive::new(BufReader::new(f))
        .map_err(|e| Error::input(zip_path, format!("not a valid zip archive: {e}")))?;
    // Check every name before writing anything.
    for i in 0..z.len() {
        let entry = z.by_index_raw(i).map_err(|e| Error::input(zip_path, e.to_string()))?;
        if entry.enclosed_name().is_none() {
            return Err(Error::input(
                zip_path,
                format!("entry {:?} escapes the extraction folder; refusing to extract", entry.name()),
            ));
        }
    }
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).at(parent)?;
    let tmp = parent.join(format!(
        ".{}.extract-{}",
        dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp);
    let result = (|| -> Result<()> {
        for i in 0..z.len() {
            let mut entry = z.by_index(i).map_err(|e| Error::input(zip_path, e.to_string()))?;
            let rel = entry.enclosed_name().expect("checked above");
            let out = tmp.join(rel);
            if entry.is_dir() {
                fs::create_dir_all(&out).at(&out)?;
                continue;
            }
            if let Some(p) = out.parent() {
                fs::create_dir_all(p).at(p)?;
            }
            let mut w = File::create(&out).at(&out)?;
            std::io::copy(&mut entry, &mut w)
                .map_err(|e| Error::input(zip_path, format!("entry {:?}: {e}", entry.name())))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, dest).at(dest)
}
