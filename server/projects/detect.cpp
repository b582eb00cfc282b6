#include "projects/detect.hpp"

#include <cctype>
#include <system_error>

#include "builders/project_metadata.hpp"
#include "util/sha256.hpp"

namespace prestage::projects {

std::string project_id_for(const fs::path& canonical_root) {
  std::string stem;
  for (char c : canonical_root.stem().string()) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') stem.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (stem.size() >= 32) break;
  }
  if (stem.empty()) stem = "project";
  return stem + "-" + util::sha256_hex(canonical_root.string()).substr(0, 12);
}

ProjectInfo detect_project(const fs::path& root_in, const std::vector<const builders::BuildBackend*>& backends) {
  if (root_in.empty()) throw ProjectError("project root is empty");
  std::error_code ec;
  fs::path root = fs::canonical(root_in, ec);
  if (ec) throw ProjectError("project root " + root_in.string() + " does not exist");
  if (!fs::is_regular_file(root, ec) && !fs::is_directory(root, ec))
    throw ProjectError("project root " + root.string() + " is neither a directory nor a regular file");

  const auto files = builders::ProjectFiles::read(root);
  for (const builders::BuildBackend* backend : backends) {
    ProjectInfo info;
    info.root = root;
    info.id = project_id_for(root);
    if (backend->claim(files, info)) {
      info.distribution = builders::distribution_name(files, info.kind);  // importlib.metadata's name
      return info;
    }
  }
  if (files.is_file)
    throw ProjectError("unsupported project file " + root.string() + ": expected a directory, a name.rs or a name.cpp file");
  throw ProjectError("unsupported project at " + root.string() +
                     ": expected a Cargo.toml with a pyo3 dependency, a CMakeLists.txt using pybind11, or a pyproject.toml "
                     "with the maturin or scikit_build_core backend, or a setuptools setup.py / pyproject.toml declaring extension modules");
}
}  // namespace prestage::projects
