//! Devices: choosing one honestly (a clear error for a GPU that is not there), naming it in run
//! records, the caching allocator's GPU memory figures, and the determinism switch. The calls tch
//! does not bind go through the C++ glue in `csrc/glue.cpp`.

use std::ffi::{CStr, c_char, c_int, c_void};
use tch::Device;

unsafe extern "C" {
    fn mille_last_error() -> *const c_char;
    fn mille_cuda_compiled() -> c_int;
    fn mille_set_deterministic(on: c_int) -> c_int;
    fn mille_cuda_device_name(device: c_int, buf: *mut c_char, len: usize) -> c_int;
    fn mille_cuda_memory(device: c_int, allocated: *mut i64, peak: *mut i64, reserved: *mut i64) -> c_int;
    fn mille_cuda_reset_peak(device: c_int) -> c_int;
    fn mille_cuda_synchronize(device: c_int) -> c_int;
    pub(crate) fn mille_stream_new(device: c_int, out: *mut *mut c_void) -> c_int;
    pub(crate) fn mille_stream_free(stream: *mut c_void);
    pub(crate) fn mille_stream_upload(stream: *mut c_void, src: *const c_void, out: *mut *mut c_void) -> c_int;
    pub(crate) fn mille_stream_event(stream: *mut c_void, out: *mut *mut c_void) -> c_int;
    pub(crate) fn mille_event_wait(event: *mut c_void, device: c_int) -> c_int;
    pub(crate) fn mille_event_free(event: *mut c_void);
    pub(crate) fn mille_event_query(event: *mut c_void, done: *mut c_int) -> c_int;
    pub(crate) fn mille_stream_handle(stream: *mut c_void, out: *mut *mut c_void) -> c_int;
    pub(crate) fn mille_stream_wait_current(stream: *mut c_void) -> c_int;
    pub(crate) fn mille_stream_record(stream: *mut c_void, t: *const c_void) -> c_int;
    fn mille_cuda_set_device(device: c_int) -> c_int;
}

/// Makes `device` CUDA's current device, the one NCCL binds its communicator to (no-op on the
/// CPU).
pub fn set_current(device: Device) -> anyhow::Result<()> {
    match device {
        // SAFETY: no pointers; the glue checks the index.
        Device::Cuda(i) => check(unsafe { mille_cuda_set_device(i as c_int) }, "setting the current GPU"),
        _ => Ok(()),
    }
}

/// The GPU index of `device` for NCCL, which sums CUDA tensors only; anything else is refused
/// with the way out.
pub fn nccl_gpu(device: Device) -> anyhow::Result<usize> {
    match device {
        Device::Cuda(i) => Ok(i),
        d => anyhow::bail!(
            "--dist-backend nccl sums CUDA tensors, but this run's device is {} (use --device cuda, \
             or the default MPI backend on the CPU)",
            describe(d)
        ),
    }
}

/// The device of rank `local` among the ranks on this machine: `spec` `auto` or `cuda` (no
/// index) on a machine with `gpus` GPUs gives rank `local` the GPU `cuda:{local % gpus}`, one GPU
/// a rank as NCCL needs; an explicit `cuda:N`, or the CPU, stays as resolved.
pub fn for_local_rank(resolved: Device, spec: &str, local: Option<usize>, gpus: usize) -> Device {
    match (resolved, spec, local) {
        (Device::Cuda(_), "auto" | "cuda", Some(l)) if gpus > 0 => Device::Cuda(l % gpus),
        _ => resolved,
    }
}

/// Turns a glue return code into a `Result` carrying the C++ exception's message.
pub(crate) fn check(rc: c_int, what: &str) -> anyhow::Result<()> {
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: the glue returns a pointer to its thread-local, NUL-terminated message, valid
    // until the next failing call on this thread; it is copied out at once.
    let msg = unsafe { CStr::from_ptr(mille_last_error()) }.to_string_lossy().into_owned();
    anyhow::bail!("{what}: {msg}")
}

/// Whether the glue was compiled with CUDA support (a CUDA build of libtorch, its headers
/// beside it).
pub fn cuda_compiled() -> bool {
    // SAFETY: no arguments, no state.
    unsafe { mille_cuda_compiled() != 0 }
}

/// What libtorch sees, for messages: `CUDA available, 2 device(s)` or why not.
pub fn cuda_status() -> String {
    if tch::Cuda::is_available() {
        format!("CUDA available, {} device(s)", tch::Cuda::device_count())
    } else if !cuda_compiled() {
        "this libtorch has no CUDA support".into()
    } else {
        "CUDA not available (no GPU or driver found), 0 devices".into()
    }
}

/// Parses `auto`, `cpu`, `cuda` or `cuda:N` and checks the device exists: `auto` is the first
/// GPU libtorch sees, else the CPU; a GPU that is not there is an error naming what was found.
pub fn resolve(spec: &str) -> anyhow::Result<Device> {
    // Every program that runs libtorch picks its device here first.
    crate::warnings::route_to_tracing();
    let device = match spec {
        "auto" => return Ok(Device::cuda_if_available()),
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        _ => match spec.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
            Some(i) => Device::Cuda(i),
            None => anyhow::bail!("unknown device {spec:?}: expected auto, cpu, cuda or cuda:N"),
        },
    };
    if let Device::Cuda(i) = device {
        let count = if tch::Cuda::is_available() { tch::Cuda::device_count() } else { 0 };
        anyhow::ensure!(
            (i as i64) < count,
            "device cuda:{i} requested, but {} (CUDA is needed for --device cuda:N; use --device cpu or auto)",
            cuda_status()
        );
    }
    Ok(device)
}

/// The device as runs record it: `cpu`, or `cuda:N` with the GPU's name (`cuda:0 (NVIDIA H200)`).
pub fn describe(device: Device) -> String {
    match device {
        Device::Cuda(i) => match gpu_name(i) {
            Ok(name) => format!("cuda:{i} ({name})"),
            Err(_) => format!("cuda:{i}"),
        },
        Device::Cpu => "cpu".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The GPU's name as the driver reports it.
pub fn gpu_name(index: usize) -> anyhow::Result<String> {
    let mut buf = [0 as c_char; 256];
    // SAFETY: the glue writes at most `buf.len()` bytes, NUL-terminated.
    check(unsafe { mille_cuda_device_name(index as c_int, buf.as_mut_ptr(), buf.len()) }, "GPU name")?;
    // SAFETY: NUL-terminated by the glue (or by the zeroed buffer).
    Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
}

/// The caching allocator's figures for one GPU, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GpuMemory {
    /// Allocated now.
    pub allocated: u64,
    /// Most allocated at once since the last [`reset_gpu_peak`].
    pub peak_allocated: u64,
    /// Reserved from the driver (allocated plus cached).
    pub reserved: u64,
}

/// The allocator's figures for `device`, or `None` on the CPU.
pub fn gpu_memory(device: Device) -> Option<GpuMemory> {
    let Device::Cuda(i) = device else { return None };
    let (mut a, mut p, mut r) = (0i64, 0i64, 0i64);
    // SAFETY: three valid out-pointers.
    check(unsafe { mille_cuda_memory(i as c_int, &mut a, &mut p, &mut r) }, "GPU memory statistics").ok()?;
    Some(GpuMemory { allocated: a as u64, peak_allocated: p as u64, reserved: r as u64 })
}

/// Starts a new peak for [`gpu_memory`] (no-op on the CPU).
pub fn reset_gpu_peak(device: Device) {
    if let Device::Cuda(i) = device {
        // SAFETY: plain call; a failure only leaves the old peak.
        let _ = check(unsafe { mille_cuda_reset_peak(i as c_int) }, "reset GPU peak");
    }
}

/// Waits for everything queued on `device` (no-op on the CPU): timings of GPU work need it.
pub fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        // SAFETY: plain call.
        let _ = check(unsafe { mille_cuda_synchronize(i as c_int) }, "synchronize");
    }
}

/// Makes libtorch pick deterministic kernels. On CUDA, `index_add` and the backward of
/// `index_select` (the gathers of GEN and GAT messages) otherwise accumulate with atomics, so two
/// runs differ in the last bits; cuBLAS needs a fixed workspace for the same reason (the
/// `CUBLAS_WORKSPACE_CONFIG` variable, set here when unset, before the first cuBLAS call). The
/// aggregations themselves reduce over CSR rows (`graph::Adjacency`), deterministic anywhere.
pub fn set_deterministic(device: Device) -> anyhow::Result<()> {
    if matches!(device, Device::Cuda(_)) && std::env::var_os("CUBLAS_WORKSPACE_CONFIG").is_none() {
        // SAFETY: called while the process sets up, before training starts any other thread
        // that reads the environment (loader workers are created later).
        unsafe { std::env::set_var("CUBLAS_WORKSPACE_CONFIG", ":4096:8") };
    }
    // SAFETY: plain call.
    check(unsafe { mille_set_deterministic(1) }, "deterministic algorithms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_resolve_or_say_what_is_missing() {
        assert_eq!(resolve("cpu").unwrap(), Device::Cpu);
        assert!(resolve("tpu").unwrap_err().to_string().contains("expected auto, cpu, cuda or cuda:N"));
        let auto = resolve("auto").unwrap();
        if tch::Cuda::is_available() {
            assert!(matches!(auto, Device::Cuda(0)));
        } else {
            assert_eq!(auto, Device::Cpu);
            let e = resolve("cuda:0").unwrap_err().to_string();
            assert!(e.contains("cuda:0") && e.contains("CUDA"), "{e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        let far = resolve("cuda:999").unwrap_err().to_string();
        assert!(far.starts_with("device cuda:999 requested"), "{far}");
    }

    #[test]
    fn the_cpu_is_described_and_has_no_gpu_figures() {
        assert_eq!(describe(Device::Cpu), "cpu");
        assert_eq!(gpu_memory(Device::Cpu), None);
        reset_gpu_peak(Device::Cpu);
        synchronize(Device::Cpu);
    }

    #[test]
    fn glue_reports_cuda_errors_as_messages() {
        if tch::Cuda::is_available() {
            eprintln!("skipped: a GPU is present, so the no-GPU error path cannot be exercised");
            return;
        }
        assert!(gpu_name(0).is_err());
        assert!(gpu_memory(Device::Cuda(0)).is_none());
    }

    #[test]
    fn ranks_on_a_machine_take_one_gpu_each_unless_one_is_named() {
        let c = Device::Cuda;
        assert_eq!(for_local_rank(c(0), "auto", Some(1), 4), c(1));
        assert_eq!(for_local_rank(c(0), "cuda", Some(5), 4), c(1));
        // An explicit index is the user's choice, kept for every rank.
        assert_eq!(for_local_rank(c(2), "cuda:2", Some(1), 4), c(2));
        // No launcher told the rank's place on the machine: as resolved.
        assert_eq!(for_local_rank(c(0), "auto", None, 4), c(0));
        assert_eq!(for_local_rank(Device::Cpu, "auto", Some(1), 0), Device::Cpu);
        assert_eq!(for_local_rank(Device::Cpu, "cpu", Some(1), 4), Device::Cpu);
    }
}
