#pragma once
// What a scikit-build-core editable install puts into site-packages, computed from the
// platlib tree `cmake --install` filled and the project's Python packages: every installed file
// at its installed path (wheel.exclude applied), package sources where nothing was installed,
// extension modules recognised by their suffix. Reads the filesystem; runs on any thread.
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "builders/build.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

struct StagedFile {
  std::string relpath;  // inside the generation (= inside site-packages)
  fs::path source;
  std::string module;   // dotted module name when the file is an extension module, else empty
};

// Packages as scikit-build-core finds them when wheel.packages is absent: the first of
// src/<name>, python/<name>, <name> holding __init__.py(i), with <name> the normalized project
// name (a dotted name also tries the nested namespace layout). (destination, source dir) pairs.
std::vector<std::pair<std::string, fs::path>> discover_packages(const fs::path& root, const std::string& project_name);

// gitignore-style match of `relpath` (a file path inside the wheel) against wheel.exclude.
bool wheel_excluded(const std::string& relpath, const std::vector<std::string>& patterns);

// True when `file`, installed as `relpath`, is a Python extension module: its name ends with the
// interpreter's EXT_SUFFIX or .abi3.so, or it is a `.so` that exports PyInit_<stem>.
bool is_extension_module(const fs::path& file, const std::string& relpath, const std::string& ext_suffix);

// "pkg/_core.cpython-311-x86_64-linux-gnu.so" -> "pkg._core"
std::string module_of_relpath(const std::string& relpath);

// The files of one generation: the install tree under `platlib`, then the package sources
// (packages: destination relpath -> absolute source dir) for paths nothing was installed to.
std::vector<StagedFile> staged_files(const fs::path& platlib, const std::vector<std::pair<std::string, fs::path>>& packages,
                                     const std::vector<std::string>& exclude, const std::string& ext_suffix);

// Into a build's output: extension modules as artifacts (at their relpath), every other file as an extra file.
void add_to_output(BuildOutput& out, const std::vector<StagedFile>& files);

// The importable top-level names of a set of relpaths: packages (dirs with Python files or
// extensions), modules (.py and extension files at the top).
std::vector<std::string> top_level_names(const std::vector<StagedFile>& files);
// The same for a staged generation dir (manifest.json, __pycache__ and *.dist-info are skipped);
// `extensions` are the relpaths of its extension modules (the manifest's artifacts).
std::vector<std::string> top_level_names_in(const fs::path& generation_dir, const std::set<std::string>& extensions);
}  // namespace prestage::builders
