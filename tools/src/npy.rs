//! NumPy `.npy` files (format 1.0), for arrays a Python test or notebook reads with `np.load`.

use std::io::Write;
use std::path::Path;

/// An element type `.npy` can describe.
pub trait NpyElement: bytemuck::Pod {
    /// NumPy's type string, e.g. `<f4`.
    const DESCR: &'static str;
}

macro_rules! npy_elements {
    ($($t:ty => $d:literal),* $(,)?) => { $(impl NpyElement for $t { const DESCR: &'static str = $d; })* };
}
npy_elements!(f32 => "<f4", u32 => "<u4", u64 => "<u8", i32 => "<i4", i64 => "<i8", i8 => "|i1", u8 => "|u1");

/// Writes `data` with shape `shape` (row-major) to `path`, as `descr` when given (e.g. `|b1` for
/// bytes that are bools).
pub fn write<T: NpyElement>(path: &Path, data: &[T], shape: &[usize], descr: Option<&str>) -> anyhow::Result<()> {
    anyhow::ensure!(
        shape.iter().product::<usize>() == data.len(),
        "{}: shape {shape:?} for {} values",
        path.display(),
        data.len()
    );
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let dims = if dims.len() == 1 { format!("{},", dims[0]) } else { dims.join(", ") };
    let mut header =
        format!("{{'descr': '{}', 'fortran_order': False, 'shape': ({dims}), }}", descr.unwrap_or(T::DESCR));
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64 and
    // ended by a newline.
    let total = (10 + header.len() + 1).div_ceil(64) * 64;
    header.push_str(&" ".repeat(total - 10 - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(total + std::mem::size_of_val(data));
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(bytemuck::cast_slice(data));
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&out))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
