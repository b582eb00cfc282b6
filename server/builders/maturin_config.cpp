#include "builders/maturin_config.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace prestage::builders {
namespace {

std::string where(const fs::path& file, std::string_view table, std::string_view key) {
  return file.string() + ": [" + std::string(table) + "] " + std::string(key);
}

std::optional<std::string> get_string(const toml::table& t, std::string_view key, const fs::path& file, std::string_view table) {
  const toml::node* node = t.get(key);
  if (!node) return std::nullopt;
  if (!node->is_string()) throw MaturinConfigError(where(file, table, key) + " must be a string");
  return *node->value<std::string>();
}

bool get_bool(const toml::table& t, std::string_view key, const fs::path& file, std::string_view table) {
  const toml::node* node = t.get(key);
  if (!node) return false;
  if (!node->is_boolean()) throw MaturinConfigError(where(file, table, key) + " must be true or false");
  return *node->value<bool>();
}

std::vector<std::string> get_strings(const toml::table& t, std::string_view key, const fs::path& file, std::string_view table) {
  std::vector<std::string> out;
  const toml::node* node = t.get(key);
  if (!node) return out;
  const toml::array* array = node->as_array();
  if (!array) throw MaturinConfigError(where(file, table, key) + " must be a list of strings");
  for (const auto& item : *array) {
    if (!item.is_string()) throw MaturinConfigError(where(file, table, key) + " must be a list of strings");
    out.push_back(*item.value<std::string>());
  }
  return out;
}

// `features`: strings, or { feature, python-version } tables (maturin 1.9+).
void get_features(const toml::table& t, const fs::path& file, std::string_view table, ToolMaturin& out) {
  const toml::node* node = t.get("features");
  if (!node) return;
  const std::string what = where(file, table, "features");
  const toml::array* array = node->as_array();
  if (!array) throw MaturinConfigError(what + " must be a list of strings or { feature, python-version } tables");
  for (const auto& item : *array) {
    if (auto name = item.value<std::string>()) {
      out.features.push_back(*name);
      continue;
    }
    const toml::table* entry = item.as_table();
    if (!entry) throw MaturinConfigError(what + " must be a list of strings or { feature, python-version } tables");
    auto feature = (*entry)["feature"].value<std::string>();
    if (!feature) throw MaturinConfigError(what + ": each table needs a string `feature`");
    auto python_version = (*entry)["python-version"].value<std::string>();
    for (const auto& [k, v] : *entry)
      if (k.str() != "feature" && k.str() != "python-version")
        throw MaturinConfigError(what + ": unknown key `" + std::string(k.str()) + "`");
    if (!python_version) {
      out.features.push_back(*feature);
    } else {
      (void)python_version_matches(*python_version, "3.0", what);  // an unreadable specifier fails at once
      out.conditional_features.push_back({*feature, *python_version});
    }
  }
}

// "3.11.7" -> {3, 11, 7}; nullopt when a part is not a number.
std::optional<std::vector<int>> version_parts(std::string_view text) {
  std::vector<int> parts;
  while (!text.empty()) {
    auto dot = text.find('.');
    std::string_view part = text.substr(0, dot);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    parts.push_back(std::stoi(std::string(part)));
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  if (parts.empty()) return std::nullopt;
  return parts;
}

int compare_versions(std::vector<int> a, std::vector<int> b) {
  a.resize(std::max(a.size(), b.size()), 0);
  b.resize(a.size(), 0);
  return a < b ? -1 : (a > b ? 1 : 0);
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// "3.11.*" against the first parts of `version`.
bool prefix_matches(const std::vector<int>& prefix, const std::vector<int>& version) {
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if ((i < version.size() ? version[i] : 0) != prefix[i]) return false;
  return true;
}

bool clause_matches(std::string_view clause, const std::vector<int>& version, const std::string& what) {
  static constexpr std::array<std::string_view, 7> ops = {"~=", "==", "!=", ">=", "<=", ">", "<"};
  for (std::string_view op : ops) {
    if (clause.rfind(op, 0) != 0) continue;
    std::string_view operand = trimmed(clause.substr(op.size()));
    bool wildcard = operand.size() > 2 && operand.substr(operand.size() - 2) == ".*";
    if (wildcard) operand.remove_suffix(2);
    auto wanted = version_parts(operand);
    if (!wanted || (wildcard && op != "==" && op != "!="))
      throw MaturinConfigError(what + ": python-version clause \"" + std::string(clause) + "\" is not a PEP 440 specifier prestage reads");
    if (wildcard) return prefix_matches(*wanted, version) == (op == "==");
    int c = compare_versions(version, *wanted);
    if (op == "==") return c == 0;
    if (op == "!=") return c != 0;
    if (op == ">=") return c >= 0;
    if (op == "<=") return c <= 0;
    if (op == ">") return c > 0;
    if (op == "<") return c < 0;
    // ~=X.Y[.Z]: >= X.Y[.Z] and the same release up to the last given part
    std::vector<int> prefix(wanted->begin(), wanted->end() - (wanted->size() > 1 ? 1 : 0));
    return c >= 0 && prefix_matches(prefix, version);
  }
  throw MaturinConfigError(what + ": python-version clause \"" + std::string(clause) + "\" is not a PEP 440 specifier prestage reads");
}

// "wheel", "sdist" or a list of them.
void read_formats(const toml::node& node, MaturinGlob& glob, const std::string& what) {
  auto one = [&](const toml::node& n) {
    auto s = n.value<std::string>();
    if (!s || (*s != "wheel" && *s != "sdist")) throw MaturinConfigError(what + ": format must be \"wheel\", \"sdist\" or a list of them");
    (*s == "wheel" ? glob.wheel : glob.sdist) = true;
  };
  glob.wheel = glob.sdist = false;
  if (const toml::array* list = node.as_array()) {
    for (const auto& item : *list) one(item);
  } else {
    one(node);
  }
}

std::vector<MaturinGlob> get_globs(const toml::table& t, std::string_view key, const fs::path& file) {
  std::vector<MaturinGlob> out;
  const toml::node* node = t.get(key);
  if (!node) return out;
  const std::string what = where(file, "tool.maturin", key);
  const toml::array* array = node->as_array();
  if (!array) throw MaturinConfigError(what + " must be a list of globs or { path, format } tables");
  for (const auto& item : *array) {
    MaturinGlob glob;
    if (auto s = item.value<std::string>()) {
      glob.path = *s;
    } else if (const toml::table* entry = item.as_table()) {
      auto path = entry->get("path");
      if (!path || !path->is_string()) throw MaturinConfigError(what + ": each table needs a string `path`");
      glob.path = *path->value<std::string>();
      if (auto format = entry->get("format")) read_formats(*format, glob, what);
      if (auto from = entry->get("from")) {
        if (from->value<std::string>() != "out-dir") throw MaturinConfigError(what + ": `from` must be \"out-dir\"");
        if (key != "include") throw MaturinConfigError(what + ": `from = \"out-dir\"` applies to include only");
        glob.from_out_dir = true;
        glob.sdist = false;  // OUT_DIR exists only once cargo has built
      }
      for (std::string_view name : {"to", "crate-name", "crate_name"}) {
        const toml::node* value = entry->get(name);
        if (!value) continue;
        if (!glob.from_out_dir) throw MaturinConfigError(what + ": `" + std::string(name) + "` needs from = \"out-dir\"");
        if (!value->is_string()) throw MaturinConfigError(what + ": `" + std::string(name) + "` must be a string");
        (name == "to" ? glob.to : glob.crate_name) = *value->value<std::string>();
      }
      if (glob.to.rfind("..", 0) == 0 || glob.to.find("/../") != std::string::npos || (!glob.to.empty() && glob.to.front() == '/'))
        throw MaturinConfigError(what + ": `to` = \"" + glob.to + "\" must be a relative path inside the wheel");
      for (const auto& [k, v] : *entry)
        if (k.str() != "path" && k.str() != "format" && k.str() != "from" && k.str() != "to" && k.str() != "crate-name" &&
            k.str() != "crate_name")
          throw MaturinConfigError(what + ": unknown key `" + std::string(k.str()) + "`");
    } else {
      throw MaturinConfigError(what + " must be a list of globs or { path, format } tables");
    }
    if (glob.path.empty()) throw MaturinConfigError(what + ": empty pattern");
    for (std::string_view part : {std::string_view("..")})
      if (glob.path == part || glob.path.rfind("../", 0) == 0 || glob.path.find("/../") != std::string::npos)
        throw MaturinConfigError(what + ": pattern \"" + glob.path + "\" must not contain `..`");
    if (glob.path.front() == '/') throw MaturinConfigError(what + ": pattern \"" + glob.path + "\" must be relative");
    out.push_back(std::move(glob));
  }
  return out;
}
}  // namespace

bool python_version_matches(std::string_view specifier, std::string_view version, const std::string& what) {
  auto parsed = version_parts(version);
  if (!parsed) throw MaturinConfigError(what + ": cannot compare Python version \"" + std::string(version) + "\"");
  parsed->resize(std::min<std::size_t>(parsed->size(), 2));  // major.minor, as maturin compares interpreters
  bool matches = true;
  while (true) {
    auto comma = specifier.find(',');
    std::string_view clause = trimmed(specifier.substr(0, comma));
    if (clause.empty()) throw MaturinConfigError(what + ": empty python-version clause");
    matches = clause_matches(clause, *parsed, what) && matches;
    if (comma == std::string_view::npos) break;
    specifier.remove_prefix(comma + 1);
  }
  return matches;
}

ToolMaturin parse_tool_maturin(const toml::table* pyproject, const fs::path& file) {
  ToolMaturin out;
  if (!pyproject) return out;
  const toml::node* node = pyproject->at_path("tool.maturin").node();
  if (!node) return out;
  const toml::table* t = node->as_table();
  if (!t) throw MaturinConfigError(file.string() + ": [tool.maturin] must be a table");
  constexpr std::string_view table = "tool.maturin";

  // Keys that only shape distributable wheels or sdists: accepted, nothing to do for a develop build.
  // maturin 1.x keys for other platforms, PEP 517 builds, PGO, CI generation and SBOMs likewise.
  static constexpr std::array<std::string_view, 13> ignored = {
      "compatibility", "manylinux",       "auditwheel",  "skip-auditwheel", "strip",  "sdist-generator", "sdist-include",
      "target",        "include-import-lib", "use-base-python", "pgo-command", "generate-ci", "sbom"};
  static constexpr std::array<std::string_view, 17> honoured = {
      "manifest-path", "module-name", "python-source", "python-packages", "data",   "bindings",
      "profile",       "editable-profile", "features",  "all-features",    "no-default-features",
      "locked",        "frozen",       "config",        "include",         "exclude", "cargo-extra-args"};
  for (const auto& [key, value] : *t) {
    std::string_view k = key.str();
    if (std::find(ignored.begin(), ignored.end(), k) != ignored.end()) continue;
    if (std::find(honoured.begin(), honoured.end(), k) != honoured.end()) continue;
    if (k == "rustc-args" || k == "unstable-flags" || k == "targets" || k == "target-config")
      throw MaturinConfigError(where(file, table, k) + " is not supported by prestage (docs/backends/maturin.md); remove it to build here");
    throw MaturinConfigError(where(file, table, k) + " is not a maturin option prestage knows");
  }
  if (t->contains("cargo-extra-args"))
    throw MaturinConfigError(where(file, table, "cargo-extra-args") +
                             " was removed in maturin 0.14; use features / no-default-features / all-features / profile");

  out.manifest_path = get_string(*t, "manifest-path", file, table);
  out.module_name = get_string(*t, "module-name", file, table);
  out.python_source = get_string(*t, "python-source", file, table);
  out.data = get_string(*t, "data", file, table);
  out.bindings = get_string(*t, "bindings", file, table);
  out.profile = get_string(*t, "profile", file, table);
  out.editable_profile = get_string(*t, "editable-profile", file, table);
  out.python_packages = get_strings(*t, "python-packages", file, table);
  get_features(*t, file, table, out);
  out.config = get_strings(*t, "config", file, table);
  out.all_features = get_bool(*t, "all-features", file, table);
  out.no_default_features = get_bool(*t, "no-default-features", file, table);
  out.locked = get_bool(*t, "locked", file, table);
  out.frozen = get_bool(*t, "frozen", file, table);
  out.include = get_globs(*t, "include", file);
  out.exclude = get_globs(*t, "exclude", file);
  if (out.bindings && *out.bindings != "pyo3" && *out.bindings != "pyo3-ffi")
    throw MaturinConfigError(where(file, table, "bindings") + " = \"" + *out.bindings +
                             "\": prestage builds only pyo3 and pyo3-ffi extension modules");
  return out;
}

LegacyMaturin parse_legacy_maturin(const toml::table* cargo, const fs::path& file) {
  LegacyMaturin out;
  if (!cargo) return out;
  const toml::node* node = cargo->at_path("package.metadata.maturin").node();
  if (!node) return out;
  const toml::table* t = node->as_table();
  if (!t) throw MaturinConfigError(file.string() + ": [package.metadata.maturin] must be a table");
  constexpr std::string_view table = "package.metadata.maturin";
  static constexpr std::array<std::string_view, 11> removed = {
      "scripts",       "classifiers",       "classifier",  "maintainer",    "maintainer-email",        "requires-dist",
      "requires-python", "requires-external", "project-url", "provides-extra", "description-content-type"};
  std::string gone;
  for (auto k : removed)
    if (t->contains(k)) gone += (gone.empty() ? "" : ", ") + std::string(k);
  if (!gone.empty())
    throw MaturinConfigError(file.string() + ": the following metadata fields in [package.metadata.maturin] were removed in maturin 0.14: " +
                             gone + "; set them in pyproject.toml's [project] (PEP 621)");
  out.name = get_string(*t, "name", file, table);
  out.python_source = get_string(*t, "python-source", file, table);
  out.data = get_string(*t, "data", file, table);
  if (t->contains("targets"))
    throw MaturinConfigError(where(file, table, "targets") + " is not supported by prestage (docs/backends/maturin.md)");
  return out;
}
}  // namespace prestage::builders
