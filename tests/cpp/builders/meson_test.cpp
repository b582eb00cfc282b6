// meson-python: the claim, [tool.meson-python] reading, the setup command, meson's install plan
// mapped to a generation and meson's error lines. No tool runs here; tests/pyclient/test_meson_python.py
// drives the real builds.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <tuple>

#include "builders/backends.hpp"
#include "builders/build_error.hpp"
#include "builders/diagnostics.hpp"
#include "builders/meson_config.hpp"
#include "builders/meson_dependencies.hpp"
#include "builders/meson_install_plan.hpp"
#include "builders/meson_internal_libs.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace prestage;
using namespace prestage::builders;

namespace {
const char* kPyproject = "[build-system]\nrequires = [\"meson-python\"]\nbuild-backend = \"mesonpy\"\n[project]\nname = \"Meson-Demo\"\nversion = \"1.0\"\n";

toml::table parse(const std::string& text) { return toml::parse(text); }

MesonConfig config_of(const std::string& tool_table) {
  return read_meson_config(parse(std::string(kPyproject) + tool_table), "/p/pyproject.toml");
}

std::string error_of(const std::string& tool_table) {
  try {
    config_of(tool_table);
  } catch (const BuildError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("meson: claims build-backend mesonpy and finds the package", "[meson]") {
  test::TempDir dir("meson-claim");
  test::write_text(dir / "pyproject.toml", kPyproject);
  test::write_text(dir / "meson.build", "project('x', 'c')\n");
  test::write_text(dir / "src/meson_demo/__init__.py", "");
  ProjectInfo info;
  REQUIRE(meson_backend().claim(ProjectFiles::read(dir.path()), info));
  CHECK(info.kind == ProjectKind::meson);
  CHECK(info.modules == std::vector<std::string>{"meson_demo"});
  CHECK(info.python_source == dir / "src");
  CHECK(to_string(ProjectKind::meson) == "meson");
  CHECK(project_kind_from_string("meson") == ProjectKind::meson);

  SECTION("cmake does not claim it first") {
    ProjectInfo other;
    CHECK_FALSE(cmake_backend().claim(ProjectFiles::read(dir.path()), other));
  }
  SECTION("another backend is not meson's") {
    test::write_text(dir / "pyproject.toml", "[build-system]\nbuild-backend = \"scikit_build_core.build\"\n[project]\nname = \"x\"\n");
    ProjectInfo other;
    CHECK_FALSE(meson_backend().claim(ProjectFiles::read(dir.path()), other));
  }
}

TEST_CASE("meson: [tool.meson-python] is read as meson-python reads it", "[meson]") {
  SECTION("absent: defaults") {
    auto c = config_of("");
    CHECK(c.setup_args.empty());
    CHECK_FALSE(c.limited_api);
  }
  SECTION("args, limited-api, meson, wheel") {
    auto c = config_of(
        "[tool.meson-python]\nlimited-api = true\nmeson = \"tools/meson.py\"\n"
        "[tool.meson-python.args]\nsetup = ['-Dfoo=1', '--werror']\ncompile = ['-j2']\ninstall = ['--tags=runtime,python-runtime', '--skip-subprojects', '--strip']\ndist = ['--no-tests']\n"
        "[tool.meson-python.wheel]\nexclude = ['pkg/tests/']\ninclude = ['pkg/tests/keep.py']\n");
    CHECK(c.setup_args == std::vector<std::string>{"-Dfoo=1", "--werror"});
    CHECK(c.compile_args == std::vector<std::string>{"-j2"});
    CHECK(c.install_tags == std::vector<std::string>{"runtime", "python-runtime"});
    CHECK(c.skip_subprojects);
    REQUIRE(c.notes.size() == 1);
    CHECK(c.notes[0].find("--strip") != std::string::npos);
    CHECK(c.limited_api);
    CHECK(c.meson == "tools/meson.py");
    CHECK(c.wheel_exclude == std::vector<std::string>{"pkg/tests/"});
  }
  SECTION("unknown keys and wrong types name the key") {
    CHECK(error_of("[tool.meson-python]\nno-such = 1\n").find("tool.meson-python.no-such") != std::string::npos);
    CHECK(error_of("[tool.meson-python.args]\nbuild = []\n").find("tool.meson-python.args.build") != std::string::npos);
    CHECK(error_of("[tool.meson-python.args]\nsetup = '-Dx=1'\n").find("tool.meson-python.args.setup must be a list") != std::string::npos);
    CHECK(error_of("[tool.meson-python]\nlimited-api = 'yes'\n").find("limited-api must be a boolean") != std::string::npos);
  }
}

TEST_CASE("meson: the setup command puts the project's args after meson-python's defaults", "[meson]") {
  MesonConfig c;
  c.setup_args = {"-Dbuildtype=debug"};
  auto args = meson_setup_args("/w/build", "/p", "/w/native.ini", c);
  CHECK(args == std::vector<std::string>{"setup", "/w/build", "/p", "-Dbuildtype=release", "-Db_ndebug=if-release", "--native-file",
                                         "/w/native.ini", "-Dbuildtype=debug"});
  CHECK(meson_native_file("/opt/py's/bin/python3").find("python = '/opt/py\\'s/bin/python3'") != std::string::npos);
}

TEST_CASE("meson: the install plan becomes the generation's files", "[meson]") {
  test::TempDir dir("meson-plan");
  test::write_text(dir / "build/_core.cpython-311-x86_64-linux-gnu.so", "elf");
  test::write_text(dir / "src/pkg/__init__.py", "");
  test::write_text(dir / "src/pkg/util.py", "");
  test::write_text(dir / "data/sub/table.txt", "row");
  test::write_text(dir / "data/sub/skipped.txt", "install_subdir(exclude_files:)");
  test::write_text(dir / "data/skipped/x.txt", "install_subdir(exclude_directories:)");
  test::write_text(dir / "build/tool", "");
  std::string plan = R"({
    "targets": {
      ")" + (dir / "build/_core.cpython-311-x86_64-linux-gnu.so").string() + R"(": {"destination": "{py_platlib}/pkg/_core.cpython-311-x86_64-linux-gnu.so", "tag": "runtime"},
      ")" + (dir / "build/tool").string() + R"(": {"destination": "{bindir}/tool", "tag": "runtime"}
    },
    "python": {
      ")" + (dir / "src/pkg/__init__.py").string() + R"(": {"destination": "{py_purelib}/pkg/__init__.py", "tag": "python-runtime"},
      ")" + (dir / "src/pkg/util.py").string() + R"(": {"destination": "{py_purelib}/pkg/util.py", "tag": "python-runtime"}
    },
    "install_subdirs": {
      ")" + (dir / "data").string() + R"(": {"destination": "{py_platlib}/pkg/data", "tag": "runtime",
                                             "exclude_dirs": ["skipped"], "exclude_files": ["sub/skipped.txt"]}
    }
  })";
  MesonConfig c;
  auto staging = meson_staged_files(plan, c, ".cpython-311-x86_64-linux-gnu.so", ".pkg.mesonpy.libs");
  std::vector<std::string> relpaths;
  for (const auto& f : staging.files) relpaths.push_back(f.relpath);
  CHECK(relpaths == std::vector<std::string>{"pkg/__init__.py", "pkg/_core.cpython-311-x86_64-linux-gnu.so", "pkg/data/sub/table.txt",
                                             "pkg/util.py"});
  CHECK(staging.files[1].module == "pkg._core");
  CHECK(staging.files[1].source == dir / "build/_core.cpython-311-x86_64-linux-gnu.so");
  CHECK(staging.files[3].source == dir / "src/pkg/util.py");  // read from the sources, as they are now
  REQUIRE(staging.skipped.size() == 1);
  CHECK(staging.skipped[0].find("{bindir}/tool") != std::string::npos);

  SECTION("install tags and wheel.exclude / include") {
    c.install_tags = {"python-runtime"};
    c.wheel_exclude = {"pkg/util.py", "pkg/__init__.py"};
    c.wheel_include = {"pkg/__init__.py"};
    auto tagged = meson_staged_files(plan, c, ".cpython-311-x86_64-linux-gnu.so", ".pkg.mesonpy.libs");
    REQUIRE(tagged.files.size() == 1);
    CHECK(tagged.files[0].relpath == "pkg/__init__.py");
  }
  SECTION("an internal shared library goes to meson-python's .<name>.mesonpy.libs") {
    test::write_text(dir / "build/lib/libx.so", "not elf");
    std::string with_lib = R"({"targets": {")" + (dir / "build/lib/libx.so").string() + R"(": {"destination": "{libdir_shared}/libx.so"}}})";
    auto libs = meson_staged_files(with_lib, c, ".so", mesonpy_libs_dir("link-against-local-lib"));
    REQUIRE(libs.files.size() == 1);
    CHECK(libs.files[0].relpath == ".link_against_local_lib.mesonpy.libs/libx.so");
    CHECK(libs.files[0].module.empty());
  }
  SECTION("broken plans") {
    CHECK_THROWS_WITH(meson_staged_files(R"({"python": {"/nowhere/x.py": {"destination": "{py_purelib}/x.py"}}})", c, ".so", ".x.mesonpy.libs"),
                      Catch::Contains("/nowhere/x.py"));
    CHECK_THROWS_AS(meson_staged_files("{not json", c, ".so", ".x.mesonpy.libs"), BuildError);
  }
  CHECK(site_packages_relpath("{moduledir_shared}/m.so") == "m.so");
  CHECK(site_packages_relpath("{datadir}/x") == "");
}

TEST_CASE("meson: its error lines become diagnostics with file and line", "[meson]") {
  auto d = diagnostic_from_meson_error("../../proj/meson.build:3:4: ERROR: Unknown function \"importx\".", "/w/x/build", "/w/proj");
  REQUIRE(d);
  CHECK(d->file == "/w/proj/meson.build");
  CHECK(d->line == 3);
  CHECK(d->column == 5);
  CHECK(d->message == "Unknown function \"importx\".");
  auto bare = diagnostic_from_meson_error("ERROR: Dependency \"zlib\" not found", "/w/x/build", "/w/proj");
  REQUIRE(bare);
  CHECK(bare->file == "/w/proj/meson.build");
  CHECK(bare->line == 0);
  CHECK_FALSE(diagnostic_from_meson_error("[1/2] Compiling C object x.o", "/w", "/w"));
  CHECK_FALSE(diagnostic_from_meson_error("core.c:3:4: error: expected ';'", "/w", "/w"));
}

TEST_CASE("meson: a restage reads the last install plan again and a dynamic version comes from meson", "[meson]") {
  test::TempDir dir("meson-restage");
  fs::path root = dir / "proj", work = dir / "work";
  test::write_text(root / "pyproject.toml",
                   "[build-system]\nbuild-backend = \"mesonpy\"\n[project]\nname = \"demo\"\ndynamic = [\"version\"]\n");
  test::write_text(root / "meson.build", "project('demo', 'c', version: '3.1.4')\n");
  test::write_text(root / "demo/__init__.py", "X = 1\n");
  test::write_text(work / "build/_ext.cpython-311-x86_64-linux-gnu.so", "elf");
  test::write_text(work / "build/meson-info/intro-projectinfo.json", R"({"version": "3.1.4", "descriptive_name": "demo"})");
  test::write_text(work / "build/meson-info/intro-install_plan.json",
                   R"({"targets": {")" + (work / "build/_ext.cpython-311-x86_64-linux-gnu.so").string() +
                       R"(": {"destination": "{py_platlib}/demo/_ext.cpython-311-x86_64-linux-gnu.so"}},
                       "python": {")" + (root / "demo/__init__.py").string() + R"(": {"destination": "{py_purelib}/demo/__init__.py"}}})");
  ProjectInfo info;
  info.id = "demo";
  info.root = root;
  info.kind = ProjectKind::meson;
  Interpreter python;
  python.executable = "/usr/bin/python3";
  python.ext_suffix = ".cpython-311-x86_64-linux-gnu.so";
  BuildOutput none;  // a restage: no build output, only the work dir
  none.work_dir = work;
  auto layout = meson_backend().layout(info, none, python);
  REQUIRE(layout.placed_artifacts.size() == 1);
  CHECK(std::get<0>(layout.placed_artifacts[0]) == "demo._ext");
  REQUIRE(layout.extra_files.size() == 1);
  CHECK(layout.extra_files[0] == std::pair<std::string, fs::path>{"demo/__init__.py", root / "demo/__init__.py"});
  REQUIRE(layout.distribution);
  CHECK(layout.distribution->name == "demo");
  CHECK(layout.distribution->version == "3.1.4");
}

TEST_CASE("meson: the pybind11 helper's headers are those of dependency('pybind11')", "[meson]") {
  test::TempDir dir{"meson-pybind11"};
  const fs::path headers = dir.path() / "site" / "pybind11" / "include";
  test::write_text(headers / "pybind11" / "pybind11.h", "");
  const fs::path fallback = "/usr/include";
  const std::string quoted = "\"" + headers.string() + "\"";
  SECTION("-I, -isystem and their two-argument forms; the first dir holding the headers wins") {
    for (const std::string& args : {"[\"-I" + headers.string() + "\"]", "[\"-DX\", \"-isystem\", " + quoted + "]",
                                   "[\"-I/nowhere\", \"-I\", " + quoted + "]", "[\"-isystem" + headers.string() + "\"]"}) {
      const std::string json = R"([{"name": "python", "compile_args": []}, {"name": "pybind11", "version": "2.10.3", "compile_args": )" +
                               args + "}]";
      CHECK(pybind11_include_from_meson(json, fallback) == headers);
    }
  }
  SECTION("a pybind11 dependency in a default include dir (Debian's pkg-config file names none)") {
    CHECK(pybind11_include_from_meson(R"([{"name": "pybind11", "compile_args": [], "link_args": []}])", fallback) == fallback);
  }
  SECTION("no pybind11 dependency, or JSON that is not meson's") {
    CHECK(pybind11_include_from_meson(R"([{"name": "python", "compile_args": []}])", fallback).empty());
    CHECK(pybind11_include_from_meson("{", fallback).empty());
    CHECK(pybind11_include_from_meson(R"({"name": "pybind11"})", fallback).empty());
  }
}
