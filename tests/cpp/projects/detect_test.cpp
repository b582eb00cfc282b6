#include <catch2/catch.hpp>

#include "projects/detect.hpp"
#include "temp_dir.hpp"

using namespace prestage;
using namespace prestage::projects;
using test::TempDir;
using test::write_text;

TEST_CASE("cargo: pure Rust crate with a pyo3 dependency") {
  TempDir t("projects");
  write_text(t.path() / "Cargo.toml", "[package]\nname = \"fast-math\"\nversion = \"0.1.0\"\n[dependencies]\npyo3 = { version = \"0.17\" }\n");
  auto info = detect_project(t.path());
  CHECK(info.kind == ProjectKind::cargo);
  CHECK(info.root == t.path());
  CHECK(info.extension_module == "fast_math");
  CHECK(info.modules == std::vector<std::string>{"fast_math"});
  CHECK(info.python_source.empty());
  CHECK(info.cargo_profile == "dev");
  CHECK(info.id == project_id_for(t.path()));
  CHECK_THAT(info.id, Catch::Matches("[a-z0-9_-]+-[0-9a-f]{12}"));
}

TEST_CASE("cargo: [lib] name beats [package] name; maturin module-name beats both") {
  TempDir t("projects");
  write_text(t.path() / "Cargo.toml", "[package]\nname = \"pkg\"\n[lib]\nname = \"libname\"\n[dependencies]\npyo3 = \"0.17\"\n");
  CHECK(detect_project(t.path()).extension_module == "libname");
  write_text(t.path() / "pyproject.toml",
        "[build-system]\nbuild-backend = \"maturin\"\n[tool.maturin]\nmodule-name = \"pkg._native\"\npython-source = \"python\"\n"
        "[tool.prestage]\nprofile = \"release\"\n");
  write_text(t.path() / "python" / "pkg" / "__init__.py", "");  // maturin requires it in a mixed project
  auto info = detect_project(t.path());
  CHECK(info.extension_module == "pkg._native");
  CHECK(info.modules == std::vector<std::string>{"pkg"});
  CHECK(info.python_source == t.path() / "python");
  CHECK(info.cargo_profile == "release");
}

TEST_CASE("cargo: mixed layout defaults python_source to the root when root/pkg/__init__.py exists") {
  TempDir t("projects");
  write_text(t.path() / "Cargo.toml", "[package]\nname = \"mixed\"\n[dependencies]\npyo3 = \"0.17\"\n");
  write_text(t.path() / "pyproject.toml", "[build-system]\nbuild-backend = \"maturin\"\n[tool.maturin]\nmodule-name = \"mixed._core\"\n");
  write_text(t.path() / "mixed" / "__init__.py", "");
  auto info = detect_project(t.path());
  CHECK(info.python_source == t.path());
  CHECK(info.modules == std::vector<std::string>{"mixed"});
}

TEST_CASE("cargo: bad profile, missing Cargo.toml under maturin, and a missing python-source are errors") {
  TempDir t("projects");
  write_text(t.path() / "pyproject.toml", "[build-system]\nbuild-backend = \"maturin\"\n");
  CHECK_THROWS_WITH(detect_project(t.path()), Catch::Contains("Cargo.toml") && Catch::Contains("missing"));
  write_text(t.path() / "Cargo.toml", "[package]\nname = \"x\"\n[dependencies]\npyo3 = \"0.17\"\n");
  write_text(t.path() / "pyproject.toml", "[build-system]\nbuild-backend = \"maturin\"\n[tool.prestage]\nprofile = \"fast\"\n");
  CHECK_THROWS_WITH(detect_project(t.path()), Catch::Contains("profile") && Catch::Contains("fast"));
  write_text(t.path() / "pyproject.toml", "[build-system]\nbuild-backend = \"maturin\"\n[tool.maturin]\npython-source = \"nowhere\"\n");
  CHECK_THROWS_WITH(detect_project(t.path()), Catch::Contains("python-source") && Catch::Contains("nowhere"));
  for (const char* outside : {"../..", "/etc"}) {
    write_text(t.path() / "pyproject.toml",
          std::string("[build-system]\nbuild-backend = \"maturin\"\n[tool.maturin]\npython-source = \"") + outside + "\"\n");
    CHECK_THROWS_WITH(detect_project(t.path()), Catch::Contains("outside the project root") && Catch::Contains(outside));
  }
}

TEST_CASE("cmake: scikit-build-core pyproject with src/<pkg>") {
  TempDir t("projects");
  write_text(t.path() / "pyproject.toml", "[build-system]\nbuild-backend = \"scikit_build_core.build\"\n[project]\nname = \"My-Pkg\"\n");
  write_text(t.path() / "CMakeLists.txt", "find_package(pybind11 CONFIG REQUIRED)\npybind11_add_module(_core src/core.cpp)\n");
  write_text(t.path() / "src" / "my_pkg" / "__init__.py", "");
  auto info = detect_project(t.path());
  CHECK(info.kind == ProjectKind::cmake);
  CHECK(info.modules == std::vector<std::string>{"my_pkg"});
  CHECK(info.python_source == t.path() / "src");
  CHECK(info.extension_module.empty());
}

TEST_CASE("cmake: plain CMakeLists using pybind11; package found under python/, else the module target name") {
  TempDir t("projects");
  write_text(t.path() / "CMakeLists.txt", "cmake_minimum_required(VERSION 3.15)\nfind_package(pybind11 REQUIRED)\npybind11_add_module(fastmod m.cpp)\n");
  CHECK(detect_project(t.path()).modules == std::vector<std::string>{"fastmod"});
  write_text(t.path() / "python" / "geo" / "__init__.py", "");
  auto info = detect_project(t.path());
  CHECK(info.modules == std::vector<std::string>{"geo"});
  CHECK(info.python_source == t.path() / "python");
}

TEST_CASE("single files: name.rs and name.cpp") {
  TempDir t("projects");
  write_text(t.path() / "quick.rs", "use pyo3::prelude::*;\n");
  write_text(t.path() / "speedy.cpp", "#include <pybind11/pybind11.h>\n");
  auto rs = detect_project(t.path() / "quick.rs");
  CHECK(rs.kind == ProjectKind::rust_file);
  CHECK(rs.modules == std::vector<std::string>{"quick"});
  CHECK(rs.extension_module == "quick");
  CHECK(rs.pyo3_requirement == "*");
  auto cpp = detect_project(t.path() / "speedy.cpp");
  CHECK(cpp.kind == ProjectKind::cpp_file);
  CHECK(cpp.modules == std::vector<std::string>{"speedy"});
  write_text(t.path() / "not-valid.rs", "");
  CHECK_THROWS_WITH(detect_project(t.path() / "not-valid.rs"), Catch::Contains("not a valid Python module name"));
  write_text(t.path() / "notes.txt", "");
  CHECK_THROWS_WITH(detect_project(t.path() / "notes.txt"), Catch::Contains("unsupported project file"));
}

TEST_CASE("broken TOML names the file, line and column") {
  TempDir t("projects");
  write_text(t.path() / "Cargo.toml", "[package]\nname = \"x\"\n[dependencies\npyo3 = \"0.17\"\n");
  CHECK_THROWS_WITH(detect_project(t.path()), Catch::Contains("Cargo.toml") && Catch::Contains("line 3"));
  TempDir u("projects");
  write_text(u.path() / "pyproject.toml", "[build-system]\nbuild-backend = maturin\n");
  CHECK_THROWS_WITH(detect_project(u.path()), Catch::Contains("pyproject.toml") && Catch::Contains("line 2"));
}

TEST_CASE("missing and unsupported directories are errors naming the path") {
  TempDir t("projects");
  CHECK_THROWS_AS(detect_project(t.path() / "missing"), ProjectError);
  CHECK_THROWS_WITH(detect_project(t.path() / "missing"), Catch::Contains((t.path() / "missing").string()) && Catch::Contains("does not exist"));
  write_text(t.path() / "Cargo.toml", "[package]\nname = \"plain\"\n[dependencies]\nserde = \"1\"\n");
  CHECK_THROWS_WITH(detect_project(t.path()), Catch::Contains("unsupported project") && Catch::Contains(t.path().string()));
}

TEST_CASE("ids are stable and differ between roots") {
  TempDir t("projects");
  fs::create_directories(t.path() / "a");
  fs::create_directories(t.path() / "b");
  CHECK(project_id_for(t.path() / "a") == project_id_for(t.path() / "a"));
  CHECK(project_id_for(t.path() / "a") != project_id_for(t.path() / "b"));
  CHECK_THAT(project_id_for(t.path() / "a"), Catch::StartsWith("a-"));
}
