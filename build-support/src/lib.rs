//! Build-script helpers for every mille package whose binaries or tests run libtorch.
//!
//! Cargo applies `cargo:rustc-link-arg` only to the targets of the package whose build script
//! printed it, never to its dependents: a binary in `tools/` that runs the trainer gets no link
//! argument from `train/build.rs`. So each such package calls [`link_libtorch`] from its own
//! `build.rs`, and `tools/tests/link.rs` checks the result in every built program.

use std::path::{Path, PathBuf};

/// libtorch's `lib` folder, from `$LIBTORCH` (set by `.cargo/config.toml` to the repo's
/// `.libtorch` link), canonicalised so that the rpath survives the link being replaced.
pub fn libtorch_lib() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let dir = std::env::var("LIBTORCH").ok()?;
    let lib = Path::new(&dir).join("lib");
    Some(lib.canonicalize().unwrap_or(lib))
}

/// Link settings for the calling package's binaries, tests and examples:
/// - libtorch's lib folder goes into the rpath, so nothing needs `LD_LIBRARY_PATH`;
/// - `libtorch_cuda.so` (when the installed libtorch ships it) is linked with
///   `--no-as-needed`: no Rust symbol names it, so the linker's default `--as-needed` would drop
///   it, and then libtorch registers no CUDA backend and `Cuda::is_available()` is false even on
///   a GPU machine.
pub fn link_libtorch() {
    link(&["rustc-link-arg".to_string()]);
}

/// [`link_libtorch`] for the named binaries of the calling package only: its other binaries
/// load no libtorch and should not be made to load libtorch_cuda.
pub fn link_libtorch_bins(bins: &[&str]) {
    link(&bins.iter().map(|b| format!("rustc-link-arg-bin={b}")).collect::<Vec<_>>());
}

fn link(keys: &[String]) {
    let Some(lib) = libtorch_lib() else { return };
    // The rpath costs nothing where no libtorch library ends up linked: every target gets it.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    let cuda = lib.join("libtorch_cuda.so");
    if cuda.exists() {
        for key in keys {
            println!("cargo:{key}=-Wl,--no-as-needed,{},--as-needed", cuda.display());
        }
    }
}

/// Include folders for the CUDA runtime headers that ship beside libtorch in the PyPI wheel,
/// when this libtorch is a CUDA build: `site-packages/nvidia/cu*/include` has
/// `cuda_runtime_api.h`, but the wheel leaves out the compiler's `crt/` folder that it
/// includes; triton (a dependency of the torch wheel) ships those few host-macro headers, so its
/// folder is searched after (`-idirafter`) for what the runtime's lacks. `None` when either is
/// missing: the glue is then built without CUDA.
pub fn cuda_includes(libtorch_lib: &Path) -> Option<(PathBuf, Option<PathBuf>)> {
    if !libtorch_lib.join("libtorch_cuda.so").exists() {
        return None;
    }
    let site = libtorch_lib.parent()?.parent()?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(site.join("nvidia"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("include")))
        .filter(|inc| inc.join("cuda_runtime_api.h").exists())
        .collect();
    found.sort();
    let runtime = found.pop()?;
    if runtime.join("crt/host_defines.h").exists() {
        return Some((runtime, None));
    }
    let crt = site.join("triton/backends/nvidia/include");
    crt.join("crt/host_defines.h").exists().then_some((runtime, Some(crt)))
}

/// Compiles C++ glue against libtorch's headers (as torch-sys compiles its own), with
/// `MILLE_CUDA` defined when the CUDA headers are there too, and links it as a static library
/// named `name`. Returns whether the CUDA part was compiled.
pub fn compile_glue(name: &str, source: &Path) -> bool {
    println!("cargo:rerun-if-changed={}", source.display());
    let Some(lib) = libtorch_lib() else {
        panic!("LIBTORCH is not set: run tools/test or tools/demo once to install libtorch");
    };
    let root = lib.parent().expect("libtorch/lib has a parent").to_path_buf();
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file(source)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", std::env::var("LIBTORCH_CXX11_ABI").unwrap_or("1".into())))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .warnings(false);
    let cuda = cuda_includes(&lib);
    match &cuda {
        Some((runtime, crt)) => {
            build.include(runtime).define("MILLE_CUDA", None);
            if let Some(crt) = crt {
                build.flag(format!("-idirafter{}", crt.display()));
            }
        }
        None if lib.join("libtorch_cuda.so").exists() => {
            println!(
                "cargo:warning=CUDA headers not found beside libtorch: GPU memory figures and side-stream uploads are disabled in this build"
            );
        }
        None => {}
    }
    build.compile(name);
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    if cuda.is_some() {
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
    cuda.is_some()
}
