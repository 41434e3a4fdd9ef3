//! Every program that loads libtorch also loads libtorch_cuda, so that a GPU machine finds its
//! GPUs. The linker's default `--as-needed` drops libtorch_cuda (no symbol of it is named), and
//! cargo passes a package's link arguments to its own targets only, so a program can silently
//! lose CUDA; this test catches that on a machine without a GPU.

use std::path::{Path, PathBuf};
use std::process::Command;

fn libtorch_lib() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.to_path_buf();
    let lib = root.join(".libtorch/lib");
    lib.exists().then_some(lib)
}

/// The shared libraries a binary names in its dynamic section (`DT_NEEDED`).
fn needed(bin: &Path) -> Vec<String> {
    let out = Command::new("readelf").arg("-d").arg(bin).output().expect("readelf (binutils) runs");
    assert!(out.status.success(), "readelf -d {}: {}", bin.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_string()))
        .collect()
}

fn programs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_BIN_EXE_train")).parent().expect("target dir").to_path_buf();
    let names = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin")).expect("tools/src/bin");
    let mut bins: Vec<PathBuf> = names
        .filter_map(|e| {
            let name = e.ok()?.path().file_stem()?.to_string_lossy().into_owned();
            Some(dir.join(name))
        })
        .collect();
    bins.sort();
    bins
}

#[test]
fn every_program_that_loads_libtorch_loads_libtorch_cuda() {
    let Some(lib) = libtorch_lib() else {
        eprintln!("skipped: no .libtorch in the repo (run tools/test once)");
        return;
    };
    if !lib.join("libtorch_cuda.so").exists() {
        eprintln!("skipped: the installed libtorch is a CPU-only build (no libtorch_cuda.so)");
        return;
    }
    let mut torch_programs = Vec::new();
    for bin in programs() {
        assert!(bin.exists(), "{} was not built (tools/test builds every binary first)", bin.display());
        let libs = needed(&bin);
        if libs.iter().any(|l| l == "libtorch_cpu.so") {
            assert!(
                libs.iter().any(|l| l == "libtorch_cuda.so"),
                "{} loads libtorch_cpu.so but not libtorch_cuda.so: CUDA would be invisible to it on a GPU \
                 machine (add it to TORCH_PROGRAMS in tools/build.rs); it needs {libs:?}",
                bin.display()
            );
            torch_programs.push(bin.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    for expected in ["train", "evaluate", "bench"] {
        assert!(torch_programs.iter().any(|p| p == expected), "{expected} should run libtorch: {torch_programs:?}");
    }
    // The data programs stay lean: loading libtorch_cuda alone costs ~390 MB of resident pages.
    for lean in ["prepare", "inspect", "synth", "store", "partition"] {
        assert!(
            !torch_programs.iter().any(|p| p == lean),
            "{lean} now loads libtorch: something it calls pulls in the trainer (keep shared helpers in \
             mille-pipeline); programs loading it: {torch_programs:?}"
        );
    }
}

#[test]
fn this_test_binary_of_the_trainer_links_libtorch_cuda_too() {
    // The trainer's own tests run libtorch from their test binaries: train/build.rs links them.
    let Some(lib) = libtorch_lib() else { return };
    if !lib.join("libtorch_cuda.so").exists() {
        return;
    }
    let deps = Path::new(env!("CARGO_BIN_EXE_train")).parent().unwrap().join("deps");
    let tests: Vec<PathBuf> = std::fs::read_dir(&deps)
        .expect("target/release/deps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            (name.starts_with("mille_train-") || name.starts_with("conv-")) && p.extension().is_none()
        })
        .collect();
    for t in &tests {
        let libs = needed(t);
        if libs.iter().any(|l| l == "libtorch_cpu.so") {
            assert!(libs.iter().any(|l| l == "libtorch_cuda.so"), "{} lacks libtorch_cuda.so: {libs:?}", t.display());
        }
    }
}

/// `cargo build -p mille-tools --no-default-features` builds the data programs (prepare,
/// inspect, synth, store, partition) without compiling the trainer or libtorch's bindings: a
/// user who only prepares and partitions needs neither.
#[test]
fn the_data_programs_build_without_the_trainer() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--offline", "-p", "mille-tools", "--no-default-features", "-e", "normal", "--prefix", "none"])
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(crates.contains(&"mille-loader"), "{tree}");
    for heavy in ["mille-train", "tch", "torch-sys"] {
        assert!(!crates.contains(&heavy), "{heavy} is compiled without the train feature:\n{tree}");
    }
}
