// Single .cpp files: one g++ call against pybind11's and the interpreter's headers.
#include "build/build_session.hpp"
#include "build/diagnostics.hpp"

namespace prestage::build {

void start_cpp_file(const std::shared_ptr<BuildSession>& session) {
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
    if (auto diags = diagnostics_from_gcc_json_line(line, dir, source)) {
      for (auto& d : *diags) {
        s->log(render_diagnostic(d));
        s->add_diagnostic(std::move(d));
      }
      return;
    }
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
}  // namespace prestage::build
