#pragma once
// What meson's introspection says about a configured build's dependencies
// (build/meson-info/intro-dependencies.json): here, which pybind11 headers the project compiles
// against, so that the finder's pybind11 helper is built against the same ones. Any thread.
#include <filesystem>
#include <string>

namespace prestage::builders {
namespace fs = std::filesystem;

// The include dir of the `pybind11` dependency in `intro_dependencies_json`: the first -I / -isystem
// directory of its compile_args that holds pybind11/pybind11.h; when it names none (headers in a
// default include dir, as Debian's pkg-config file), `default_include`. Empty when the project has
// no pybind11 dependency or the JSON is unreadable.
fs::path pybind11_include_from_meson(const std::string& intro_dependencies_json, const fs::path& default_include);
}  // namespace prestage::builders
