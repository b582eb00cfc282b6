// Build backends against the real tools: cargo (offline, Debian registry), cmake + pybind11, g++.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "builders/backends.hpp"
#include "builders/build.hpp"
#include "builders/process_runner.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace fs = std::filesystem;
using namespace prestage;
using namespace prestage::builders;

namespace {
const fs::path source_dir = PRESTAGE_SOURCE_DIR;
const fs::path fixtures = source_dir / "tests" / "fixtures";
// Persistent root with .cargo/config.toml (the offline Debian registry) for every cargo run.
const fs::path work_root = PRESTAGE_TEST_WORK_DIR;
const fs::path system_python = "/usr/bin/python3";

void prepare_work_root() {
  fs::create_directories(work_root / ".cargo");
  fs::copy_file(fixtures / "cargo-offline.toml", work_root / ".cargo" / "config.toml",
                fs::copy_options::overwrite_existing);
}

// A unique scratch dir under the work root, removed at scope exit.
struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& name) {
    prepare_work_root();
    static int counter = 0;
    dir = work_root / (name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fs::path copy_fixture(const std::string& name) const {
    fs::path to = dir / fs::path(name).filename();
    fs::copy(fixtures / name, to, fs::copy_options::recursive);
    return to;
  }
};

// cargo builds share one target dir so pyo3 compiles once (~30 s cold).
fs::path shared_cargo_work_dir() { return work_root / "cargo-shared"; }

const Interpreter& python() {
  static InterpreterCache cache(work_root / "interpreters.json");
  static const InterpreterCache::Facts facts = cache.get_blocking(system_python);
  return *facts;
}

std::string read(const fs::path& p) { return util::read_file(p); }
void write(const fs::path& p, const std::string& s) { util::write_file_atomic(p, s, fs::perms(0644)); }
void replace_in_file(const fs::path& p, const std::string& from, const std::string& to) {
  std::string text = read(p);
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  text.replace(pos, from.size(), to);
  write(p, text);
}
int line_of(const fs::path& p, const std::string& needle) {
  std::istringstream in(read(p));
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (line.find(needle) != std::string::npos) return n;
  FAIL("no line containing " << needle << " in " << p);
  return 0;
}

// A build's fractions in order, checked monotone with done <= total.
std::vector<std::pair<std::uint64_t, std::uint64_t>> fractions_of(const std::vector<BuildProgress>& progress) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const auto& p : progress) {
    if (!p.has_fraction()) continue;
    CHECK(*p.done <= *p.total);
    if (!out.empty()) CHECK(*p.done * out.back().second >= out.back().first * *p.total);
    out.emplace_back(*p.done, *p.total);
  }
  return out;
}

struct RunResult {
  BuildOutput out;
  std::vector<BuildProgress> progress;
  int done_calls = 0;
};

// Runs one build to completion; `while_running` is polled until it returns true (then no more).
RunResult run_build(const BuildJob& job, std::function<bool(BuildTask&)> while_running = {},
                    std::chrono::seconds guard = std::chrono::seconds(600)) {
  boost::asio::io_context io;
  RunResult result;
  auto task = backend_for(job.project.kind).start(
      io, job, [&](const BuildProgress& p) { result.progress.push_back(p); },
      [&](BuildOutput out) {
        result.out = std::move(out);
        ++result.done_calls;
      });
  auto deadline = std::chrono::steady_clock::now() + guard;
  bool poll = static_cast<bool>(while_running);
  while (result.done_calls == 0 && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(50));
    if (poll && result.done_calls == 0 && while_running(*task)) poll = false;
  }
  if (result.done_calls == 0) {
    task->cancel();
    io.run_for(std::chrono::seconds(10));
    FAIL("build did not finish within the guard timeout");
  }
  io.run_for(std::chrono::milliseconds(100));  // would expose a second `done`
  if (!result.out.ok) UNSCOPED_INFO("build failed: " << result.out.summary << "\nlog tail:\n" << result.out.log_tail);
  return result;
}

BuildJob make_job(ProjectKind kind, const fs::path& root, const fs::path& work_dir, std::string extension_module = {}) {
  BuildJob job;
  job.project.id = "test";
  job.project.root = root;
  job.project.kind = kind;
  job.project.extension_module = std::move(extension_module);
  job.python = python();
  job.work_dir = work_dir;
  return job;
}

// Imports `module` with `path_entry` first on sys.path in a fresh interpreter; returns stdout.
std::string python_eval(const fs::path& path_entry, const std::string& module, const std::string& expr) {
  std::string cmd = system_python.string() + " -I -c \"import sys; sys.path.insert(0, '" + path_entry.string() +
                    "'); import " + module + " as m; print(" + expr + ")\" 2>&1";
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe);
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  ::pclose(pipe);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Puts an extension at its dotted place under `dir`, so `import a.b._native` works (namespace packages).
fs::path place_module(const fs::path& dir, const Artifact& a) {
  fs::path rel;
  std::string module = a.module;
  for (size_t dot; (dot = module.find('.')) != std::string::npos; module = module.substr(dot + 1))
    rel /= module.substr(0, dot);
  fs::create_directories(dir / rel);
  util::copy_file_fresh(a.path, dir / rel / (module + python().ext_suffix));
  return dir;
}

std::set<std::string> tree_listing(const fs::path& root) {
  std::set<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) files.insert(fs::relative(e.path(), root).string());
  return files;
}

const Diagnostic* first_error(const BuildOutput& out) {
  for (const auto& d : out.diagnostics)
    if (d.severity == "error") return &d;
  return nullptr;
}

bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), {});
  auto close_paren = content.rfind(')');
  return close_paren != std::string::npos && content.size() > close_paren + 2 && content[close_paren + 2] == 'Z';
}

// Sets PATH for the scope.
struct PathOverride {
  std::string saved;
  explicit PathOverride(const std::string& value) {
    saved = std::getenv("PATH") ? std::getenv("PATH") : "";
    ::setenv("PATH", value.c_str(), 1);
  }
  ~PathOverride() { ::setenv("PATH", saved.c_str(), 1); }
};
}  // namespace

TEST_CASE("interpreter query reports version EXT_SUFFIX and include dir and is asked once") {
  Scratch scratch("interp");
  fs::path cache_file = scratch.dir / "interpreters.json";
  {
    InterpreterCache cache(cache_file);
    InterpreterCache::Facts facts = cache.get_blocking(system_python);
    const Interpreter& py = *facts;
    CHECK(py.executable == system_python);
    CHECK(py.version.rfind("3.11.", 0) == 0);
    CHECK(py.ext_suffix == ".cpython-311-x86_64-linux-gnu.so");
    CHECK(fs::exists(py.include_dir / "Python.h"));
    REQUIRE(py.key.size() == std::string("cp311-").size() + 8);
    CHECK(py.key.rfind("cp311-", 0) == 0);
    CHECK(cache.get_blocking(system_python)->key == py.key);
    CHECK(cache.queries_run() == 1);
    nlohmann::json j = py;
    CHECK(j.at("ext_suffix") == py.ext_suffix);
    CHECK(j.get<Interpreter>().key == py.key);
  }
  REQUIRE(fs::exists(cache_file));
  InterpreterCache reloaded(cache_file);
  CHECK(reloaded.get_blocking(system_python)->ext_suffix == ".cpython-311-x86_64-linux-gnu.so");
  CHECK(reloaded.queries_run() == 0);  // answered from the cache file
}

TEST_CASE("bad interpreter paths give an error naming the problem") {
  Scratch scratch("badinterp");
  InterpreterCache cache(scratch.dir / "interpreters.json");
  CHECK_THROWS_WITH(cache.get_blocking("python3"), Catch::Contains("must be absolute") && Catch::Contains("python3"));
  CHECK_THROWS_WITH(cache.get_blocking("/nonexistent/bin/python"),
                    Catch::Contains("not found") && Catch::Contains("/nonexistent/bin/python"));
  fs::path not_exec = scratch.dir / "python-not-exec";
  write(not_exec, "#!/bin/sh\n");
  CHECK_THROWS_WITH(cache.get_blocking(not_exec), Catch::Contains("not executable") && Catch::Contains(not_exec.string()));
  CHECK_THROWS_WITH(cache.get_blocking("/bin/false"), Catch::Contains("/bin/false") && Catch::Contains("not a working Python"));
  fs::path old_python = scratch.dir / "python3.8";
  write(old_python,
        "#!/bin/sh\necho '{\"version\": \"3.8.10\", \"major\": 3, \"minor\": 8, \"implementation\": \"cpython\", "
        "\"ext_suffix\": \".so\", \"include\": \"/x\"}'\n");
  fs::permissions(old_python, fs::perms(0755));
  CHECK_THROWS_WITH(cache.get_blocking(old_python), Catch::Contains("3.8.10") && Catch::Contains(">= 3.9"));
}

namespace {
// A stand-in interpreter: answers the query with fixed facts (a real Python is not needed for caching).
void write_fake_python(const fs::path& path, int minor, const std::string& extra = "") {
  fs::create_directories(path.parent_path());
  std::string version = "3." + std::to_string(minor) + ".1";
  write(path, "#!/bin/sh\n" + extra + "echo '{\"version\": \"" + version + "\", \"major\": 3, \"minor\": " + std::to_string(minor) +
                  ", \"implementation\": \"cpython\", \"ext_suffix\": \".cpython-3" + std::to_string(minor) +
                  "-x86_64-linux-gnu.so\", \"include\": \"/usr/include/python3." + std::to_string(minor) + "\"}'\n");
  fs::permissions(path, fs::perms(0755));
}

void point_link(const fs::path& link, const fs::path& target) {
  fs::path tmp = link;
  tmp += ".new";
  fs::remove(tmp);
  fs::create_symlink(target, tmp);
  fs::rename(tmp, link);  // atomic switch, as a package manager would do
}
}  // namespace

TEST_CASE("a switched interpreter symlink is noticed once the recheck bound has passed, never before") {
  Scratch scratch("interp-switch");
  const fs::path a = scratch.dir / "a" / "python3", b = scratch.dir / "b" / "python3", link = scratch.dir / "python";
  write_fake_python(a, 11);
  write_fake_python(b, 12);
  point_link(link, a);
  InterpreterCache trusting(scratch.dir / "trusting.json", std::chrono::hours(1));
  InterpreterCache checking(scratch.dir / "checking.json", std::chrono::milliseconds(0));
  auto trusted = trusting.get_blocking(link);
  auto first = checking.get_blocking(link);
  CHECK(first->version == "3.11.1");
  CHECK(checking.lookup(link.string()).facts == first);  // re-checked, unchanged: the same facts, no query
  CHECK(checking.queries_run() == 1);

  point_link(link, b);
  CHECK(trusting.lookup(link.string()).facts == trusted);  // within the bound the file is not looked at
  CHECK(trusting.queries_run() == 1);
  CHECK(checking.lookup(link.string()).needs_query());  // past it the switch is seen; lookup never runs it
  CHECK(checking.queries_run() == 1);
  auto second = checking.get_blocking(link);
  CHECK(second->version == "3.12.1");
  CHECK(second->key != first->key);
  CHECK(second->executable == link);
  CHECK(first->version == "3.11.1");  // facts handed out before stay valid after their entry is replaced
  CHECK(checking.queries_run() == 2);
}

TEST_CASE("an interpreter file rewritten in place is re-asked after the recheck bound") {
  Scratch scratch("interp-rewrite");
  const fs::path python = scratch.dir / "python3";
  write_fake_python(python, 11);
  InterpreterCache checking(scratch.dir / "checking.json", std::chrono::milliseconds(0));
  auto first = checking.get_blocking(python);
  write_fake_python(python, 12, "# upgraded\n");  // another size: a different stamp whatever the mtime granularity
  auto second = checking.get_blocking(python);
  CHECK(second->version == "3.12.1");
  CHECK(second->key.substr(second->key.find('-')) == first->key.substr(first->key.find('-')));  // same real path
  CHECK(checking.queries_run() == 2);
  InterpreterCache reloaded(scratch.dir / "checking.json");
  CHECK(reloaded.get_blocking(python)->version == "3.12.1");  // the cache file has the new facts
  CHECK(reloaded.queries_run() == 0);
}

TEST_CASE("a failed interpreter is remembered for the recheck bound, and a fixed one is picked up") {
  Scratch scratch("interp-broken");
  const fs::path python = scratch.dir / "python3";
  write(python, "#!/bin/sh\necho broken >&2\nexit 3\n");
  fs::permissions(python, fs::perms(0755));
  InterpreterCache trusting(scratch.dir / "trusting.json", std::chrono::hours(1));
  InterpreterCache checking(scratch.dir / "checking.json", std::chrono::milliseconds(0));
  for (int i = 0; i < 2; ++i) {
    CHECK_THROWS_WITH(trusting.get_blocking(python), Catch::Contains("not a working Python") && Catch::Contains("broken"));
    CHECK_THROWS_WITH(checking.get_blocking(python), Catch::Contains("not a working Python"));
  }
  CHECK(trusting.queries_run() == 1);
  CHECK_THAT(trusting.lookup(python.string()).error, Catch::Contains("not a working Python"));
  CHECK(checking.queries_run() == 2);
  write_fake_python(python, 11);
  CHECK(checking.get_blocking(python)->version == "3.11.1");
  CHECK_THROWS(trusting.get_blocking(python));  // still within its bound
  CHECK_THAT(trusting.lookup("/no/such/python").error, Catch::Contains("not found"));
  CHECK(trusting.queries_run() == 1);
}

TEST_CASE("concurrent askers of a new interpreter share one query") {
  Scratch scratch("interp-concurrent");
  const fs::path python = scratch.dir / "python3";
  write_fake_python(python, 11, "sleep 0.3\n");
  InterpreterCache cache(scratch.dir / "interpreters.json");
  InterpreterCache::Facts seen[4];
  std::vector<std::thread> askers;
  for (auto& slot : seen) askers.emplace_back([&cache, &python, &slot] { slot = cache.get_blocking(python); });
  for (auto& t : askers) t.join();
  for (auto& facts : seen) CHECK(facts == seen[0]);
  CHECK(cache.queries_run() == 1);
}

TEST_CASE("a single .cpp file builds into an importable pybind11 module and a compile error keeps the last good output") {
  Scratch scratch("cppfile");
  fs::path src_dir = scratch.copy_fixture("single");
  fs::path source = src_dir / "single_cpp.cpp";
  fs::path work = scratch.dir / "work";
  auto before = tree_listing(src_dir);
  BuildJob job = make_job(ProjectKind::cpp_file, source, work, "single_cpp");

  RunResult first = run_build(job);
  REQUIRE(first.out.ok);
  CHECK_FALSE(first.out.cancelled);
  REQUIRE(first.out.artifacts.size() == 1);
  const Artifact built = first.out.artifacts[0];
  CHECK(built.module == "single_cpp");
  CHECK(built.path == work / ("single_cpp" + python().ext_suffix));
  CHECK(python_eval(work, "single_cpp", "m.get_num()") == "10");
  CHECK(first.done_calls == 1);
  CHECK(tree_listing(src_dir) == before);  // nothing written next to the source
  std::string good_hash = util::sha256_file(built.path);

  int bad_line = line_of(source, "return 10;");
  replace_in_file(source, "return 10;", "return undefined_name;");
  RunResult broken = run_build(job);
  CHECK_FALSE(broken.out.ok);
  const Diagnostic* error = first_error(broken.out);
  REQUIRE(error);
  CHECK(error->file == source.string());
  CHECK(error->line == bad_line);
  CHECK(error->column > 0);
  CHECK_THAT(error->message, Catch::Contains("undefined_name"));
  CHECK_THAT(broken.out.log_tail, Catch::Contains(source.string() + ":" + std::to_string(bad_line)));
  CHECK(broken.out.summary == "1 error");
  CHECK(util::sha256_file(built.path) == good_hash);  // the last good output is untouched
}

TEST_CASE("a cmake project builds and installs both modules and rebuilds without reconfiguring") {
  Scratch scratch("cmake");
  fs::path root = scratch.copy_fixture("cmake_pkg");
  fs::path work = scratch.dir / "work";
  auto before = tree_listing(root);
  BuildJob job = make_job(ProjectKind::cmake, root, work);

  RunResult first = run_build(job);
  REQUIRE(first.out.ok);
  std::map<std::string, fs::path> modules;
  for (const auto& a : first.out.artifacts) modules[a.module] = a.path;
  REQUIRE(modules.size() == 2);
  REQUIRE(modules.count("cmake_pkg._core"));
  REQUIRE(modules.count("cmake_pkg.subpkg._sub"));
  CHECK(modules["cmake_pkg._core"] == work / "wheel" / "platlib" / "cmake_pkg" / ("_core" + python().ext_suffix));
  CHECK_THAT(first.out.log_tail, Catch::Contains("$ cmake -S"));
  auto fractions = fractions_of(first.progress);  // ninja's [n/total]
  CHECK(fractions.size() >= 2);
  CHECK(fractions.back().first == fractions.back().second);
  CHECK(python_eval(work / "wheel" / "platlib", "cmake_pkg._core", "m.get_num()") == "10");
  CHECK(tree_listing(root) == before);

  replace_in_file(root / "src" / "core.cpp", "return 10;", "return 20;");
  RunResult second = run_build(job);
  REQUIRE(second.out.ok);
  CHECK_THAT(second.out.log_tail, !Catch::Contains("$ cmake -S"));  // configured once
  CHECK(python_eval(work / "wheel" / "platlib", "cmake_pkg._core", "m.get_num()") == "20");

  SECTION("a compile error names the file and line (GCC JSON injected at configure)") {
    int bad_line = line_of(root / "src" / "core.cpp", "return 20;");
    replace_in_file(root / "src" / "core.cpp", "return 20;", "return \"text\";");
    RunResult broken = run_build(job);
    CHECK_FALSE(broken.out.ok);
    const Diagnostic* error = first_error(broken.out);
    REQUIRE(error);
    CHECK(error->file == (root / "src" / "core.cpp").string());
    CHECK(error->line == bad_line);
    CHECK(broken.out.artifacts.empty());
  }
}

TEST_CASE("a broken CMakeLists.txt fails with CMake's error as a diagnostic and the user's environment is kept") {
  Scratch scratch("cmakebad");
  fs::path root = scratch.copy_fixture("cmake_pkg");
  std::string lists = read(root / "CMakeLists.txt");
  lists += "execute_process(COMMAND sh -c \"echo ENV-MARK=$PRESTAGE_TEST_MARK\")\n";
  lists += "message(FATAL_ERROR \"fixture is broken on purpose\")\n";
  write(root / "CMakeLists.txt", lists);
  int bad_line = line_of(root / "CMakeLists.txt", "FATAL_ERROR");
  ::setenv("PRESTAGE_TEST_MARK", "kept-42", 1);
  RunResult result = run_build(make_job(ProjectKind::cmake, root, scratch.dir / "work"));
  ::unsetenv("PRESTAGE_TEST_MARK");
  CHECK_FALSE(result.out.ok);
  const Diagnostic* error = first_error(result.out);
  REQUIRE(error);
  CHECK(error->file == (root / "CMakeLists.txt").string());
  CHECK(error->line == bad_line);
  CHECK_THAT(error->message, Catch::Contains("fixture is broken on purpose"));
  CHECK_THAT(result.out.log_tail, Catch::Contains("ENV-MARK=kept-42"));
}

TEST_CASE("a maturin mixed project builds and rebuilds incrementally and reports rustc errors with file and line") {
  Scratch scratch("maturin");
  fs::path root = scratch.copy_fixture("maturin_mixed");
  auto before = tree_listing(root);
  BuildJob job = make_job(ProjectKind::cargo, root, shared_cargo_work_dir(), "maturin_mixed._native");

  RunResult first = run_build(job);
  REQUIRE(first.out.ok);
  REQUIRE(first.out.artifacts.size() == 1);
  CHECK(first.out.artifacts[0].module == "maturin_mixed._native");
  CHECK(first.out.artifacts[0].path.extension() == ".so");
  CHECK(first.out.artifacts[0].path.string().rfind((shared_cargo_work_dir() / "target").string(), 0) == 0);
  bool saw_compiling = false;
  for (const auto& p : first.progress) saw_compiling |= p.message.rfind("Compiling maturin_mixed", 0) == 0;
  CHECK(saw_compiling);
  Scratch import_dir("maturin-import");
  place_module(import_dir.dir, first.out.artifacts[0]);
  CHECK(python_eval(import_dir.dir, "maturin_mixed._native", "m.get_num(), m.CONSTANT") ==
        "10 maturin_mixed-constant");
  // Only cargo's own Cargo.lock appears in the source tree.
  auto after = tree_listing(root);
  before.insert("Cargo.lock");
  CHECK(after == before);

  replace_in_file(root / "src" / "lib.rs", "    10\n", "    20\n");
  RunResult second = run_build(job);
  REQUIRE(second.out.ok);
  // The first build's unit count is the rebuild's total: a crate count that ends at it.
  auto fractions = fractions_of(second.progress);
  REQUIRE(fractions.size() >= 2);
  CHECK(fractions.back().first == fractions.back().second);
  Scratch import_dir2("maturin-import");
  place_module(import_dir2.dir, second.out.artifacts[0]);
  CHECK(python_eval(import_dir2.dir, "maturin_mixed._native", "m.get_num()") == "20");

  int bad_line = line_of(root / "src" / "lib.rs", "    20");
  replace_in_file(root / "src" / "lib.rs", "    20\n", "    \"twenty\"\n");
  RunResult broken = run_build(job);
  CHECK_FALSE(broken.out.ok);
  CHECK(broken.out.summary == "1 error");
  const Diagnostic* error = first_error(broken.out);
  REQUIRE(error);
  CHECK(error->file == (root / "src" / "lib.rs").string());
  CHECK(error->line == bad_line);
  CHECK(error->column == 5);
  CHECK_THAT(error->message, Catch::Contains("mismatched types"));
  CHECK_THAT(broken.out.log_tail, Catch::Contains("error[E0308]"));  // rustc's rendered text
}

TEST_CASE("a pure PyO3 crate builds into a top-level module") {
  Scratch scratch("pyo3pure");
  fs::path root = scratch.copy_fixture("pyo3_pure");
  RunResult result = run_build(make_job(ProjectKind::cargo, root, shared_cargo_work_dir(), "pyo3_pure"));
  REQUIRE(result.out.ok);
  REQUIRE(result.out.artifacts.size() == 1);
  // maturin puts a pure crate's extension inside the package of its name (beside the generated __init__.py).
  CHECK(result.out.artifacts[0].module == "pyo3_pure.pyo3_pure");
  Scratch import_dir("pyo3pure-import");
  place_module(import_dir.dir, result.out.artifacts[0]);
  CHECK(python_eval(import_dir.dir, "pyo3_pure.pyo3_pure", "m.get_num(), m.Integer(21).doubled()") == "10 42");
}

TEST_CASE("a single .rs file builds through a generated crate under the work dir") {
  Scratch scratch("rsfile");
  fs::path src_dir = scratch.copy_fixture("single");
  fs::path source = src_dir / "single_rs.rs";
  auto before = tree_listing(src_dir);
  BuildJob job = make_job(ProjectKind::rust_file, source, shared_cargo_work_dir(), "single_rs");
  RunResult result = run_build(job);
  REQUIRE(result.out.ok);
  REQUIRE(result.out.artifacts.size() == 1);
  CHECK(result.out.artifacts[0].module == "single_rs");
  CHECK(fs::exists(shared_cargo_work_dir() / "crate" / "Cargo.toml"));
  CHECK_THAT(read(shared_cargo_work_dir() / "crate" / "Cargo.lock"), Catch::Contains("name = \"pyo3\"\nversion = \"0.17.3\""));
  Scratch import_dir("rsfile-import");
  place_module(import_dir.dir, result.out.artifacts[0]);
  CHECK(python_eval(import_dir.dir, "single_rs", "m.get_num()") == "10");
  CHECK(tree_listing(src_dir) == before);  // no Cargo.lock or target next to the user's file

  int bad_line = line_of(source, "    10");
  replace_in_file(source, "    10\n", "    undefined_value\n");
  RunResult broken = run_build(job);
  CHECK_FALSE(broken.out.ok);
  const Diagnostic* error = first_error(broken.out);
  REQUIRE(error);
  CHECK(error->file == source.string());
  CHECK(error->line == bad_line);
}

TEST_CASE("cancel() stops the whole process group even children that ignore SIGTERM") {
  Scratch scratch("cancel");
  fs::path root = scratch.dir / "slow";
  fs::create_directories(root);
  fs::path pid_file = scratch.dir / "pids";
  // Configure starts a shell that ignores TERM (its children inherit that) and sleeps.
  write(root / "CMakeLists.txt",
        "cmake_minimum_required(VERSION 3.18)\nproject(slow LANGUAGES NONE)\n"
        "execute_process(COMMAND sh -c \"trap '' TERM; sleep 300 & echo $! >> " + pid_file.string() +
            "; echo $$ >> " + pid_file.string() + "; wait\")\n");
  std::vector<pid_t> pids;
  RunResult result = run_build(make_job(ProjectKind::cmake, root, scratch.dir / "work"), [&](BuildTask& task) {
    if (!fs::exists(pid_file)) return false;
    std::istringstream in(read(pid_file));
    pids.clear();
    for (pid_t p; in >> p;) pids.push_back(p);
    if (pids.size() < 2) return false;
    task.cancel();
    task.cancel();  // idempotent
    return true;
  });
  CHECK(result.out.cancelled);
  CHECK_FALSE(result.out.ok);
  CHECK(result.done_calls == 1);
  CHECK(result.out.artifacts.empty());
  REQUIRE(pids.size() == 2);
  // SIGKILL went out after the grace period; allow the kernel a moment to finish them.
  for (int i = 0; i < 100 && !(process_gone(pids[0]) && process_gone(pids[1])); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (pid_t p : pids) CHECK(process_gone(p));
}

TEST_CASE("cancel() before the build started still calls done once as cancelled") {
  Scratch scratch("cancel-early");
  fs::path src_dir = scratch.copy_fixture("single");
  boost::asio::io_context io;
  int calls = 0;
  BuildOutput out;
  auto task = cpp_file_backend().start(io, make_job(ProjectKind::cpp_file, src_dir / "single_cpp.cpp", scratch.dir / "work"), {},
                          [&](BuildOutput o) {
                            out = std::move(o);
                            ++calls;
                          });
  task->cancel();
  CHECK(calls == 0);  // never called inside cancel()
  io.run_for(std::chrono::seconds(5));
  CHECK(calls == 1);
  CHECK(out.cancelled);
}

TEST_CASE("a missing tool is a clear failed build and not a crash") {
  Scratch scratch("notool");
  fs::path empty_bin = scratch.dir / "empty-bin";
  fs::create_directories(empty_bin);
  fs::path single = scratch.copy_fixture("single");
  fs::path cargo_root = scratch.copy_fixture("pyo3_pure");
  fs::path cmake_root = scratch.copy_fixture("cmake_pkg");
  PathOverride path(empty_bin.string());

  RunResult gxx = run_build(make_job(ProjectKind::cpp_file, single / "single_cpp.cpp", scratch.dir / "w1"));
  CHECK_FALSE(gxx.out.ok);
  CHECK(gxx.out.summary == "g++ not found on PATH");
  REQUIRE(first_error(gxx.out));
  CHECK(first_error(gxx.out)->message == "g++ not found on PATH");

  RunResult cargo = run_build(make_job(ProjectKind::cargo, cargo_root, scratch.dir / "w2", "pyo3_pure"));
  CHECK_FALSE(cargo.out.ok);
  CHECK(cargo.out.summary == "cargo not found on PATH");

  RunResult cmake = run_build(make_job(ProjectKind::cmake, cmake_root, scratch.dir / "w3"));
  CHECK_FALSE(cmake.out.ok);
  CHECK(cmake.out.summary == "cmake not found on PATH");
}

TEST_CASE("captured output is bounded and keeps the end of the log") {
  Scratch scratch("biglog");
  fs::path root = scratch.dir / "loud";
  fs::create_directories(root);
  // ~3 MB of lines, one 10 MB line without a newline break, then a marker, then an error.
  write(root / "CMakeLists.txt",
        "cmake_minimum_required(VERSION 3.18)\nproject(loud LANGUAGES NONE)\n"
        "execute_process(COMMAND sh -c \"yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 3000000; "
        "head -c 10000000 /dev/zero | tr '\\\\\\\\000' x; echo; echo tail-marker\")\n"
        "message(FATAL_ERROR \"loud fixture done\")\n");
  RunResult result = run_build(make_job(ProjectKind::cmake, root, scratch.dir / "work"));
  CHECK_FALSE(result.out.ok);
  CHECK(result.out.log_tail.size() <= 64 * 1024);
  CHECK(result.out.log_tail.size() > 32 * 1024);  // the window is filled, not emptied by the long line
  CHECK_THAT(result.out.log_tail, Catch::Contains("bytes cut]"));
  CHECK_THAT(result.out.log_tail, Catch::Contains("tail-marker"));
  CHECK_THAT(result.out.log_tail, Catch::Contains("loud fixture done"));
}

TEST_CASE("BoundedLog keeps whole trailing lines within its capacity") {
  BoundedLog log(100);
  for (int i = 0; i < 1000; ++i) log.append_line("line " + std::to_string(i));
  std::string text = log.text();
  CHECK(text.size() <= 100);
  CHECK(text.rfind("line 999\n") == text.size() - 9);
  CHECK(text.rfind("line ", 0) == 0);  // starts at a line boundary
  CHECK(log.dropped_bytes() > 0);
}

TEST_CASE("find_on_path finds executables only") {
  Scratch scratch("path");
  fs::path bin = scratch.dir / "bin";
  fs::create_directories(bin);
  write(bin / "tool", "#!/bin/sh\n");
  CHECK_FALSE(find_on_path("tool", bin.string()));  // not executable
  fs::permissions(bin / "tool", fs::perms(0755));
  CHECK(find_on_path("tool", "/nonexistent:" + bin.string()) == bin / "tool");
  CHECK_FALSE(find_on_path("definitely-not-a-tool-xyz", bin.string()));
}

TEST_CASE("a tool inherits no file descriptors from the daemon beyond stdio") {
  int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  REQUIRE(fd >= 0);
  REQUIRE(::dup2(fd, 77) == 77);
  ::close(fd);
  boost::asio::io_context io;
  std::string output;
  std::optional<ProcessExit> exit;
  auto run = ProcessRun::start(
      io, ProcessSpec{"/bin/sh", {"-c", "if [ -e /proc/self/fd/77 ]; then echo leaked; else echo closed; fi"}, "/", {}},
      [&](StreamKind, const std::string& line) { output += line; }, [&](ProcessExit e) { exit = e; });
  io.run_for(std::chrono::seconds(30));
  ::close(77);
  REQUIRE(exit);
  CHECK(exit->exit_code == 0);
  CHECK(output == "closed");
}

TEST_CASE("ProcessRun reports exit codes and a missing executable") {
  boost::asio::io_context io;
  std::optional<ProcessExit> exit;
  std::vector<std::string> lines;
  auto run = ProcessRun::start(
      io, ProcessSpec{"/bin/sh", {"-c", "echo out; echo err >&2; exit 3"}, "/", {{"PRESTAGE_X", "y"}}},
      [&](StreamKind kind, const std::string& line) { lines.push_back((kind == StreamKind::out ? "1:" : "2:") + line); },
      [&](ProcessExit e) { exit = e; });
  io.run_for(std::chrono::seconds(30));
  REQUIRE(exit);
  CHECK(exit->exit_code == 3);
  CHECK_FALSE(exit->signaled);
  CHECK(std::set<std::string>(lines.begin(), lines.end()) == std::set<std::string>{"1:out", "2:err"});
  CHECK_THROWS_WITH(ProcessRun::start(io, ProcessSpec{"/nonexistent/tool", {}, "/", {}}, {}, {}),
                    Catch::Contains("/nonexistent/tool"));
}

// Boost.Process 1.81 calls exit handlers while iterating its SIGCHLD receiver list, so a handler
// that starts the next process (the next build step) must not run inside that call. Under ASan
// this caught a heap-use-after-free; the children close their pipes first so their exit is what
// finishes the run.
TEST_CASE("an exit callback may start the next process while other children are running") {
  boost::asio::io_context io;
  constexpr int kChains = 4, kSteps = 8;
  std::vector<int> finished(kChains, 0);
  std::vector<std::shared_ptr<ProcessRun>> current(kChains);
  std::function<void(int)> step = [&](int chain) {
    current[chain] = ProcessRun::start(io, ProcessSpec{"/bin/sh", {"-c", "exec >&- 2>&-; sleep 0.05; exit 7"}, "/", {}},
                                       {}, [&, chain](ProcessExit e) {
                                         CHECK(e.exit_code == 7);
                                         if (++finished[chain] < kSteps) step(chain);
                                       });
  };
  for (int chain = 0; chain < kChains; ++chain) step(chain);
  io.run_for(std::chrono::seconds(60));
  CHECK(finished == std::vector<int>(kChains, kSteps));
}
