//! Links libtorch for the programs that run it (rpath, libtorch_cuda kept): cargo gives link
//! arguments only to the package whose build script prints them, so tools needs its own call
//! (see build-support). tools/tests/link.rs checks every program that loads libtorch, so a
//! program missing from this list fails the tests.
fn main() {
    mille_build::link_libtorch_bins(&["train", "evaluate", "bench", "partition", "report"]);
}
