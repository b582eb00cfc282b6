// The console scripts of [build-system] requires that pip's build environment would put on PATH
// (see build_requirement_scripts.hpp).
#include "builders/build_requirement_scripts.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "builders/process_runner.hpp"
#include "util/fs.hpp"

namespace prestage::builders {

std::vector<std::string> build_requirement_names(const toml::table& pyproject) {
  std::vector<std::string> names;
  auto requires_list = pyproject.at_path("build-system.requires").as_array();
  if (!requires_list) return names;
  for (const auto& item : *requires_list) {
    auto text = item.value<std::string>();
    if (!text) continue;
    std::string name;
    for (char c : *text) {
      if (std::isalnum(static_cast<unsigned char>(c))) name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      else if (c == '-' || c == '_' || c == '.') name.push_back('-');
      else if (!std::isspace(static_cast<unsigned char>(c)) || !name.empty()) break;
    }
    if (!name.empty()) names.push_back(std::move(name));
  }
  return names;
}

std::optional<std::pair<std::string, std::string>> build_requirement_scripts(const toml::table& pyproject, const fs::path& work_dir,
                                                                             const fs::path& python) {
  auto names = build_requirement_names(pyproject);
  if (std::find(names.begin(), names.end(), "cython") == names.end() || find_on_path("cython")) return std::nullopt;
  fs::path dir = work_dir / "build-scripts";
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string quoted;  // the interpreter's path in single quotes, a ' inside it as '\''
  for (char c : python.string()) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  util::write_file_atomic(dir / "cython", "#!/bin/sh\nexec '" + quoted + "' -m cython \"$@\"\n", fs::perms(0755));
  const char* path = std::getenv("PATH");
  return std::make_pair(std::string("PATH"), dir.string() + (path && *path ? ":" + std::string(path) : std::string()));
}
}  // namespace prestage::builders
