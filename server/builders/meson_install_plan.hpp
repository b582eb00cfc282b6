#pragma once
// meson's install plan (build/meson-info/intro-install_plan.json) -> the files of a generation,
// the way meson-python maps it into a wheel: every file whose destination is the interpreter's
// site-packages ({py_platlib}, {py_purelib}, {moduledir_shared}) at its path below it, read from
// where it is (the build dir for targets, the source tree for install_sources); install tags,
// --skip-subprojects and wheel.exclude / wheel.include applied; internal shared libraries into
// meson-python's .<name>.mesonpy.libs. Reads files; any thread.
#include <filesystem>
#include <string>
#include <vector>

#include "builders/install_tree.hpp"
#include "builders/meson_config.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

struct MesonStaging {
  std::vector<StagedFile> files;
  std::vector<std::string> skipped;  // "<destination> (<source>)": installed outside site-packages
};

// A shared library installed to {libdir_shared} (or {libdir}) is staged at `libs_dir`/<its path
// there>, as meson-python relocates it (meson_internal_libs then renames and patches). Throws
// BuildError for a broken plan or a planned file that does not exist.
MesonStaging meson_staged_files(const std::string& plan_json, const MesonConfig& config, const std::string& ext_suffix,
                                const std::string& libs_dir);

// The path below site-packages of a plan destination ("{py_platlib}/pkg/x.so" -> "pkg/x.so"); "" when
// the destination is elsewhere.
std::string site_packages_relpath(const std::string& destination);
}  // namespace prestage::builders
