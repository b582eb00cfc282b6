// meson-python projects (build-backend = "mesonpy") built as meson-python builds them: `meson setup`
// with the target interpreter in a native file and [tool.meson-python.args] setup (again only when a
// setup input changed: the args, the interpreter, the meson tool), ninja with the compile args, then
// meson's install plan mapped to the generation (meson_install_plan). Like cmake_backend, the steps
// run on the io thread; the file work between tool runs is a few small files.
#include <cstdlib>

#include "builders/backends.hpp"
#include "builders/build_session.hpp"
#include "builders/diagnostics.hpp"
#include "builders/meson_config.hpp"
#include "builders/meson_dependencies.hpp"
#include "builders/meson_install_plan.hpp"
#include "builders/meson_internal_libs.hpp"
#include "builders/project_metadata.hpp"
#include "builders/pybind11_helper.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace prestage::builders {
namespace {

constexpr const char* stamp_file = "prestage-setup.stamp";
constexpr const char* plan_file = "meson-info/intro-install_plan.json";

using Env = std::vector<std::pair<std::string, std::string>>;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// True when the compiler meson will pick from $VAR (its last word) or `fallback` is GCC, which
// understands -fdiagnostics-format=json.
bool compiler_is_gcc(const char* var, const std::string& fallback, const std::string& gcc_name) {
  std::string command = env_or(var, fallback);
  auto space = command.find_last_of(' ');
  if (space != std::string::npos) command = command.substr(space + 1);
  auto found = find_on_path(command);
  if (!found) return false;
  std::error_code ec;
  fs::path real = fs::canonical(*found, ec);
  return !ec && real.filename().string().find(gcc_name) != std::string::npos;
}

// CFLAGS / CXXFLAGS for the setup (meson reads them once, into c_args / cpp_args): GCC's JSON
// diagnostics before the user's own flags.
Env diagnostics_env() {
  Env env;
  if (compiler_is_gcc("CC", "cc", "gcc")) env.emplace_back("CFLAGS", "-fdiagnostics-format=json " + env_or("CFLAGS", ""));
  if (compiler_is_gcc("CXX", "c++", "g++")) env.emplace_back("CXXFLAGS", "-fdiagnostics-format=json " + env_or("CXXFLAGS", ""));
  return env;
}

// Everything one build needs, read once at its start.
struct Plan {
  fs::path root;
  MesonConfig config;
  fs::path build_dir, native_file;
  std::vector<std::string> meson_command;  // the meson tool (and a script it runs), then the setup args follow
  Env setup_env;
  std::string stamp;
  std::string libs_dir;  // meson-python's .<name>.mesonpy.libs
  fs::path patched_dir;  // patched copies of the ELF files that link an internal library
};

std::vector<std::string> meson_command(const MesonConfig& config, const fs::path& root, const fs::path& python) {
  if (config.meson.empty()) return {env_or("MESON", "meson")};
  fs::path tool = config.meson;
  if (tool.is_relative() && config.meson.find('/') != std::string::npos) tool = root / tool;
  if (tool.extension() == ".py") return {python.string(), tool.string()};
  return {tool.string()};
}

std::shared_ptr<Plan> make_plan(const BuildJob& job) {
  auto plan = std::make_shared<Plan>();
  plan->root = job.project.root;
  auto pyproject = parse_toml_file_as<BuildError>(plan->root / "pyproject.toml");
  if (!pyproject) throw BuildError("no pyproject.toml in " + plan->root.string());
  plan->config = read_meson_config(*pyproject, plan->root / "pyproject.toml");
  plan->libs_dir = mesonpy_libs_dir(pyproject->at_path("project.name").value_or(plan->root.filename().string()));
  plan->patched_dir = job.work_dir / "mesonpy-libs-patched";
  std::error_code ec;
  if (!fs::is_regular_file(plan->root / "meson.build", ec)) throw BuildError("no meson.build in " + plan->root.string());
  plan->build_dir = job.work_dir / "build";
  plan->native_file = job.work_dir / "prestage-native.ini";
  plan->meson_command = meson_command(plan->config, plan->root, job.python.executable);
  plan->setup_env = diagnostics_env();
  std::string key = "python " + job.python.executable.string() + " " + job.python.version + " " + job.python.ext_suffix + "\n";
  for (const auto& word : plan->meson_command) key += "meson " + word + "\n";
  for (const auto& arg : meson_setup_args(plan->build_dir, plan->root, plan->native_file, plan->config)) key += arg + "\n";
  for (const auto& [k, v] : plan->setup_env) key += "env " + k + "=" + v + "\n";
  plan->stamp = util::sha256_hex(key);
  return plan;
}

// Diagnostics from meson's own error lines (meson.build problems).
void add_meson_error(BuildSession* s, const std::string& line, const fs::path& base_dir) {
  if (auto d = diagnostic_from_meson_error(line, base_dir, s->job().project.root)) s->add_diagnostic(std::move(*d));
}

// The install plan's files, those that link an internal library pointed at their patched copies
// (made by patch_step after a build; a restage finds them from the last build).
MesonStaging read_staging(const Plan& plan, const Interpreter& python, std::vector<ElfPatch>* patches = nullptr) {
  std::error_code ec;
  if (!fs::is_regular_file(plan.build_dir / plan_file, ec)) throw BuildError("meson wrote no install plan (" + (plan.build_dir / plan_file).string() + ")");
  MesonStaging staging = meson_staged_files(util::read_file(plan.build_dir / plan_file), plan.config, python.ext_suffix, plan.libs_dir);
  auto planned = plan_internal_libs(staging.files, plan.libs_dir, plan.patched_dir);
  if (patches) *patches = std::move(planned);
  return staging;
}

void finish_step(const std::shared_ptr<BuildSession>& session, const MesonStaging& staging) {
  BuildSession* s = session.get();
  add_to_output(s->output(), staging.files);
  s->output().work_dir = s->job().work_dir;  // layout() reads meson's project version from it
  s->succeed();
}

// Patches patches[i...] one after another: copy to <patched>.tmp, each `patchelf <call> <tmp>` in
// order (call j of patch i), rename over the copy.
void patch_step(const std::shared_ptr<BuildSession>& session, std::shared_ptr<std::vector<ElfPatch>> patches, std::size_t i,
                std::size_t call, std::shared_ptr<MesonStaging> staging) {
  BuildSession* s = session.get();
  if (i == patches->size()) return finish_step(session, *staging);
  const ElfPatch& patch = (*patches)[i];
  fs::path tmp = patch.patched.string() + ".tmp";
  std::error_code ec;
  if (call == patch.patchelf_calls.size()) {
    fs::rename(tmp, patch.patched, ec);
    if (ec) return s->fail("cannot rename " + tmp.string() + ": " + ec.message());
    return patch_step(session, patches, i + 1, 0, staging);
  }
  if (call == 0) {
    fs::create_directories(patch.patched.parent_path(), ec);
    fs::copy_file(patch.original, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) return s->fail("cannot copy " + patch.original.string() + " to " + tmp.string() + ": " + ec.message());
  }
  std::vector<std::string> args = patch.patchelf_calls[call];
  args.push_back(tmp.string());
  auto log_line = [s](StreamKind, const std::string& line) { s->log(line); };
  s->run_tool("patchelf", std::move(args), session->job().work_dir, {}, log_line,
              [session, s, patches, i, call, staging](const ProcessExit& exit) {
                if (exit.signaled || exit.exit_code != 0) return s->fail_tool_exit("patchelf", exit);
                patch_step(session, patches, i, call + 1, staging);
              });
}

void collect_step(const std::shared_ptr<BuildSession>& session, const std::shared_ptr<Plan>& plan) {
  BuildSession* s = session.get();
  auto patches = std::make_shared<std::vector<ElfPatch>>();
  auto staging = std::make_shared<MesonStaging>(read_staging(*plan, s->job().python, patches.get()));
  for (const auto& skipped : staging->skipped) s->log("prestage: not staged (installed outside site-packages): " + skipped);
  if (staging->files.empty())
    return s->fail("nothing to stage: meson's install plan puts no file into site-packages (py.extension_module / py.install_sources)");
  if (!patches->empty() && !find_on_path("patchelf")) {
    std::string libraries;
    for (const auto& patch : *patches)
      if (patch.patched.parent_path().filename() == plan->libs_dir)
        libraries += (libraries.empty() ? "" : ", ") + patch.original.filename().string();
    return s->fail("meson installs the shared library " + libraries + " to {libdir_shared}: staging it into " + plan->libs_dir +
                   " needs patchelf on PATH, as meson-python does (Debian: apt install patchelf)");
  }
  std::error_code ec;
  fs::remove_all(plan->patched_dir, ec);  // the copies of earlier builds (libraries named by older contents)
  patch_step(session, patches, 0, 0, staging);
}

void compile_step(const std::shared_ptr<BuildSession>& session, const std::shared_ptr<Plan>& plan) {
  BuildSession* s = session.get();
  fs::path build_dir = plan->build_dir;
  fs::path root = plan->root;
  auto on_line = [s, build_dir, root](StreamKind, const std::string& line) {
    if (s->add_gcc_json_diagnostics(line, build_dir, root)) return;
    s->log(line);
    add_meson_error(s, line, build_dir);  // meson.build edited: ninja reruns meson first
    if (auto cython = diagnostic_from_cython_line(line, root)) s->add_diagnostic(std::move(*cython));  // meson's cython language
    if (auto fraction = ninja_fraction(line)) s->report_progress(BuildProgress{line, fraction->done, fraction->total});
  };
  auto next = [session, s, plan](const ProcessExit& exit) {
    if (exit.signaled || exit.exit_code != 0) return s->fail_tool_exit("ninja", exit);
    collect_step(session, plan);
  };
  std::vector<std::string> args = {"-C", build_dir.string()};
  args.insert(args.end(), plan->config.compile_args.begin(), plan->config.compile_args.end());
  session->run_tool(env_or("NINJA", "ninja"), std::move(args), build_dir, {}, std::move(on_line), std::move(next));
}

// A fresh `meson setup` (the old build dir removed, so a dropped -D option is gone too).
void setup_step(const std::shared_ptr<BuildSession>& session, const std::shared_ptr<Plan>& plan) {
  BuildSession* s = session.get();
  const BuildJob& job = s->job();
  std::error_code ec;
  fs::remove_all(plan->build_dir, ec);
  fs::create_directories(plan->build_dir, ec);
  util::write_file_atomic(plan->native_file, meson_native_file(job.python.executable), fs::perms(0644));
  std::vector<std::string> args(plan->meson_command.begin() + 1, plan->meson_command.end());
  for (auto& a : meson_setup_args(plan->build_dir, plan->root, plan->native_file, plan->config)) args.push_back(std::move(a));
  fs::path build_dir = plan->build_dir;
  auto on_line = [s, build_dir](StreamKind, const std::string& line) {
    s->log(line);
    add_meson_error(s, line, build_dir);
  };
  auto next = [session, s, plan](const ProcessExit& exit) {
    if (exit.signaled || exit.exit_code != 0) return s->fail_tool_exit("meson setup", exit);  // no stamp: set up again next time
    util::write_file_atomic(plan->build_dir / stamp_file, plan->stamp, fs::perms(0644));
    compile_step(session, plan);
  };
  s->report_progress("Setting up " + plan->root.filename().string() + " with meson for Python " + job.python.version);
  session->run_tool(plan->meson_command.front(), std::move(args), plan->build_dir, plan->setup_env, std::move(on_line), std::move(next));
}

void setup_and_build(const std::shared_ptr<BuildSession>& session) {
  auto plan = make_plan(session->job());
  for (const auto& note : plan->config.notes) session->log("prestage: " + note);
  std::error_code ec;
  const fs::path& dir = plan->build_dir;
  bool set_up = fs::exists(dir / "build.ninja", ec) && fs::exists(dir / plan_file, ec) && fs::exists(dir / stamp_file, ec) &&
                util::read_file(dir / stamp_file) == plan->stamp;
  if (set_up) return compile_step(session, plan);
  setup_step(session, plan);
}

// [project] version, or meson.build's project(version:) when pyproject declares it dynamic (as meson-python does).
void set_dynamic_version(stage::PackageLayout& layout, const fs::path& work_dir) {
  if (!layout.distribution || !layout.distribution->version_dynamic) return;
  std::error_code ec;
  fs::path info = work_dir / "build" / "meson-info" / "intro-projectinfo.json";
  if (!fs::is_regular_file(info, ec)) return;
  try {
    auto j = nlohmann::json::parse(util::read_file(info));
    if (auto v = j.value("version", std::string()); !v.empty() && v != "undefined") layout.distribution->version = v;
  } catch (const std::exception&) {
    // the build reports a broken build dir
  }
}

class MesonBackend final : public BuildBackend {
 public:
  ProjectKind kind() const override { return ProjectKind::meson; }

  bool claim(const ProjectFiles& files, ProjectInfo& info) const override {
    if (!uses_meson_python(files)) return false;
    info.kind = ProjectKind::meson;
    if (!find_python_package(files, info))
      throw ProjectError("cannot tell which Python module the meson-python project at " + files.root.string() +
                         " provides: add [project] name to its pyproject.toml");
    if (!is_python_identifier(info.modules.front()))
      throw ProjectError("meson-python project at " + files.root.string() + ": \"" + info.modules.front() + "\" is not a valid Python module name");
    return true;
  }

  std::shared_ptr<BuildTask> start(boost::asio::io_context& io, BuildJob job, ProgressFn progress, DoneFn done) const override {
    return start_session(io, std::move(job), std::move(progress), std::move(done), setup_and_build);
  }

  // After a build, what collect_step found; for a restage (empty output), the last install plan
  // read again: its source files are read where they are, so edited .py files come in as they are now.
  stage::PackageLayout layout(const ProjectInfo& info, const BuildOutput& output, const Interpreter& python) const override {
    stage::PackageLayout layout;
    layout.ext_suffix = python.ext_suffix;
    BuildOutput restaged;
    const BuildOutput* built = &output;
    if (!output.ok) {
      if (output.work_dir.empty()) throw BuildError("restaging " + info.id + " needs the work dir of its last build");
      auto plan = make_plan(BuildJob{info, python, output.work_dir});
      add_to_output(restaged, read_staging(*plan, python).files);
      built = &restaged;
    }
    for (const auto& a : built->artifacts) layout.placed_artifacts.emplace_back(a.module, a.relpath, a.path);
    layout.extra_files = built->extra_files;
    add_distribution(layout, info.root, /*cargo=*/false);  // <name>-<version>.dist-info from [project]
    set_dynamic_version(layout, output.work_dir);
    return layout;
  }

  // dependency('pybind11') as meson resolved it (pkg-config, pybind11-config or a wrap).
  fs::path pybind11_include(const ProjectInfo&, const fs::path& work_dir) const override {
    const fs::path file = work_dir / "build" / "meson-info" / "intro-dependencies.json";
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) return {};
    try {
      return pybind11_include_from_meson(util::read_file(file), pybind11_include_dir());
    } catch (const std::exception&) {
      return {};  // being rewritten by a reconfigure: asked again at the next staging
    }
  }
};
}  // namespace

const BuildBackend& meson_backend() {
  static const MesonBackend backend;
  return backend;
}
}  // namespace prestage::builders
