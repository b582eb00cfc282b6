#pragma once
// One build system behind one interface (watchman's one watcher backend per file): detection,
// the build, and what a generation holds. Implementations: cargo_backend.cpp (maturin layout),
// cmake_backend.cpp (scikit-build-core layout), meson_backend.cpp (meson-python), cpp_file_backend.cpp, rust_file_backend.cpp;
// backends.hpp lists them in detection order. The scheduler (projects/) only sees this interface,
// so its tests drive it with a fake backend.
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "builders/build.hpp"
#include "builders/interpreter.hpp"
#include "builders/project_files.hpp"
#include "projects/project.hpp"
#include "stage/generation_store.hpp"

namespace prestage::builders {

class BuildBackend {
 public:
  virtual ~BuildBackend() = default;

  virtual ProjectKind kind() const = 0;

  // Detection, any thread (reads the project's files). `files` holds the root and its parsed
  // pyproject.toml / Cargo.toml. Returns false when the project is not this backend's; fills
  // every field of `info` but root and id otherwise. Throws ProjectError for a project it
  // recognises but cannot build as it is (the message names the file and the problem).
  virtual bool claim(const ProjectFiles& files, ProjectInfo& info) const = 0;

  // Starts one build asynchronously on `io`; callbacks run on `io`, never inside this call, and
  // `done` runs exactly once (also after cancel()). Called on the io thread.
  virtual std::shared_ptr<BuildTask> start(boost::asio::io_context& io, BuildJob job, ProgressFn progress,
                                           DoneFn done) const = 0;

  // What the generation holds after the good build `output` (reads the project's sources: run it
  // where file access may block, i.e. not on the io thread when that matters). With an empty
  // `output` it gives the Python part only (a restage of changed .py files).
  virtual stage::PackageLayout layout(const ProjectInfo& info, const BuildOutput& output,
                                      const Interpreter& python) const = 0;

  // Directories outside info.root whose edits need a rebuild too (cargo: every local path
  // dependency and workspace member `cargo metadata` lists). BLOCKS (may run a tool): the
  // pipeline calls it on its pool strand when the project starts.
  virtual std::vector<fs::path> watch_roots_blocking(const ProjectInfo& info) const {
    (void)info;
    return {};
  }

  // The pybind11 headers the project builds against (for the finder's pybind11 helper), empty
  // when it does not use pybind11 or it is not known yet. `work_dir` is BuildJob::work_dir.
  virtual fs::path pybind11_include(const ProjectInfo& info, const fs::path& work_dir) const {
    (void)info;
    (void)work_dir;
    return {};
  }
};
}  // namespace prestage::builders
