// PEP 621 [project] -> stage::Distribution, and the backends' version fallbacks.
#include <catch2/catch.hpp>

#include <string>

#include "builders/build_error.hpp"
#include "builders/project_metadata.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace prestage;
using prestage::test::TempDir;
using prestage::test::write_text;

namespace {
std::optional<stage::Distribution> parse(const TempDir& dir, const std::string& text) {
  write_text(dir / "pyproject.toml", text);
  return builders::read_project_distribution(dir.path());
}
}  // namespace

TEST_CASE("[project] gives name, version, summary, requirements with extras and entry points in file order") {
  TempDir dir{"meta"};
  write_text(dir / "README.md", "# Pkg\n");
  auto d = parse(dir, R"(
[project]
name = "My-Pkg"
version = "1.2.3"
description = "Short"
readme = "README.md"
requires-python = ">=3.9"
license = {text = "MIT"}
authors = [{name = "Ann"}, {name = "Bo", email = "bo@x.org"}, {email = "c@y.org"}]
keywords = ["a", "b"]
classifiers = ["Programming Language :: Python"]
dependencies = ["numpy>=1.20"]
urls = {Homepage = "https://example.invalid"}

[project.optional-dependencies]
Test_Extra = ["pytest", "hypothesis; python_version < '3.12'"]

[project.scripts]
zz-cli = "my_pkg.cli:main"
aa-cli = "my_pkg.cli:other"

[project.gui-scripts]
gui = "my_pkg.gui:run"

[project.entry-points."my_pkg.plugins"]
one = "my_pkg.one"
)");
  REQUIRE(d);
  CHECK(d->name == "My-Pkg");
  CHECK(d->version == "1.2.3");
  CHECK_FALSE(d->version_dynamic);
  CHECK(d->summary == "Short");
  CHECK(d->description == "# Pkg\n");
  CHECK(d->description_content_type == "text/markdown");
  CHECK(d->requires_python == ">=3.9");
  CHECK(d->license == "MIT");
  CHECK(d->author == "Ann");
  CHECK(d->author_email == "Bo <bo@x.org>, c@y.org");
  CHECK(d->keywords == std::vector<std::string>{"a", "b"});
  CHECK(d->project_urls.size() == 1);
  CHECK(d->provides_extra == std::vector<std::string>{"test-extra"});
  CHECK(d->requires_dist == std::vector<std::string>{"numpy>=1.20", "pytest; extra == \"test-extra\"",
                                                     "hypothesis; (python_version < '3.12') and extra == \"test-extra\""});
  using Entries = std::vector<std::pair<std::string, std::string>>;
  CHECK(d->entry_points.at("console_scripts") == Entries{{"zz-cli", "my_pkg.cli:main"}, {"aa-cli", "my_pkg.cli:other"}});
  CHECK(d->entry_points.at("gui_scripts") == Entries{{"gui", "my_pkg.gui:run"}});
  CHECK(d->entry_points.at("my_pkg.plugins") == Entries{{"one", "my_pkg.one"}});
  CHECK(d->source_root == dir.path());
}

TEST_CASE("a dynamic version is reported for the backend; cargo takes Cargo.toml's, cmake falls back to 0.0.0") {
  TempDir dir{"meta"};
  auto d = parse(dir, "[project]\nname = \"p\"\ndynamic = [\"version\"]\n");
  REQUIRE(d);
  CHECK(d->version_dynamic);
  CHECK(d->version.empty());
  write_text(dir / "Cargo.toml", "[package]\nname = \"p-rs\"\nversion = \"0.4.1\"\n");
  CHECK(builders::python_distribution(dir.path(), true)->version == "0.4.1");
  CHECK(builders::python_distribution(dir.path(), false)->version == "0.0.0");
  write_text(dir / "Cargo.toml", "[package]\nname = \"p-rs\"\nversion.workspace = true\n");
  CHECK(builders::python_distribution(dir.path(), true)->version == "0.0.0");
}

TEST_CASE("no [project]: cmake has no distribution, cargo takes Cargo.toml's [package]") {
  TempDir dir{"meta"};
  CHECK_FALSE(builders::read_project_distribution(dir.path()));  // no pyproject.toml at all
  CHECK_FALSE(parse(dir, "[build-system]\nbuild-backend = \"maturin\"\n"));
  CHECK_FALSE(builders::python_distribution(dir.path(), false));
  write_text(dir / "Cargo.toml", "[package]\nname = \"rs-pkg\"\nversion = \"2.0.0\"\ndescription = \"From cargo\"\n");
  auto d = builders::python_distribution(dir.path(), true);
  REQUIRE(d);
  CHECK(d->name == "rs-pkg");
  CHECK(d->version == "2.0.0");
  CHECK(d->summary == "From cargo");
}

TEST_CASE("bad [project] values name the key and the file; layout() gets them as layout.error") {
  TempDir dir{"meta"};
  const std::string file = (dir / "pyproject.toml").string();
  auto fails = [&](const std::string& text, const std::string& expected) {
    INFO(text);
    CHECK_THROWS_WITH(parse(dir, text), Catch::Contains(file) && Catch::Contains(expected));
  };
  fails("[project]\nname = 1\nversion = \"1\"\n", "[project].name must be a string");
  fails("[project]\nname = \"p\"\n", "[project].version is required");
  fails("[project]\nname = \"p\"\nversion = \"1\"\ndynamic = [\"version\"]\n", "[project].version is given and also listed");
  fails("[project]\nname = \"p\"\nversion = \"1\"\ndependencies = \"numpy\"\n", "[project].dependencies must be an array of strings");
  fails("[project]\nname = \"p\"\nversion = \"1\"\nscripts = [\"x\"]\n", "[project].scripts must be a table");
  fails("[project]\nname = \"p\"\nversion = \"1\"\n[project.scripts]\ncli = 3\n", "[project].scripts.cli must be a string");
  fails("[project]\nname = \"p\"\nversion = \"1\"\n[project.entry-points.console_scripts]\nx = \"m:f\"\n",
        "[project].entry-points.console_scripts is not allowed");
  fails("[project]\nname = \"p\"\nversion = \"1\"\nreadme = \"MISSING.md\"\n", "[project].readme names");
  fails("[project]\nname = \"p\"\nversion = \"1\"\n[project.optional-dependencies]\nx = \"a\"\n",
        "[project].optional-dependencies.x must be an array of strings");
  write_text(dir / "pyproject.toml", "[project\nname = \"p\"\n");
  CHECK_THROWS_AS(builders::read_project_distribution(dir.path()), builders::BuildError);

  write_text(dir / "pyproject.toml", "[project]\nname = \"p\"\nversion = \"1\"\nkeywords = \"a\"\n");
  stage::PackageLayout layout;
  builders::add_distribution(layout, dir.path(), false);
  CHECK_FALSE(layout.distribution);
  CHECK_THAT(layout.error, Catch::Contains("[project].keywords must be an array of strings"));
}
