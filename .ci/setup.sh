#!/usr/bin/env bash
# Shared set-up for ./demo.sh and ./test.sh: installs what is missing, then builds.
# Idempotent: a warm machine spends a second here plus an incremental ninja run.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

apt_packages=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates clang libclang-rt-14-dev
  libboost1.81-dev nlohmann-json3-dev libtomlplusplus-dev catch2 pybind11-dev libspdlog-dev libssl-dev
  python3 python3-dev python3-pytest python3-jsonschema python3-ipykernel python3-nbclient python3-venv python3-pip
  python3-setuptools python3-pybind11 cython3 python3-setuptools-rust
  cargo rustc librust-pyo3-dev
  meson python3-mesonpy patchelf
  nodejs npm libkrb5-dev chromium
)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# cargo/rustc/node may come from elsewhere (rustup, a newer node); only install them when absent.
command -v cargo >/dev/null && missing=("${missing[@]/cargo}") && missing=("${missing[@]/rustc}")
command -v node >/dev/null && command -v npm >/dev/null && missing=("${missing[@]/nodejs}") && missing=("${missing[@]/npm}")
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build_dir=${PRESTAGE_BUILD_DIR:-$repo/build}
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S "$repo" -B "$build_dir" -G Ninja >/dev/null
fi
cmake --build "$build_dir" -j"$(nproc)"
