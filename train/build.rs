//! Link settings for everything that runs libtorch: its lib folder goes into the rpath (no
//! LD_LIBRARY_PATH needed), and libtorch_cuda is linked even though no symbol of it is named, so
//! that CUDA devices are found on GPU machines (the linker's --as-needed would drop it).
//! tools/build.rs does the same for the binaries.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(dir) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&dir).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        if lib.join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,{},--as-needed", lib.join("libtorch_cuda.so").display());
        }
    }
}
