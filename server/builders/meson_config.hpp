#pragma once
// meson-python's settings ([tool.meson-python] in pyproject.toml) as typed values, and the
// `meson setup` command line prestage derives from them. Pure: reads no file, runs no tool.
#include <toml++/toml.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "builders/project_files.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

struct MesonConfig {
  // tool.meson-python.args: setup -> `meson setup`, compile -> ninja, install -> read by prestage
  // itself (--tags, --skip-subprojects), dist -> unused (no sdist).
  std::vector<std::string> setup_args, compile_args, install_args, dist_args;
  bool limited_api = false;                     // only the wheel tag in meson-python: nothing to do here
  std::string meson;                            // tool.meson-python.meson ("" = $MESON, else meson on PATH)
  std::vector<std::string> wheel_exclude;       // tool.meson-python.wheel.exclude (site-packages paths)
  std::vector<std::string> wheel_include;       // tool.meson-python.wheel.include (re-includes)
  std::vector<std::string> install_tags;        // from install args: --tags a,b
  bool skip_subprojects = false;                // from install args: --skip-subprojects
  std::vector<std::string> notes;               // settings without effect here, logged at the build
};

// True when pyproject's build-backend is meson-python's.
bool uses_meson_python(const ProjectFiles& files);

// Reads [tool.meson-python]; throws BuildError naming `file` and the key for an unknown key (as
// meson-python refuses them) or a value of the wrong type.
MesonConfig read_meson_config(const toml::table& pyproject, const fs::path& file);

// The native file meson-python passes so that find_installation() finds the target interpreter.
std::string meson_native_file(const fs::path& python);

// `meson setup` arguments: the build and source dirs, meson-python's defaults (release build type,
// b_ndebug=if-release), the native file, then the project's setup args, which override the defaults.
std::vector<std::string> meson_setup_args(const fs::path& build_dir, const fs::path& source_dir, const fs::path& native_file,
                                          const MesonConfig& config);
}  // namespace prestage::builders
