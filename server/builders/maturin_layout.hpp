#pragma once
// What a maturin project's generation holds: what `maturin develop` installs (docs/backends/maturin.md).
// Walks the package dirs, the data dir and the include globs: blocking file-system reads, run where
// the pipeline computes layouts (today the io thread, as for every backend's layout).
#include <filesystem>
#include <optional>
#include <string>

#include "builders/maturin_project.hpp"
#include "stage/generation_store.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

// `extension`: the built cdylib, or nullopt for a restage (the caller adds the last generation's).
// Throws MaturinConfigError for a data dir entry maturin refuses.
stage::PackageLayout maturin_layout(const MaturinProject& project, const std::string& ext_suffix,
                                    const std::optional<fs::path>& extension);

// maturin's generated __init__.py of a pure-Rust project.
std::string maturin_reexport_init(const std::string& extension_name);
}  // namespace prestage::builders
