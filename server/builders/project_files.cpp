#include "builders/project_files.hpp"

#include <cctype>
#include <sstream>
#include <system_error>
#include <vector>

#include "util/fs.hpp"

namespace prestage::builders {

std::string read_text_file(const fs::path& file) { return util::read_file(file); }

std::string toml_error_text(const fs::path& file, const toml::parse_error& e) {
  std::ostringstream msg;
  msg << "broken " << file.string() << ": " << e.description() << " at line " << e.source().begin.line << ", column "
      << e.source().begin.column;
  return msg.str();
}

ProjectFiles ProjectFiles::read(const fs::path& root) {
  ProjectFiles files;
  files.root = root;
  std::error_code ec;
  files.is_file = fs::is_regular_file(root, ec);
  if (files.is_file) return files;
  files.pyproject = parse_toml_if_present(files.pyproject_path());
  files.cargo = parse_toml_if_present(files.cargo_path());
  if (files.pyproject)
    if (auto backend = files.pyproject->at_path("build-system.build-backend").value<std::string>()) files.build_backend = *backend;
  return files;
}

std::optional<std::string> checked_string(const std::optional<toml::table>& table, std::string_view dotted_path,
                                          const fs::path& file) {
  if (!table) return std::nullopt;
  auto node = table->at_path(dotted_path);
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

std::string normalize_package_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '-' || c == '.') out.push_back('_');
    else out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

bool has_init_py(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "__init__.py", ec);
}

bool find_python_package(const ProjectFiles& files, ProjectInfo& info) {
  std::optional<std::string> wanted;
  if (auto name = checked_string(files.pyproject, "project.name", files.pyproject_path())) wanted = normalize_package_name(*name);
  const fs::path bases[] = {files.root / "src", files.root / "python", files.root};
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
    return true;
  }
  if (!wanted) return false;
  info.modules = {*wanted};  // pure extension: the pyproject [project] name is the import name
  return true;
}
}  // namespace prestage::builders
