//! NCCL for gradients that live on a GPU: the library the torch wheel ships (`nvidia/nccl`),
//! opened at run time so that a build or a machine without it still works, and one communicator
//! per job whose unique id rank 0 draws and MPI broadcasts (Horovod's bootstrap). The caller
//! chooses each rank's GPU (CUDA's current device) before [`crate::World::start_nccl`], and
//! hands over device pointers and the CUDA stream to queue each reduction on.

use libloading::{Library, Symbol};
use std::ffi::{CStr, c_char, c_int, c_void};

/// `ncclUniqueId`: 128 opaque bytes.
pub(crate) const UNIQUE_ID_BYTES: usize = 128;
#[repr(C)]
#[derive(Clone, Copy)]
struct UniqueId([u8; UNIQUE_ID_BYTES]);

type Comm = *mut c_void;
/// `ncclResult_t`: 0 is success.
type Res = c_int;
/// `ncclFloat32` and `ncclSum` in nccl.h.
const NCCL_FLOAT32: c_int = 7;
const NCCL_SUM: c_int = 0;
/// `ncclInProgress`: an asynchronous operation still running (not an error).
const NCCL_IN_PROGRESS: Res = 7;

/// Where libnccl is looked for, in order: `MILLE_NCCL_LIBRARY`, the loader's own search (which
/// finds the copy libtorch_cuda already loaded, or a system NCCL), and the torch wheel's copy
/// found when mille was built.
fn candidates() -> Vec<String> {
    let mut c = Vec::new();
    if let Ok(p) = std::env::var("MILLE_NCCL_LIBRARY") {
        c.push(p);
    }
    c.push("libnccl.so.2".into());
    if let Some(p) = option_env!("MILLE_NCCL_BESIDE_TORCH") {
        c.push(p.into());
    }
    c
}

/// The NCCL library, opened.
pub struct NcclLib {
    lib: Library,
    /// The file it came from, for messages.
    path: String,
}

impl NcclLib {
    /// Opens libnccl (see [`candidates`]); the error lists where it looked.
    pub fn open() -> anyhow::Result<NcclLib> {
        let mut tried = Vec::new();
        for path in candidates() {
            // SAFETY: libnccl's initialisers only set up its own state.
            match unsafe { Library::new(&path) } {
                Ok(lib) => return Ok(NcclLib { lib, path }),
                Err(e) => tried.push(format!("{path} ({e})")),
            }
        }
        anyhow::bail!(
            "NCCL not found: tried {}; it ships with the torch wheel (nvidia/nccl/lib) or set MILLE_NCCL_LIBRARY",
            tried.join(", ")
        )
    }

    fn sym<T>(&self, name: &[u8]) -> anyhow::Result<Symbol<'_, T>> {
        // SAFETY: every name is looked up with the signature nccl.h gives it.
        unsafe { self.lib.get(name) }.map_err(|e| anyhow::anyhow!("{}: {e}", self.path))
    }

    /// NCCL's version, `2.29.7`.
    pub fn version(&self) -> anyhow::Result<String> {
        let f = self.sym::<unsafe extern "C" fn(*mut c_int) -> Res>(b"ncclGetVersion\0")?;
        let mut v = 0;
        // SAFETY: writes one int.
        self.check(unsafe { f(&mut v) }, None, "ncclGetVersion")?;
        // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
        Ok(format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100))
    }

    /// The file this was opened from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A new communicator's id (rank 0 draws it; it opens a bootstrap socket, no GPU needed).
    pub(crate) fn unique_id(&self) -> anyhow::Result<[u8; UNIQUE_ID_BYTES]> {
        let f = self.sym::<unsafe extern "C" fn(*mut UniqueId) -> Res>(b"ncclGetUniqueId\0")?;
        let mut id = UniqueId([0; UNIQUE_ID_BYTES]);
        // SAFETY: writes the 128-byte id.
        self.check(unsafe { f(&mut id) }, None, "ncclGetUniqueId")?;
        Ok(id.0)
    }

    /// Joins the communicator `id` of `ranks` ranks as `rank`, on CUDA's current device; blocks
    /// until every rank has joined.
    pub(crate) fn join(self, id: [u8; UNIQUE_ID_BYTES], ranks: usize, rank: usize) -> anyhow::Result<Nccl> {
        let comm = {
            let f =
                self.sym::<unsafe extern "C" fn(*mut Comm, c_int, UniqueId, c_int) -> Res>(b"ncclCommInitRank\0")?;
            let mut comm: Comm = std::ptr::null_mut();
            // SAFETY: writes the communicator handle; the id is passed by value as nccl.h says.
            let rc = unsafe { f(&mut comm, ranks as c_int, UniqueId(id), rank as c_int) };
            self.check(rc, None, "ncclCommInitRank")?;
            comm
        };
        Ok(Nccl { lib: self, comm })
    }

    /// NCCL's result `rc` as an error carrying its description and the last error NCCL logged.
    fn check(&self, rc: Res, comm: Option<Comm>, what: &str) -> anyhow::Result<()> {
        if rc == 0 {
            return Ok(());
        }
        let text = |name: &[u8], arg: *mut c_void, by_code: bool| -> String {
            let s = if by_code {
                // SAFETY: `ncclGetErrorString` takes any result code.
                self.sym::<unsafe extern "C" fn(Res) -> *const c_char>(name).ok().map(|f| unsafe { f(rc) })
            } else {
                // SAFETY: `ncclGetLastError` takes a live communicator or null.
                self.sym::<unsafe extern "C" fn(Comm) -> *const c_char>(name).ok().map(|f| unsafe { f(arg) })
            };
            // SAFETY: NCCL returns NUL-terminated static or per-communicator strings.
            s.filter(|p| !p.is_null())
                .map(|p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let desc = text(b"ncclGetErrorString\0", std::ptr::null_mut(), true);
        let last = text(b"ncclGetLastError\0", comm.unwrap_or(std::ptr::null_mut()), false);
        let last = if last.is_empty() { String::new() } else { format!(": {last}") };
        anyhow::bail!("{what}: {desc} (NCCL error {rc}){last}")
    }
}

/// This rank's NCCL communicator.
pub struct Nccl {
    lib: NcclLib,
    comm: Comm,
}

// SAFETY: a communicator may be used from any one thread at a time; `Nccl` is only reached
// through `&World`, whose collectives the trainer calls from its own thread.
unsafe impl Send for Nccl {}
// SAFETY: as for Send: shared references reach it from the trainer's thread only.
unsafe impl Sync for Nccl {}

impl Nccl {
    /// Queues the sum over the ranks of `len` f32 at device pointer `buf`, in place, on CUDA
    /// stream `stream` (null: the legacy default stream); returns once it is queued.
    ///
    /// # Safety
    /// `buf` must point to `len` f32 on this rank's GPU that stay allocated, and that nothing
    /// else writes, until the reduction has run on `stream`; every rank must queue the same
    /// reductions in the same order.
    pub unsafe fn all_reduce_sum_f32(&self, buf: *mut f32, len: usize, stream: *mut c_void) -> anyhow::Result<()> {
        type F = unsafe extern "C" fn(*const c_void, *mut c_void, usize, c_int, c_int, Comm, *mut c_void) -> Res;
        let f = self.lib.sym::<F>(b"ncclAllReduce\0")?;
        // SAFETY: the caller's contract; in place (send = receive) is allowed by NCCL.
        let rc = unsafe { f(buf.cast(), buf.cast(), len, NCCL_FLOAT32, NCCL_SUM, self.comm, stream) };
        self.lib.check(rc, Some(self.comm), "ncclAllReduce")
    }

    /// An error a reduction met after it was queued (a peer lost, a network failure), if any.
    pub fn async_error(&self) -> anyhow::Result<()> {
        let f = self.lib.sym::<unsafe extern "C" fn(Comm, *mut Res) -> Res>(b"ncclCommGetAsyncError\0")?;
        let mut err: Res = 0;
        // SAFETY: a live communicator; writes one result.
        self.lib.check(unsafe { f(self.comm, &mut err) }, Some(self.comm), "ncclCommGetAsyncError")?;
        if err == NCCL_IN_PROGRESS {
            return Ok(());
        }
        self.lib.check(err, Some(self.comm), "a queued reduction")
    }

    /// NCCL's version and where it was loaded from, for logs.
    pub fn describe(&self) -> String {
        format!("NCCL {} ({})", self.lib.version().unwrap_or_else(|_| "?".into()), self.lib.path())
    }
}

impl Drop for Nccl {
    fn drop(&mut self) {
        // Abort, not destroy: destroy waits for queued work, which never ends if a peer is gone.
        if let Ok(f) = self.lib.sym::<unsafe extern "C" fn(Comm) -> Res>(b"ncclCommAbort\0") {
            // SAFETY: a live communicator, freed once.
            unsafe { f(self.comm) };
        }
    }
}
