#pragma once
// What detection reads once per path and every backend's claim shares: the root, and its
// pyproject.toml and Cargo.toml parsed. Plus the checks claims have in common.
#include <toml++/toml.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "projects/project.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

// util::read_file, here so the template above needs no util header.
std::string read_text_file(const fs::path& file);

struct ProjectFiles {
  fs::path root;  // canonical; a directory or a single source file
  bool is_file = false;
  std::optional<toml::table> pyproject;  // root/pyproject.toml, when present
  std::optional<toml::table> cargo;      // root/Cargo.toml, when present
  std::string build_backend;             // [build-system] build-backend, or ""

  // Reads and parses the files at `root` (canonical). Throws ProjectError for an unreadable or
  // broken file, with toml++'s line and column.
  static ProjectFiles read(const fs::path& root);
  fs::path pyproject_path() const { return root / "pyproject.toml"; }
  fs::path cargo_path() const { return root / "Cargo.toml"; }
};

// "broken FILE: what at line L, column C": how every backend words a TOML parse failure.
std::string toml_error_text(const fs::path& file, const toml::parse_error& e);

// Parses `file` when it exists; throws Error(message) when it is not a regular file, unreadable or
// broken. Error is the caller's kind of bad input (ProjectError, BuildError, MaturinConfigError).
template <class Error>
std::optional<toml::table> parse_toml_file_as(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  if (!fs::is_regular_file(file, ec)) throw Error(file.string() + " is not a regular file");
  std::string text;
  try {
    text = read_text_file(file);
  } catch (const std::exception& e) {
    throw Error("cannot read " + file.string() + ": " + e.what());
  }
  try {
    return toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    throw Error(toml_error_text(file, e));
  }
}

// Parses `file` when it exists (ProjectError when it is broken or not a regular file).
inline std::optional<toml::table> parse_toml_if_present(const fs::path& file) { return parse_toml_file_as<ProjectError>(file); }

// A string-valued key: nullopt when absent, ProjectError naming the key and `file` when it is not a string.
std::optional<std::string> checked_string(const std::optional<toml::table>& table, std::string_view dotted_path,
                                          const fs::path& file);

// ProjectError unless every dot-separated part of `name` is a Python identifier.
void require_dotted_identifier(const std::string& name, const fs::path& where, std::string_view what);

// PEP 503-style import name from a distribution name: lower case, '-' and '.' as '_'.
std::string normalize_package_name(std::string_view name);

bool has_init_py(const fs::path& dir);

// The Python package of a pyproject project, found as the cmake and meson claims find it: the
// normalized [project] name under src/, python/ or the root, else the only package in the first of
// those holding any. Sets info.python_source and info.modules and returns true; with no package,
// sets info.modules to the normalized [project] name when there is one (a pure extension) and
// returns that it did. False when neither is found.
bool find_python_package(const ProjectFiles& files, ProjectInfo& info);

}  // namespace prestage::builders
