#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace prestage {
// One compiler message, read from the tool's machine-readable output.
struct Diagnostic {
  std::string file;      // absolute when it lies inside the project
  int line = 0;          // 1-based; 0 when the tool gave none
  int column = 0;        // 1-based; 0 when the tool gave none
  std::string severity;  // "error", "warning" or "note"
  std::string message;
};

inline void to_json(nlohmann::json& j, const Diagnostic& d) {
  j = {{"file", d.file}, {"line", d.line}, {"column", d.column}, {"severity", d.severity}, {"message", d.message}};
}
inline void from_json(const nlohmann::json& j, Diagnostic& d) {
  d.file = j.value("file", "");
  d.line = j.value("line", 0);
  d.column = j.value("column", 0);
  d.severity = j.value("severity", "error");
  d.message = j.value("message", "");
}
}  // namespace prestage
