#include "watch/ignore.hpp"

#include <array>

namespace prestage::watch {
namespace {
bool ends_with(std::string_view s, std::string_view suffix) { return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix; }
bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
}  // namespace

bool is_ignored_dir(std::string_view name) {
  static constexpr std::array<std::string_view, 19> exact = {
      "target", ".git", ".hg", ".svn", "__pycache__", "build", "_skbuild", "node_modules", ".venv", "venv",
      ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".idea", ".vscode", "dist", ".eggs"};
  for (auto e : exact)
    if (name == e) return true;
  return starts_with(name, "build-") || ends_with(name, ".egg-info");
}

bool is_ignored_file(std::string_view name) {
  if (name.empty() || name == "4913" || name == ".DS_Store") return true;
  if (name.back() == '~') return true;
  if (starts_with(name, ".#")) return true;
  if (name.size() > 1 && name.front() == '#' && name.back() == '#') return true;
  static constexpr std::array<std::string_view, 11> suffixes = {
      ".swp", ".swo", ".swx", "___jb_tmp___", "___jb_old___", ".pyc", ".pyo", ".so", ".pyd", ".o", ".dll"};
  for (auto s : suffixes)
    if (ends_with(name, s)) return true;
  return false;
}

bool is_python_source(const fs::path& path) {
  auto ext = path.extension();
  return ext == ".py" || ext == ".pyi";
}

fs::path normalize(const fs::path& path) {
  fs::path p = path.is_absolute() ? path : fs::absolute(path);
  p = p.lexically_normal();
  if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
  return p;
}

bool is_under_any(const fs::path& path, const std::vector<fs::path>& ignored_paths) {
  for (const auto& ignored : ignored_paths) {
    auto rel = path.lexically_relative(ignored);
    if (!rel.empty() && *rel.begin() != "..") return true;
  }
  return false;
}
}  // namespace prestage::watch
