//! Reading NumPy `.npz` archives (OGB's binary layout, e.g. papers100M-bin) entry by entry,
//! streaming each `.npy` array's data instead of loading it whole.

use crate::error::{Error, IoContext, Result};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Element type of an `.npy` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyType {
    /// `<i8` or `<i4` etc.: signed integer of this many bytes.
    Int(usize),
    /// Unsigned integer of this many bytes.
    UInt(usize),
    /// Float of 2, 4 or 8 bytes.
    Float(usize),
}

impl NpyType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyType::Int(n) | NpyType::UInt(n) | NpyType::Float(n) => n,
        }
    }
}

/// An `.npz` file opened for reading its entries.
pub struct Npz {
    path: PathBuf,
    zip: zip::ZipArchive<BufReader<File>>,
}

/// One array's header and a reader positioned at its data.
pub struct NpyReader<'a> {
    /// Element type.
    pub dtype: NpyType,
    /// Shape (C order).
    pub shape: Vec<u64>,
    path: String,
    inner: Box<dyn Read + 'a>,
}

impl Npz {
    /// Opens an `.npz` archive.
    pub fn open(path: &Path) -> Result<Npz> {
        let f = File::open(path).at(path)?;
        let zip = zip::ZipArchive::new(BufReader::with_capacity(1 << 20, f))
            .map_err(|e| Error::input(path, format!("not a valid .npz (zip) archive: {e}")))?;
        Ok(Npz { path: path.to_path_buf(), zip })
    }

    /// Whether the archive holds array `name`.
    pub fn has(&self, name: &str) -> bool {
        self.zip.index_for_name(&format!("{name}.npy")).is_some()
    }

    /// Opens array `name` (the entry `name.npy`).
    pub fn array(&mut self, name: &str) -> Result<NpyReader<'_>> {
        let entry = format!("{name}.npy");
        let display = format!("{}[{entry}]", self.path.display());
        let mut r = self
            .zip
            .by_name(&entry)
            .map_err(|_| Error::input(&self.path, format!("has no array {name:?} (expected entry {entry})")))?;
        let (dtype, shape) = read_header(&mut r, &display)?;
        Ok(NpyReader { dtype, shape, path: display, inner: Box::new(r) })
    }

    /// Reads a small integer array whole (e.g. `num_nodes_list`).
    pub fn small_ints(&mut self, name: &str) -> Result<Vec<i64>> {
        let mut a = self.array(name)?;
        let n: u64 = a.shape.iter().product();
        if n > 1 << 20 {
            return Err(Error::input(&a.path, format!("expected a small array, found shape {:?}", a.shape)));
        }
        let mut out = Vec::with_capacity(n as usize);
        a.for_each_chunk(1 << 16, |vals| {
            out.extend(vals.iter().map(|&v| v as i64));
            Ok(())
        })?;
        Ok(out)
    }
}

impl NpyReader<'_> {
    /// Name used in errors: `file.npz[entry.npy]`.
    pub fn name(&self) -> &str {
        &self.path
    }

    /// Streams the elements, converted to f64 (exact for every int below 2^53 and every f32),
    /// in chunks of at most `chunk` elements.
    pub fn for_each_chunk(&mut self, chunk: usize, mut f: impl FnMut(&[f64]) -> Result<()>) -> Result<()> {
        let total: u64 = self.shape.iter().product();
        let size = self.dtype.size();
        let mut raw = vec![0u8; chunk * size];
        let mut vals = Vec::with_capacity(chunk);
        let mut done = 0u64;
        while done < total {
            let n = chunk.min((total - done) as usize);
            self.inner
                .read_exact(&mut raw[..n * size])
                .map_err(|e| Error::input(&self.path, format!("data ends after {done} of {total} elements: {e}")))?;
            vals.clear();
            let b = &raw[..n * size];
            match self.dtype {
                NpyType::Int(8) => {
                    vals.extend(b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64))
                }
                NpyType::Int(4) => {
                    vals.extend(b.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64))
                }
                NpyType::UInt(8) => {
                    vals.extend(b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()) as f64))
                }
                NpyType::UInt(4) => {
                    vals.extend(b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()) as f64))
                }
                NpyType::Float(8) => vals.extend(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()))),
                NpyType::Float(4) => {
                    vals.extend(b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64))
                }
                NpyType::Float(2) => {
                    vals.extend(b.chunks_exact(2).map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f64()))
                }
                other => {
                    return Err(Error::input(&self.path, format!("unsupported element type {other:?}")));
                }
            }
            f(&vals)?;
            done += n as u64;
        }
        Ok(())
    }
}

/// Parses the `.npy` header: magic, version, then a Python dict literal.
fn read_header(r: &mut impl Read, name: &str) -> Result<(NpyType, Vec<u64>)> {
    let bad = |msg: String| Error::input(name, msg);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|e| bad(format!("no .npy header: {e}")))?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy array (bad magic)".into()));
    }
    let hlen = if magic[6] == 1 {
        let mut b = [0u8; 2];
        r.read_exact(&mut b).map_err(|e| bad(e.to_string()))?;
        u16::from_le_bytes(b) as usize
    } else {
        let mut b = [0u8; 4];
        r.read_exact(&mut b).map_err(|e| bad(e.to_string()))?;
        u32::from_le_bytes(b) as usize
    };
    let mut h = vec![0u8; hlen];
    r.read_exact(&mut h).map_err(|e| bad(e.to_string()))?;
    let h = String::from_utf8_lossy(&h).into_owned();
    let field = |key: &str| -> Option<&str> {
        let i = h.find(&format!("'{key}':"))? + key.len() + 3;
        Some(h[i..].trim_start())
    };
    let descr = field("descr")
        .and_then(|s| s.strip_prefix('\''))
        .and_then(|s| s.split('\'').next())
        .ok_or_else(|| bad(format!("header without descr: {h}")))?;
    if field("fortran_order").is_some_and(|s| s.starts_with("True")) {
        return Err(bad("Fortran-ordered arrays are not supported".into()));
    }
    // An ASCII byte order, kind and size (`<i8`); anything else (a header byte flipped into a
    // multi-byte character, a one-character descr) is refused before it is sliced.
    if !descr.is_ascii() || descr.len() < 3 {
        return Err(bad(format!("unknown dtype {descr:?}")));
    }
    let (endian, kind) = descr.split_at(1);
    if endian == ">" {
        return Err(bad(format!("big-endian arrays are not supported ({descr})")));
    }
    let size: usize = kind[1..].parse().map_err(|_| bad(format!("unknown dtype {descr}")))?;
    let dtype = match kind.as_bytes()[0] {
        b'i' => NpyType::Int(size),
        b'u' => NpyType::UInt(size),
        b'f' => NpyType::Float(size),
        _ => return Err(bad(format!("unsupported dtype {descr}"))),
    };
    let shape_s = field("shape")
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad(format!("header without shape: {h}")))?;
    let shape = shape_s
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().map_err(|_| bad(format!("bad shape ({shape_s})"))))
        .collect::<Result<Vec<_>>>()?;
    Ok((dtype, shape))
}
