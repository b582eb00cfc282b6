#include "builders/maturin_project.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "builders/project_files.hpp"
#include "util/fs.hpp"

namespace prestage::builders {
namespace {

std::optional<toml::table> parse_if_present(const fs::path& file) { return parse_toml_file_as<MaturinConfigError>(file); }

std::optional<std::string> string_at(const std::optional<toml::table>& t, std::string_view path, const fs::path& file) {
  if (!t) return std::nullopt;
  auto node = t->at_path(path);
  if (!node) return std::nullopt;
  if (!node.is_string()) throw MaturinConfigError(file.string() + ": " + std::string(path) + " must be a string");
  return *node.value<std::string>();
}

bool identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

void require_module_name(const std::string& name, const fs::path& file) {
  std::size_t start = 0;
  for (;;) {
    auto dot = name.find('.', start);
    if (!identifier(std::string_view(name).substr(start, dot == std::string::npos ? std::string::npos : dot - start)))
      throw MaturinConfigError(file.string() + ": module name \"" + name + "\" is not a valid Python module name");
    if (dot == std::string::npos) return;
    start = dot + 1;
  }
}

bool inside(const fs::path& path, const fs::path& dir) {
  auto rel = path.lexically_normal().lexically_relative(dir.lexically_normal());
  return !rel.empty() && *rel.begin() != "..";
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::string import_name(std::string s) {
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}
}  // namespace

std::string MaturinProject::top() const { return module_name.substr(0, module_name.find('.')); }

std::string MaturinProject::extension_name() const { return module_name.substr(module_name.rfind('.') + 1); }

std::vector<std::string> MaturinProject::modules() const {
  std::vector<std::string> out{mixed() ? top() : extension_name()};
  auto add = [&out](const std::string& name) {
    if (identifier(name) && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  };
  for (const auto& p : python_packages) add(p.filename().string());
  // The data dir's purelib / platlib install onto sys.path: their top-level modules are served too.
  if (data_dir)
    for (const char* scheme : {"purelib", "platlib"}) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(*data_dir / scheme, ec)) {
        const fs::path& path = entry.path();
        if (path.extension() == ".py") add(path.stem().string());
        else if (is_file(path / "__init__.py")) add(path.filename().string());
      }
    }
  return out;
}

std::string MaturinProject::staged_module() const {
  if (!mixed()) return extension_name() + "." + extension_name();
  return module_name.find('.') == std::string::npos ? module_name + "." + module_name : module_name;
}

std::vector<std::string> MaturinProject::cargo_args(std::string_view python_version) const {
  std::vector<std::string> args;
  std::vector<std::string> features = tool.features;
  if (!python_version.empty())
    for (const auto& c : tool.conditional_features)
      if (python_version_matches(c.python_version, python_version, pyproject_file.string() + ": [tool.maturin] features"))
        features.push_back(c.feature);
  if (!features.empty()) {
    std::string joined;
    for (const auto& f : features) joined += (joined.empty() ? "" : ",") + f;
    args.insert(args.end(), {"--features", joined});
  }
  if (tool.all_features) args.push_back("--all-features");
  if (tool.no_default_features) args.push_back("--no-default-features");
  if (tool.locked) args.push_back("--locked");
  if (tool.frozen) args.push_back("--frozen");
  for (const auto& c : tool.config) args.insert(args.end(), {"--config", c});
  return args;
}

bool is_virtual_workspace(const fs::path& dir) {
  auto cargo = parse_if_present(dir / "Cargo.toml");
  return cargo && cargo->contains("workspace") && !cargo->contains("package");
}

MaturinProject resolve_maturin_project(const fs::path& root, const std::optional<fs::path>& member_manifest) {
  MaturinProject p;
  p.opened_root = root;
  p.pyproject_file = root / "pyproject.toml";
  if (member_manifest) {
    // maturin -m <member>/Cargo.toml: the nearest pyproject.toml from the member up to the opened root.
    p.pyproject_file = member_manifest->parent_path() / "pyproject.toml";
    for (fs::path dir = member_manifest->parent_path(); inside(dir, root) || dir == root; dir = dir.parent_path()) {
      if (is_file(dir / "pyproject.toml")) {
        p.pyproject_file = dir / "pyproject.toml";
        break;
      }
      if (dir == root || dir == dir.parent_path()) break;
    }
  }
  auto pyproject = parse_if_present(p.pyproject_file);
  p.tool = parse_tool_maturin(pyproject ? &*pyproject : nullptr, p.pyproject_file);
  const fs::path pyproject_dir = p.pyproject_file.parent_path();

  if (member_manifest) {
    p.manifest_path = *member_manifest;
  } else if (p.tool.manifest_path) {
    p.manifest_path = (pyproject_dir / *p.tool.manifest_path).lexically_normal();
    if (!inside(p.manifest_path.parent_path(), pyproject_dir) && p.manifest_path.parent_path() != pyproject_dir)
      throw MaturinConfigError(p.pyproject_file.string() + ": [tool.maturin] manifest-path \"" + *p.tool.manifest_path +
                               "\": Cargo.toml can not be placed outside of the directory containing pyproject.toml");
    if (!is_file(p.manifest_path))
      throw MaturinConfigError(p.pyproject_file.string() + ": [tool.maturin] manifest-path \"" + *p.tool.manifest_path + "\": " +
                               p.manifest_path.string() + " is not the path to a Cargo.toml");
  } else {
    p.manifest_path = pyproject_dir / "Cargo.toml";
    // maturin's src layout: rust/Cargo.toml with python-source set or src/<project name>/ present.
    const fs::path rust = pyproject_dir / "rust" / "Cargo.toml";
    if (pyproject && is_file(rust)) {
      auto name = string_at(pyproject, "project.name", p.pyproject_file);
      if (p.tool.python_source || (name && is_dir(pyproject_dir / "src" / import_name(*name)))) p.manifest_path = rust;
    }
    if (!is_file(p.manifest_path)) {
      if (pyproject)
        throw MaturinConfigError(p.pyproject_file.string() + " uses maturin but " + p.manifest_path.string() +
                                 " is missing; set [tool.maturin] manifest-path to the crate's Cargo.toml");
      throw MaturinConfigError("no Cargo.toml in " + root.string());
    }
  }

  auto cargo = parse_if_present(p.manifest_path);
  if (!cargo) throw MaturinConfigError(p.manifest_path.string() + " is missing");
  if (!cargo->contains("package")) {
    if (cargo->contains("workspace")) throw VirtualWorkspace(p.manifest_path);
    throw MaturinConfigError(p.manifest_path.string() + " has no [package]");
  }
  p.legacy = parse_legacy_maturin(&*cargo, p.manifest_path);
  const fs::path manifest_dir = p.manifest_path.parent_path();
  p.crate_name = string_at(cargo, "package.name", p.manifest_path).value_or("");
  if (p.crate_name.empty()) throw MaturinConfigError(p.manifest_path.string() + " has no [package] name");
  if (auto v = cargo->at_path("package.version"); v.is_string()) p.crate_version = *v.value<std::string>();

  // The module name, in maturin's order.
  fs::path module_source = p.manifest_path;
  if (p.tool.module_name) {
    p.module_name = *p.tool.module_name;
    module_source = p.pyproject_file;
  } else if (p.legacy.name && p.legacy.name->find('.') != std::string::npos) {
    p.module_name = *p.legacy.name;
  } else if (auto lib = string_at(cargo, "lib.name", p.manifest_path)) {
    p.module_name = *lib;
  } else {
    p.module_name = import_name(p.crate_name);
  }
  require_module_name(p.module_name, module_source);

  p.project_root = pyproject ? pyproject_dir : manifest_dir;
  auto project_name = string_at(pyproject, "project.name", p.pyproject_file);
  p.project_name = project_name.value_or(p.crate_name);
  if (p.tool.python_source) {
    p.python_dir = (p.project_root / *p.tool.python_source).lexically_normal();
    // maturin allows a python-source anywhere; prestage watches the project, so it must lie inside.
    if (fs::path(*p.tool.python_source).is_absolute() || !(inside(p.python_dir, p.project_root) || p.python_dir == p.project_root))
      throw MaturinConfigError(p.pyproject_file.string() + ": [tool.maturin] python-source \"" + *p.tool.python_source +
                               "\" points outside the project root " + p.project_root.string());
  } else if (p.legacy.python_source) {
    p.python_dir = (manifest_dir / *p.legacy.python_source).lexically_normal();
  } else if (project_name && is_dir(p.project_root / "src" / import_name(*project_name))) {
    p.python_dir = p.project_root / "src";
  } else {
    p.python_dir = p.project_root;
  }
  if ((p.tool.python_source || p.legacy.python_source) && !is_dir(p.python_dir))
    throw MaturinConfigError((p.tool.python_source ? p.pyproject_file : p.manifest_path).string() + ": python-source \"" +
                             p.tool.python_source.value_or(p.legacy.python_source.value_or("")) + "\" is not a directory (" +
                             p.python_dir.string() + ")");

  if (p.tool.data) {
    p.data_dir = fs::path(*p.tool.data).is_absolute() ? fs::path(*p.tool.data) : p.project_root / *p.tool.data;
  } else if (p.legacy.data) {
    p.data_dir = fs::path(*p.legacy.data).is_absolute() ? fs::path(*p.legacy.data) : manifest_dir / *p.legacy.data;
  } else if (is_dir(p.project_root / (p.module_name + ".data"))) {
    p.data_dir = p.project_root / (p.module_name + ".data");
  }
  if (p.data_dir && !is_dir(*p.data_dir)) throw MaturinConfigError("No such data directory " + p.data_dir->string());

  const fs::path package = p.python_dir / p.top();
  if (is_dir(package)) {
    if (!is_file(package / "__init__.py") && !is_file(package / "__init__.pyi"))
      throw MaturinConfigError("Found a directory with the module name (" + p.top() + ") at " + package.string() +
                               ", which indicates a mixed python/rust project, but the directory didn't contain an __init__.py file.");
    p.package_dir = package;
  }
  for (const auto& name : p.tool.python_packages) {
    fs::path dir = p.python_dir / name;
    if (!identifier(name) || !is_dir(dir))
      throw MaturinConfigError(p.pyproject_file.string() + ": [tool.maturin] python-packages: \"" + name + "\" is not a package directory in " +
                               p.python_dir.string());
    if (!p.package_dir || dir != *p.package_dir) p.python_packages.push_back(dir);
  }

  p.profile = p.tool.editable_profile.value_or(p.tool.profile.value_or("dev"));
  if (auto profile = string_at(pyproject, "tool.prestage.profile", p.pyproject_file)) {
    if (*profile != "dev" && *profile != "release")
      throw MaturinConfigError(p.pyproject_file.string() + ": [tool.prestage] profile must be \"dev\" or \"release\", got \"" + *profile + "\"");
    p.profile = *profile;
  }
  return p;
}
}  // namespace prestage::builders
