// [tool.scikit-build] reading, overrides, the configure variables and the install tree rules:
// pure functions, no tools run.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "builders/build_error.hpp"
#include "builders/build_requirement_scripts.hpp"
#include "builders/install_tree.hpp"
#include "builders/skbuild_config.hpp"
#include "builders/skbuild_variables.hpp"

namespace fs = std::filesystem;
using namespace prestage::builders;

namespace {
struct Root {
  fs::path dir;
  Root() {
    dir = fs::temp_directory_path() / ("skbcfg-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::create_directories(dir);
    write("CMakeLists.txt", "cmake_minimum_required(VERSION 3.18...3.30)\nproject(x)\n");
  }
  ~Root() { fs::remove_all(dir); }
  static int& counter() {
    static int n = 0;
    return n;
  }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories((dir / rel).parent_path());
    std::ofstream(dir / rel) << text;
  }
};

SkbuildFacts facts(std::map<std::string, std::string> env = {}) {
  SkbuildFacts f;
  f.python_version = "3.11.2";
  f.platform_machine = "x86_64";
  f.getenv = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  return f;
}

SkbuildConfig read(const Root& r, const std::string& toml_text, const SkbuildFacts& f = facts()) {
  return read_skbuild_config(r.dir, toml::parse(toml_text), f);
}

std::string define(const SkbuildConfig& c, const std::string& name) {
  for (const auto& [n, v] : c.defines)
    if (n == name) return v;
  return "<unset>";
}

std::string error_of(const Root& r, const std::string& toml_text) {
  try {
    read(r, toml_text);
  } catch (const BuildError& e) {
    return e.what();
  }
  return "<no error>";
}

const std::string head = "[project]\nname = \"my-pkg\"\nversion = \"1.2.3rc1\"\n";
}  // namespace

TEST_CASE("defines in every form, args, build type, defaults") {
  Root r;
  auto c = read(r, head + R"(
[tool.scikit-build]
cmake.args = ["-DA=1"]
cmake.build-type = "Debug"
[tool.scikit-build.cmake.define]
S = "foo"
B = false
L = ["x", "y;z"]
E = {env = "FLAVOR", default = "plain"}
D = {env = "MISSING", default = true}
)", facts({{"FLAVOR", "spicy"}}));
  CHECK(define(c, "S") == "foo");
  CHECK(define(c, "B") == "FALSE");
  CHECK(define(c, "L") == "x;y\\;z");
  CHECK(define(c, "E") == "spicy");
  CHECK(define(c, "D") == "TRUE");
  CHECK(c.args == std::vector<std::string>{"-DA=1"});
  CHECK(c.build_type == "Debug");
  CHECK(c.cmake_version_spec == ">=3.18");  // from cmake_minimum_required
  CHECK(c.source_dir == r.dir);
  CHECK_FALSE(c.packages);
}

TEST_CASE("overrides: conditions, one-level replacement, inherit") {
  Root r;
  auto c = read(r, head + R"(
[tool.scikit-build]
cmake.define.KEEP = "kept"
wheel.exclude = ["a"]
[[tool.scikit-build.overrides]]
if.state = "editable"
cmake.define.EDIT = "yes"
inherit.cmake.define = "append"
[[tool.scikit-build.overrides]]
if.python-version = ">=3.12"
cmake.define.NEW_PYTHON = "yes"
[[tool.scikit-build.overrides]]
if.any.platform-system = "^win"
if.any.env.CI = true
wheel.exclude = ["b"]
inherit.wheel.exclude = "prepend"
[[tool.scikit-build.overrides]]
if.not.platform-machine = "arm"
cmake.build-type = "MinSizeRel"
)", facts({{"CI", "1"}}));
  CHECK(define(c, "KEEP") == "kept");
  CHECK(define(c, "EDIT") == "yes");
  CHECK(define(c, "NEW_PYTHON") == "<unset>");
  CHECK(c.exclude == std::vector<std::string>{"b", "a"});
  CHECK(c.build_type == "MinSizeRel");

  auto replaced = read(r, head + R"(
[tool.scikit-build]
cmake.define.KEEP = "kept"
[[tool.scikit-build.overrides]]
if.platform-system = "linux"
cmake.define.ONLY = "x"
)");
  CHECK(define(replaced, "KEEP") == "<unset>");  // no inherit: the define table is replaced
  CHECK(define(replaced, "ONLY") == "x");
}

TEST_CASE("bad and unsupported settings name the key") {
  Root r;
  CHECK_THAT(error_of(r, head + "[tool.scikit-build]\nwheel.nope = 1\n"), Catch::Contains("wheel.nope"));
  CHECK_THAT(error_of(r, head + "[tool.scikit-build]\ncmake.args = 3\n"), Catch::Contains("tool.scikit-build.cmake.args: must be a list of strings"));
  CHECK_THAT(error_of(r, head + "[tool.scikit-build]\neditable.mode = \"inplace\"\n"), Catch::Contains("tool.scikit-build.editable.mode"));
  CHECK_THAT(error_of(r, head + "[tool.scikit-build]\nwheel.install-dir = \"/data\"\n"), Catch::Contains("wheel.install-dir"));
  CHECK_THAT(error_of(r, head + "[tool.scikit-build]\ncmake.source-dir = \"../elsewhere\"\n"), Catch::Contains("cmake.source-dir"));
  CHECK_THAT(error_of(r, head + "[[tool.scikit-build.overrides]]\nif.weather = \"sunny\"\ncmake.build-type = \"Debug\"\n"),
             Catch::Contains("overrides[0].if.weather: unknown override condition"));
  CHECK_THAT(error_of(r, head + "[tool.scikit-build]\ncmake.version = \">=99\"\n"), Catch::Contains("<no error>"));  // checked against the tool later
  CHECK_THAT(error_of(r, head + "[tool.scikit-build]\ncmake.version = \"3.15\"\n"), Catch::Contains("cmake.version"));
  CHECK_THAT(error_of(r, "[project]\nname = \"x\"\ndynamic = [\"version\"]\n"), Catch::Contains("no version"));
  CHECK_THAT(error_of(r, head + "[tool.scikit-build]\nmetadata.version.provider = \"scikit_build_core.metadata.setuptools_scm\"\n"),
             Catch::Contains("metadata.version.provider"));
  CHECK(error_of(r, head + "[tool.scikit-build]\nstrict-config = false\nwheel.nope = 1\n") == "<no error>");
}

TEST_CASE("version specifiers") {
  CHECK(version_matches("3.25.1", ">=3.15"));
  CHECK_FALSE(version_matches("3.25.1", ">=3.26.1"));
  CHECK(version_matches("3.25.1", ">=3.15,!=3.18.0"));
  CHECK(version_matches("3.11", "==3.*"));
  CHECK_FALSE(version_matches("3.11", "!=3.*"));
  CHECK(version_matches("3.11.4", "~=3.11.0"));
  CHECK_FALSE(version_matches("3.12.0", "~=3.11.0"));
  CHECK(version_matches("1.0", ""));
  CHECK_THROWS_AS(version_matches("1.0", "3.15"), BuildError);
}

TEST_CASE("the regex version provider reads Python regexes") {
  Root r;
  r.write("src/v.py", "x = 1\n__version__ = \"2.5.1\"\n");
  r.write("v.h", "#define V_MAJOR 3\n#define V_MINOR 4\n#define V_DEV 0\n");
  auto c = read(r, "[project]\nname = \"x\"\ndynamic = [\"version\"]\n"
                   "[tool.scikit-build.metadata.version]\nprovider = \"scikit_build_core.metadata.regex\"\ninput = \"src/v.py\"\n");
  REQUIRE(c.version_provider);
  CHECK(run_regex_provider(*c.version_provider, "x = 1\n__version__ = \"2.5.1\"\n") == "2.5.1");
  RegexVersionProvider p;
  p.input = r.dir / "v.h";
  p.regex = "(?sx)\\#define \\s+ V_MAJOR \\s+ (?P<major>\\d+) .*? \\#define \\s+ V_MINOR \\s+ (?P<minor>\\d+) .*? \\#define \\s+ V_DEV \\s+ (?P<dev>\\d+)";
  p.result = "{major}.{minor}dev{dev}";
  p.remove = "dev0";
  CHECK(run_regex_provider(p, "#define V_MAJOR 3\n#define V_MINOR 4\n#define V_DEV 0\n") == "3.4");
  p.result = "{0}.{1}";
  CHECK(run_regex_provider(p, "#define V_MAJOR 3\n#define V_MINOR 4\n#define V_DEV 0\n") == "3.4");
  CHECK_THROWS_AS(run_regex_provider(p, "nothing here"), BuildError);
}

TEST_CASE("templates, names, versions") {
  CHECK(substitute_template("v = \"${version}\" $name $$", {{"version", "1.0"}, {"name", "p"}}, "t") == "v = \"1.0\" p $");
  CHECK_THROWS_AS(substitute_template("$nope", {}, "t"), BuildError);
  CHECK(skbuild_project_name("my-pkg.core") == "my_pkg_core");
  CHECK(release_version("1.4.2rc1") == "1.4.2");
  CHECK(release_version("2!3.0.post1") == "3.0");
  CHECK(env_cmake_args("-DA=1 '-DB=two words' -DCMAKE_BUILD_TYPE=Debug -DCMAKE_INSTALL_PREFIX=/x") ==
        std::vector<std::string>{"-DA=1", "-DB=two words"});
}

TEST_CASE("wheel.exclude is gitignore-style on the wheel path") {
  std::vector<std::string> patterns = {"**.pyx", "pkg/private/", "*.tmp", "/top.txt", "!keep.tmp"};
  CHECK(wheel_excluded("pkg/kernel.pyx", patterns));
  CHECK(wheel_excluded("pkg/private/table.txt", patterns));
  CHECK_FALSE(wheel_excluded("pkg/private.txt", patterns));
  CHECK(wheel_excluded("a/b/c.tmp", patterns));
  CHECK_FALSE(wheel_excluded("a/keep.tmp", patterns));
  CHECK(wheel_excluded("top.txt", patterns));
  CHECK_FALSE(wheel_excluded("pkg/top.txt", patterns));
  CHECK(module_of_relpath("pkg/_core.cpython-311-x86_64-linux-gnu.so") == "pkg._core");
  CHECK(module_of_relpath("top.abi3.so") == "top");
  CHECK(module_of_relpath("pkg/sub/__init__.py") == "pkg.sub");
}

TEST_CASE("limited API only for cpXY not newer than the interpreter") {
  SkbuildConfig c;
  Interpreter py;
  py.version = "3.11.2";
  c.py_api = "cp39";
  CHECK(uses_limited_api(c, py));
  CHECK(sabi_version(c, py) == "3.9");
  c.py_api = "cp312";
  CHECK_FALSE(uses_limited_api(c, py));
  c.py_api = "py3";
  CHECK_FALSE(uses_limited_api(c, py));
}

TEST_CASE("skbuild: [build-system] requires names, normalized as pip compares them") {
  auto pyproject = toml::parse(R"([build-system]
requires = ["scikit-build-core>=0.10", "  Cython >=3.0", "numpy; python_version > '3.8'", "zope.Interface[x]", 3])");
  CHECK(build_requirement_names(pyproject) == std::vector<std::string>{"scikit-build-core", "cython", "numpy", "zope-interface"});
  CHECK(build_requirement_names(toml::parse("[project]\nname = 'x'\n")).empty());
}
