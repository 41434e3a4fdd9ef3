//! Content checksums (xxh3-64) of store arrays, and the full check of a store against them.

use super::Store;
use crate::error::{Error, IoContext, Result};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// xxh3-64 of a file's bytes as 16 hex digits, read in 4 MiB blocks.
pub fn checksum_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).at(path)?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = f.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:016x}", h.digest()))
}

/// Recomputes every array's checksum and compares it with `meta.json`, and checks that every
/// float (node and edge features) is finite: a NaN written under a fixed checksum would
/// otherwise pass, and only surface as a diverged loss.
pub fn verify(store: &Store) -> Result<()> {
    use rayon::prelude::*;
    store.meta().arrays.par_iter().try_for_each(|(name, a)| {
        let path = store.path().join(&a.file);
        let got = checksum_file(&path)?;
        if got != a.xxh3 {
            return Err(Error::store(
                &path,
                format!("array {name}: checksum {got} does not match meta.json's {}", a.xxh3),
            ));
        }
        if a.dtype == super::DType::F32 {
            let values: &[f32] = store.array(name)?;
            if let Some(i) = values.par_iter().position_first(|x| !x.is_finite()) {
                let cols = a.cols();
                return Err(Error::store(
                    &path,
                    format!(
                        "array {name}: row {}, column {} holds {}: expected finite numbers",
                        i / cols,
                        i % cols,
                        values[i]
                    ),
                ));
            }
        }
        Ok(())
    })
}
