#include "builders/cargo_claim.hpp"

#include "builders/project_files.hpp"

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include <algorithm>

#include "builders/cargo_metadata.hpp"
#include "builders/maturin_glob.hpp"
#include "watch/ignore.hpp"

namespace prestage::builders {
namespace {

bool inside(const fs::path& path, const fs::path& dir) {
  auto rel = path.lexically_normal().lexically_relative(dir.lexically_normal());
  return !rel.empty() && *rel.begin() != ".." && rel != ".";
}

// A manifest that must be there (a workspace root or member): absent, unreadable or broken names the file.
toml::table read_toml(const fs::path& file) {
  auto table = parse_toml_file_as<MaturinConfigError>(file);
  if (!table) throw MaturinConfigError("there is no " + file.string());
  return std::move(*table);
}

std::vector<std::string> strings_at(const toml::table& t, std::string_view path) {
  std::vector<std::string> out;
  if (const toml::array* a = t.at_path(path).as_array())
    for (const auto& item : *a)
      if (auto s = item.value<std::string>()) out.push_back(*s);
  return out;
}

// [workspace] members, with their globs expanded against the directories under `root`.
std::vector<fs::path> workspace_members(const fs::path& root, const toml::table& manifest) {
  std::vector<fs::path> dirs;
  const auto excluded = strings_at(manifest, "workspace.exclude");
  auto add = [&](const fs::path& dir) {
    std::error_code ec;
    auto rel = dir.lexically_relative(root).generic_string();
    if (std::find(excluded.begin(), excluded.end(), rel) != excluded.end()) return;
    if (fs::is_regular_file(dir / "Cargo.toml", ec) && std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
  };
  for (const auto& pattern : strings_at(manifest, "workspace.members")) {
    if (pattern.find_first_of("*?[") == std::string::npos) {
      add((root / pattern).lexically_normal());
      continue;
    }
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    for (fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
      std::error_code sec;
      if (!it->is_directory(sec) || it->is_symlink(sec)) continue;
      if (watch::is_ignored_dir(it->path().filename().string()) || it.depth() > 4) {
        it.disable_recursion_pending();
        continue;
      }
      if (glob_matches(pattern, it->path().lexically_relative(root).generic_string())) add(it->path());
    }
  }
  return dirs;
}

bool builds_pyo3_cdylib(const toml::table& manifest) {
  bool cdylib = false;
  for (const auto& type : strings_at(manifest, "lib.crate-type")) cdylib = cdylib || type == "cdylib";
  const toml::table* deps = manifest["dependencies"].as_table();
  return cdylib && deps && (deps->contains("pyo3") || deps->contains("pyo3-ffi"));
}

// The one PyO3 cdylib member of the virtual workspace at `root`.
fs::path extension_member(const fs::path& root) {
  auto manifest = read_toml(root / "Cargo.toml");
  std::vector<fs::path> found;
  for (const auto& dir : workspace_members(root, manifest))
    if (builds_pyo3_cdylib(read_toml(dir / "Cargo.toml"))) found.push_back(dir / "Cargo.toml");
  if (found.empty())
    throw MaturinConfigError("the workspace at " + root.string() +
                             " has no extension member (a member with crate-type = [\"cdylib\"] that depends on pyo3 or pyo3-ffi)");
  if (found.size() > 1) {
    std::string list;
    for (const auto& m : found) list += "\n  " + m.parent_path().string();
    throw MaturinConfigError("the workspace at " + root.string() + " has " + std::to_string(found.size()) +
                             " extension members; prestage builds one extension crate per project: open the member's directory instead:" + list);
  }
  return found.front();
}
}  // namespace

void claim_cargo_project(ProjectInfo& info) {
  std::optional<fs::path> member;
  if (is_virtual_workspace(info.root)) {
    try {
      (void)resolve_maturin_project(info.root);  // a root pyproject naming the member (manifest-path)
    } catch (const VirtualWorkspace&) {
      member = extension_member(info.root);
    }
  }
  MaturinProject p = resolve_maturin_project(info.root, member);
  info.kind = ProjectKind::cargo;
  info.extension_module = p.module_name;
  info.modules = p.modules();
  info.python_source = p.mixed() ? p.python_dir : fs::path();
  info.cargo_profile = p.profile;
  info.cargo_manifest = member ? *member : fs::path();
}

MaturinProject maturin_project_of(const ProjectInfo& info) {
  return resolve_maturin_project(info.root, info.cargo_manifest.empty() ? std::nullopt : std::optional<fs::path>(info.cargo_manifest));
}

std::vector<fs::path> cargo_dirs_outside_root(const ProjectInfo& info, const fs::path& manifest, const std::vector<std::string>& cargo_args) {
  auto run = cargo_metadata_blocking(manifest, info.root, cargo_args, /*no_deps=*/false);
  if (!run.metadata) {
    spdlog::info("{}: cargo metadata --offline failed, watching the declared path dependencies only: {}", info.id, run.error);
    run = cargo_metadata_blocking(manifest, info.root, cargo_args, /*no_deps=*/true);
  }
  std::vector<fs::path> roots;
  if (!run.metadata) {
    spdlog::warn("{}: cargo metadata failed; path dependencies outside the project are not watched: {}", info.id, run.error);
    return roots;
  }
  for (const auto& dir : run.metadata->local_dirs()) {
    // Inside the root: watched already. An ancestor of the root (a workspace's root package) is not
    // walked: it holds the whole project again, build dirs included.
    if (dir == info.root || inside(dir, info.root) || inside(info.root, dir)) continue;
    if (std::any_of(roots.begin(), roots.end(), [&](const fs::path& r) { return r == dir || inside(dir, r); })) continue;
    roots.erase(std::remove_if(roots.begin(), roots.end(), [&](const fs::path& r) { return inside(r, dir); }), roots.end());
    roots.push_back(dir);
  }
  return roots;
}

std::vector<fs::path> cargo_watch_roots_blocking(const ProjectInfo& info) {
  const MaturinProject p = maturin_project_of(info);
  return cargo_dirs_outside_root(info, p.manifest_path, p.cargo_args());
}
}  // namespace prestage::builders
