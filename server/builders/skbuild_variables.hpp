#pragma once
// The CMake configure command line scikit-build-core would use for an editable build:
// SKBUILD_* variables, the wheel directories, the Python hints, the stable-ABI switches and
// the user's defines and args. Pure functions; any thread.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "builders/interpreter.hpp"
#include "builders/skbuild_config.hpp"

namespace prestage::builders {

// The wheel trees scikit-build-core hands to CMake (SKBUILD_<NAME>_DIR), under the work dir.
struct WheelDirs {
  fs::path root;      // <work>/wheel
  fs::path platlib, data, headers, scripts, null, metadata;
  fs::path install_prefix;  // platlib / wheel.install-dir: CMAKE_INSTALL_PREFIX and cmake --install --prefix
};
WheelDirs wheel_dirs(const fs::path& work_dir, const SkbuildConfig& config);

// What the interpreter says about itself for the configure (python_hints_script's JSON).
struct PythonHints {
  fs::path base_exec_prefix, include_dir, purelib, platlib;
  std::string soabi;  // sysconfig SOABI, e.g. "cpython-311-x86_64-linux-gnu"
  bool gil_disabled = false;
  bool pypy = false;
  fs::path numpy_include, pybind11_dir, nanobind_dir;  // empty when not importable
  std::vector<fs::path> cmake_prefix_dirs, cmake_module_dirs;         // entry points cmake.prefix / cmake.module
  std::vector<std::pair<std::string, fs::path>> cmake_roots;           // entry points cmake.root: <name>_ROOT
};
extern const char* const python_hints_script;  // run as `python -I -c <script>`; prints one JSON line
PythonHints parse_python_hints(const std::string& json_line);  // throws BuildError

// True when wheel.py-api asks for the stable ABI and this interpreter can build it (cpXY with Y <= minor).
bool uses_limited_api(const SkbuildConfig& config, const Interpreter& python);
// "3.9" for py-api "cp39" under the limited API, else "".
std::string sabi_version(const SkbuildConfig& config, const Interpreter& python);

// Name and versions as scikit-build-core passes them.
std::string skbuild_project_name(const std::string& name);  // '-' and '.' -> '_'
std::string release_version(const std::string& version);   // "1.2.3rc1" -> "1.2.3"

struct ConfigureRequest {
  const SkbuildConfig* config = nullptr;
  const Interpreter* python = nullptr;
  std::string version;      // the project version (static or from the provider)
  WheelDirs dirs;
  fs::path build_dir;
  fs::path project_include;  // CMAKE_PROJECT_INCLUDE (GCC JSON diagnostics)
};

// -D arguments that do not depend on the hints; their hash decides whether to reconfigure.
std::vector<std::string> skbuild_defines(const ConfigureRequest& request, const std::vector<std::string>& env_cmake_args);
// -D arguments from the interpreter's hints (Python_EXECUTABLE ... pybind11_DIR), plus CMAKE_MODULE_PATH
// with `backport_dir` when it is not empty; user defines and args win over every hint.
std::vector<std::string> hint_defines(const ConfigureRequest& request, const PythonHints& hints, const fs::path& backport_dir);

// CMAKE_ARGS from the environment, split like a shell, without -DCMAKE_BUILD_TYPE / -DCMAKE_INSTALL_PREFIX.
std::vector<std::string> env_cmake_args(const std::string& cmake_args);

// A CMake module dir that lets CMake < 3.26 take Development.SABIModule and USE_SABI (written when needed).
extern const char* const findpython_sabi_backport;
}  // namespace prestage::builders
