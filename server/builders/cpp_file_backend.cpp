// Single .cpp files: one g++ call against pybind11's and the interpreter's headers.
#include "builders/backends.hpp"
#include "builders/build_session.hpp"
#include "builders/diagnostics.hpp"
#include "builders/pybind11_helper.hpp"
#include "builders/single_file.hpp"

namespace prestage::builders {
namespace {

void build_cpp_file(const std::shared_ptr<BuildSession>& session) {
  const BuildJob& job = session->job();
  const fs::path& source = job.project.root;
  if (!fs::is_regular_file(source)) throw BuildError("C++ source file not found: " + source.string());
  fs::path pybind11 = pybind11_include_dir();
  if (pybind11.empty())
    return session->fail("pybind11 headers not found; install pybind11-dev or set PRESTAGE_PYBIND11_INCLUDE");
  std::string module = job.project.extension_module.empty() ? source.stem().string() : job.project.extension_module;
  fs::path final_output = job.work_dir / (module + job.python.ext_suffix);
  // A failed compile never clobbers the last good output.
  fs::path partial_output = job.work_dir / (module + ".partial" + job.python.ext_suffix);
  std::vector<std::string> args = {"-O2", "-shared", "-fPIC", "-std=c++17", "-fvisibility=hidden",
                                   "-fdiagnostics-format=json"};
  // -isystem on a default dir (/usr/include) would break #include_next in libstdc++.
  if (pybind11 != "/usr/include" && pybind11 != "/usr/local/include") {
    args.push_back("-isystem");
    args.push_back(pybind11.string());
  }
  for (std::string a : {std::string("-isystem"), job.python.include_dir.string(), source.string(), std::string("-o"),
                        partial_output.string()})
    args.push_back(std::move(a));
  BuildSession* s = session.get();
  fs::path dir = source.parent_path();
  auto on_line = [s, dir, source](StreamKind, const std::string& line) {
    if (s->take_gcc_json_line(line, dir, source)) return;
    s->log(line);
  };
  auto next = [s, partial_output, final_output, module](const ProcessExit& exit) {
    if (exit.signaled || exit.exit_code != 0) {
      std::error_code ec;
      fs::remove(partial_output, ec);
      return s->fail_tool_exit("g++", exit);
    }
    fs::rename(partial_output, final_output);
    s->output().artifacts.push_back(Artifact{module, final_output});
    s->succeed();
  };
  s->report_progress("Compiling " + source.filename().string());
  session->run_tool("g++", std::move(args), dir, {}, std::move(on_line), std::move(next));
}

class CppFileBackend final : public BuildBackend {
 public:
  ProjectKind kind() const override { return ProjectKind::cpp_file; }
  bool claim(const ProjectFiles& files, ProjectInfo& info) const override {
    return claim_single_file(files, ".cpp", ProjectKind::cpp_file, info);
  }
  std::shared_ptr<BuildTask> start(boost::asio::io_context& io, BuildJob job, ProgressFn progress, DoneFn done) const override {
    return start_session(io, std::move(job), std::move(progress), std::move(done), build_cpp_file);
  }
  stage::PackageLayout layout(const ProjectInfo&, const BuildOutput& output, const Interpreter& python) const override {
    return single_file_layout(output, python);
  }
  fs::path pybind11_include(const ProjectInfo&, const fs::path&) const override { return pybind11_include_dir(); }
};
}  // namespace

const BuildBackend& cpp_file_backend() {
  static const CppFileBackend backend;
  return backend;
}
}  // namespace prestage::builders
