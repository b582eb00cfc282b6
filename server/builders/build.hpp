#pragma once
// Build backends: turn a project's sources into extension modules for one interpreter.
// The values a build takes and gives; backend.hpp is the interface that runs one.
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "builders/build_error.hpp"
#include "builders/build_progress.hpp"
#include "builders/diagnostic.hpp"
#include "builders/interpreter.hpp"
#include "projects/project.hpp"

namespace prestage::builders {
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
  std::vector<Diagnostic> diagnostics;
  std::string log_tail;  // last ~64 KiB of human-readable output
  std::string summary;   // one line, e.g. "cargo not found on PATH" or "2 errors"
  fs::path work_dir;     // a restage's layout(): the work dir of the last build (BuildJob::work_dir)
};

class BuildTask {
 public:
  virtual ~BuildTask() = default;
  // Stops the running tool's whole process group (SIGTERM, 2 s grace, SIGKILL). `done` then
  // reports cancelled=true. Safe to call more than once and after the build finished.
  virtual void cancel() = 0;
};

// A monotone fraction within one build (BuildSession keeps it so); e.g. "[3/9] Building CXX object a.o".
using ProgressFn = std::function<void(const BuildProgress& progress)>;
using DoneFn = std::function<void(BuildOutput)>;

}  // namespace prestage::builders
