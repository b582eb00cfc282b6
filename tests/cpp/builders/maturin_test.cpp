// maturin configuration, project resolution, include/exclude patterns and cargo's plain errors:
// pure logic over small files in a temp dir (no cargo runs here; tests/pyclient/test_maturin_layouts.py
// drives the real builds).
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "builders/cargo_claim.hpp"
#include "builders/backends.hpp"
#include "builders/cargo_errors.hpp"
#include "builders/cargo_out_dir.hpp"
#include "builders/cargo_output_lines.hpp"
#include "builders/maturin_glob.hpp"
#include "builders/maturin_layout.hpp"
#include "builders/maturin_project.hpp"
#include "builders/project_metadata.hpp"
#include "builders/setuptools_rust.hpp"
#include "claimed_kind.hpp"
#include "temp_dir.hpp"
#include "util/fs.hpp"

namespace fs = std::filesystem;
using namespace prestage;
using namespace prestage::builders;
using prestage::test::claimed_kind;

namespace {
void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  util::write_file_atomic(file, text, fs::perms(0644));
}

const char* kCrate = "[package]\nname = \"demo-crate\"\nversion = \"0.1.0\"\n[lib]\ncrate-type = [\"cdylib\"]\n";
const char* kMaturin = "[build-system]\nbuild-backend = \"maturin\"\n[project]\nname = \"demo\"\n";

bool has_target(const stage::PackageLayout& layout, const std::string& target) {
  for (const auto& [rel, src] : layout.extra_files)
    if (rel == target) return true;
  for (const auto& [rel, text] : layout.generated)
    if (rel == target) return true;
  return false;
}
}  // namespace

TEST_CASE("include globs: * stays in a component, ** spans components") {
  CHECK(glob_matches("extra/*.txt", "extra/a.txt"));
  CHECK_FALSE(glob_matches("extra/*.txt", "extra/sub/a.txt"));
  CHECK(glob_matches("extra/**/*.txt", "extra/sub/deeper/a.txt"));
  CHECK(glob_matches("extra/**/*.txt", "extra/a.txt"));
  CHECK(glob_matches("data_[0-9].bin", "data_7.bin"));
  CHECK_FALSE(glob_matches("data_[!0-9].bin", "data_7.bin"));
}

TEST_CASE("excludes follow gitignore: unanchored names at any depth, anchored paths, directories, negation") {
  ExcludeSet set({"*.bak", "src/pkg/_private/**", "cache/", "!keep.bak"});
  CHECK(set.excluded("src/pkg/old.bak"));
  CHECK_FALSE(set.excluded("src/pkg/keep.bak"));
  CHECK(set.excluded("src/pkg/_private/secret.py"));
  CHECK_FALSE(set.excluded("other/src/pkg/_private/secret.py"));
  CHECK(set.excluded("src/pkg/cache/file.py"));
  CHECK_FALSE(set.excluded("src/pkg/cache"));  // a file named cache: only directories match `cache/`
  CHECK_FALSE(set.excluded("src/pkg/module.py"));
}

TEST_CASE("src layout: manifest-path, the python source found from [project] name, features and profile") {
  test::TempDir tmp("maturin");
  const fs::path root = tmp.path();
  write(root / "pyproject.toml", std::string(kMaturin) +
                                     "[tool.maturin]\nmanifest-path = \"rust/Cargo.toml\"\nmodule-name = \"demo._native\"\n"
                                     "features = [\"a\", \"b\"]\nno-default-features = true\nprofile = \"release\"\n");
  write(root / "rust" / "Cargo.toml", kCrate);
  write(root / "src" / "demo" / "__init__.py", "");
  auto p = resolve_maturin_project(root);
  CHECK(p.manifest_path == root / "rust" / "Cargo.toml");
  CHECK(p.python_dir == root / "src");
  REQUIRE(p.package_dir);
  CHECK(*p.package_dir == root / "src" / "demo");
  CHECK(p.staged_module() == "demo._native");
  CHECK(p.profile == "release");
  CHECK(p.cargo_args() == std::vector<std::string>{"--features", "a,b", "--no-default-features"});
  CHECK(p.modules() == std::vector<std::string>{"demo"});
}

TEST_CASE("src layout without manifest-path: rust/Cargo.toml, as maturin finds it") {
  test::TempDir tmp("maturin");
  write(tmp.path() / "pyproject.toml", kMaturin);
  write(tmp.path() / "rust" / "Cargo.toml", kCrate);
  write(tmp.path() / "src" / "demo" / "__init__.py", "");
  CHECK(resolve_maturin_project(tmp.path()).manifest_path == tmp.path() / "rust" / "Cargo.toml");
}

TEST_CASE("legacy [package.metadata.maturin] name and python-source") {
  test::TempDir tmp("maturin");
  write(tmp.path() / "Cargo.toml", std::string(kCrate) + "[package.metadata.maturin]\nname = \"demo.sub.ext\"\npython-source = \"python\"\n");
  write(tmp.path() / "python" / "demo" / "__init__.py", "");
  auto p = resolve_maturin_project(tmp.path());
  CHECK(p.module_name == "demo.sub.ext");
  CHECK(p.python_dir == tmp.path() / "python");
  CHECK(p.staged_module() == "demo.sub.ext");
}

TEST_CASE("pure Rust: maturin's __init__.py, the .pyi as __init__.pyi and py.typed") {
  test::TempDir tmp("maturin");
  write(tmp.path() / "pyproject.toml", kMaturin);
  write(tmp.path() / "Cargo.toml", "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n");
  write(tmp.path() / "demo.pyi", "def f() -> int: ...\n");
  auto p = resolve_maturin_project(tmp.path());
  CHECK_FALSE(p.mixed());
  auto layout = maturin_layout(p, ".so", fs::path("/x/libdemo.so"));
  CHECK(has_target(layout, "demo/__init__.py"));
  CHECK(has_target(layout, "demo/__init__.pyi"));
  CHECK(has_target(layout, "demo/py.typed"));
  REQUIRE(layout.artifacts.size() == 1);
  CHECK(layout.artifacts[0].first == "demo.demo");
}

TEST_CASE("include, exclude and data decide the files") {
  test::TempDir tmp("maturin");
  const fs::path root = tmp.path();
  write(root / "pyproject.toml", std::string(kMaturin) +
                                     "[tool.maturin]\nmodule-name = \"demo._native\"\ndata = \"data\"\n"
                                     "include = [{ path = \"extra/*.txt\", format = \"wheel\" }, { path = \"README\", format = \"sdist\" }]\n"
                                     "exclude = [\"demo/_private/**\", { path = \"**/*.bak\", format = [\"wheel\"] }]\n");
  write(root / "Cargo.toml", kCrate);
  write(root / "README", "");
  write(root / "extra" / "notes.txt", "");
  write(root / "demo" / "__init__.py", "");
  write(root / "demo" / "a.py.bak", "");
  write(root / "demo" / "_private" / "secret.py", "");
  write(root / "data" / "purelib" / "plugin.py", "");
  write(root / "data" / "scripts" / "tool", "");
  auto p = resolve_maturin_project(root);
  auto layout = maturin_layout(p, ".so", std::nullopt);
  CHECK(has_target(layout, "demo/__init__.py"));
  CHECK(has_target(layout, "extra/notes.txt"));
  CHECK(has_target(layout, "plugin.py"));
  CHECK_FALSE(has_target(layout, "README"));
  CHECK_FALSE(has_target(layout, "demo/a.py.bak"));
  CHECK_FALSE(has_target(layout, "demo/_private/secret.py"));
  CHECK_FALSE(has_target(layout, "tool"));
  CHECK(p.modules() == std::vector<std::string>{"demo", "plugin"});
}

TEST_CASE("bad input names the key") {
  test::TempDir tmp("maturin");
  write(tmp.path() / "Cargo.toml", kCrate);
  auto fails_with = [&](const std::string& tool, const std::string& expected) {
    write(tmp.path() / "pyproject.toml", std::string(kMaturin) + "[tool.maturin]\n" + tool);
    CHECK_THROWS_WITH(resolve_maturin_project(tmp.path()), Catch::Contains(expected));
  };
  fails_with("bindings = \"cffi\"\n", "bindings");
  fails_with("rustc-args = [\"-Copt-level=3\"]\n", "rustc-args");
  fails_with("features = \"a\"\n", "features must be a list of strings");
  fails_with("include = [{ path = \"x\", format = \"egg\" }]\n", "format must be");
  fails_with("manifest-path = \"../Cargo.toml\"\n", "can not be placed outside");
  fails_with("no-such-key = 1\n", "no-such-key");
  write(tmp.path() / "pyproject.toml", kMaturin);
  write(tmp.path() / "Cargo.toml", std::string(kCrate) + "[package.metadata.maturin]\nrequires-dist = [\"x\"]\n");
  CHECK_THROWS_WITH(resolve_maturin_project(tmp.path()), Catch::Contains("removed in maturin 0.14: requires-dist"));
}

TEST_CASE("a virtual workspace root asks for its member") {
  test::TempDir tmp("maturin");
  write(tmp.path() / "Cargo.toml", "[workspace]\nmembers = [\"ext\"]\n");
  CHECK(is_virtual_workspace(tmp.path()));
  CHECK_THROWS_AS(resolve_maturin_project(tmp.path()), VirtualWorkspace);
  write(tmp.path() / "ext" / "Cargo.toml", kCrate);
  write(tmp.path() / "ext" / "pyproject.toml", kMaturin);
  auto p = resolve_maturin_project(tmp.path(), tmp.path() / "ext" / "Cargo.toml");
  CHECK(p.project_root == tmp.path() / "ext");
  CHECK(p.module_name == "demo_crate");
}

TEST_CASE("a workspace member's broken Cargo.toml is named when the root is claimed") {
  test::TempDir tmp("maturin");
  write(tmp.path() / "Cargo.toml", "[workspace]\nmembers = [\"ext\"]\n");
  write(tmp.path() / "ext" / "Cargo.toml", "[package\nname = \"x\"\n");
  ProjectInfo info;
  info.root = tmp.path();
  CHECK_THROWS_WITH(claim_cargo_project(info), Catch::Contains((tmp.path() / "ext" / "Cargo.toml").string()));
}

TEST_CASE("cargo's plain error blocks, without the compile summaries") {
  CargoPlainErrors errors;
  for (const char* line : {"    Updating crates.io index", "error: failed to select a version for the requirement `pyo3 = \"^0.17\"`",
                           "candidate versions found which didn't match: 0.17.3", "   Compiling x v0.1.0",
                           "error: could not compile `x` (lib) due to 2 previous errors"})
    errors.feed(line);
  const auto& blocks = errors.finish();
  REQUIRE(blocks.size() == 1);
  CHECK(blocks[0] == "failed to select a version for the requirement `pyo3 = \"^0.17\"`\ncandidate versions found which didn't match: 0.17.3");
}

namespace {

const char* kPyo3Crate = "[package]\nname = \"ext\"\nversion = \"0.1.0\"\n[lib]\nname = \"_lib\"\ncrate-type = [\"cdylib\"]\n"
                         "[dependencies]\npyo3 = \"0.17\"\n";
}  // namespace

TEST_CASE("a setuptools-rust project is the setuptools backend's; maturin keeps its own crate") {
  test::TempDir dir{"st-rust-claim"};
  ProjectInfo info;
  SECTION("setup.py with RustExtension, the crate in a subdirectory") {
    write(dir / "setup.py", "from setuptools import setup\nfrom setuptools_rust import RustExtension\n"
                            "setup(rust_extensions=[RustExtension('pkg._native', path='native/Cargo.toml')])\n");
    write(dir / "native" / "Cargo.toml", kPyo3Crate);
    write(dir / "Cargo.toml", kPyo3Crate);  // a crate at the root too: still setuptools'
    CHECK(claimed_kind(dir.path(), &info) == ProjectKind::setuptools);
    CHECK(info.modules == std::vector<std::string>{"pkg"});
    auto files = ProjectFiles::read(dir.path());
    CHECK(rust_manifests(files) == std::vector<fs::path>{dir / "native" / "Cargo.toml", dir / "Cargo.toml"});
  }
  SECTION("pyproject.toml alone: [[tool.setuptools-rust.ext-modules]]") {
    write(dir / "pyproject.toml", "[build-system]\nbuild-backend = \"setuptools.build_meta\"\n[project]\nname = \"hello\"\n"
                                  "[[tool.setuptools-rust.ext-modules]]\ntarget = \"hello_world._lib\"\npath = \"rust/Cargo.toml\"\n");
    write(dir / "rust" / "Cargo.toml", kPyo3Crate);
    CHECK(claimed_kind(dir.path(), &info) == ProjectKind::setuptools);
    CHECK(info.modules == std::vector<std::string>{"hello_world"});
    CHECK(rust_manifests(ProjectFiles::read(dir.path())) == std::vector<fs::path>{dir / "rust" / "Cargo.toml"});
  }
  SECTION("build-backend = maturin wins over a stray setup.py") {
    write(dir / "setup.py", "from setuptools_rust import RustExtension\n");
    write(dir / "pyproject.toml", kMaturin);
    write(dir / "Cargo.toml", kPyo3Crate);
    CHECK(claimed_kind(dir.path()) == ProjectKind::cargo);
  }
  SECTION("a crate with no Python build config stays maturin's") {
    write(dir / "Cargo.toml", kPyo3Crate);
    CHECK(claimed_kind(dir.path()) == ProjectKind::cargo);
  }
}

TEST_CASE("cargo's output under another tool: rustc's JSON, status lines, cargo's own errors") {
  test::TempDir dir{"cargo-lines"};
  write(dir / "Cargo.toml", kPyo3Crate);
  write(dir / "src" / "lib.rs", "fn main() {}\n");
  CargoOutputLines lines(dir.path());
  CHECK_FALSE(lines.stdout_line("running build_rust").has_value());
  CHECK_FALSE(lines.stdout_line("{\"not\": \"cargo\"}").has_value());

  SECTION("a compiler-message is a diagnostic at the crate's file; the failure is rustc's") {
    std::string manifest = (dir / "Cargo.toml").string();
    std::string message =
        R"({"reason":"compiler-message","manifest_path":")" + manifest +
        R"(","message":{"rendered":"error[E0425]: cannot find value `nope`\n","level":"error","message":"cannot find value `nope`",)"
        R"("spans":[{"file_name":"src/lib.rs","is_primary":true,"line_start":1,"column_start":13,"line_end":1,"column_end":17}],"children":[],"code":null}})";
    auto effect = lines.stdout_line(message);
    REQUIRE(effect.has_value());
    CHECK(effect->log == "error[E0425]: cannot find value `nope`");
    REQUIRE(effect->diagnostic.has_value());
    CHECK(effect->diagnostic->severity == "error");
    CHECK(effect->diagnostic->line == 1);
    CHECK(effect->diagnostic->file == (dir / "src" / "lib.rs").string());
    CHECK(lines.rustc_errors() == 1);
    lines.stderr_line("error: could not compile `ext` (lib) due to 1 previous error");
    CHECK(lines.failed(dir / "Cargo.toml").empty());
  }
  SECTION("status lines are progress; cargo's own error is a diagnostic, setuptools-rust's summary is not") {
    auto artifact = lines.stdout_line(R"({"reason":"compiler-artifact","target":{"name":"pyo3","kind":["lib"]},"filenames":[]})");
    REQUIRE(artifact.has_value());
    CHECK(artifact->progress == "Built pyo3");
    CHECK(lines.stderr_line("   Compiling pyo3 v0.17.3") == "Compiling pyo3 v0.17.3");
    CHECK(lines.stderr_line("error: no matching package named `nope` found").empty());
    lines.stderr_line("location searched: registry `crates-io`");
    lines.stderr_line("error: `cargo rustc --lib --message-format=json` failed with code 101");
    auto errors = lines.failed(dir / "Cargo.toml");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].file == (dir / "Cargo.toml").string());
    CHECK(errors[0].message == "no matching package named `nope` found\nlocation searched: registry `crates-io`");
  }
  SECTION("cargo failing before any output of its own: the driver's line says cargo ran") {
    lines.cargo_started();
    lines.stderr_line("error: failed to parse manifest at `/x/Cargo.toml`");
    CHECK(lines.failed(dir / "Cargo.toml").size() == 1);
  }
  SECTION("a C build's errors are not cargo's") {
    lines.stderr_line("error: command '/usr/bin/gcc' failed with exit code 1");
    CHECK(lines.failed(dir / "Cargo.toml").empty());
  }
}

TEST_CASE("a [project] without version: maturin takes Cargo.toml's, other backends refuse") {
  auto pyproject = toml::parse("[project]\nname = \"demo\"\n");
  auto d = project_distribution(pyproject, "/p/pyproject.toml", /*version_from_cargo=*/true);
  REQUIRE(d.has_value());
  CHECK(d->version_dynamic);
  CHECK_THROWS_WITH(project_distribution(pyproject, "/p/pyproject.toml"), Catch::Contains("[project].version is required"));

  test::TempDir dir{"maturin-version"};
  write(dir / "pyproject.toml", kMaturin);  // [project] name only
  write(dir / "Cargo.toml", std::string(kCrate));
  auto cargo = python_distribution(dir.path(), /*cargo=*/true);
  REQUIRE(cargo.has_value());
  CHECK(cargo->version == "0.1.0");
}

TEST_CASE("features by python-version: PEP 440 specifiers against major.minor") {
  const std::string what = "pyproject.toml: [tool.maturin] features";
  CHECK(python_version_matches(">=3.11", "3.11.7", what));
  CHECK_FALSE(python_version_matches("<3.11", "3.11.7", what));
  CHECK(python_version_matches(">=3.9, <3.12", "3.11", what));
  CHECK_FALSE(python_version_matches(">=3.9,<3.11", "3.11.2", what));
  CHECK(python_version_matches("==3.11.*", "3.11.7", what));
  CHECK(python_version_matches("!=3.10.*", "3.11", what));
  CHECK(python_version_matches("==3.11", "3.11.7", what));  // the interpreter's major.minor
  CHECK(python_version_matches("~=3.10", "3.12", what));
  CHECK_FALSE(python_version_matches("~=3.10", "4.0", what));
  CHECK_THROWS_WITH(python_version_matches("^3.10", "3.11", what), Catch::Contains("is not a PEP 440 specifier"));

  auto pyproject = toml::parse(R"([tool.maturin]
features = ["always", { feature = "pyo3/abi3-py311", python-version = ">=3.11" }, { feature = "old", python-version = "<3.11" }]
)");
  ToolMaturin tool = parse_tool_maturin(&pyproject, "/p/pyproject.toml");
  CHECK(tool.features == std::vector<std::string>{"always"});
  REQUIRE(tool.conditional_features.size() == 2);
  MaturinProject project;
  project.tool = tool;
  project.pyproject_file = "/p/pyproject.toml";
  CHECK(project.cargo_args("3.11.4") == std::vector<std::string>{"--features", "always,pyo3/abi3-py311"});
  CHECK(project.cargo_args("3.9.2") == std::vector<std::string>{"--features", "always,old"});
  CHECK(project.cargo_args() == std::vector<std::string>{"--features", "always"});
  auto bad = toml::parse("[tool.maturin]\nfeatures = [{ feature = \"x\", python = \">=3\" }]\n");
  CHECK_THROWS_WITH(parse_tool_maturin(&bad, "/p/pyproject.toml"), Catch::Contains("unknown key `python`"));
}

TEST_CASE("include from out-dir: parsed, kept out of the source includes, files found under OUT_DIR") {
  auto pyproject = toml::parse(R"([tool.maturin]
include = ["README.md", { path = "gen/*.py", from = "out-dir", to = "pkg/", crate-name = "other" }]
sbom = { rust = true }
generate-ci = { github = { pytest = true } }
use-base-python = true
)");
  ToolMaturin tool = parse_tool_maturin(&pyproject, "/p/pyproject.toml");
  REQUIRE(tool.include.size() == 2);
  CHECK_FALSE(tool.include[0].from_out_dir);
  CHECK(tool.include[1].from_out_dir);
  CHECK(tool.include[1].to == "pkg/");
  CHECK(tool.include[1].crate_name == "other");
  CHECK_FALSE(tool.include[1].sdist);
  for (const char* text : {"[tool.maturin]\ninclude = [{ path = \"x\", from = \"src-dir\" }]\n",
                           "[tool.maturin]\ninclude = [{ path = \"x\", to = \"pkg/\" }]\n",
                           "[tool.maturin]\nexclude = [{ path = \"x\", from = \"out-dir\" }]\n",
                           "[tool.maturin]\ninclude = [{ path = \"x\", from = \"out-dir\", to = \"../up\" }]\n"}) {
    auto bad = toml::parse(text);
    CHECK_THROWS_AS(parse_tool_maturin(&bad, "/p/pyproject.toml"), MaturinConfigError);
  }

  test::TempDir dir{"out-dir"};
  write(dir / "gen" / "a.py", "a");
  write(dir / "gen" / "deep" / "b.py", "b");
  write(dir / "gen" / "c.txt", "c");
  write(dir / "top.py", "t");
  auto files = out_dir_files(dir.path(), "gen/*.py", "pkg/");
  REQUIRE(files.size() == 1);
  CHECK(files[0].first == "pkg/gen/a.py");
  CHECK(files[0].second == dir / "gen" / "a.py");
  CHECK(out_dir_files(dir.path(), "**/*.py", "").size() == 3);
  CHECK(out_dir_files(dir.path(), "*.json", "pkg").empty());
}
