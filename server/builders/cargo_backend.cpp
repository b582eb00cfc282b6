// cargo projects in maturin's layout: detection from pyproject.toml's [tool.maturin] and
// Cargo.toml, `cargo build` through cargo_runner, and the package maturin develop installs.
#include <algorithm>

#include "builders/backends.hpp"
#include "builders/cargo_runner.hpp"

namespace prestage::builders {
namespace {

std::string first_component(const std::string& dotted) { return dotted.substr(0, dotted.find('.')); }

// maturin's generated __init__.py for a pure-Rust crate.
std::string reexport_init(const std::string& ext) {
  return "from ." + ext + " import *\n\n__doc__ = " + ext + ".__doc__\nif hasattr(" + ext + ", \"__all__\"):\n    __all__ = " +
         ext + ".__all__\n";
}

bool has_pyo3_dependency(const std::optional<toml::table>& cargo) {
  if (!cargo) return false;
  auto deps = (*cargo)["dependencies"].as_table();
  return deps && deps->contains("pyo3");
}

class CargoBackend final : public BuildBackend {
 public:
  ProjectKind kind() const override { return ProjectKind::cargo; }

  bool claim(const ProjectFiles& files, ProjectInfo& info) const override {
    if (files.is_file) return false;
    const bool maturin = files.build_backend == "maturin";
    const bool other_python_backend = files.build_backend.rfind("scikit_build_core", 0) == 0;
    if (!maturin && (other_python_backend || !has_pyo3_dependency(files.cargo))) return false;
    const fs::path cargo_file = files.cargo_path();
    const fs::path pyproject_file = files.pyproject_path();
    if (!files.cargo)
      throw ProjectError("pyproject.toml in " + files.root.string() + " uses maturin but " + cargo_file.string() + " is missing");
    info.kind = ProjectKind::cargo;

    std::string module;
    fs::path module_source = cargo_file;
    if (auto m = checked_string(files.pyproject, "tool.maturin.module-name", pyproject_file)) {
      module = *m;
      module_source = pyproject_file;
    } else if (auto m = checked_string(files.cargo, "lib.name", cargo_file)) {
      module = *m;
    } else if (auto m = checked_string(files.cargo, "package.name", cargo_file)) {
      module = *m;
    } else {
      throw ProjectError(cargo_file.string() + " has no [package] name, [lib] name or [tool.maturin] module-name");
    }
    if (module_source == cargo_file) std::replace(module.begin(), module.end(), '-', '_');
    require_dotted_identifier(module, module_source, "module name");
    info.extension_module = module;
    const std::string top = first_component(module);
    info.modules = {top};

    if (auto source = checked_string(files.pyproject, "tool.maturin.python-source", pyproject_file)) {
      fs::path dir = (files.root / *source).lexically_normal();
      fs::path inside = dir.lexically_relative(files.root);
      if (fs::path(*source).is_absolute() || inside.empty() || *inside.begin() == "..")
        throw ProjectError(pyproject_file.string() + ": [tool.maturin] python-source \"" + *source +
                           "\" points outside the project root " + files.root.string());
      std::error_code ec;
      if (!fs::is_directory(dir, ec))
        throw ProjectError(pyproject_file.string() + ": [tool.maturin] python-source \"" + *source + "\" is not a directory under " +
                           files.root.string());
      info.python_source = dir;
    } else if (has_init_py(files.root / top)) {
      info.python_source = files.root;
    }

    info.cargo_profile = "dev";
    if (auto profile = checked_string(files.pyproject, "tool.prestage.profile", pyproject_file)) {
      if (*profile != "dev" && *profile != "release")
        throw ProjectError(pyproject_file.string() + ": [tool.prestage] profile must be \"dev\" or \"release\", got \"" + *profile + "\"");
      info.cargo_profile = *profile;
    }
    return true;
  }

  std::shared_ptr<BuildTask> start(boost::asio::io_context& io, BuildJob job, ProgressFn progress, DoneFn done) const override {
    return start_session(io, std::move(job), std::move(progress), std::move(done), [](const std::shared_ptr<BuildSession>& session) {
      const ProjectInfo& project = session->job().project;
      if (!fs::exists(project.root / "Cargo.toml")) throw BuildError("no Cargo.toml in " + project.root.string());
      std::string module = project.extension_module;
      if (module.empty()) module = project.modules.empty() ? project.root.filename().string() : project.modules.front();
      // cwd = project root so the user's .cargo/config.toml applies. cargo writes Cargo.lock
      // next to Cargo.toml when it is missing; that is the only write into the source tree.
      run_cargo(session, project.root, {}, module);
    });
  }

  stage::PackageLayout layout(const ProjectInfo& info, const BuildOutput& output, const Interpreter& python) const override {
    stage::PackageLayout layout;
    layout.ext_suffix = python.ext_suffix;
    const std::string top = info.modules.empty() ? first_component(info.extension_module) : info.modules.front();
    std::error_code ec;
    fs::path package_dir = info.python_source.empty() ? fs::path() : info.python_source / top;
    const bool has_python_package = !package_dir.empty() && fs::is_directory(package_dir, ec);
    if (has_python_package) layout.trees.emplace_back(package_dir, top);
    for (const auto& a : output.artifacts) {
      // maturin puts an undotted module inside the package of the same name.
      std::string module = a.module.find('.') == std::string::npos ? top + "." + a.module : a.module;
      layout.artifacts.emplace_back(module, a.path);
    }
    if (!has_python_package)
      layout.generated.emplace_back(top + "/__init__.py",
                                    reexport_init(info.extension_module.substr(info.extension_module.rfind('.') + 1)));
    return layout;
  }
};
}  // namespace

const BuildBackend& cargo_backend() {
  static const CargoBackend backend;
  return backend;
}
}  // namespace prestage::builders
