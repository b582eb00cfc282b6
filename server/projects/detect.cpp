#include "projects/detect.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>
#include <system_error>

#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace prestage::projects {
namespace {

std::optional<toml::table> parse_toml_if_present(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  if (!fs::is_regular_file(file, ec)) throw ProjectError(file.string() + " is not a regular file");
  std::string text;
  try {
    text = util::read_file(file);
  } catch (const std::system_error& e) {
    throw ProjectError(std::string("cannot read ") + file.string() + ": " + e.what());
  }
  try {
    return toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "broken " << file.string() << ": " << e.description() << " at line " << e.source().begin.line
        << ", column " << e.source().begin.column;
    throw ProjectError(msg.str());
  }
}

std::string normalize_package_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '-' || c == '.') out.push_back('_');
    else out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string first_component(const std::string& dotted) { return dotted.substr(0, dotted.find('.')); }

bool has_init_py(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "__init__.py", ec);
}

std::optional<std::string> toml_string(const toml::table& t, std::string_view dotted_path) {
  if (auto v = t.at_path(dotted_path).value<std::string>()) return *v;
  return std::nullopt;
}

// A string-valued TOML key that is present but not a string is an error naming the key.
std::optional<std::string> checked_string(const std::optional<toml::table>& t, std::string_view dotted_path,
                                          const fs::path& file) {
  if (!t) return std::nullopt;
  auto node = t->at_path(dotted_path);
  if (!node) return std::nullopt;
  if (!node.is_string()) throw ProjectError(file.string() + ": " + std::string(dotted_path) + " must be a string");
  return *node.value<std::string>();
}

void require_dotted_identifier(const std::string& name, const fs::path& where, std::string_view what) {
  std::size_t start = 0;
  for (;;) {
    auto dot = name.find('.', start);
    auto part = std::string_view(name).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!is_python_identifier(part))
      throw ProjectError(where.string() + ": " + std::string(what) + " \"" + name + "\" is not a valid Python module name");
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
}

bool cargo_has_pyo3(const std::optional<toml::table>& cargo) {
  if (!cargo) return false;
  auto deps = (*cargo)["dependencies"].as_table();
  return deps && deps->contains("pyo3");
}

// A CMakeLists.txt that builds a Python module: pybind11, nanobind or FindPython's Python_add_library.
bool cmake_builds_python_module(const fs::path& cmakelists) {
  std::error_code ec;
  if (!fs::is_regular_file(cmakelists, ec)) return false;
  std::string text = util::read_file(cmakelists);
  std::string lower;
  for (char c : text) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const char* marker : {"find_package(pybind11", "pybind11_add_module", "pybind11::", "nanobind_add_module", "python_add_library(",
                             "python3_add_library("})
    if (lower.find(marker) != std::string::npos) return true;
  return false;
}

// hatchling with scikit-build-core's hatch plugin ([tool.hatch.build.targets.wheel.hooks.scikit-build]).
bool hatch_uses_scikit_build(const std::optional<toml::table>& pyproject, const std::string& backend) {
  return backend == "hatchling.build" && pyproject && pyproject->at_path("tool.hatch.build.targets.wheel.hooks.scikit-build").is_table();
}

// First argument of `pybind11_add_module(` in a CMakeLists.txt (detection fallback only).
std::optional<std::string> cmake_first_module_name(const fs::path& cmakelists) {
  std::string text = util::read_file(cmakelists);
  std::string lower;
  for (char c : text) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  std::size_t pos = std::string::npos;
  for (const char* token : {"pybind11_add_module(", "nanobind_add_module(", "python_add_library(", "python3_add_library("}) {
    auto at = lower.find(token);
    if (at != std::string::npos && at < pos) pos = at + std::char_traits<char>::length(token);
  }
  if (pos == std::string::npos) return std::nullopt;
  while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  std::string name;
  while (pos < text.size() && (std::isalnum(static_cast<unsigned char>(text[pos])) || text[pos] == '_'))
    name.push_back(text[pos++]);
  if (!is_python_identifier(name)) return std::nullopt;
  return name;
}

void detect_cargo(ProjectInfo& info, const std::optional<toml::table>& cargo, const std::optional<toml::table>& pyproject) {
  const fs::path cargo_file = info.root / "Cargo.toml";
  const fs::path pyproject_file = info.root / "pyproject.toml";
  if (!cargo) throw ProjectError("pyproject.toml in " + info.root.string() + " uses maturin but " + cargo_file.string() + " is missing");
  info.kind = ProjectKind::cargo;

  std::string module;
  fs::path module_source = cargo_file;
  if (auto m = checked_string(pyproject, "tool.maturin.module-name", pyproject_file)) {
    module = *m;
    module_source = pyproject_file;
  } else if (auto m = checked_string(cargo, "lib.name", cargo_file)) {
    module = *m;
  } else if (auto m = checked_string(cargo, "package.name", cargo_file)) {
    module = *m;
  } else {
    throw ProjectError(cargo_file.string() + " has no [package] name, [lib] name or [tool.maturin] module-name");
  }
  if (module_source == cargo_file) std::replace(module.begin(), module.end(), '-', '_');
  require_dotted_identifier(module, module_source, "module name");
  info.extension_module = module;
  const std::string top = first_component(module);
  info.modules = {top};

  if (auto source = checked_string(pyproject, "tool.maturin.python-source", pyproject_file)) {
    fs::path dir = (info.root / *source).lexically_normal();
    fs::path inside = dir.lexically_relative(info.root);
    if (fs::path(*source).is_absolute() || inside.empty() || *inside.begin() == "..")
      throw ProjectError(pyproject_file.string() + ": [tool.maturin] python-source \"" + *source + "\" points outside the project root " +
                         info.root.string());
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      throw ProjectError(pyproject_file.string() + ": [tool.maturin] python-source \"" + *source + "\" is not a directory under " + info.root.string());
    info.python_source = dir;
  } else if (has_init_py(info.root / top)) {
    info.python_source = info.root;
  }

  info.cargo_profile = "dev";
  if (auto profile = checked_string(pyproject, "tool.prestage.profile", pyproject_file)) {
    if (*profile != "dev" && *profile != "release")
      throw ProjectError(pyproject_file.string() + ": [tool.prestage] profile must be \"dev\" or \"release\", got \"" + *profile + "\"");
    info.cargo_profile = *profile;
  }
}

void detect_cmake(ProjectInfo& info, const std::optional<toml::table>& pyproject) {
  const fs::path pyproject_file = info.root / "pyproject.toml";
  info.kind = ProjectKind::cmake;
  std::optional<std::string> wanted;
  if (auto name = checked_string(pyproject, "project.name", pyproject_file)) wanted = normalize_package_name(*name);

  const fs::path bases[] = {info.root / "src", info.root / "python", info.root};
  std::optional<fs::path> package_dir;
  if (wanted) {
    for (const auto& base : bases)
      if (has_init_py(base / *wanted)) {
        package_dir = base / *wanted;
        break;
      }
  }
  if (!package_dir) {
    std::vector<fs::path> found;
    for (const auto& base : bases) {
      std::error_code ec;
      if (!fs::is_directory(base, ec)) continue;
      for (const auto& entry : fs::directory_iterator(base, ec)) {
        const auto name = entry.path().filename().string();
        if (entry.is_directory(ec) && is_python_identifier(name) && name != "tests" && has_init_py(entry.path()))
          found.push_back(entry.path());
      }
      if (!found.empty()) break;  // the first base holding packages wins (src/ before python/ before root)
    }
    if (found.size() == 1) package_dir = found.front();
  }

  if (package_dir) {
    info.python_source = package_dir->parent_path();
    info.modules = {package_dir->filename().string()};
  } else if (wanted) {
    info.modules = {*wanted};  // pure extension: the pyproject [project] name is the import name
  } else if (auto module = cmake_first_module_name(info.root / "CMakeLists.txt")) {
    info.modules = {*module};  // no pyproject and no package: the first pybind11_add_module target
  } else {
    throw ProjectError("cannot tell which Python module the CMake project at " + info.root.string() +
                       " provides: add a pyproject.toml with [project] name or a package directory with __init__.py");
  }
  if (!is_python_identifier(info.modules.front()))
    throw ProjectError("CMake project at " + info.root.string() + ": \"" + info.modules.front() + "\" is not a valid Python module name");
}

void detect_single_file(ProjectInfo& info) {
  const auto ext = info.root.extension().string();
  if (ext == ".rs") info.kind = ProjectKind::rust_file;
  else if (ext == ".cpp") info.kind = ProjectKind::cpp_file;
  else throw ProjectError("unsupported project file " + info.root.string() + ": expected a directory, a name.rs or a name.cpp file");
  const auto stem = info.root.stem().string();
  if (!is_python_identifier(stem))
    throw ProjectError("project file " + info.root.string() + ": \"" + stem + "\" is not a valid Python module name");
  info.extension_module = stem;
  info.modules = {stem};
  info.python_source.clear();
  if (info.kind == ProjectKind::rust_file) info.pyo3_requirement = "*";
}
}  // namespace

bool is_python_identifier(std::string_view name) {
  if (name.empty()) return false;
  if (std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string project_id_for(const fs::path& canonical_root) {
  std::string stem;
  for (char c : canonical_root.stem().string()) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') stem.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (stem.size() >= 32) break;
  }
  if (stem.empty()) stem = "project";
  return stem + "-" + util::sha256_hex(canonical_root.string()).substr(0, 12);
}

ProjectInfo detect_project(const fs::path& root_in) {
  if (root_in.empty()) throw ProjectError("project root is empty");
  std::error_code ec;
  fs::path root = fs::canonical(root_in, ec);
  if (ec) throw ProjectError("project root " + root_in.string() + " does not exist");

  ProjectInfo info;
  info.root = root;
  info.id = project_id_for(root);
  if (fs::is_regular_file(root, ec)) {
    detect_single_file(info);
    return info;
  }
  if (!fs::is_directory(root, ec)) throw ProjectError("project root " + root.string() + " is neither a directory nor a regular file");

  const auto pyproject = parse_toml_if_present(root / "pyproject.toml");
  const auto cargo = parse_toml_if_present(root / "Cargo.toml");
  std::string backend;
  if (pyproject) backend = toml_string(*pyproject, "build-system.build-backend").value_or("");

  const bool maturin_backend = backend == "maturin";
  const bool skbuild_backend = backend.rfind("scikit_build_core", 0) == 0 || hatch_uses_scikit_build(pyproject, backend);
  if (maturin_backend || (!skbuild_backend && cargo_has_pyo3(cargo))) {
    detect_cargo(info, cargo, pyproject);
    return info;
  }
  if (skbuild_backend || cmake_builds_python_module(root / "CMakeLists.txt")) {
    detect_cmake(info, pyproject);
    return info;
  }
  throw ProjectError("unsupported project at " + root.string() +
                     ": expected a Cargo.toml with a pyo3 dependency, a CMakeLists.txt using pybind11, or a pyproject.toml "
                     "with the maturin or scikit_build_core backend");
}
}  // namespace prestage::projects
