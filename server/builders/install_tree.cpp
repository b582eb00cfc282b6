// Install tree + package sources -> the files of a generation (see install_tree.hpp).
#include "builders/install_tree.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "watch/ignore.hpp"

namespace prestage::builders {
namespace {
bool identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool has_init(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "__init__.py", ec) || fs::is_regular_file(dir / "__init__.pyi", ec);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// fnmatch-like: '*' and '?' stop at '/', '**' crosses it, [...] classes.
bool glob(std::string_view p, std::string_view s) {
  if (p.empty()) return s.empty();
  if (p.size() >= 2 && p[0] == '*' && p[1] == '*') {
    std::string_view rest = p.substr(2);
    if (!rest.empty() && rest[0] == '/') {
      // "**/" matches zero or more whole directories
      if (glob(rest.substr(1), s)) return true;
    }
    for (std::size_t i = 0; i <= s.size(); ++i)
      if (glob(rest, s.substr(i))) return true;
    return false;
  }
  if (p[0] == '*') {
    for (std::size_t i = 0; i <= s.size(); ++i) {
      if (glob(p.substr(1), s.substr(i))) return true;
      if (i < s.size() && s[i] == '/') break;
    }
    return false;
  }
  if (s.empty()) return false;
  if (p[0] == '?') return s[0] != '/' && glob(p.substr(1), s.substr(1));
  if (p[0] == '[') {
    auto close = p.find(']', 2);
    if (close != std::string_view::npos) {
      std::string_view set = p.substr(1, close - 1);
      bool negate = !set.empty() && (set[0] == '!' || set[0] == '^');
      if (negate) set.remove_prefix(1);
      bool hit = false;
      for (std::size_t i = 0; i < set.size(); ++i) {
        if (i + 2 < set.size() && set[i + 1] == '-') {
          hit = hit || (s[0] >= set[i] && s[0] <= set[i + 2]);
          i += 2;
        } else {
          hit = hit || s[0] == set[i];
        }
      }
      return hit != negate && s[0] != '/' && glob(p.substr(close + 1), s.substr(1));
    }
  }
  if (p[0] == '\\' && p.size() > 1) return s[0] == p[1] && glob(p.substr(2), s.substr(1));
  return p[0] == s[0] && glob(p.substr(1), s.substr(1));
}

bool pattern_matches(std::string pattern, const std::string& relpath) {
  bool dir_only = !pattern.empty() && pattern.back() == '/';
  if (dir_only) pattern.pop_back();
  bool anchored = pattern.find('/') != std::string::npos;
  if (!pattern.empty() && pattern.front() == '/') pattern.erase(0, 1);
  std::vector<std::string> parts;
  for (const auto& part : fs::path(relpath)) parts.push_back(part.string());
  if (!anchored) {
    // Matches any component; a directory component excludes everything below it.
    for (std::size_t i = 0; i < parts.size(); ++i) {
      bool is_dir = i + 1 < parts.size();
      if (dir_only && !is_dir) continue;
      if (glob(pattern, parts[i])) return true;
    }
    return false;
  }
  std::string prefix;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    prefix += (i ? "/" : "") + parts[i];
    bool is_dir = i + 1 < parts.size();
    if (dir_only && !is_dir) continue;
    if (glob(pattern, prefix)) return true;
  }
  return false;
}

bool exports_pyinit(const fs::path& file, const std::string& stem) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string symbol = "PyInit_" + stem;
  symbol.push_back('\0');
  return bytes.find(symbol) != std::string::npos;
}
}  // namespace

std::vector<std::pair<std::string, fs::path>> discover_packages(const fs::path& root, const std::string& project_name) {
  std::vector<std::string> parts;
  std::string part;
  for (char c : project_name) {
    if (c == '.') {
      parts.push_back(part);
      part.clear();
    } else {
      part.push_back(c == '-' ? '_' : c);
    }
  }
  parts.push_back(part);
  std::vector<std::string> candidates;
  std::string flat;
  for (const auto& p : parts) flat += (flat.empty() ? "" : "_") + p;
  candidates.push_back(flat);
  if (parts.size() > 1) {
    std::string nested;
    for (const auto& p : parts) nested += (nested.empty() ? "" : "/") + p;
    candidates.push_back(nested);
  }
  for (const char* base : {"src", "python", ""}) {
    for (const auto& rel : candidates) {
      fs::path dir = (std::string(base).empty() ? root / rel : root / base / rel).lexically_normal();
      std::error_code ec;
      if (fs::is_directory(dir, ec) && has_init(dir)) return {{rel, dir}};
    }
  }
  return {};
}

bool wheel_excluded(const std::string& relpath, const std::vector<std::string>& patterns) {
  bool excluded = false;
  for (const auto& raw : patterns) {
    std::string p = raw;
    while (!p.empty() && (p.back() == ' ' || p.back() == '\t')) p.pop_back();
    if (p.empty() || p[0] == '#') continue;
    bool negate = p[0] == '!';
    if (negate) p.erase(0, 1);
    if (pattern_matches(p, relpath)) excluded = !negate;
  }
  return excluded;
}

std::string module_of_relpath(const std::string& relpath) {
  fs::path rel(relpath);
  std::string module;
  for (const auto& part : rel.parent_path()) module += part.string() + ".";
  std::string file = rel.filename().string();
  std::string stem = file.substr(0, file.find('.'));
  if (stem == "__init__") return module.empty() ? std::string() : module.substr(0, module.size() - 1);
  return module + stem;
}

bool is_extension_module(const fs::path& file, const std::string& relpath, const std::string& ext_suffix) {
  std::string name = fs::path(relpath).filename().string();
  std::string stem = name.substr(0, name.find('.'));
  if (!identifier(stem)) return false;
  if (!ext_suffix.empty() && ends_with(name, ext_suffix)) return true;
  if (ends_with(name, ".abi3.so")) return true;
  if (!ends_with(name, ".so")) return false;
  return exports_pyinit(file, stem);
}

void add_to_output(BuildOutput& out, const std::vector<StagedFile>& files) {
  for (const auto& f : files) {
    if (!f.module.empty()) out.artifacts.push_back(Artifact{f.module, f.source, f.relpath});
    else out.extra_files.emplace_back(f.relpath, f.source);
  }
}

std::vector<StagedFile> staged_files(const fs::path& platlib, const std::vector<std::pair<std::string, fs::path>>& packages,
                                     const std::vector<std::string>& exclude, const std::string& ext_suffix) {
  std::vector<StagedFile> out;
  std::set<std::string> taken;
  std::error_code ec;
  if (fs::is_directory(platlib, ec)) {
    for (auto it = fs::recursive_directory_iterator(platlib, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code sec;
      if (it->is_directory(sec)) continue;
      if (!it->is_regular_file(sec)) continue;  // symlinks to files are followed by is_regular_file
      std::string rel = it->path().lexically_relative(platlib).generic_string();
      if (wheel_excluded(rel, exclude)) continue;
      StagedFile f{rel, it->path(), {}};
      if (is_extension_module(it->path(), rel, ext_suffix)) f.module = module_of_relpath(rel);
      taken.insert(rel);
      out.push_back(std::move(f));
    }
  }
  // Package sources: what the install already put at a path wins (as in scikit-build-core's mapping).
  for (const auto& [dest, source] : packages) {
    if (!fs::is_directory(source, ec)) continue;
    for (auto it = fs::recursive_directory_iterator(source, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code sec;
      std::string name = it->path().filename().string();
      if (it->is_directory(sec)) {
        if (watch::is_ignored_dir(name)) it.disable_recursion_pending();
        continue;
      }
      if (watch::is_ignored_file(name) || !it->is_regular_file(sec)) continue;
      std::string rel = (fs::path(dest) / it->path().lexically_relative(source)).generic_string();
      if (taken.count(rel) || wheel_excluded(rel, exclude)) continue;
      taken.insert(rel);
      out.push_back({rel, it->path(), {}});
    }
  }
  std::sort(out.begin(), out.end(), [](const StagedFile& a, const StagedFile& b) { return a.relpath < b.relpath; });
  return out;
}

std::vector<std::string> top_level_names(const std::vector<StagedFile>& files) {
  std::set<std::string> names;
  for (const auto& f : files) {
    fs::path rel(f.relpath);
    std::string first = rel.begin()->string();
    bool nested = std::distance(rel.begin(), rel.end()) > 1;
    std::string file = rel.filename().string();
    bool python_file = ends_with(file, ".py") || ends_with(file, ".pyc") || !f.module.empty();
    if (!python_file) continue;
    std::string name = nested ? first : file.substr(0, file.find('.'));
    if (identifier(name) && name != "__init__") names.insert(name);
  }
  return {names.begin(), names.end()};
}
std::vector<std::string> top_level_names_in(const fs::path& dir, const std::set<std::string>& extensions) {
  std::vector<StagedFile> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code sec;
    std::string name = it->path().filename().string();
    if (it->is_directory(sec)) {
      if (name == "__pycache__" || ends_with(name, ".dist-info")) it.disable_recursion_pending();
      continue;
    }
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (rel == "manifest.json" || !it->is_regular_file(sec)) continue;
    StagedFile f{rel, it->path(), {}};
    if (extensions.count(rel)) f.module = module_of_relpath(rel);
    files.push_back(std::move(f));
  }
  return top_level_names(files);
}
}  // namespace prestage::builders
