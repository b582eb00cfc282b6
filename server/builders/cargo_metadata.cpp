#include "builders/cargo_metadata.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <set>
#include <stdexcept>

#include "builders/process_runner.hpp"
#include "util/thread_check.hpp"

namespace prestage::builders {

bool CargoPackage::depends_on_pyo3() const {
  return std::any_of(dependency_names.begin(), dependency_names.end(), [](const std::string& n) { return n == "pyo3" || n == "pyo3-ffi"; });
}

const CargoPackage* CargoMetadata::package(const std::string& id) const {
  for (const auto& p : packages)
    if (p.id == id) return &p;
  return nullptr;
}

const CargoPackage* CargoMetadata::package_by_manifest(const fs::path& manifest) const {
  auto wanted = manifest.lexically_normal();
  for (const auto& p : packages)
    if (p.manifest_path.lexically_normal() == wanted) return &p;
  return nullptr;
}

std::vector<const CargoPackage*> CargoMetadata::extension_members() const {
  std::vector<const CargoPackage*> out;
  for (const auto& id : workspace_members)
    if (const auto* p = package(id); p && p->cdylib && p->depends_on_pyo3()) out.push_back(p);
  return out;
}

std::vector<fs::path> CargoMetadata::local_dirs() const {
  std::vector<fs::path> out;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& dir) {
    auto d = dir.lexically_normal();
    if (!d.empty() && seen.insert(d).second) out.push_back(d);
  };
  for (const auto& p : packages)
    if (p.local) add(p.dir());
  for (const auto& p : packages)
    if (p.local)
      for (const auto& dep : p.path_dependencies) add(dep);
  return out;
}

CargoMetadata parse_cargo_metadata(const nlohmann::json& json) {
  if (!json.is_object() || !json.contains("packages") || !json["packages"].is_array())
    throw std::invalid_argument("cargo metadata: no `packages` list");
  CargoMetadata out;
  out.workspace_root = json.value("workspace_root", "");
  if (json.contains("workspace_members") && json["workspace_members"].is_array())
    for (const auto& id : json["workspace_members"])
      if (id.is_string()) out.workspace_members.push_back(id.get<std::string>());
  for (const auto& p : json["packages"]) {
    if (!p.is_object()) continue;
    CargoPackage pkg;
    pkg.id = p.value("id", "");
    pkg.name = p.value("name", "");
    pkg.version = p.value("version", "");
    pkg.manifest_path = p.value("manifest_path", "");
    pkg.local = !p.contains("source") || p["source"].is_null();
    if (p.contains("targets") && p["targets"].is_array())
      for (const auto& t : p["targets"]) {
        if (!t.is_object() || !t.contains("crate_types") || !t["crate_types"].is_array()) continue;
        bool lib_like = false;
        for (const auto& k : t["crate_types"]) {
          if (k == "cdylib") pkg.cdylib = true;
          if (k == "cdylib" || k == "lib" || k == "rlib" || k == "dylib" || k == "staticlib") lib_like = true;
        }
        if (lib_like && !pkg.lib_name) pkg.lib_name = t.value("name", "");
      }
    if (p.contains("dependencies") && p["dependencies"].is_array())
      for (const auto& d : p["dependencies"]) {
        if (!d.is_object()) continue;
        pkg.dependency_names.push_back(d.value("name", ""));
        if (d.contains("path") && d["path"].is_string()) pkg.path_dependencies.emplace_back(d["path"].get<std::string>());
      }
    out.packages.push_back(std::move(pkg));
  }
  if (json.contains("resolve") && json["resolve"].is_object()) {
    const auto& r = json["resolve"];
    out.has_resolve = true;
    if (r.contains("root") && r["root"].is_string()) out.resolve_root = r["root"].get<std::string>();
    if (r.contains("nodes") && r["nodes"].is_array())
      for (const auto& n : r["nodes"]) {
        if (!n.is_object() || !n.contains("features") || !n["features"].is_array()) continue;
        auto& features = out.resolved_features[n.value("id", "")];
        for (const auto& f : n["features"])
          if (f.is_string()) features.push_back(f.get<std::string>());
      }
  }
  return out;
}

std::string abi3_without_version(const CargoMetadata& metadata) {
  for (const auto& p : metadata.packages) {
    if (p.name != "pyo3" && p.name != "pyo3-ffi") continue;
    auto it = metadata.resolved_features.find(p.id);
    if (it == metadata.resolved_features.end()) continue;
    const auto& features = it->second;
    bool abi3 = std::find(features.begin(), features.end(), "abi3") != features.end();
    bool minimum = std::any_of(features.begin(), features.end(), [](const std::string& f) { return f.rfind("abi3-py", 0) == 0; });
    if (abi3 && !minimum)
      return "You have selected the `abi3` feature but not a minimum version (e.g. the `abi3-py37` feature). "
             "maturin needs a minimum version feature to build abi3 wheels.";
  }
  return {};
}
}  // namespace prestage::builders

namespace prestage::builders {

CargoMetadataResult cargo_metadata_blocking(const fs::path& manifest, const fs::path& cwd, const std::vector<std::string>& extra_args,
                                            bool no_deps, std::chrono::seconds timeout) {
  util::assert_off_io("cargo_metadata_blocking");
  CargoMetadataResult result;
  auto cargo = find_on_path("cargo");
  if (!cargo) {
    result.error = "cargo not found on PATH";
    return result;
  }
  std::vector<std::string> args = {"metadata", "--format-version", "1", "--offline", "--manifest-path", manifest.string()};
  if (no_deps) args.push_back("--no-deps");
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  // A private io_context on this (worker) thread: ProcessRun's own group, pipes and reaping, run to the end here.
  boost::asio::io_context io;
  std::string out, err;
  ProcessExit exit;
  bool timed_out = false;
  std::shared_ptr<ProcessRun> run;
  boost::asio::steady_timer timer(io, timeout);
  try {
    run = ProcessRun::start(
        io, ProcessSpec{*cargo, args, cwd, {}},
        [&](StreamKind kind, const std::string& line) { (kind == StreamKind::out ? out : err) += line + "\n"; },
        [&](ProcessExit e) {
          exit = e;
          timer.cancel();
        });
  } catch (const std::exception& e) {
    result.error = e.what();
    return result;
  }
  timer.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    timed_out = true;
    run->cancel();
  });
  io.run();
  if (timed_out) {
    result.error = "cargo metadata did not finish within " + std::to_string(timeout.count()) + " s";
    return result;
  }
  if (exit.signaled || exit.exit_code != 0) {
    result.error = err.empty() ? "cargo metadata exited with code " + std::to_string(exit.exit_code) : err;
    while (!result.error.empty() && result.error.back() == '\n') result.error.pop_back();
    return result;
  }
  auto json = nlohmann::json::parse(out, nullptr, false);
  try {
    result.metadata = parse_cargo_metadata(json);
  } catch (const std::exception& e) {
    result.error = std::string("unreadable cargo metadata output: ") + e.what();
  }
  return result;
}
}  // namespace prestage::builders
