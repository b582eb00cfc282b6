// meson's install plan -> staged files (see meson_install_plan.hpp).
#include "builders/meson_install_plan.hpp"

#include <algorithm>
#include <set>
#include <nlohmann/json.hpp>

#include "builders/build_error.hpp"
#include "watch/ignore.hpp"

namespace prestage::builders {
namespace {

bool tag_wanted(const nlohmann::json& entry, const MesonConfig& config) {
  if (config.skip_subprojects && entry.contains("subproject") && !entry["subproject"].is_null()) return false;
  if (config.install_tags.empty()) return true;
  std::string tag = entry.contains("tag") && entry["tag"].is_string() ? entry["tag"].get<std::string>() : "";
  return std::find(config.install_tags.begin(), config.install_tags.end(), tag) != config.install_tags.end();
}

void add_file(MesonStaging& out, const MesonConfig& config, const std::string& relpath, const fs::path& source,
              const std::string& ext_suffix) {
  if (wheel_excluded(relpath, config.wheel_exclude) && !wheel_excluded(relpath, config.wheel_include)) return;
  StagedFile f{relpath, source, {}};
  if (is_extension_module(source, relpath, ext_suffix)) f.module = module_of_relpath(relpath);
  out.files.push_back(std::move(f));
}

std::set<std::string> string_set(const nlohmann::json& entry, const char* key) {
  std::set<std::string> out;
  if (entry.contains(key) && entry[key].is_array())
    for (const auto& item : entry[key])
      if (item.is_string()) out.insert(fs::path(item.get<std::string>()).lexically_normal().generic_string());
  return out;
}

// install_subdir(): every file below the source dir, at the same path below the destination, except
// its exclude_directories / exclude_files (paths relative to the dir; in the plan since meson 1.1).
void add_directory(MesonStaging& out, const MesonConfig& config, const std::string& relpath, const fs::path& dir,
                   const nlohmann::json& entry, const std::string& ext_suffix) {
  const auto excluded_dirs = string_set(entry, "exclude_dirs");
  const auto excluded_files = string_set(entry, "exclude_files");
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code sec;
    std::string inside = it->path().lexically_relative(dir).generic_string();
    if (it->is_directory(sec)) {
      if (watch::is_ignored_dir(it->path().filename().string()) || excluded_dirs.count(inside)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(sec) || excluded_files.count(inside)) continue;
    add_file(out, config, relpath + "/" + inside, it->path(), ext_suffix);
  }
}

// "{libdir_shared}/libx.so" -> "libx.so" (meson-python's internal libraries, also from {libdir}); "" elsewhere.
std::string libdir_relpath(const std::string& destination) {
  for (const char* placeholder : {"{libdir_shared}", "{libdir}"}) {
    std::string prefix = placeholder;
    if (destination.rfind(prefix + "/", 0) == 0) return destination.substr(prefix.size() + 1);
  }
  return "";
}
}  // namespace

std::string site_packages_relpath(const std::string& destination) {
  for (const char* placeholder : {"{py_platlib}", "{py_purelib}", "{moduledir_shared}"}) {
    std::string prefix = placeholder;
    if (destination.rfind(prefix + "/", 0) == 0) return destination.substr(prefix.size() + 1);
  }
  return "";
}

MesonStaging meson_staged_files(const std::string& plan_json, const MesonConfig& config, const std::string& ext_suffix,
                                const std::string& libs_dir) {
  nlohmann::json plan;
  try {
    plan = nlohmann::json::parse(plan_json);
  } catch (const nlohmann::json::exception& e) {
    throw BuildError(std::string("meson's install plan is not JSON: ") + e.what());
  }
  if (!plan.is_object()) throw BuildError("meson's install plan is not a JSON object");
  MesonStaging out;
  for (const auto& [section, entries] : plan.items()) {
    if (!entries.is_object()) continue;
    for (const auto& [source_text, entry] : entries.items()) {
      if (!entry.is_object() || !entry.contains("destination") || !entry["destination"].is_string()) continue;
      if (!tag_wanted(entry, config)) continue;
      const std::string destination = entry["destination"].get<std::string>();
      const fs::path source(source_text);
      std::string relpath = site_packages_relpath(destination);
      if (auto in_libdir = libdir_relpath(destination); !in_libdir.empty()) relpath = libs_dir + "/" + in_libdir;
      if (relpath.empty()) {
        out.skipped.push_back(destination + " (" + source.string() + ")");
        continue;
      }
      std::error_code ec;
      if (fs::is_directory(source, ec)) add_directory(out, config, relpath, source, entry, ext_suffix);
      else if (fs::is_regular_file(source, ec)) add_file(out, config, relpath, source, ext_suffix);
      else throw BuildError("meson's install plan names " + source.string() + " (" + section + "), which does not exist");
    }
  }
  for (auto& f : out.files)
    if (f.relpath.rfind(libs_dir + "/", 0) == 0) f.module.clear();  // a library, never an importable module
  std::sort(out.files.begin(), out.files.end(), [](const StagedFile& a, const StagedFile& b) { return a.relpath < b.relpath; });
  return out;
}
}  // namespace prestage::builders
