#include "builders/cargo_output_lines.hpp"

#include <nlohmann/json.hpp>

#include "builders/diagnostics.hpp"

namespace prestage::builders {

std::optional<CargoJsonLine> CargoOutputLines::stdout_line(std::string_view line) {
  if (line.empty() || line.front() != '{') return std::nullopt;
  auto message = nlohmann::json::parse(line, nullptr, false);
  if (!message.is_object() || !message.contains("reason") || !message["reason"].is_string()) return std::nullopt;
  cargo_ran_ = true;
  CargoJsonLine effect;
  const std::string reason = message["reason"].get<std::string>();
  if (reason == "compiler-message") {
    const auto& m = message["message"];
    if (m.is_object() && m.contains("rendered") && m["rendered"].is_string()) {
      effect.log = m["rendered"].get<std::string>();
      while (!effect.log.empty() && effect.log.back() == '\n') effect.log.pop_back();
    }
    effect.diagnostic = diagnostic_from_cargo_message(message, project_root_);
    if (effect.diagnostic && effect.diagnostic->severity == "error") ++rustc_errors_;
  } else if (reason == "compiler-artifact") {
    const auto& target = message["target"];
    if (target.is_object() && target.contains("name") && target["name"].is_string())
      effect.progress = "Built " + target["name"].get<std::string>();
  }
  return effect;
}

std::string CargoOutputLines::stderr_line(std::string_view line) {
  plain_.feed(line);
  if (!is_cargo_status_line(line)) return {};
  cargo_ran_ = true;
  auto start = line.find_first_not_of(' ');
  return std::string(line.substr(start));
}

std::vector<Diagnostic> CargoOutputLines::failed(const fs::path& manifest) {
  std::vector<Diagnostic> out;
  const auto& blocks = plain_.finish();
  if (rustc_errors_ > 0 || !cargo_ran_) return out;
  for (const auto& block : blocks) {
    // setuptools-rust's summary of the run ("`cargo rustc ...` failed with code 101"), which the
    // driver prints as `error: ...`: the failure itself, not its cause.
    if (block.rfind("`cargo ", 0) == 0) continue;
    Diagnostic d;
    d.file = manifest.string();
    d.severity = "error";
    d.message = block;
    out.push_back(std::move(d));
  }
  return out;
}
}  // namespace prestage::builders
