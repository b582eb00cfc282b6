// The setuptools backend without running a tool: which backend claims a project (detection order),
// the modules guessed before a build, the driver's layout.json and error lines, Cython's errors.
#include <catch2/catch.hpp>

#include <string>

#include "builders/backends.hpp"
#include "builders/build_error.hpp"
#include "builders/diagnostics.hpp"
#include "builders/setuptools_report.hpp"
#include "claimed_kind.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace prestage;
using namespace prestage::builders;
using prestage::test::claimed_kind;
using prestage::test::TempDir;
using prestage::test::write_text;

namespace {
const fs::path fixtures = fs::path(PRESTAGE_SOURCE_DIR) / "tests" / "fixtures";


const char* pybind11_setup = R"(from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup
setup(name="ex", ext_modules=[Pybind11Extension("ex_mod", ["src/main.cpp"])])
)";
}  // namespace

TEST_CASE("setuptools claims setup.py and pyproject-only projects that declare extensions") {
  ProjectInfo info;
  CHECK(claimed_kind(fixtures / "st_pybind11", &info) == ProjectKind::setuptools);
  CHECK(info.modules == std::vector<std::string>{"st_pybind11"});
  CHECK(claimed_kind(fixtures / "st_src_pkg", &info) == ProjectKind::setuptools);
  CHECK(info.modules == std::vector<std::string>{"st_pkg"});
  CHECK(claimed_kind(fixtures / "st_pyproject", &info) == ProjectKind::setuptools);
  CHECK(info.modules == std::vector<std::string>{"st_flat"});
  CHECK(to_string(ProjectKind::setuptools) == "setuptools");
  CHECK(project_kind_from_string("setuptools") == ProjectKind::setuptools);
}

TEST_CASE("setuptools leaves pure-Python, other-backend and CMake projects alone, and runs a setup.py that drives CMake") {
  TempDir dir{"st-claim"};
  SECTION("pure Python setup.py") {
    write_text(dir / "setup.py", "from setuptools import setup\nsetup(name='pure', packages=['pure'])\n");
    CHECK_FALSE(claimed_kind(dir.path()).has_value());
  }
  SECTION("setup.py with extensions under another build backend") {
    write_text(dir / "setup.py", pybind11_setup);
    write_text(dir / "pyproject.toml", "[build-system]\nbuild-backend = \"flit_core.buildapi\"\n");
    CHECK_FALSE(claimed_kind(dir.path()).has_value());
  }
  SECTION("scikit-build-core keeps its projects, setup.py or not") {
    write_text(dir / "setup.py", pybind11_setup);
    write_text(dir / "pyproject.toml", "[build-system]\nbuild-backend = \"scikit_build_core.build\"\n[project]\nname = \"ex\"\n");
    write_text(dir / "CMakeLists.txt", "find_package(pybind11 CONFIG REQUIRED)\npybind11_add_module(ex ex.cpp)\n");
    CHECK(claimed_kind(dir.path()) == ProjectKind::cmake);
  }
  SECTION("a setup.py whose build_ext runs CMake (pybind11's cmake_example) is run, as pip runs it") {
    write_text(dir / "setup.py", "from setuptools import Extension, setup\nsetup(ext_modules=[Extension('ex', sources=[])])\n");
    write_text(dir / "CMakeLists.txt", "pybind11_add_module(ex ex.cpp)\n");
    ProjectInfo info;
    CHECK(claimed_kind(dir.path(), &info) == ProjectKind::setuptools);
    CHECK(info.modules == std::vector<std::string>{"ex"});
  }
  SECTION("scikit-build classic (from skbuild import setup) installs through CMake: the cmake backend") {
    write_text(dir / "setup.py", "from skbuild import setup\nsetup(name='ex', packages=['ex'], cmake_install_dir='ex')  # no ext_modules\n"
                                 "# Extension( in a comment\n");
    write_text(dir / "CMakeLists.txt", "pybind11_add_module(ex ex.cpp)\ninstall(TARGETS ex DESTINATION ex)\n");
    CHECK(claimed_kind(dir.path()) == ProjectKind::cmake);
  }
  SECTION("the legacy build_meta and an explicit name= are recognised") {
    write_text(dir / "setup.py", "from setuptools import Extension, setup\nsetup(ext_modules=[Extension(name='a.b._c', sources=['c.c'])])\n");
    write_text(dir / "pyproject.toml", "[build-system]\nbuild-backend = \"setuptools.build_meta:__legacy__\"\n");
    ProjectInfo info;
    CHECK(claimed_kind(dir.path(), &info) == ProjectKind::setuptools);
    CHECK(info.modules == std::vector<std::string>{"a"});
  }
}

TEST_CASE("layout.json from the driver") {
  auto layout = parse_setuptools_layout(R"({"extensions": [["pkg._core", "pkg/_core.so"]], "packages": [["pkg", "/p/src/pkg"]],
    "modules": [["top.py", "/p/top.py"]], "name": "pkg", "version": "1.0", "pybind11_include": "/usr/include"})");
  CHECK(layout.extensions == std::vector<std::pair<std::string, std::string>>{{"pkg._core", "pkg/_core.so"}});
  REQUIRE(layout.packages.size() == 1);
  CHECK(layout.packages[0].second == fs::path("/p/src/pkg"));
  REQUIRE(layout.modules.size() == 1);
  CHECK(layout.modules[0].first == "top.py");
  CHECK(layout.version == "1.0");
  CHECK(layout.pybind11_include == fs::path("/usr/include"));
  CHECK(parse_setuptools_layout("{}").extensions.empty());
  CHECK_THROWS_AS(parse_setuptools_layout("[1]"), BuildError);
  CHECK_THROWS_AS(parse_setuptools_layout(R"({"extensions": [["only-one"]]})"), BuildError);
  TempDir dir{"st-layout"};
  CHECK_FALSE(read_setuptools_layout(dir.path()).has_value());
}

TEST_CASE("the driver's error line and Cython's errors become diagnostics") {
  const fs::path root = "/proj";
  auto d = diagnostic_from_driver_line(
      R"(prestage-setuptools {"error": "the setup script needs the Python module 'pybind11'", "file": "/proj/setup.py", "line": 3})", root);
  REQUIRE(d);
  CHECK(d->file == "/proj/setup.py");
  CHECK(d->line == 3);
  CHECK(d->severity == "error");
  CHECK(d->message.find("pybind11") != std::string::npos);
  auto bare = diagnostic_from_driver_line(R"j(prestage-setuptools {"error": "no setup()", "file": null, "line": null})j", root);
  REQUIRE(bare);
  CHECK(bare->file == "/proj");
  CHECK(bare->line == 0);
  CHECK_FALSE(diagnostic_from_driver_line("prestage-setuptools not json", root));
  CHECK_FALSE(diagnostic_from_driver_line("running build_ext", root));

  auto cython = diagnostic_from_cython_line("src/pkg/_fast.pyx:11:8: Expected an identifier", root);
  REQUIRE(cython);
  CHECK(cython->file == "/proj/src/pkg/_fast.pyx");
  CHECK(cython->line == 11);
  CHECK(cython->column == 8);
  CHECK(cython->message == "Expected an identifier");
  CHECK_FALSE(diagnostic_from_cython_line("src/pkg/_core.c:6:10: error: x", root));
  CHECK_FALSE(diagnostic_from_cython_line("Error compiling Cython file:", root));
}
