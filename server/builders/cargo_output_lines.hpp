#pragma once
// cargo's output when another tool runs cargo (setuptools-rust's build_rust under the setuptools
// driver, which asks for --message-format=json and echoes cargo's stdout): read as cargo_runner
// reads its own run, without a BuildSession, so the caller applies each effect.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builders/cargo_errors.hpp"
#include "builders/diagnostic.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

// What one of cargo's JSON lines means for the build.
struct CargoJsonLine {
  std::string log;                       // rustc's rendered diagnostic, for the build log ("" for none)
  std::optional<Diagnostic> diagnostic;  // the diagnostic itself
  std::string progress;                  // "Built <crate>" for an artifact ("" for none)
};

class CargoOutputLines {
 public:
  explicit CargoOutputLines(fs::path project_root) : project_root_(std::move(project_root)) {}

  // A stdout line: nullopt when it is not a cargo JSON message (a line of the tool's own).
  std::optional<CargoJsonLine> stdout_line(std::string_view line);

  // A stderr line: cargo's status line ("Compiling x v1") is returned as progress; `error:` blocks
  // are kept for failed().
  std::string stderr_line(std::string_view line);

  // After the tool failed: cargo's own errors (resolution, lock file, manifest) as diagnostics at
  // `manifest`, when rustc reported no error of its own; else none.
  std::vector<Diagnostic> failed(const fs::path& manifest);

  // The tool says it runs cargo (the driver's "prestage: cargo builds ..." line): stderr's error
  // blocks are cargo's from here on, even when cargo failed before printing anything else.
  void cargo_started() { cargo_ran_ = true; }

  std::size_t rustc_errors() const { return rustc_errors_; }

 private:
  fs::path project_root_;
  CargoPlainErrors plain_;
  std::size_t rustc_errors_ = 0;
  bool cargo_ran_ = false;  // a JSON message, a status line or cargo_started()
};
}  // namespace prestage::builders
