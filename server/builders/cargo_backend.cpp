// cargo projects as maturin builds them (docs/backends/maturin.md): detection by maturin's rules
// (cargo_claim.cpp), `cargo metadata` + `cargo build` through cargo_runner with maturin's checks,
// and the files maturin develop installs (maturin_layout.cpp).
#include "builders/backends.hpp"
#include "builders/cargo_claim.hpp"
#include "builders/setuptools_claim.hpp"
#include "builders/setuptools_rust.hpp"
#include "builders/cargo_runner.hpp"
#include "builders/maturin_layout.hpp"
#include "builders/project_metadata.hpp"

namespace prestage::builders {
namespace {

// `version.workspace = true`: [workspace.package] version of the nearest Cargo.toml above with a [workspace].
std::string workspace_package_version(const fs::path& manifest) {
  for (fs::path dir = manifest.parent_path().parent_path(); !dir.empty(); dir = dir.parent_path()) {
    std::error_code ec;
    if (fs::is_regular_file(dir / "Cargo.toml", ec)) {
      try {
        auto table = toml::parse_file((dir / "Cargo.toml").string());
        if (table.contains("workspace")) return table.at_path("workspace.package.version").value_or(std::string());
      } catch (const toml::parse_error&) {
        return {};
      }
    }
    if (dir == dir.parent_path()) break;
  }
  return {};
}

bool has_pyo3_dependency(const std::optional<toml::table>& cargo) {
  if (!cargo) return false;
  auto deps = (*cargo)["dependencies"].as_table();
  return deps && (deps->contains("pyo3") || deps->contains("pyo3-ffi"));
}

bool is_virtual_workspace(const std::optional<toml::table>& cargo) { return cargo && cargo->contains("workspace") && !cargo->contains("package"); }

// The build, after cargo metadata: maturin's abi3 check and a crate that builds no cdylib are
// refused before compiling anything.
void build_after_metadata(const std::shared_ptr<BuildSession>& session, const MaturinProject& maturin,
                          const std::optional<CargoMetadata>& metadata) {
  if (metadata) {
    if (auto refusal = abi3_without_version(*metadata); !refusal.empty()) return session->fail(refusal);
    if (const auto* crate = metadata->package_by_manifest(maturin.manifest_path); crate && !crate->cdylib)
      return session->fail(maturin.manifest_path.string() + " builds no cdylib: set crate-type = [\"cdylib\"] in its [lib]");
  }
  CargoOptions options{maturin.profile, maturin.cargo_args(session->job().python.version), /*maturin_checks=*/true, {}};
  for (const auto& glob : maturin.tool.include) {
    if (!glob.from_out_dir) continue;
    const CargoPackage* crate = nullptr;
    if (metadata) {
      if (glob.crate_name.empty()) {
        crate = metadata->package_by_manifest(maturin.manifest_path);
      } else {
        for (const auto& p : metadata->packages) crate = !crate && p.name == glob.crate_name ? &p : crate;
        if (!crate)
          return session->fail(maturin.pyproject_file.string() + ": [tool.maturin] include crate-name = \"" + glob.crate_name +
                               "\" is no package of this build");
      }
    }
    if (!crate) return session->fail("[tool.maturin] include from = \"out-dir\" needs cargo metadata, which failed");
    options.out_dir_includes.push_back({crate->id, crate->name, glob.path, glob.to});
  }
  // cwd = project root so the user's .cargo/config.toml applies. cargo writes Cargo.lock next to
  // the workspace's Cargo.toml when it is missing; that is the only write into the source tree.
  run_cargo(session, session->job().project.root, maturin.manifest_path, maturin.staged_module(), options);
}

class CargoBackend final : public BuildBackend {
 public:
  ProjectKind kind() const override { return ProjectKind::cargo; }

  bool claim(const ProjectFiles& files, ProjectInfo& info) const override {
    if (files.is_file) return false;
    const bool maturin = files.build_backend == "maturin";
    const bool other_python_backend = files.build_backend.rfind("scikit_build_core", 0) == 0;
    if (!maturin && (other_python_backend || !(has_pyo3_dependency(files.cargo) || is_virtual_workspace(files.cargo)))) return false;
    // setuptools-rust (RustExtension, [tool.setuptools-rust]) builds this crate: the setuptools backend's.
    if (!maturin && builds_with_setuptools(files) && declares_rust_extensions(files)) return false;
    try {
      claim_cargo_project(info);
    } catch (const MaturinConfigError& e) {
      if (!maturin && is_virtual_workspace(files.cargo) && !has_pyo3_dependency(files.cargo) &&
          std::string_view(e.what()).find("has no extension member") != std::string_view::npos)
        return false;  // a plain Rust workspace is not a Python project
      throw ProjectError(e.what());
    }
    return true;
  }

  // Called on the io thread: re-reads the two TOML files (small) so an edit to either applies to
  // this build, then cargo metadata -> checks -> cargo build -> checks, each a tool run on the session.
  std::shared_ptr<BuildTask> start(boost::asio::io_context& io, BuildJob job, ProgressFn progress, DoneFn done) const override {
    return start_session(io, std::move(job), std::move(progress), std::move(done), [](const std::shared_ptr<BuildSession>& session) {
      MaturinProject maturin;
      try {
        maturin = maturin_project_of(session->job().project);
      } catch (const MaturinConfigError& e) {
        throw BuildError(e.what());
      }
      run_cargo_metadata(session, session->job().project.root, maturin.manifest_path, maturin.cargo_args(session->job().python.version),
                         [session, maturin](std::optional<CargoMetadata> metadata) { build_after_metadata(session, maturin, metadata); });
    });
  }

  stage::PackageLayout layout(const ProjectInfo& info, const BuildOutput& output, const Interpreter& python) const override {
    std::optional<fs::path> extension;
    if (!output.artifacts.empty()) extension = output.artifacts.front().path;
    try {
      const MaturinProject project = maturin_project_of(info);
      stage::PackageLayout layout = maturin_layout(project, python.ext_suffix, extension);
      // include from = "out-dir": found by the build (its files are the last good build's)
      layout.extra_files.insert(layout.extra_files.end(), output.extra_files.begin(), output.extra_files.end());
      // <name>-<version>.dist-info: [project], else the crate's [package]; a dynamic version is the crate's.
      add_distribution(layout, project.project_root, /*cargo=*/true);
      if (layout.distribution && (layout.distribution->version_dynamic || layout.distribution->version == "0.0.0")) {
        std::string version = project.crate_version.empty() ? workspace_package_version(project.manifest_path) : project.crate_version;
        if (!version.empty()) layout.distribution->version = version;
      }
      return layout;
    } catch (const MaturinConfigError& e) {
      throw BuildError(e.what());
    }
  }

  std::vector<fs::path> watch_roots_blocking(const ProjectInfo& info) const override { return cargo_watch_roots_blocking(info); }
};
}  // namespace

const BuildBackend& cargo_backend() {
  static const CargoBackend backend;
  return backend;
}
}  // namespace prestage::builders
