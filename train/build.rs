//! Links libtorch for the trainer's tests and examples (rpath, libtorch_cuda kept: see
//! build-support) and compiles the C++ glue in `csrc/glue.cpp`.
fn main() {
    mille_build::link_libtorch();
    mille_build::compile_glue("mille_glue", std::path::Path::new("csrc/glue.cpp"));
}
