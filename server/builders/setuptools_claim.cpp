#include "builders/setuptools_claim.hpp"

#include <algorithm>
#include <regex>

#include "builders/setuptools_rust.hpp"
#include "util/fs.hpp"

namespace prestage::builders {
namespace {

std::string setup_py_text(const ProjectFiles& files) {
  std::error_code ec;
  fs::path setup_py = files.root / "setup.py";
  return fs::is_regular_file(setup_py, ec) ? util::read_file(setup_py) : std::string();
}

void add_unique(std::vector<std::string>& names, const std::string& name) {
  if (is_python_identifier(name) && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}

std::string top_level_of(const std::string& dotted) { return dotted.substr(0, dotted.find('.')); }

// Package directories directly under `dir` (names with __init__.py, tests and docs left out).
void add_packages_in(const fs::path& dir, std::vector<std::string>& names) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory(ec) && name != "tests" && name != "test" && name != "docs" && has_init_py(entry.path()))
      found.push_back(name);
  }
  std::sort(found.begin(), found.end());
  for (const auto& name : found) add_unique(names, name);
}
}  // namespace

bool builds_with_setuptools(const ProjectFiles& files) {
  return files.build_backend.empty() || files.build_backend == "setuptools.build_meta" ||
         files.build_backend == "setuptools.build_meta:__legacy__";
}

bool declares_extensions(const ProjectFiles& files) {
  if (files.pyproject && files.pyproject->at_path("tool.setuptools.ext-modules").is_array()) return true;
  if (declares_rust_extensions(files)) return true;
  std::string text = setup_py_text(files);
  static const std::regex marker(R"(ext_modules|Extension\s*\(|cythonize\s*\()");
  return !text.empty() && std::regex_search(text, marker);
}

std::vector<std::string> guessed_modules(const ProjectFiles& files) {
  std::vector<std::string> names;
  std::string text = setup_py_text(files);
  static const std::regex extension_name(R"(Extension\s*\(\s*(?:name\s*=\s*)?["']([A-Za-z_][\w.]*)["'])");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), extension_name); it != std::sregex_iterator(); ++it)
    add_unique(names, top_level_of((*it)[1].str()));
  if (files.pyproject)
    if (auto list = files.pyproject->at_path("tool.setuptools.ext-modules").as_array())
      for (const auto& item : *list)
        if (auto table = item.as_table())
          if (auto name = (*table)["name"].value<std::string>()) add_unique(names, top_level_of(*name));
  for (const auto& target : pyproject_rust_targets(files)) add_unique(names, top_level_of(target));
  add_packages_in(files.root / "src", names);
  add_packages_in(files.root, names);
  if (names.empty())
    if (auto name = checked_string(files.pyproject, "project.name", files.pyproject_path())) add_unique(names, normalize_package_name(*name));
  return names;
}
}  // namespace prestage::builders
