#pragma once
// pip builds in an isolated environment whose bin/ holds the console scripts of the
// [build-system] requires, on PATH for the build: a "cython" requirement gives CMake's
// find_program(CYTHON cython) its `cython` (scikit-build-core's Cython example). Debian's cython3
// package installs only `cython3`, so prestage writes a `cython` script into the work dir that runs
// the target interpreter's Cython (`python -m cython`), and puts that dir first on the build's PATH,
// only when the project requires Cython and no `cython` is on PATH.
#include <toml++/toml.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace prestage::builders {
namespace fs = std::filesystem;

// The normalized names of [build-system] requires ("Cython>=3.0; python_version>'3'" -> "cython").
std::vector<std::string> build_requirement_names(const toml::table& pyproject);

// ("PATH", "<work>/build-scripts:$PATH") after writing the scripts it needs there, or nullopt when
// none is needed.
std::optional<std::pair<std::string, std::string>> build_requirement_scripts(const toml::table& pyproject, const fs::path& work_dir,
                                                                             const fs::path& python);
}  // namespace prestage::builders
