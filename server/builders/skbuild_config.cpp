// [tool.scikit-build] -> SkbuildConfig. The settings are turned into JSON first (easy to copy
// and merge), the overrides are applied the way scikit-build-core applies them, then every key
// is checked against the schema below. Runs on whichever thread starts the build (io).
#include "builders/skbuild_config.hpp"

#include <boost/regex.hpp>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "builders/build_error.hpp"
#include "util/fs.hpp"

namespace prestage::builders {
namespace {
using json = nlohmann::json;

json to_json_value(const toml::node& node) {
  if (auto t = node.as_table()) {
    json out = json::object();
    for (const auto& [k, v] : *t) out[std::string(k.str())] = to_json_value(v);
    return out;
  }
  if (auto a = node.as_array()) {
    json out = json::array();
    for (const auto& v : *a) out.push_back(to_json_value(v));
    return out;
  }
  if (auto s = node.value_exact<std::string>()) return *s;
  if (auto b = node.value_exact<bool>()) return *b;
  if (auto i = node.value_exact<int64_t>()) return *i;
  if (auto d = node.value_exact<double>()) return *d;
  return std::string(toml::impl::node_type_friendly_names[static_cast<int>(node.type())]);  // dates and times
}

// Error context: the file and the dotted key prefix.
struct Where {
  std::string file;
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw BuildError(file + ": tool.scikit-build." + key + ": " + problem);
  }
};

// ---------------------------------------------------------------- versions and specifiers
std::vector<long> release_of(std::string_view v) {
  std::vector<long> parts;
  std::size_t i = 0;
  if (i < v.size() && (v[i] == 'v' || v[i] == 'V')) ++i;
  while (i < v.size()) {
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) break;
    long n = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) n = n * 10 + (v[i++] - '0');
    parts.push_back(n);
    if (i < v.size() && v[i] == '.' && i + 1 < v.size() && std::isdigit(static_cast<unsigned char>(v[i + 1]))) ++i;
    else break;
  }
  return parts;
}

int compare_release(std::vector<long> a, std::vector<long> b) {
  std::size_t n = std::max(a.size(), b.size());
  a.resize(n, 0);
  b.resize(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

std::string_view trim_view(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool one_specifier(const std::vector<long>& have, std::string_view spec) {
  spec = trim_view(spec);
  static const char* ops[] = {"===", "~=", "==", "!=", ">=", "<=", ">", "<"};
  std::string op;
  for (const char* o : ops)
    if (spec.substr(0, std::char_traits<char>::length(o)) == o) {
      op = o;
      break;
    }
  if (op.empty()) throw BuildError("invalid version specifier \"" + std::string(spec) + "\" (expected an operator such as >=)");
  std::string_view rest = trim_view(spec.substr(op.size()));
  bool wildcard = rest.size() >= 2 && rest.substr(rest.size() - 2) == ".*";
  if (wildcard) rest.remove_suffix(2);
  auto want = release_of(rest);
  if (want.empty()) throw BuildError("invalid version specifier \"" + std::string(spec) + "\"");
  if (wildcard) {
    if (op != "==" && op != "!=") throw BuildError("invalid version specifier \"" + std::string(spec) + "\": .* needs == or !=");
    std::vector<long> prefix(have);
    prefix.resize(want.size(), 0);
    bool same = prefix == want;
    return op == "==" ? same : !same;
  }
  int c = compare_release(have, want);
  if (op == "==" || op == "===") return c == 0;
  if (op == "!=") return c != 0;
  if (op == ">=") return c >= 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == "<") return c < 0;
  // ~=X.Y.Z: >= X.Y.Z and == X.Y.*
  if (want.size() < 2) throw BuildError("invalid version specifier \"" + std::string(spec) + "\": ~= needs two parts");
  std::vector<long> prefix(have), head(want.begin(), want.end() - 1);
  prefix.resize(head.size(), 0);
  return c >= 0 && prefix == head;
}

bool regex_search_python(const std::string& value, const std::string& pattern);

// ---------------------------------------------------------------- overrides
bool truthy(const std::string& value) {
  if (value.empty()) return false;
  std::string v;
  for (char c : value) v.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) return std::stol(v) != 0;
  return v != "n" && v != "no" && v != "off" && v != "false" && v != "f";
}

std::string major_minor(const std::string& version) {
  auto parts = release_of(version);
  if (parts.size() < 2) return version;
  return std::to_string(parts[0]) + "." + std::to_string(parts[1]);
}

// Evaluates one `if` table: the names of conditions that matched and that failed.
void match_conditions(const json& conditions, const SkbuildFacts& facts, const fs::path& root, const Where& where,
                      const std::string& key, std::set<std::string>& passed, std::set<std::string>& failed) {
  if (!conditions.is_object()) where.fail(key, "must be a table");
  auto str = [&](const std::string& name, const json& v) -> std::string {
    if (!v.is_string()) where.fail(key + "." + name, "must be a string");
    return v.get<std::string>();
  };
  auto record = [&](const std::string& name, bool ok) { (ok ? passed : failed).insert(name); };
  for (const auto& [name, value] : conditions.items()) {
    try {
      if (name == "python-version") record(name, version_matches(major_minor(facts.python_version), str(name, value)));
      else if (name == "implementation-name") record(name, regex_search_python(facts.implementation_name, str(name, value)));
      else if (name == "implementation-version") record(name, version_matches(facts.python_version, str(name, value)));
      else if (name == "platform-system") record(name, regex_search_python(facts.platform_system, str(name, value)));
      else if (name == "platform-machine") record(name, regex_search_python(facts.platform_machine, str(name, value)));
      else if (name == "platform-node") record(name, regex_search_python(facts.platform_node, str(name, value)));
      else if (name == "state") record(name, regex_search_python(facts.state, str(name, value)));
      else if (name == "abi-flags") record(name, regex_search_python("", str(name, value)));
      else if (name == "scikit-build-version") record(name, true);  // prestage follows current scikit-build-core
      else if (name == "from-sdist") {
        if (!value.is_boolean()) where.fail(key + "." + name, "must be a boolean");
        std::error_code ec;
        record(name, value.get<bool>() == fs::is_regular_file(root / "PKG-INFO", ec));
      } else if (name == "failed") {
        if (!value.is_boolean()) where.fail(key + "." + name, "must be a boolean");
        record(name, !value.get<bool>());  // prestage never retries a failed build with overrides
      } else if (name == "system-cmake") {
        record(name, !facts.cmake_version.empty() && version_matches(facts.cmake_version, str(name, value)));
      } else if (name == "cmake-wheel") {
        record(name, false);  // no cmake wheels: prestage uses the cmake on PATH
      } else if (name == "env") {
        if (!value.is_object()) where.fail(key + ".env", "must be a table");
        for (const auto& [var, want] : value.items()) {
          auto have = facts.getenv ? facts.getenv(var) : std::nullopt;
          std::string cond = "env." + var;
          if (want.is_boolean()) record(cond, truthy(have.value_or("")) == want.get<bool>());
          else if (want.is_string()) record(cond, have && regex_search_python(*have, want.get<std::string>()));
          else where.fail(key + ".env." + var, "must be a string (a regex) or a boolean");
        }
      } else if (name != "any" && name != "not") {
        where.fail(key + "." + name, "unknown override condition");
      }
    } catch (const BuildError& e) {
      std::string what = e.what();
      if (what.find("tool.scikit-build.") != std::string::npos) throw;
      where.fail(key + "." + name, what);
    }
  }
}

json inherit_join(const json& value, const json* previous, const std::string& mode, const Where& where, const std::string& key) {
  if (mode != "none" && mode != "append" && mode != "prepend") where.fail(key, "inherit must be \"none\", \"append\" or \"prepend\"");
  if (mode == "none" || !previous || previous->is_null()) return value;
  if (previous->is_array() && value.is_array()) {
    json out = mode == "append" ? *previous : value;
    for (const auto& v : (mode == "append" ? value : *previous)) out.push_back(v);
    return out;
  }
  if (previous->is_object() && value.is_object()) {
    json out = mode == "append" ? *previous : value;
    for (const auto& [k, v] : (mode == "append" ? value : *previous).items()) out[k] = v;
    return out;
  }
  where.fail(key, "inherit append/prepend needs a list or a table on both sides");
}

void apply_overrides(json& settings, const SkbuildFacts& facts, const fs::path& root, const Where& where) {
  if (!settings.contains("overrides")) return;
  json overrides = settings["overrides"];
  settings.erase("overrides");
  if (!overrides.is_array()) where.fail("overrides", "must be an array of tables ([[tool.scikit-build.overrides]])");
  for (std::size_t n = 0; n < overrides.size(); ++n) {
    json override_table = overrides[n];
    std::string key = "overrides[" + std::to_string(n) + "]";
    if (!override_table.is_object()) where.fail(key, "must be a table");
    if (!override_table.contains("if") || !override_table["if"].is_object() || override_table["if"].empty())
      where.fail(key + ".if", "at least one condition is required");
    json conditions = override_table["if"];
    override_table.erase("if");
    json inherit = override_table.value("inherit", json::object());
    override_table.erase("inherit");
    if (!inherit.is_object()) where.fail(key + ".inherit", "must be a table");

    bool matched = true;
    std::set<std::string> passed, failed;
    json all = conditions;
    all.erase("any");
    all.erase("not");
    if (!all.empty()) {
      match_conditions(all, facts, root, where, key + ".if", passed, failed);
      matched = failed.empty();
    }
    if (conditions.contains("any")) {
      std::set<std::string> any_passed, any_failed;
      match_conditions(conditions["any"], facts, root, where, key + ".if.any", any_passed, any_failed);
      matched = matched && !any_passed.empty();
    }
    if (conditions.contains("not")) {
      std::set<std::string> not_passed, not_failed;
      match_conditions(conditions["not"], facts, root, where, key + ".if.not", not_passed, not_failed);
      matched = matched && not_passed.empty();
    }
    if (!matched) continue;
    for (const auto& [k, value] : override_table.items()) {
      if (value.is_object()) {
        json& inner = settings[k];
        if (!inner.is_object()) inner = json::object();
        json inherit1 = inherit.value(k, json::object());
        for (const auto& [k2, v2] : value.items()) {
          std::string mode = inherit1.is_object() && inherit1.contains(k2) && inherit1[k2].is_string() ? inherit1[k2].get<std::string>() : "none";
          const json* previous = inner.contains(k2) ? &inner[k2] : nullptr;
          inner[k2] = inherit_join(v2, previous, mode, where, key + "." + k + "." + k2);
        }
      } else {
        std::string mode = inherit.contains(k) && inherit[k].is_string() ? inherit[k].get<std::string>() : "none";
        const json* previous = settings.contains(k) ? &settings[k] : nullptr;
        settings[k] = inherit_join(value, previous, mode, where, key + "." + k);
      }
    }
  }
}

// ---------------------------------------------------------------- typed reads
class Reader {
 public:
  Reader(json settings, Where where) : s_(std::move(settings)), where_(std::move(where)) {}

  const json* get(const std::string& dotted) {
    seen_.insert(dotted);
    const json* node = &s_;
    std::size_t start = 0;
    for (;;) {
      auto dot = dotted.find('.', start);
      std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!node->is_object() || !node->contains(part)) return nullptr;
      node = &(*node)[part];
      if (dot == std::string::npos) return node;
      start = dot + 1;
    }
  }
  std::optional<std::string> string(const std::string& key) {
    auto v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) where_.fail(key, "must be a string");
    return v->get<std::string>();
  }
  std::optional<bool> boolean(const std::string& key) {
    auto v = get(key);
    if (!v) return std::nullopt;
    if (v->is_boolean()) return v->get<bool>();
    if (v->is_string()) return truthy(v->get<std::string>());
    where_.fail(key, "must be a boolean");
  }
  std::optional<std::vector<std::string>> strings(const std::string& key) {
    auto v = get(key);
    if (!v) return std::nullopt;
    if (v->is_string()) return std::vector<std::string>{v->get<std::string>()};
    if (!v->is_array()) where_.fail(key, "must be a list of strings");
    std::vector<std::string> out;
    for (const auto& item : *v) {
      if (!item.is_string()) where_.fail(key, "must be a list of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  // Keys present in the settings but never asked for (unknown options).
  std::vector<std::string> unknown() const {
    std::vector<std::string> out;
    collect(s_, "", out);
    return out;
  }
  const Where& where() const { return where_; }

 private:
  void collect(const json& node, const std::string& prefix, std::vector<std::string>& out) const {
    for (const auto& [k, v] : node.items()) {
      std::string key = prefix.empty() ? k : prefix + "." + k;
      if (seen_.count(key)) continue;
      if (v.is_object() && !v.empty()) collect(v, key, out);
      else out.push_back(key);
    }
  }
  json s_;
  Where where_;
  std::set<std::string> seen_;
};

std::string render_define(const std::string& name, const json& value, const SkbuildFacts& facts, const Where& where) {
  std::string key = "cmake.define." + name;
  if (value.is_boolean()) return value.get<bool>() ? "TRUE" : "FALSE";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return value.dump();
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) {
      if (!item.is_string()) where.fail(key, "a list define must hold strings");
      std::string escaped;
      for (char c : item.get<std::string>()) {
        if (c == ';') escaped += '\\';
        escaped += c;
      }
      if (!out.empty()) out += ';';
      out += escaped;
    }
    return out;
  }
  if (value.is_object()) {
    for (const auto& [k, v] : value.items())
      if (k != "env" && k != "default") where.fail(key + "." + k, "unknown key (a define table takes env and default)");
    if (!value.contains("env") || !value["env"].is_string()) where.fail(key, "a define table needs env = \"VARIABLE\"");
    auto have = facts.getenv ? facts.getenv(value["env"].get<std::string>()) : std::nullopt;
    if (have && !have->empty()) return *have;
    if (!value.contains("default")) return "";
    const json& d = value["default"];
    if (d.is_boolean()) return d.get<bool>() ? "TRUE" : "FALSE";
    if (d.is_string()) return d.get<std::string>();
    where.fail(key + ".default", "must be a string or a boolean");
  }
  where.fail(key, "must be a string, a boolean, a list of strings or a table {env = ..., default = ...}");
}

// A path key relative to the project root that must stay inside it.
fs::path inside_root(const fs::path& root, const std::string& rel, const Where& where, const std::string& key) {
  fs::path p = (root / rel).lexically_normal();
  fs::path inside = p.lexically_relative(root);
  if (fs::path(rel).is_absolute() || inside.empty() || *inside.begin() == "..")
    where.fail(key, "\"" + rel + "\" points outside the project root " + root.string());
  return p;
}

std::string cmake_minimum_from_lists(const fs::path& lists) {
  std::error_code ec;
  if (!fs::is_regular_file(lists, ec)) return {};
  std::string text = util::read_file(lists);
  boost::regex re(R"(cmake_minimum_required\s*\(\s*VERSION\s+([0-9]+(?:\.[0-9]+)*))", boost::regex::perl | boost::regex::icase);
  boost::smatch m;
  if (!boost::regex_search(text, m, re)) return {};
  return m[1].str();
}

// Python regex syntax -> Boost perl syntax: (?P<name>...) -> (?<name>...), (?P=name) -> \k<name>.
std::string boost_syntax(const std::string& pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      out += pattern[i];
      out += pattern[++i];
      continue;
    }
    if (pattern.compare(i, 4, "(?P<") == 0) {
      out += "(?<";
      i += 3;
      continue;
    }
    if (pattern.compare(i, 4, "(?P=") == 0) {
      auto close = pattern.find(')', i);
      if (close != std::string::npos) {
        out += "\\k<" + pattern.substr(i + 4, close - i - 4) + ">";
        i = close;
        continue;
      }
    }
    out += pattern[i];
  }
  return out;
}

boost::regex compile_python_regex(const std::string& pattern) {
  try {
    return boost::regex(boost_syntax(pattern), boost::regex::perl | boost::regex::no_mod_s);
  } catch (const boost::regex_error& e) {
    throw BuildError("invalid regex \"" + pattern + "\": " + e.what());
  }
}

bool regex_search_python(const std::string& value, const std::string& pattern) {
  return boost::regex_search(value, compile_python_regex(pattern));
}

void read_packages(Reader& r, SkbuildConfig& c, const fs::path& root) {
  const json* v = r.get("wheel.packages");
  if (!v) return;
  std::vector<std::pair<std::string, std::string>> out;
  auto check = [&](const std::string& dest, const std::string& src) {
    inside_root(root, src, r.where(), "wheel.packages");
    fs::path d = fs::path(dest).lexically_normal();
    if (d.is_absolute() || d.empty() || *d.begin() == "..") r.where().fail("wheel.packages", "destination \"" + dest + "\" must be relative");
    out.emplace_back(d.generic_string(), src);
  };
  if (v->is_array()) {
    for (const auto& item : *v) {
      if (!item.is_string()) r.where().fail("wheel.packages", "must be a list of strings or a table");
      std::string src = item.get<std::string>();
      check(fs::path(src).lexically_normal().filename().string(), src);
    }
  } else if (v->is_object()) {
    for (const auto& [dest, src] : v->items()) {
      if (!src.is_string()) r.where().fail("wheel.packages." + dest, "must be a string (the source directory)");
      check(dest, src.get<std::string>());
    }
  } else {
    r.where().fail("wheel.packages", "must be a list of strings or a table");
  }
  c.packages = std::move(out);
}

void read_metadata(Reader& r, SkbuildConfig& c, const fs::path& root, const json& dynamic_metadata) {
  auto read_regex = [&](const json& table, const std::string& key) {
    RegexVersionProvider p;
    for (const auto& [k, v] : table.items()) {
      if (k == "provider" || k == "field") continue;
      if (k != "input" && k != "regex" && k != "result" && k != "remove") r.where().fail(key + "." + k, "unknown setting of the regex provider");
      if (!v.is_string()) r.where().fail(key + "." + k, "must be a string");
    }
    if (!table.contains("input")) r.where().fail(key, "the regex provider needs input = \"<file>\"");
    p.input = inside_root(root, table["input"].get<std::string>(), r.where(), key + ".input");
    p.regex = table.value("regex", std::string(R"((?i)^(__version__|VERSION)(?: ?\: ?str)? *= *(['"])v?(?P<value>.+?)\2)"));
    p.result = table.value("result", std::string("{value}"));
    p.remove = table.value("remove", std::string());
    compile_python_regex(p.regex);
    return p;
  };
  if (const json* m = r.get("metadata")) {
    if (!m->is_object()) r.where().fail("metadata", "must be a table");
    for (const auto& [field, table] : m->items()) {
      std::string key = "metadata." + field;
      if (!table.is_object() || !table.contains("provider") || !table["provider"].is_string()) r.where().fail(key, "needs provider = \"...\"");
      std::string provider = table["provider"].get<std::string>();
      if (field == "version" && provider == "scikit_build_core.metadata.regex") c.version_provider = read_regex(table, key);
      else r.where().fail(key + ".provider", "\"" + provider + "\" for " + field + " is not supported by prestage (supported: scikit_build_core.metadata.regex for version)");
    }
  }
  if (dynamic_metadata.is_array()) {
    for (std::size_t i = 0; i < dynamic_metadata.size(); ++i) {
      const json& entry = dynamic_metadata[i];
      std::string key = "(tool.dynamic-metadata[" + std::to_string(i) + "])";
      std::string provider = entry.value("provider", std::string());
      std::string field = entry.value("field", std::string());
      if (field == "version" && provider == "scikit_build_core.metadata.regex") c.version_provider = read_regex(entry, key);
      else r.where().fail(key, "provider \"" + provider + "\" for field \"" + field + "\" is not supported by prestage");
    }
  }
}

void read_generate(Reader& r, SkbuildConfig& c, const fs::path& root) {
  const json* v = r.get("generate");
  if (!v) return;
  if (!v->is_array()) r.where().fail("generate", "must be an array of tables ([[tool.scikit-build.generate]])");
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    std::string key = "generate[" + std::to_string(i) + "]";
    if (!e.is_object()) r.where().fail(key, "must be a table");
    GenerateEntry g;
    for (const auto& [k, val] : e.items()) {
      if (k != "path" && k != "template" && k != "template-path" && k != "location") r.where().fail(key + "." + k, "unknown key");
      if (!val.is_string()) r.where().fail(key + "." + k, "must be a string");
    }
    if (!e.contains("path")) r.where().fail(key + ".path", "is required");
    g.path = e["path"].get<std::string>();
    fs::path p = fs::path(g.path).lexically_normal();
    if (p.is_absolute() || p.empty() || *p.begin() == "..") r.where().fail(key + ".path", "\"" + g.path + "\" must be a relative path");
    g.template_text = e.value("template", std::string());
    if (e.contains("template-path")) g.template_path = inside_root(root, e["template-path"].get<std::string>(), r.where(), key + ".template-path");
    if (g.template_text.empty() && g.template_path.empty()) r.where().fail(key, "needs template or template-path");
    g.location = e.value("location", std::string("install"));
    if (g.location != "install" && g.location != "build" && g.location != "source")
      r.where().fail(key + ".location", "must be \"install\", \"build\" or \"source\", got \"" + g.location + "\"");
    c.generate.push_back(std::move(g));
  }
}
}  // namespace

bool version_matches(std::string_view version, std::string_view specifier_set) {
  auto have = release_of(trim_view(version));
  std::size_t start = 0;
  std::string set(specifier_set);
  while (start <= set.size()) {
    auto comma = set.find(',', start);
    std::string_view one = trim_view(std::string_view(set).substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!one.empty() && !one_specifier(have, one)) return false;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

std::string run_regex_provider(const RegexVersionProvider& p, const std::string& text) {
  boost::regex re = compile_python_regex(p.regex);
  boost::smatch m;
  if (!boost::regex_search(text, m, re)) throw BuildError("metadata.version: regex " + p.regex + " found nothing in " + p.input.string());
  std::string out;
  for (std::size_t i = 0; i < p.result.size(); ++i) {
    char ch = p.result[i];
    if (ch == '{' && i + 1 < p.result.size() && p.result[i + 1] == '{') { out += '{'; ++i; continue; }
    if (ch == '}' && i + 1 < p.result.size() && p.result[i + 1] == '}') { out += '}'; ++i; continue; }
    if (ch != '{') { out += ch; continue; }
    auto close = p.result.find('}', i);
    if (close == std::string::npos) throw BuildError("metadata.version: unbalanced { in result \"" + p.result + "\"");
    std::string name = p.result.substr(i + 1, close - i - 1);
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      std::size_t group = std::stoul(name) + 1;
      if (group >= m.size()) throw BuildError("metadata.version: result \"" + p.result + "\" names group " + name + " that the regex does not have");
      out += m[group].str();
    } else {
      auto group = m[name];
      if (!group.matched && re.mark_count() > 0) {
        // An unknown name gives an unmatched sub-match; tell it apart from an optional group.
        bool known = boost_syntax(p.regex).find("(?<" + name + ">") != std::string::npos;
        if (!known) throw BuildError("metadata.version: result \"" + p.result + "\" names {" + name + "} that the regex does not capture");
      }
      out += group.str();
    }
    i = close;
  }
  if (!p.remove.empty()) out = boost::regex_replace(out, compile_python_regex(p.remove), "");
  return out;
}

std::string substitute_template(std::string_view text, const std::vector<std::pair<std::string, std::string>>& values,
                                std::string_view what) {
  auto lookup = [&](const std::string& name) -> const std::string& {
    for (const auto& [k, v] : values)
      if (k == name) return v;
    throw BuildError(std::string(what) + ": the template names $" + name + ", which is not a metadata field");
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$') { out += text[i]; continue; }
    if (i + 1 < text.size() && text[i + 1] == '$') { out += '$'; ++i; continue; }
    std::size_t start = i + 1;
    bool braced = start < text.size() && text[start] == '{';
    if (braced) ++start;
    std::size_t end = start;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) ++end;
    std::string name(text.substr(start, end - start));
    if (name.empty() || (braced && (end >= text.size() || text[end] != '}')))
      throw BuildError(std::string(what) + ": invalid placeholder at offset " + std::to_string(i));
    out += lookup(name);
    i = braced ? end : end - 1;
  }
  return out;
}

SkbuildConfig read_skbuild_config(const fs::path& root, const toml::table& pyproject, const SkbuildFacts& facts) {
  Where where{(root / "pyproject.toml").string()};
  SkbuildConfig c;
  std::string backend = pyproject.at_path("build-system.build-backend").value_or(std::string());
  if (backend == "scikit_build_core.setuptools.build_meta") c.backend = SkbuildBackend::setuptools;
  else if (backend == "hatchling.build") c.backend = SkbuildBackend::hatch;

  json settings = json::object();
  if (auto t = pyproject.at_path("tool.scikit-build").as_table()) settings = to_json_value(*t);
  if (c.backend == SkbuildBackend::hatch) {
    if (auto hook = pyproject.at_path("tool.hatch.build.targets.wheel.hooks.scikit-build").as_table()) {
      json extra = to_json_value(*hook);
      for (const char* k : {"dependencies", "require-runtime-dependencies", "require-runtime-features", "enable-by-default"}) extra.erase(k);
      for (const auto& [k, v] : extra.items()) {
        if (v.is_object() && settings.contains(k) && settings[k].is_object()) {
          for (const auto& [k2, v2] : v.items()) settings[k][k2] = v2;
        } else {
          settings[k] = v;
        }
      }
    }
  }
  apply_overrides(settings, facts, root, where);
  Reader r(std::move(settings), where);

  c.project_name = pyproject.at_path("project.name").value_or(std::string());
  c.static_version = pyproject.at_path("project.version").value_or(std::string());

  // cmake.*
  c.source_dir = root;
  if (auto s = r.string("cmake.source-dir")) c.source_dir = inside_root(root, *s, where, "cmake.source-dir");
  if (auto args = r.strings("cmake.args")) c.args = *args;
  if (const json* d = r.get("cmake.define")) {
    if (!d->is_object()) where.fail("cmake.define", "must be a table");
    for (const auto& [name, value] : d->items()) c.defines.emplace_back(name, render_define(name, value, facts, where));
  }
  bool build_type_set = false;
  if (auto bt = r.string("cmake.build-type")) {
    c.build_type = *bt;
    build_type_set = true;
  }
  if (!build_type_set && facts.getenv)
    if (auto env_bt = facts.getenv("CMAKE_BUILD_TYPE"); env_bt && !env_bt->empty()) c.build_type = *env_bt;
  if (auto hints = r.boolean("cmake.python-hints")) c.python_hints = *hints;
  std::optional<std::string> cmake_version = r.string("cmake.version");
  if (auto old = r.string("cmake.minimum-version"); old && !cmake_version) cmake_version = ">=" + *old;
  if (!cmake_version || *cmake_version == "CMakeLists.txt") {
    std::string minimum = cmake_minimum_from_lists(c.source_dir / "CMakeLists.txt");
    if (minimum.empty() && cmake_version) where.fail("cmake.version", "\"CMakeLists.txt\" given, but no cmake_minimum_required(VERSION ...) found in " + (c.source_dir / "CMakeLists.txt").string());
    c.cmake_version_spec = ">=" + (minimum.empty() ? std::string("3.15") : minimum);
  } else {
    c.cmake_version_spec = *cmake_version;
  }
  if (auto v = r.string("ninja.version")) c.ninja_version_spec = *v;
  else if (auto old = r.string("ninja.minimum-version")) c.ninja_version_spec = ">=" + *old;
  try {
    version_matches("1", c.cmake_version_spec);
    version_matches("1", c.ninja_version_spec);
  } catch (const BuildError& e) {
    where.fail("cmake.version / ninja.version", e.what());
  }
  if (auto fallback = r.boolean("ninja.make-fallback")) c.notes.push_back("ninja.make-fallback: prestage always uses Ninja");
  if (auto t = r.strings("build.targets")) c.build_targets = *t;
  else if (auto old = r.strings("cmake.targets")) c.build_targets = *old;
  if (auto v = r.boolean("build.verbose")) c.build_verbose = *v;
  else if (auto old = r.boolean("cmake.verbose")) c.build_verbose = *old;
  if (auto t = r.strings("build.tool-args")) c.build_tool_args = *t;
  r.strings("build.requires");
  if (auto comps = r.strings("install.components")) c.install_components = *comps;
  if (auto strip = r.boolean("install.strip")) c.install_strip = *strip;
  if (auto targets = r.strings("install.targets"); targets && !targets->empty())
    where.fail("install.targets", "is not supported by prestage");
  if (auto b = r.string("backport.find-python")) c.backport_find_python = *b;
  if (auto sp = r.boolean("search.site-packages")) c.search_site_packages = *sp;

  // wheel.*
  read_packages(r, c, root);
  if (c.backend == SkbuildBackend::hatch && c.packages && !c.packages->empty())
    where.fail("wheel.packages", "is not supported for hatch builds (scikit-build-core refuses it too); list packages in [tool.hatch.build.targets.wheel]");
  if (auto api = r.string("wheel.py-api")) {
    c.py_api = *api;
    if (c.backend == SkbuildBackend::setuptools && !api->empty())
      where.fail("wheel.py-api", "is not supported in setuptools mode (scikit-build-core refuses it too)");
  }
  if (auto dir = r.string("wheel.install-dir")) {
    if (dir->find("..") != std::string::npos) where.fail("wheel.install-dir", "must not contain '..'");
    if (!dir->empty() && dir->front() == '/')
      where.fail("wheel.install-dir", "absolute paths (\"" + *dir + "\", an experimental scikit-build-core feature) are not supported by prestage; install to ${SKBUILD_DATA_DIR} etc. from CMake instead");
    c.install_dir = fs::path(*dir).lexically_normal().generic_string();
    if (c.install_dir == ".") c.install_dir.clear();
    while (!c.install_dir.empty() && c.install_dir.back() == '/') c.install_dir.pop_back();
  }
  if (auto ex = r.strings("wheel.exclude")) c.exclude = *ex;
  if (auto cm = r.boolean("wheel.cmake"); cm && !*cm) where.fail("wheel.cmake", "false (no CMake build) leaves nothing for prestage to build");
  r.boolean("wheel.platlib");
  r.strings("wheel.license-files");
  r.boolean("wheel.expand-macos-universal-tags");
  r.get("wheel.build-tag");
  r.strings("wheel.tags");
  if (const json* fi = r.get("wheel.force-include"); fi && !(fi->is_object() && fi->empty()))
    where.fail("wheel.force-include", "is not supported by prestage yet");

  // editable.*
  if (auto mode = r.string("editable.mode"); mode && *mode != "redirect")
    where.fail("editable.mode", "\"" + *mode + "\" is not supported: prestage stages every build as a new generation, as the default \"redirect\" mode does");
  r.boolean("editable.verbose");
  r.boolean("editable.rebuild");

  if (const json* env = r.get("env")) {
    if (!env->is_object()) where.fail("env", "must be a table");
    for (const auto& [k, v] : env->items()) {
      if (!v.is_string()) where.fail("env." + k, "must be a string");
      c.env.emplace_back(k, v.get<std::string>());
    }
  }
  read_generate(r, c, root);
  json dynamic_metadata = json();
  if (auto dm = pyproject.at_path("tool.dynamic-metadata").as_array()) dynamic_metadata = to_json_value(*dm);
  read_metadata(r, c, root, dynamic_metadata);

  if (auto e = r.boolean("experimental")) c.experimental = *e;
  if (c.backend == SkbuildBackend::hatch && !c.experimental)
    where.fail("experimental", "the scikit-build hatch plugin needs experimental = true (scikit-build-core refuses it otherwise)");
  if (auto fail = r.boolean("fail"); fail && *fail) where.fail("fail", "is true: the project asks for this configuration to fail");
  bool strict = r.boolean("strict-config").value_or(true);
  r.get("minimum-version");
  if (auto dir = r.string("build-dir"); dir && !dir->empty()) c.notes.push_back("build-dir: prestage keeps its own build dir per interpreter");
  for (const char* ignored : {"sdist", "logging", "messages", "variant", "variant-name", "variant-label", "null-variant"}) r.get(ignored);

  if (c.version_provider && !c.static_version.empty())
    where.fail("metadata.version", "[project] version is set statically and by a provider; list \"version\" in [project] dynamic instead");
  if (!c.version_provider && c.static_version.empty() && c.backend == SkbuildBackend::native && pyproject.contains("project"))
    throw BuildError(where.file + ": [project] has no version and no tool.scikit-build.metadata.version provider");

  auto unknown = r.unknown();
  if (!unknown.empty()) {
    std::string list;
    for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
    if (strict) throw BuildError(where.file + ": unknown or unsupported tool.scikit-build option(s): " + list);
    c.notes.push_back("ignoring unknown option(s): " + list);
  }
  return c;
}
}  // namespace prestage::builders
