//! Puts libtorch's lib folder in the binaries' rpath, so that a binary that links the trainer
//! runs without LD_LIBRARY_PATH. (train/build.rs also links libtorch_cuda for its tests; the
//! trainer's binaries will need the same once they exist.)
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(dir) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&dir).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
