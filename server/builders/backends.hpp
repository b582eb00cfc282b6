#pragma once
// The daemon's build backends, in detection order: single files first, then a maturin/cargo
// project, then a meson-python one, then a CMake (scikit-build-core) one, then a setuptools one
// (after CMake: a setup.py driving CMake stays with the cmake backend).
#include <vector>

#include "builders/backend.hpp"

namespace prestage::builders {

const BuildBackend& cpp_file_backend();
const BuildBackend& rust_file_backend();
const BuildBackend& cargo_backend();
const BuildBackend& meson_backend();
const BuildBackend& cmake_backend();
const BuildBackend& setuptools_backend();

// Every backend, in the order detection asks them.
const std::vector<const BuildBackend*>& default_backends();

// The backend that builds a project of `kind` (detected earlier, or read from the registry).
const BuildBackend& backend_for(ProjectKind kind);
}  // namespace prestage::builders
