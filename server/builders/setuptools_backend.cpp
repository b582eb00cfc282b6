// setuptools projects built as `pip install -e .` builds them: the project's own setup script (or
// `setup()` alone for a pyproject-only project) run by the target interpreter through
// setuptools_driver.py, `build_ext` into the work dir, never into the sources. The driver asks
// setuptools for the packages and extensions (layout.json) and the stage copies what it names.
// Docs: docs/backends/setuptools.md. Detection: setuptools_claim; the driver's output: setuptools_report.
#include <algorithm>
#include <regex>
#include <thread>

#include "builders/backends.hpp"
#include "builders/build_session.hpp"
#include "builders/cargo_claim.hpp"
#include "builders/cargo_output_lines.hpp"
#include "builders/diagnostics.hpp"
#include "builders/project_metadata.hpp"
#include "builders/setuptools_claim.hpp"
#include "builders/setuptools_driver_source.hpp"
#include "builders/setuptools_report.hpp"
#include "builders/setuptools_rust.hpp"
#include "util/fs.hpp"

namespace prestage::builders {
namespace {

constexpr const char* driver_file = "prestage_setuptools_driver.py";

// Reads the driver's and the compilers' output into the session: GCC's JSON diagnostics, Cython's
// error lines, cargo's (setuptools-rust), the driver's own error (kept back: it only becomes a
// diagnostic when nothing more precise said what failed), and "building 'x' extension" as progress.
class BuildOutputReader {
 public:
  BuildOutputReader(BuildSession* session, fs::path root, fs::path cargo_manifest)
      : session_(session), root_(std::move(root)), cargo_manifest_(std::move(cargo_manifest)), cargo_(root_) {}

  void feed(StreamKind kind, const std::string& line) {
    if (feed_cargo(kind, line)) return;
    if (session_->add_gcc_json_diagnostics(line, root_, root_)) return;
    session_->log(line);
    if (auto d = diagnostic_from_driver_line(line, root_)) {
      driver_error_ = std::move(d);
    } else if (auto cython = diagnostic_from_cython_line(line, root_)) {
      session_->add_diagnostic(std::move(*cython));
      ++precise_errors_;
    } else if (line.rfind("building '", 0) == 0) {
      session_->report_progress(std::string(trim(line)));
    }
  }

  // At exit: the driver's error when no compiler error explains the failure.
  void finish_failed() {
    for (auto& d : cargo_.failed(cargo_manifest_)) session_->add_diagnostic(std::move(d));
    bool compiler_errors = precise_errors_ > 0;
    for (const auto& d : session_->output().diagnostics) compiler_errors = compiler_errors || d.severity == "error";
    if (driver_error_ && !compiler_errors) session_->add_diagnostic(std::move(*driver_error_));
  }

 private:
  // cargo's JSON messages (stdout) and status lines (stderr, logged too); true when the line was one.
  bool feed_cargo(StreamKind kind, const std::string& line) {
    if (kind == StreamKind::err) {
      if (auto status = cargo_.stderr_line(line); !status.empty()) {
        session_->log(line);
        session_->report_progress(status);
        return true;
      }
      return false;
    }
    if (line.rfind("prestage: cargo builds", 0) == 0) cargo_.cargo_started();
    auto effect = cargo_.stdout_line(line);
    if (!effect) return false;
    if (!effect->log.empty()) session_->log(effect->log);
    if (effect->diagnostic) session_->add_diagnostic(std::move(*effect->diagnostic));
    if (!effect->progress.empty()) session_->report_progress(effect->progress);
    return true;
  }

  BuildSession* session_;
  fs::path root_;
  fs::path cargo_manifest_;  // where cargo's own errors are reported (setuptools-rust)
  CargoOutputLines cargo_;
  std::optional<Diagnostic> driver_error_;
  int precise_errors_ = 0;
};

void collect(const std::shared_ptr<BuildSession>& session) {
  BuildSession* s = session.get();
  const BuildJob& job = s->job();
  auto layout = read_setuptools_layout(job.work_dir);
  if (!layout) return s->fail("the setuptools driver exited without writing " + (job.work_dir / "layout.json").string());
  for (const auto& [module, relpath] : layout->extensions) {
    fs::path built = job.work_dir / "lib" / relpath;
    std::error_code ec;
    if (!fs::is_regular_file(built, ec)) return s->fail("build_ext did not produce " + built.string() + " for " + module);
    s->output().artifacts.push_back(Artifact{module, built, relpath});
  }
  s->output().work_dir = job.work_dir;  // layout() reads layout.json from it
  s->succeed();
}

// The Cargo.toml a setuptools-rust project names first (./Cargo.toml when it names none).
fs::path first_rust_manifest(const fs::path& root) {
  try {
    auto manifests = rust_manifests(ProjectFiles::read(root));
    if (!manifests.empty()) return manifests.front();
  } catch (const std::exception&) {
    // a broken pyproject.toml: the driver reports it
  }
  return root / "Cargo.toml";
}

void build(const std::shared_ptr<BuildSession>& session) {
  const BuildJob& job = session->job();
  const fs::path& root = job.project.root;
  fs::path driver = job.work_dir / driver_file;
  std::error_code ec;
  if (!fs::is_regular_file(driver, ec) || util::read_file(driver) != kSetuptoolsDriverSource)
    util::write_file_atomic(driver, kSetuptoolsDriverSource, fs::perms(0644));
  fs::path script = root / "setup.py";
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::string> args = {driver.string(), root.string(), fs::is_regular_file(script, ec) ? script.string() : std::string(),
                                   job.work_dir.string(), std::to_string(jobs)};
  BuildSession* s = session.get();
  auto reader = std::make_shared<BuildOutputReader>(s, root, first_rust_manifest(root));
  auto on_line = [reader](StreamKind kind, const std::string& line) { reader->feed(kind, line); };
  auto next = [session, s, reader](const ProcessExit& exit) {
    if (exit.signaled || exit.exit_code != 0) {
      reader->finish_failed();
      return s->fail_tool_exit("setup.py build_ext", exit);
    }
    collect(session);
  };
  s->report_progress("Running setup.py build_ext for Python " + job.python.version);
  session->run_tool(job.python.executable.string(), std::move(args), root, {{"PYTHONDONTWRITEBYTECODE", "1"}, {"PYTHONUNBUFFERED", "1"}},
                    std::move(on_line), std::move(next));
}

class SetuptoolsBackend final : public BuildBackend {
 public:
  ProjectKind kind() const override { return ProjectKind::setuptools; }

  bool claim(const ProjectFiles& files, ProjectInfo& info) const override {
    if (files.is_file || !builds_with_setuptools(files) || !declares_extensions(files)) return false;
    info.kind = ProjectKind::setuptools;
    info.modules = guessed_modules(files);
    if (info.modules.empty()) info.modules = {normalize_package_name(files.root.filename().string())};
    return true;
  }

  std::shared_ptr<BuildTask> start(boost::asio::io_context& io, BuildJob job, ProgressFn progress, DoneFn done) const override {
    return start_session(io, std::move(job), std::move(progress), std::move(done), build);
  }

  // What layout.json of the last good build names: extensions from <work>/lib, the packages' source
  // trees, py_modules; a restage reads the same file again with the current package sources.
  stage::PackageLayout layout(const ProjectInfo& info, const BuildOutput& output, const Interpreter& python) const override {
    if (output.work_dir.empty()) throw BuildError("staging " + info.id + " needs the work dir of its last build");
    auto report = read_setuptools_layout(output.work_dir);
    if (!report) throw BuildError("staging " + info.id + ": no layout.json from a good build in " + output.work_dir.string());
    stage::PackageLayout layout;
    layout.ext_suffix = python.ext_suffix;
    for (const auto& [module, relpath] : report->extensions)
      layout.placed_artifacts.emplace_back(module, relpath, output.work_dir / "lib" / relpath);
    for (const auto& [dest, dir] : report->packages) layout.trees.emplace_back(dir, dest);
    layout.extra_files = report->modules;
    add_distribution(layout, info.root, /*cargo=*/false);  // [project], when pyproject.toml has it
    if (!layout.distribution && !report->name.empty() && report->name != "UNKNOWN") {
      layout.distribution = stage::Distribution{};
      layout.distribution->name = report->name;
      layout.distribution->source_root = info.root;
    }
    if (layout.distribution && (layout.distribution->version_dynamic || layout.distribution->version == "0.0.0" ||
                                layout.distribution->version.empty()))
      layout.distribution->version = report->version.empty() ? "0.0.0" : report->version;
    return layout;
  }

  // setuptools-rust: the crates' path dependencies outside the root (cargo metadata), as for maturin.
  std::vector<fs::path> watch_roots_blocking(const ProjectInfo& info) const override {
    std::optional<ProjectFiles> files;
    try {
      files = ProjectFiles::read(info.root);
    } catch (const std::exception&) {
      return {};  // a broken pyproject.toml: the build names it
    }
    if (!declares_rust_extensions(*files)) return {};
    std::vector<fs::path> roots;
    for (const auto& manifest : rust_manifests(*files))
      for (const auto& dir : cargo_dirs_outside_root(info, manifest, {}))
        if (std::find(roots.begin(), roots.end(), dir) == roots.end()) roots.push_back(dir);
    return roots;
  }

  fs::path pybind11_include(const ProjectInfo&, const fs::path& work_dir) const override {
    try {
      auto report = read_setuptools_layout(work_dir);
      return report ? report->pybind11_include : fs::path();
    } catch (const std::exception&) {
      return {};
    }
  }
};
}  // namespace

const BuildBackend& setuptools_backend() {
  static const SetuptoolsBackend backend;
  return backend;
}
}  // namespace prestage::builders
