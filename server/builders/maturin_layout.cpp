#include "builders/maturin_layout.hpp"

#include <functional>
#include <set>

#include "builders/maturin_glob.hpp"
#include "watch/ignore.hpp"

namespace prestage::builders {
namespace {

// Every regular file under `dir`, skipping what the stage never copies (build outputs, VCS dirs,
// editor temp files, *.so / *.pyc) and symlinked directories.
void walk_files(const fs::path& dir, const std::function<void(const fs::path&)>& visit) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
  for (fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
    std::error_code sec;
    const std::string name = it->path().filename().string();
    if (it->is_directory(sec)) {
      if (it->is_symlink(sec) || watch::is_ignored_dir(name)) it.disable_recursion_pending();
      continue;
    }
    if (watch::is_ignored_file(name) || !it->is_regular_file(sec)) continue;
    visit(it->path());
  }
}

std::string rel(const fs::path& path, const fs::path& base) { return path.lexically_relative(base).generic_string(); }

bool inside(const fs::path& path, const fs::path& dir) {
  auto r = path.lexically_relative(dir);
  return !r.empty() && *r.begin() != "..";
}

struct Writer {
  const MaturinProject& project;
  ExcludeSet excludes;
  stage::PackageLayout layout;
  std::set<std::string> targets;

  // maturin checks the source path (relative to the project root) and, deprecated, the target path.
  bool excluded(const fs::path& source, const std::string& target) const {
    if (excludes.empty()) return false;
    if (inside(source, project.project_root) && excludes.excluded(rel(source, project.project_root))) return true;
    return excludes.excluded(target);
  }

  void add(const std::string& target, const fs::path& source) {
    if (excluded(source, target) || !targets.insert(target).second) return;
    layout.extra_files.emplace_back(target, source);
  }
};

std::vector<std::string> wheel_patterns(const std::vector<MaturinGlob>& globs) {
  std::vector<std::string> out;
  for (const auto& g : globs)
    if (g.wheel && !g.from_out_dir) out.push_back(g.path);  // OUT_DIR files: the build finds them (cargo_out_dir_files)
  return out;
}
}  // namespace

std::string maturin_reexport_init(const std::string& ext) {
  return "from ." + ext + " import *\n\n__doc__ = " + ext + ".__doc__\nif hasattr(" + ext + ", \"__all__\"):\n    __all__ = " + ext +
         ".__all__\n";
}

stage::PackageLayout maturin_layout(const MaturinProject& project, const std::string& ext_suffix, const std::optional<fs::path>& extension) {
  Writer w{project, ExcludeSet(wheel_patterns(project.tool.exclude)), {}, {}};
  w.layout.ext_suffix = ext_suffix;

  // The Python packages, as maturin's write_python_part walks them (paths relative to python-source).
  std::vector<fs::path> packages;
  if (project.package_dir) packages.push_back(*project.package_dir);
  packages.insert(packages.end(), project.python_packages.begin(), project.python_packages.end());
  for (const auto& dir : packages) walk_files(dir, [&](const fs::path& file) { w.add(rel(file, project.python_dir), file); });

  if (!project.mixed()) {
    // Pure Rust: maturin writes <ext>/__init__.py, and <ext>/__init__.pyi + py.typed from <ext>.pyi.
    const std::string ext = project.extension_name();
    w.layout.generated.emplace_back(ext + "/__init__.py", maturin_reexport_init(ext));
    w.targets.insert(ext + "/__init__.py");
    const fs::path stub = project.project_root / (ext + ".pyi");
    std::error_code ec;
    if (fs::is_regular_file(stub, ec)) {
      w.layout.extra_files.emplace_back(ext + "/__init__.pyi", stub);
      w.layout.generated.emplace_back(ext + "/py.typed", "");
    }
  }

  // include: relative to the project root, then (nothing matched) to the python-source dir.
  for (const auto& pattern : wheel_patterns(project.tool.include)) {
    std::vector<std::pair<fs::path, fs::path>> matches;  // (file, matched root)
    auto glob_under = [&](const fs::path& base) {
      walk_files(base, [&](const fs::path& file) {
        if (glob_matches(pattern, rel(file, base))) matches.emplace_back(file, base);
      });
    };
    glob_under(project.project_root);
    if (matches.empty() && project.python_dir != project.project_root) glob_under(project.python_dir);
    for (const auto& [file, base] : matches) {
      bool in_python = project.python_dir != project.project_root && inside(file, project.python_dir);
      w.add(rel(file, in_python ? project.python_dir : base), file);
    }
  }

  // The data dir: purelib / platlib land on sys.path (the generation root), as pip installs them.
  if (project.data_dir) {
    static const std::set<std::string> allowed = {"data", "scripts", "headers", "purelib", "platlib"};
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(*project.data_dir, ec)) {
      const std::string name = entry.path().filename().string();
      std::error_code sec;
      if (!entry.is_directory(sec) || !allowed.count(name))
        throw MaturinConfigError("Invalid data dir entry " + entry.path().string() +
                                 ". Possible are directories named data, scripts, headers, purelib, platlib");
      if (name == "purelib" || name == "platlib")
        walk_files(entry.path(), [&](const fs::path& file) { w.add(rel(file, entry.path()), file); });
    }
  }

  if (extension) w.layout.artifacts.emplace_back(project.staged_module(), *extension);
  return std::move(w.layout);
}
}  // namespace prestage::builders
