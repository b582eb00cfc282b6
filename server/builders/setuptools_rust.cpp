#include "builders/setuptools_rust.hpp"

#include <algorithm>
#include <regex>

#include "util/fs.hpp"

namespace prestage::builders {
namespace {

std::string setup_py_text(const fs::path& root) {
  std::error_code ec;
  fs::path setup_py = root / "setup.py";
  return fs::is_regular_file(setup_py, ec) ? util::read_file(setup_py) : std::string();
}

const toml::array* pyproject_ext_modules(const ProjectFiles& files) {
  return files.pyproject ? files.pyproject->at_path("tool.setuptools-rust.ext-modules").as_array() : nullptr;
}
}  // namespace

bool declares_rust_extensions(const ProjectFiles& files) {
  if (files.pyproject && files.pyproject->at_path("tool.setuptools-rust").is_table()) return true;
  static const std::regex marker(R"(RustExtension\s*\(|rust_extensions|setuptools_rust)");
  std::string text = setup_py_text(files.root);
  return !text.empty() && std::regex_search(text, marker);
}

std::vector<std::string> pyproject_rust_targets(const ProjectFiles& files) {
  std::vector<std::string> targets;
  if (const toml::array* list = pyproject_ext_modules(files))
    for (const auto& item : *list)
      if (const toml::table* table = item.as_table())
        if (auto target = (*table)["target"].value<std::string>()) targets.push_back(*target);
  return targets;
}

std::vector<fs::path> rust_manifests(const ProjectFiles& files) {
  std::vector<fs::path> found;
  auto add = [&](const std::string& relative) {
    fs::path manifest = (files.root / relative).lexically_normal();
    std::error_code ec;
    if (fs::is_regular_file(manifest, ec) && std::find(found.begin(), found.end(), manifest) == found.end())
      found.push_back(manifest);
  };
  if (const toml::array* list = pyproject_ext_modules(files))
    for (const auto& item : *list)
      if (const toml::table* table = item.as_table()) add((*table)["path"].value_or(std::string("Cargo.toml")));
  std::string text = setup_py_text(files.root);
  static const std::regex manifest_string(R"(["']([^"'\n]*Cargo\.toml)["'])");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), manifest_string); it != std::sregex_iterator(); ++it)
    add((*it)[1].str());
  add("Cargo.toml");
  return found;
}
}  // namespace prestage::builders
