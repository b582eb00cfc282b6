#include "builders/single_file.hpp"

namespace prestage::builders {

bool claim_single_file(const ProjectFiles& files, std::string_view ext, ProjectKind kind, ProjectInfo& info) {
  if (!files.is_file || files.root.extension() != ext) return false;
  const auto stem = files.root.stem().string();
  if (!is_python_identifier(stem))
    throw ProjectError("project file " + files.root.string() + ": \"" + stem + "\" is not a valid Python module name");
  info.kind = kind;
  info.extension_module = stem;
  info.modules = {stem};
  info.python_source.clear();
  return true;
}
stage::PackageLayout single_file_layout(const BuildOutput& output, const Interpreter& python) {
  stage::PackageLayout layout;
  layout.ext_suffix = python.ext_suffix;
  for (const auto& a : output.artifacts) layout.artifacts.emplace_back(a.module, a.path);
  return layout;
}
}  // namespace prestage::builders
