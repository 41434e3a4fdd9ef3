//! Split files (`split/<name>/{train,valid,test}`): node ids in range, no duplicates.

use crate::error::{Error, IoContext, Result};
use crate::ogb::csv::{find_csv, read_blocks};
use crate::store::StoreWriter;
use std::fs::{self};
use std::path::Path;

/// Every `split/<name>/{train,valid,test}` file: node ids in range, no duplicates.
pub(super) fn read_splits(root: &Path, w: &mut StoreWriter, n: u64, max_line: usize) -> Result<Vec<String>> {
    let dir = root.join("split");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = fs::read_dir(&dir)
        .at(&dir)?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        for part in ["train", "valid", "test"] {
            let folder = dir.join(name);
            let path = find_csv(&folder, part).ok_or_else(|| {
                Error::input(
                    folder.join(format!("{part}.csv.gz")),
                    format!("missing: split {name:?} needs train, valid and test files"),
                )
            })?;
            let mut seen = vec![0u64; (n as usize).div_ceil(64)];
            let mut ids = Vec::new();
            read_blocks(&path, max_line, |rows| {
                while let Some(mut r) = rows.next_row() {
                    let v = r.uint()?;
                    r.end(1)?;
                    if v >= n {
                        return Err(r.error(format!("node id {v} out of range: the graph has {n} nodes")));
                    }
                    let (word, bit) = ((v / 64) as usize, v % 64);
                    if seen[word] >> bit & 1 == 1 {
                        return Err(r.error(format!("node id {v} appears twice in this split file")));
                    }
                    seen[word] |= 1 << bit;
                    ids.push(v as u32);
                }
                Ok(())
            })?;
            w.put(&format!("split/{name}/{part}"), &ids, None)?;
        }
    }
    Ok(names)
}
