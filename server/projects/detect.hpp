#pragma once
// Project detection: the first build backend that claims a path decides its kind and modules.
#include <filesystem>
#include <string>

#include "builders/backends.hpp"
#include "projects/project.hpp"

namespace prestage::projects {
namespace fs = std::filesystem;
using prestage::ProjectError;
using prestage::is_python_identifier;

// Detects the project at `root` (a directory, or a single name.rs / name.cpp file) by asking each
// backend in order (builders::default_backends()). Throws ProjectError for a missing path, a path no
// backend claims, or a broken Cargo.toml / pyproject.toml (with toml++'s line and column). Reads
// files: call it off the io thread where the path may be slow.
ProjectInfo detect_project(const fs::path& root,
                           const std::vector<const builders::BuildBackend*>& backends = builders::default_backends());

// Stable id from the canonical root: "<readable stem>-<first 12 hex of sha256(root)>".
std::string project_id_for(const fs::path& canonical_root);
}  // namespace prestage::projects
