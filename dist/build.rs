//! Records where the torch wheel's NCCL is (`nvidia/nccl/lib/libnccl.so.2` beside libtorch), the
//! last place the NCCL backend looks for it at run time.
fn main() {
    if let Some(lib) = mille_build::libtorch_lib() {
        // torch/lib -> site-packages/nvidia/nccl/lib
        let nccl = lib.join("../../nvidia/nccl/lib/libnccl.so.2");
        if let Ok(path) = nccl.canonicalize() {
            println!("cargo:rustc-env=MILLE_NCCL_BESIDE_TORCH={}", path.display());
        }
    }
}
