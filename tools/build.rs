//! Links libtorch for the programs that run it (rpath, libtorch_cuda kept): cargo gives link
//! arguments only to the package whose build script prints them, so tools needs its own call
//! (see build-support). The others load no libtorch at all, and must not get libtorch_cuda:
//! loading it costs ~390 MB of resident pages and 0.1 s (prepare on Cora: 131 MB -> 525 MB peak
//! RSS). tools/tests/link.rs checks both sides for every program.
fn main() {
    // Without the `train` feature no program links libtorch (nor needs it installed).
    if std::env::var_os("CARGO_FEATURE_TRAIN").is_some() {
        mille_build::link_libtorch_bins(&TORCH_PROGRAMS);
    }
}

/// The programs that run libtorch (the trainer's models or tensors).
const TORCH_PROGRAMS: [&str; 4] = ["train", "evaluate", "bench", "report"];
