#pragma once
// Project detection: what kind of project lives at a path, and which modules it provides.
#include <filesystem>
#include <stdexcept>
#include <string>

#include "projects/project.hpp"

namespace prestage::projects {
namespace fs = std::filesystem;

// Bad project input; the message names the path and the problem.
class ProjectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Detects the project at `root` (a directory, or a single name.rs / name.cpp file) and fills
// every ProjectInfo field. Throws ProjectError for a missing path, an unsupported layout or a
// broken Cargo.toml / pyproject.toml (with toml++'s line and column).
ProjectInfo detect_project(const fs::path& root);

// Stable id from the canonical root: "<readable stem>-<first 12 hex of sha256(root)>".
std::string project_id_for(const fs::path& canonical_root);

// True for a valid Python identifier made of ASCII letters, digits and underscores.
bool is_python_identifier(std::string_view name);
}  // namespace prestage::projects
