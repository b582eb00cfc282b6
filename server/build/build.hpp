#pragma once
// Build backends: turn a project's sources into extension modules for one interpreter.
// The daemon's scheduler calls start_build(); everything else in this folder is internal.
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "build/build_error.hpp"
#include "build/diagnostic.hpp"
#include "build/interpreter.hpp"
#include "projects/project.hpp"

namespace prestage::build {
namespace fs = std::filesystem;

// A built extension module: dotted module name ("pkg._native") and the built file in the
// build tree (the stage copies it to a fresh inode).
struct Artifact {
  std::string module;
  fs::path path;
  std::string relpath;  // where it goes in the generation ("pkg/_core.abi3.so"); empty: from module + EXT_SUFFIX
};

struct BuildJob {
  ProjectInfo project;
  Interpreter python;
  // Persistent, per project + interpreter, under the state dir. Holds target/ (cargo),
  // build/ and install/ (cmake), crate/ (rust-file) and the compiled output (cpp-file).
  fs::path work_dir;
};

struct BuildOutput {
  bool ok = false;
  bool cancelled = false;
  std::vector<Artifact> artifacts;  // extension modules
  // Other installed files: (relpath in the package tree, source file), e.g. from cmake --install.
  std::vector<std::pair<std::string, fs::path>> extra_files;
  // cmake: the importable top-level names of what was staged (packages and modules); empty: unknown.
  std::vector<std::string> top_level_modules;
  std::vector<Diagnostic> diagnostics;
  std::string log_tail;  // last ~64 KiB of human-readable output
  std::string summary;   // one line, e.g. "cargo not found on PATH" or "2 errors"
};

class BuildTask {
 public:
  virtual ~BuildTask() = default;
  // Stops the running tool's whole process group (SIGTERM, 2 s grace, SIGKILL). `done` then
  // reports cancelled=true. Safe to call more than once and after the build finished.
  virtual void cancel() = 0;
};

using ProgressFn = std::function<void(const std::string& message)>;  // e.g. "Compiling pyo3 v0.17.3"
using DoneFn = std::function<void(BuildOutput)>;

// Starts the build asynchronously on `io` (one io_context on one thread); callbacks run on
// `io`, never inside this call. `done` is called exactly once, also after cancel().
// Artifacts and extra_files point into job.work_dir and stay valid until the next build of
// the same job starts: stage them from `done`.
std::shared_ptr<BuildTask> start_build(boost::asio::io_context& io, BuildJob job, ProgressFn progress, DoneFn done);

// cmake: the files of a generation from the last install tree under `work_dir` and the project's
// current Python packages (scikit-build-core's editable layout). Throws BuildError. Any thread.
struct CMakeStage {
  std::vector<Artifact> extensions;                          // with relpath
  std::vector<std::pair<std::string, fs::path>> files;       // (relpath, source)
  std::vector<std::string> top_level;                        // importable top-level names
};
CMakeStage cmake_stage_files(const ProjectInfo& project, const Interpreter& python, const fs::path& work_dir);

// Where pybind11's headers are: $PRESTAGE_PYBIND11_INCLUDE, else the first of /usr/include,
// /usr/local/include holding pybind11/pybind11.h. Empty when none.
fs::path pybind11_include_dir();
}  // namespace prestage::build
