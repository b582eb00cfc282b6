#pragma once
// meson-python's internal shared libraries. A library meson installs to {libdir_shared} goes into
// `.<name>.mesonpy.libs/` in site-packages, and every staged ELF file that links it gets that
// directory on its RPATH ($ORIGIN-relative), as meson-python does with patchelf. prestage also names
// each library copy after its content (libx.so -> libx-<sha8>.so, with DT_SONAME and the users'
// DT_NEEDED to match, as auditwheel does): the dynamic loader reuses an already loaded library of
// the same name, so without it a reload after an edit of the library would keep the old code.
// Reads files (ELF headers, each library's bytes); runs no tool: the patchelf calls are returned.
#include <filesystem>
#include <string>
#include <vector>

#include "builders/install_tree.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

// ".<project name with - as _>.mesonpy.libs", meson-python's directory name.
std::string mesonpy_libs_dir(const std::string& project_name);

// One staged file to copy and patch: `patchelf <call> <copy of original>` for each call, in order
// (one operation per call: patchelf 0.14 corrupts the file when --replace-needed and --add-rpath
// share a call), then staged from `patched`.
struct ElfPatch {
  fs::path original;
  fs::path patched;
  std::vector<std::vector<std::string>> patchelf_calls;
};

// For `files` (the install plan's staging, libraries already at `libs_dir/<name>`): renames each
// library by its content, points every file that needs a patch at its copy under `copies_dir`
// (same relpath), and returns the patches. Empty when no file is below `libs_dir`.
std::vector<ElfPatch> plan_internal_libs(std::vector<StagedFile>& files, const std::string& libs_dir, const fs::path& copies_dir);
}  // namespace prestage::builders
