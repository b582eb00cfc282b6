#pragma once
// Plain description of an open project: what detection found. Header-only so that
// builders/ and stage/ can use it without linking against projects/.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace prestage {
namespace fs = std::filesystem;

enum class ProjectKind { cargo, cmake, rust_file, cpp_file, setuptools, meson };

inline std::string_view to_string(ProjectKind k) {
  switch (k) {
    case ProjectKind::cargo: return "cargo";
    case ProjectKind::cmake: return "cmake";
    case ProjectKind::rust_file: return "rust-file";
    case ProjectKind::cpp_file: return "cpp-file";
    case ProjectKind::setuptools: return "setuptools";
    case ProjectKind::meson: return "meson";
  }
  return "unknown";
}

inline std::optional<ProjectKind> project_kind_from_string(std::string_view s) {
  if (s == "cargo") return ProjectKind::cargo;
  if (s == "cmake") return ProjectKind::cmake;
  if (s == "rust-file") return ProjectKind::rust_file;
  if (s == "cpp-file") return ProjectKind::cpp_file;
  if (s == "setuptools") return ProjectKind::setuptools;
  if (s == "meson") return ProjectKind::meson;
  return std::nullopt;
}

// Kinds whose importable names are known only once built (what cmake --install, meson's install
// plan or setuptools put): they are read from each new generation.
inline bool names_come_from_build(ProjectKind k) {
  return k == ProjectKind::cmake || k == ProjectKind::meson || k == ProjectKind::setuptools;
}

// Bad project input (missing root, unsupported layout, broken Cargo.toml / pyproject.toml); the
// message names the path and the problem.
class ProjectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// True for a valid Python identifier made of ASCII letters, digits and underscores.
inline bool is_python_identifier(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

struct ProjectInfo {
  std::string id;                    // stable: derived from the canonical root
  fs::path root;                     // canonical project directory, or the single source file
  ProjectKind kind = ProjectKind::cargo;
  std::vector<std::string> modules;  // top-level import names the project provides

  // cargo: dotted extension module name ("pkg._native", or "pkg" for pure Rust).
  // rust-file / cpp-file: the file's stem. cmake: empty (install() decides).
  std::string extension_module;
  // Directory holding the package's Python sources (the dir that contains `pkg/`), or empty.
  // cargo: maturin's python-source (default: root when root/pkg exists); cmake: src/, python/ or root.
  fs::path python_source;
  // cargo only: "dev" (default) or "release", from [tool.prestage] profile.
  std::string cargo_profile = "dev";
  // cargo / cmake: the distribution name ([project].name, else cargo's [package].name), "" when none.
  // Read at detection; the generations' .dist-info is written from the files of each build.
  std::string distribution;
  // rust-file only: the pyo3 version requirement for the generated Cargo.toml.
  std::string pyo3_requirement;
  // cargo: the extension member's Cargo.toml when root holds a virtual workspace (the claim picks
  // it); empty otherwise (maturin's rules find the manifest again at each build).
  fs::path cargo_manifest;
};
}  // namespace prestage
