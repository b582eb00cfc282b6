#include "builders/project_metadata.hpp"

#include <algorithm>
#include <sstream>
#include <tuple>
#include <vector>
#include <system_error>

#include "builders/build_error.hpp"
#include "util/fs.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;
namespace {

// toml++ tables iterate sorted by key; entry points, scripts and extras keep the file's order.
std::vector<std::pair<std::string, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<std::string, const toml::node*>> out;
  for (const auto& [k, v] : t) out.emplace_back(std::string(k.str()), &v);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const auto& x = a.second->source().begin;
    const auto& y = b.second->source().begin;
    return std::tie(x.line, x.column) < std::tie(y.line, y.column);
  });
  return out;
}

// Reads [project] keys with errors that name the key and the file.
class ProjectTable {
 public:
  ProjectTable(const toml::table& t, const fs::path& file) : t_(t), file_(file) {}

  [[noreturn]] void fail(std::string_view key, std::string_view problem) const {
    throw BuildError(file_.string() + ": [project]." + std::string(key) + " " + std::string(problem));
  }

  const toml::node* node(std::string_view key) const { return t_.get(key); }

  std::optional<std::string> string(std::string_view key) const {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(key, "must be a string");
    return n->value<std::string>();
  }

  std::vector<std::string> strings(std::string_view key) const {
    std::vector<std::string> out;
    const toml::node* n = node(key);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) fail(key, "must be an array of strings");
    for (const auto& item : *a) {
      if (!item.is_string()) fail(key, "must be an array of strings");
      out.push_back(*item.value<std::string>());
    }
    return out;
  }

  const toml::table* table(std::string_view key) const {
    const toml::node* n = node(key);
    if (!n) return nullptr;
    if (!n->is_table()) fail(key, "must be a table");
    return n->as_table();
  }

  // A table of string values (scripts, urls, one entry-points group), in the file's key order.
  std::vector<std::pair<std::string, std::string>> string_table(const toml::table& t, std::string_view key) const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : in_file_order(t)) {
      if (!v->is_string()) fail(std::string(key) + "." + k, "must be a string");
      out.emplace_back(k, *v->value<std::string>());
    }
    return out;
  }

  std::string read_relative(std::string_view key, const std::string& rel) const {
    fs::path path = file_.parent_path() / rel;
    try {
      return util::read_file(path);
    } catch (const std::system_error& e) {
      fail(key, "names " + path.string() + ", which cannot be read: " + e.code().message());
    }
  }

  const fs::path& file() const { return file_; }

 private:
  const toml::table& t_;
  const fs::path& file_;
};

// authors / maintainers -> ("A, B", "C <c@x>, d@y") as core metadata splits them.
std::pair<std::string, std::string> people(const ProjectTable& p, std::string_view key) {
  std::string names, emails;
  const toml::node* n = p.node(key);
  if (!n) return {};
  const toml::array* a = n->as_array();
  if (!a) p.fail(key, "must be an array of tables with name and/or email");
  auto append = [](std::string& to, const std::string& what) { to += (to.empty() ? "" : ", ") + what; };
  for (const auto& item : *a) {
    const toml::table* person = item.as_table();
    if (!person) p.fail(key, "must be an array of tables with name and/or email");
    auto name = (*person)["name"].value<std::string>();
    auto email = (*person)["email"].value<std::string>();
    if (((*person)["name"] && !name) || ((*person)["email"] && !email)) p.fail(key, "entries' name and email must be strings");
    if (email) append(emails, name ? *name + " <" + *email + ">" : *email);
    else if (name) append(names, *name);
  }
  return {names, emails};
}

std::string content_type_for(const std::string& file) {
  auto ends = [&](std::string_view s) { return file.size() >= s.size() && file.compare(file.size() - s.size(), s.size(), s) == 0; };
  if (ends(".md") || ends(".markdown")) return "text/markdown";
  if (ends(".rst")) return "text/x-rst";
  return "text/plain";
}

void read_readme(const ProjectTable& p, stage::Distribution& d) {
  const toml::node* n = p.node("readme");
  if (!n) return;
  if (auto file = n->value<std::string>()) {
    d.description = p.read_relative("readme", *file);
    d.description_content_type = content_type_for(*file);
    return;
  }
  const toml::table* t = n->as_table();
  if (!t) p.fail("readme", "must be a file name or a table with file or text");
  auto file = (*t)["file"].value<std::string>();
  auto text = (*t)["text"].value<std::string>();
  auto type = (*t)["content-type"].value<std::string>();
  if (file.has_value() == text.has_value()) p.fail("readme", "must have exactly one of file and text (strings)");
  d.description = file ? p.read_relative("readme.file", *file) : *text;
  d.description_content_type = type ? *type : file ? content_type_for(*file) : "text/plain";
}

void read_license(const ProjectTable& p, stage::Distribution& d) {
  const toml::node* n = p.node("license");
  if (!n) return;
  if (auto expression = n->value<std::string>()) {  // PEP 639: an SPDX expression
    d.license_expression = *expression;
    return;
  }
  const toml::table* t = n->as_table();
  if (!t) p.fail("license", "must be a string (SPDX expression) or a table with file or text");
  if (auto text = (*t)["text"].value<std::string>()) d.license = *text;
  else if (auto file = (*t)["file"].value<std::string>()) d.license = p.read_relative("license.file", *file);
  else p.fail("license", "table needs a string file or text");
}

// PEP 685: extra names compare normalized, like distribution names.
std::string normalize_extra(const std::string& extra) { return stage::normalize_distribution_name(extra); }

// "pkg>=1; python_version < '3.10'" for extra "x" -> "pkg>=1; (python_version < '3.10') and extra == \"x\""
std::string with_extra_marker(const std::string& requirement, const std::string& extra) {
  auto semi = requirement.find(';');
  std::string marker = "extra == \"" + extra + "\"";
  if (semi == std::string::npos) return requirement + "; " + marker;
  std::string head = requirement.substr(0, semi);
  while (!head.empty() && head.back() == ' ') head.pop_back();
  std::string own = requirement.substr(semi + 1);
  auto first = own.find_first_not_of(' ');
  own = first == std::string::npos ? "" : own.substr(first);
  return own.empty() ? head + "; " + marker : head + "; (" + own + ") and " + marker;
}
}  // namespace

std::optional<stage::Distribution> project_distribution(const toml::table& pyproject, const fs::path& file, bool version_from_cargo) {
  const toml::node* project_node = pyproject.get("project");
  if (!project_node) return std::nullopt;
  if (!project_node->is_table()) throw BuildError(file.string() + ": [project] must be a table");
  ProjectTable p(*project_node->as_table(), file);
  stage::Distribution d;
  d.source_root = file.parent_path();

  auto dynamic = p.strings("dynamic");
  auto is_dynamic = [&](std::string_view key) { return std::find(dynamic.begin(), dynamic.end(), key) != dynamic.end(); };
  auto name = p.string("name");
  if (!name || name->empty()) p.fail("name", "is required");
  d.name = *name;
  if (auto version = p.string("version")) {
    if (is_dynamic("version")) p.fail("version", "is given and also listed in [project].dynamic");
    d.version = *version;
  } else if (is_dynamic("version") || version_from_cargo) {
    d.version_dynamic = true;  // the backend fills it (Cargo.toml, a version provider, ...)
  } else {
    p.fail("version", "is required (or list \"version\" in [project].dynamic)");
  }
  if (auto description = p.string("description")) d.summary = *description;
  read_readme(p, d);
  if (auto requires_python = p.string("requires-python")) d.requires_python = *requires_python;
  read_license(p, d);
  std::tie(d.author, d.author_email) = people(p, "authors");
  std::tie(d.maintainer, d.maintainer_email) = people(p, "maintainers");
  d.keywords = p.strings("keywords");
  d.classifiers = p.strings("classifiers");
  if (const toml::table* urls = p.table("urls")) d.project_urls = p.string_table(*urls, "urls");

  d.requires_dist = p.strings("dependencies");
  if (const toml::table* optional = p.table("optional-dependencies")) {
    for (const auto& [extra_key, value] : in_file_order(*optional)) {
      std::string key = "optional-dependencies." + extra_key;
      const toml::array* requirements = value->as_array();
      if (!requirements) p.fail(key, "must be an array of strings");
      std::string extra = normalize_extra(extra_key);
      d.provides_extra.push_back(extra);
      for (const auto& r : *requirements) {
        if (!r.is_string()) p.fail(key, "must be an array of strings");
        d.requires_dist.push_back(with_extra_marker(*r.value<std::string>(), extra));
      }
    }
  }

  if (const toml::table* scripts = p.table("scripts")) d.entry_points["console_scripts"] = p.string_table(*scripts, "scripts");
  if (const toml::table* gui = p.table("gui-scripts")) d.entry_points["gui_scripts"] = p.string_table(*gui, "gui-scripts");
  if (const toml::table* groups = p.table("entry-points")) {
    for (const auto& [group, entries] : in_file_order(*groups)) {
      std::string key = "entry-points." + group;
      if (group == "console_scripts" || group == "gui_scripts")
        p.fail(key, "is not allowed: use [project.scripts] / [project.gui-scripts]");
      const toml::table* t = entries->as_table();
      if (!t) p.fail(key, "must be a table of strings");
      d.entry_points[group] = p.string_table(*t, key);
    }
  }
  return d;
}

std::optional<stage::Distribution> read_project_distribution(const fs::path& root, bool version_from_cargo) {
  const fs::path file = root / "pyproject.toml";
  auto doc = parse_toml_file_as<BuildError>(file);
  if (!doc) return std::nullopt;
  return project_distribution(*doc, file, version_from_cargo);
}
namespace {
std::optional<toml::table> parse_if_present(const fs::path& file) { return parse_toml_file_as<BuildError>(file); }
}  // namespace

std::string cargo_package_version(const fs::path& cargo_toml) {
  auto doc = parse_if_present(cargo_toml);
  if (!doc) return "";
  return (*doc)["package"]["version"].value<std::string>().value_or("");
}

std::optional<stage::Distribution> cargo_package_distribution(const fs::path& cargo_toml) {
  auto doc = parse_if_present(cargo_toml);
  if (!doc) return std::nullopt;
  auto name = (*doc)["package"]["name"].value<std::string>();
  if (!name) return std::nullopt;
  stage::Distribution d;
  d.name = *name;
  d.version = (*doc)["package"]["version"].value<std::string>().value_or("");
  d.summary = (*doc)["package"]["description"].value<std::string>().value_or("");
  d.source_root = cargo_toml.parent_path();
  return d;
}

std::optional<stage::Distribution> python_distribution(const fs::path& root, bool cargo) {
  auto d = read_project_distribution(root, /*version_from_cargo=*/cargo);
  if (!d && cargo) d = cargo_package_distribution(root / "Cargo.toml");
  if (!d) return std::nullopt;
  if (d->version.empty() && cargo) d->version = cargo_package_version(root / "Cargo.toml");
  if (d->version.empty()) d->version = "0.0.0";  // dynamic and not known yet (a version provider fills it)
  return d;
}

void add_distribution(stage::PackageLayout& layout, const fs::path& root, bool cargo) {
  try {
    layout.distribution = python_distribution(root, cargo);
  } catch (const BuildError& e) {
    layout.error = e.what();
  }
}

std::string distribution_name(const ProjectFiles& files, ProjectKind kind) {
  if (kind != ProjectKind::cargo && kind != ProjectKind::cmake && kind != ProjectKind::meson &&
      kind != ProjectKind::setuptools)
    return "";
  if (auto name = checked_string(files.pyproject, "project.name", files.pyproject_path())) return *name;
  if (kind == ProjectKind::cargo) return checked_string(files.cargo, "package.name", files.cargo_path()).value_or("");
  return "";
}
}  // namespace prestage::builders
