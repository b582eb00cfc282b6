#pragma once
// Where a maturin project's parts are, decided as maturin decides them (docs/backends/maturin.md):
// the pyproject, the crate's Cargo.toml, the module name, the Python source dir, the data dir and
// the cargo options. Reads two small TOML files: any thread (the claim runs it on the pool, the
// build re-reads it on the io thread when it starts, so a pyproject edit applies to the next build).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "builders/maturin_config.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

struct MaturinProject {
  fs::path opened_root;     // the directory the user opened
  fs::path project_root;    // the pyproject's directory (the manifest's when there is none)
  fs::path pyproject_file;  // may not exist
  fs::path manifest_path;   // the extension crate's Cargo.toml
  ToolMaturin tool;
  LegacyMaturin legacy;

  std::string crate_name;         // [package] name
  std::string crate_version;      // [package] version; empty when inherited (version.workspace = true)
  std::string module_name;        // dotted: "pkg._native", "pkg.sub.ext", or "pkg" (pure)
  fs::path python_dir;            // the python-source dir
  std::optional<fs::path> package_dir;      // python_dir / <first part>, when it exists: a mixed project
  std::vector<fs::path> python_packages;    // more package dirs from python-packages
  std::optional<fs::path> data_dir;
  std::string profile = "dev";    // the cargo profile
  std::string project_name;       // [project] name, or the crate name

  bool mixed() const { return package_dir.has_value(); }
  std::string top() const;             // the first component of module_name
  std::string extension_name() const;  // the last component
  // Top-level import names the project provides.
  std::vector<std::string> modules() const;
  // The dotted name the built extension is served under: module_name for a mixed project with a
  // dotted name, "pkg.pkg" for an undotted one (maturin puts the .so inside the package), "<ext>.<ext>" pure.
  std::string staged_module() const;
  // --features / --all-features / --no-default-features / --locked / --frozen / --config, for both
  // `cargo metadata` and `cargo build`. `python_version` ("3.11.7") turns on the conditional features
  // whose python-version admits it; without one (watching) they stay off.
  std::vector<std::string> cargo_args(std::string_view python_version = {}) const;
};

// Resolves the project opened at `root`. `member_manifest`: the workspace member to build when
// `root` holds a virtual workspace (the claim picks it from cargo metadata). Throws MaturinConfigError
// naming the file and key for bad input; VirtualWorkspace when `root`'s Cargo.toml has no [package]
// and no member was given.
MaturinProject resolve_maturin_project(const fs::path& root, const std::optional<fs::path>& member_manifest = std::nullopt);

struct VirtualWorkspace : MaturinConfigError {
  explicit VirtualWorkspace(fs::path manifest_path)
      : MaturinConfigError(manifest_path.string() + " is a virtual workspace manifest"), manifest(std::move(manifest_path)) {}
  fs::path manifest;
};

// True when `dir/Cargo.toml` declares [workspace] without [package]. Throws MaturinConfigError when broken.
bool is_virtual_workspace(const fs::path& dir);
}  // namespace prestage::builders
