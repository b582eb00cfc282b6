#pragma once
// Parsers for the compilers' machine-readable diagnostics.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builders/diagnostic.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

// Makes a tool-reported path absolute (relative ones against `base_dir`) and normalises it
// when it lies inside `project_root`; other paths are returned as the tool gave them.
std::string diagnostic_path(std::string_view reported, const fs::path& base_dir, const fs::path& project_root);

// One cargo `compiler-message` (the whole JSON line object). Uses the primary span; resolves
// rustc's relative file names against the package's manifest dir (and its parents).
// Returns nullopt for messages that carry no location and no error (e.g. "N warnings emitted").
std::optional<Diagnostic> diagnostic_from_cargo_message(const nlohmann::json& message, const fs::path& project_root);

// One line of GCC `-fdiagnostics-format=json` output: a JSON array of diagnostics.
// Returns nullopt when the line is not such an array (e.g. a Ninja status line).
std::optional<std::vector<Diagnostic>> diagnostics_from_gcc_json_line(std::string_view line, const fs::path& base_dir,
                                                                      const fs::path& project_root);

// CMake has no machine-readable error output; its "CMake Error at FILE:LINE (cmd):" header
// is the one line we read. Returns the diagnostic without message (the caller fills it in
// from the indented lines that follow).
std::optional<Diagnostic> diagnostic_from_cmake_error_header(std::string_view line, const fs::path& base_dir,
                                                             const fs::path& project_root);

// meson's error line "FILE:LINE:COL: ERROR: message" (meson.build problems, at setup or at ninja's
// regeneration), FILE relative to `base_dir` (the directory meson ran in); a bare "ERROR: message"
// names `project_root`/meson.build without a line. nullopt for any other line.
std::optional<Diagnostic> diagnostic_from_meson_error(std::string_view line, const fs::path& base_dir, const fs::path& project_root);

// "file:line:column: severity: message", as compilers print it.
std::string render_diagnostic(const Diagnostic& d);

// Cython's "path/to/file.pyx:LINE:COLUMN: message" (also .pxd / .pxi), an error (setuptools'
// cythonize, a CMake custom command, meson's cython language). nullopt otherwise.
std::optional<Diagnostic> diagnostic_from_cython_line(std::string_view line, const fs::path& root);
}  // namespace prestage::builders
