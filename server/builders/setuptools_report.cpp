#include "builders/setuptools_report.hpp"

#include <nlohmann/json.hpp>

#include "builders/build_error.hpp"
#include "builders/diagnostics.hpp"
#include "util/fs.hpp"

namespace prestage::builders {
namespace {
constexpr std::string_view driver_prefix = "prestage-setuptools ";

// [[a, b], ...] of strings.
std::vector<std::pair<std::string, std::string>> string_pairs(const nlohmann::json& doc, const char* key) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto it = doc.find(key);
  if (it == doc.end()) return out;
  if (!it->is_array()) throw BuildError(std::string("setuptools driver layout: ") + key + " is not a list");
  for (const auto& pair : *it) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string())
      throw BuildError(std::string("setuptools driver layout: ") + key + " holds an entry that is not a pair of strings");
    out.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
  }
  return out;
}

std::string string_or_empty(const nlohmann::json& doc, const char* key) {
  const auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

SetuptoolsLayout parse_setuptools_layout(std::string_view json_text) {
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) throw BuildError("setuptools driver layout: not a JSON object");
  SetuptoolsLayout layout;
  layout.extensions = string_pairs(doc, "extensions");
  for (auto& [dest, dir] : string_pairs(doc, "packages")) layout.packages.emplace_back(dest, dir);
  for (auto& [dest, file] : string_pairs(doc, "modules")) layout.modules.emplace_back(dest, file);
  layout.name = string_or_empty(doc, "name");
  layout.version = string_or_empty(doc, "version");
  layout.pybind11_include = string_or_empty(doc, "pybind11_include");
  return layout;
}

std::optional<SetuptoolsLayout> read_setuptools_layout(const fs::path& work_dir) {
  std::error_code ec;
  fs::path file = work_dir / "layout.json";
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  return parse_setuptools_layout(util::read_file(file));
}

std::optional<Diagnostic> diagnostic_from_driver_line(std::string_view line, const fs::path& root) {
  if (line.substr(0, driver_prefix.size()) != driver_prefix) return std::nullopt;
  nlohmann::json doc = nlohmann::json::parse(line.substr(driver_prefix.size()), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("error")) return std::nullopt;
  Diagnostic d;
  d.severity = "error";
  d.message = string_or_empty(doc, "error");
  std::string file = string_or_empty(doc, "file");
  d.file = file.empty() ? root.string() : diagnostic_path(file, root, root);
  if (auto it = doc.find("line"); it != doc.end() && it->is_number_integer()) d.line = it->get<int>();
  return d;
}
}  // namespace prestage::builders
