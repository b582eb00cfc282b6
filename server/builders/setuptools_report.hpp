#pragma once
// What the setuptools driver (setuptools_driver.py) tells prestaged: its layout.json after a good
// build, its one-line error report, and Cython's error lines. Pure parsing; any thread.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "builders/diagnostic.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

// <work>/layout.json: what `pip install -e .` would make importable.
struct SetuptoolsLayout {
  std::vector<std::pair<std::string, std::string>> extensions;  // (dotted module, relpath under <work>/lib)
  std::vector<std::pair<std::string, fs::path>> packages;       // (destination relpath, source dir), outermost only
  std::vector<std::pair<std::string, fs::path>> modules;        // (destination relpath, source .py): py_modules
  std::string name, version;                                    // the Distribution's metadata ("UNKNOWN" when unset)
  fs::path pybind11_include;                                    // pybind11.get_include() when the script imported pybind11
};

// Reads <work_dir>/layout.json; nullopt when absent. BuildError when it is not the driver's format.
std::optional<SetuptoolsLayout> read_setuptools_layout(const fs::path& work_dir);
SetuptoolsLayout parse_setuptools_layout(std::string_view json_text);  // BuildError on a bad document

// `prestage-setuptools {"error": ..., "file": ..., "line": ...}`: the driver's error as a diagnostic
// (a relative file is taken against `root`). nullopt for any other line.
std::optional<Diagnostic> diagnostic_from_driver_line(std::string_view line, const fs::path& root);
}  // namespace prestage::builders
