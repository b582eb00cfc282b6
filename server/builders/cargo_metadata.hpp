#pragma once
// What `cargo metadata --format-version 1` says about a crate: the workspace, its members, every
// local package (path dependencies anywhere on disk) and the features cargo resolved.
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace prestage::builders {
namespace fs = std::filesystem;

struct CargoPackage {
  std::string id, name, version;
  fs::path manifest_path;
  bool local = false;   // source == null: a workspace member or a path dependency
  bool cdylib = false;  // has a lib target with crate-type cdylib
  std::optional<std::string> lib_name;          // the lib target's name
  std::vector<std::string> dependency_names;    // as declared (renames: the package name)
  std::vector<fs::path> path_dependencies;      // declared `path = ...` dependencies (absolute)
  fs::path dir() const { return manifest_path.parent_path(); }
  bool depends_on_pyo3() const;                 // pyo3 or pyo3-ffi
};

struct CargoMetadata {
  fs::path workspace_root;
  std::vector<std::string> workspace_members;  // package ids
  std::vector<CargoPackage> packages;
  std::optional<std::string> resolve_root;      // the package the manifest names (absent for a virtual workspace)
  std::map<std::string, std::vector<std::string>> resolved_features;  // package id -> features; empty with --no-deps
  bool has_resolve = false;

  const CargoPackage* package(const std::string& id) const;
  const CargoPackage* package_by_manifest(const fs::path& manifest) const;
  // Members that build a PyO3 cdylib: the extension crates of a workspace.
  std::vector<const CargoPackage*> extension_members() const;
  // Directories of every local package and path dependency (deduplicated, in a stable order).
  std::vector<fs::path> local_dirs() const;
};

// Throws std::invalid_argument naming the missing field when `json` is not cargo metadata.
CargoMetadata parse_cargo_metadata(const nlohmann::json& json);

// maturin's refusal of an abi3 build without a minimum version: for the pyo3 / pyo3-ffi package in
// the resolve, "abi3" among its features but no "abi3-pyXY". Empty when fine or unknown (no resolve).
std::string abi3_without_version(const CargoMetadata& metadata);

struct CargoMetadataResult {
  std::optional<CargoMetadata> metadata;
  std::string error;  // cargo's own error lines when it failed
};

// Runs `cargo metadata --format-version 1 --offline [--no-deps] --manifest-path <manifest> <extra_args>`
// in `cwd` and parses it. BLOCKS until cargo exits (bounded by `timeout`): call it on a worker thread,
// never on the io thread (the backend's claim runs on the pool).
CargoMetadataResult cargo_metadata_blocking(const fs::path& manifest, const fs::path& cwd, const std::vector<std::string>& extra_args,
                                            bool no_deps, std::chrono::seconds timeout = std::chrono::seconds(120));
}  // namespace prestage::builders
