#include "builders/diagnostics.hpp"

#include <algorithm>
#include <regex>

namespace prestage::builders {
namespace {
bool is_inside(const fs::path& path, const fs::path& root) {
  if (root.empty()) return false;
  auto [root_end, unused] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return root_end == root.end();
}

std::string severity_from_level(std::string_view level) {
  if (level.find("error") != std::string_view::npos || level == "ice" || level == "sorry") return "error";
  if (level == "warning") return "warning";
  return "note";  // note, help, failure-note, ...
}

int json_int(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_number_integer()) ? it->get<int>() : 0;
}

std::string json_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}
}  // namespace

std::string diagnostic_path(std::string_view reported, const fs::path& base_dir, const fs::path& project_root) {
  if (reported.empty()) return {};
  fs::path p(reported);
  if (p.is_relative()) p = base_dir / p;
  p = p.lexically_normal();
  fs::path root = project_root;
  if (!root.empty() && !fs::is_directory(root)) root = root.parent_path();  // single-file project
  if (is_inside(p, root)) return p.string();
  return std::string(reported);
}

std::optional<Diagnostic> diagnostic_from_cargo_message(const nlohmann::json& line, const fs::path& project_root) {
  auto msg_it = line.find("message");
  if (msg_it == line.end() || !msg_it->is_object()) return std::nullopt;
  const nlohmann::json& msg = *msg_it;
  Diagnostic d;
  d.severity = severity_from_level(json_string(msg, "level"));
  d.message = json_string(msg, "message");

  fs::path manifest_dir = fs::path(json_string(line, "manifest_path")).parent_path();
  const nlohmann::json* primary = nullptr;
  if (auto spans = msg.find("spans"); spans != msg.end() && spans->is_array()) {
    for (const auto& span : *spans) {
      if (span.value("is_primary", false)) {
        primary = &span;
        break;
      }
    }
  }
  if (!primary) {
    if (d.severity != "error") return std::nullopt;
    d.file = project_root.string();
    return d;
  }
  // Follow macro expansions back to the user's call site.
  const nlohmann::json* span = primary;
  while (true) {
    auto exp = span->find("expansion");
    if (exp == span->end() || !exp->is_object()) break;
    auto call = exp->find("span");
    if (call == exp->end() || !call->is_object()) break;
    span = &*call;
  }
  std::string file_name = json_string(*span, "file_name");
  d.line = json_int(*span, "line_start");
  d.column = json_int(*span, "column_start");
  // rustc names files relative to the workspace root: try the manifest dir, then its parents.
  fs::path base = manifest_dir.empty() ? project_root : manifest_dir;
  if (fs::path(file_name).is_relative()) {
    for (fs::path dir = base; !dir.empty(); dir = dir.parent_path()) {
      std::error_code ec;
      if (fs::exists(dir / file_name, ec)) {
        base = dir;
        break;
      }
      if (dir == dir.parent_path()) break;
    }
  }
  d.file = diagnostic_path(file_name, base, project_root);
  return d;
}

std::optional<std::vector<Diagnostic>> diagnostics_from_gcc_json_line(std::string_view line, const fs::path& base_dir,
                                                                      const fs::path& project_root) {
  std::size_t first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos || line[first] != '[') return std::nullopt;
  nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) return std::nullopt;
  std::vector<Diagnostic> out;
  for (const auto& item : parsed) {
    if (!item.is_object() || !item.contains("kind")) return std::nullopt;
    Diagnostic d;
    d.severity = severity_from_level(json_string(item, "kind"));
    d.message = json_string(item, "message");
    if (auto locs = item.find("locations"); locs != item.end() && locs->is_array() && !locs->empty()) {
      const auto& caret = (*locs)[0].value("caret", nlohmann::json::object());
      d.file = diagnostic_path(json_string(caret, "file"), base_dir, project_root);
      d.line = json_int(caret, "line");
      d.column = json_int(caret, "column");
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::optional<Diagnostic> diagnostic_from_cmake_error_header(std::string_view line, const fs::path& base_dir,
                                                             const fs::path& project_root) {
  constexpr std::string_view prefix = "CMake Error at ";
  if (line.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view rest = line.substr(prefix.size());
  if (auto paren = rest.rfind(" ("); paren != std::string_view::npos) rest = rest.substr(0, paren);
  if (!rest.empty() && rest.back() == ':') rest.remove_suffix(1);
  Diagnostic d;
  d.severity = "error";
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos) {
    std::string_view number = rest.substr(colon + 1);
    if (!number.empty() && std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      d.line = std::stoi(std::string(number));
      rest = rest.substr(0, colon);
    }
  }
  d.file = diagnostic_path(rest, base_dir, project_root);
  return d;
}

std::optional<Diagnostic> diagnostic_from_meson_error(std::string_view line, const fs::path& base_dir, const fs::path& project_root) {
  constexpr std::string_view marker = "ERROR: ";
  auto at = line.find(marker);
  if (at == std::string_view::npos) return std::nullopt;
  Diagnostic d;
  d.severity = "error";
  d.message = std::string(line.substr(at + marker.size()));
  if (at == 0) {  // no location: the project's meson.build
    fs::path root = project_root;
    d.file = (root / "meson.build").string();
    return d;
  }
  // "FILE:LINE:COL: " before the marker
  std::string_view where = line.substr(0, at);
  if (where.size() < 2 || where.substr(where.size() - 2) != ": ") return std::nullopt;
  where.remove_suffix(2);
  auto is_number = [](std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }); };
  auto column_colon = where.rfind(':');
  if (column_colon == std::string_view::npos) return std::nullopt;
  auto line_colon = where.rfind(':', column_colon == 0 ? 0 : column_colon - 1);
  if (line_colon == std::string_view::npos || line_colon == 0) return std::nullopt;
  std::string_view line_number = where.substr(line_colon + 1, column_colon - line_colon - 1);
  std::string_view column_number = where.substr(column_colon + 1);
  if (!is_number(line_number) || !is_number(column_number)) return std::nullopt;
  d.line = std::stoi(std::string(line_number));
  d.column = std::stoi(std::string(column_number)) + 1;  // meson counts columns from 0
  d.file = diagnostic_path(where.substr(0, line_colon), base_dir, project_root);
  return d;
}

std::string render_diagnostic(const Diagnostic& d) {
  std::string out = d.file.empty() ? std::string("<unknown>") : d.file;
  if (d.line > 0) out += ":" + std::to_string(d.line);
  if (d.column > 0) out += ":" + std::to_string(d.column);
  out += ": " + d.severity + ": " + d.message;
  return out;
}

std::optional<Diagnostic> diagnostic_from_cython_line(std::string_view line, const fs::path& root) {
  static const std::regex cython_error(R"(^(\S+\.(?:pyx|pxd|pxi)):(\d+):(\d+): (.+)$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(line.begin(), line.end(), m, cython_error)) return std::nullopt;
  Diagnostic d;
  d.severity = "error";
  d.file = diagnostic_path(m[1].str(), root, root);
  d.line = std::stoi(m[2].str());
  d.column = std::stoi(m[3].str());
  d.message = m[4].str();
  return d;
}
}  // namespace prestage::builders
