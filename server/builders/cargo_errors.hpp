#pragma once
// cargo's own errors: the plain `error: ...` blocks cargo prints on stderr for failures that have no
// JSON message (dependency resolution, lock file, missing crate, broken manifest). Fed line by line
// from the build's stderr on the io thread.
#include <string>
#include <string_view>
#include <vector>

namespace prestage::builders {

class CargoPlainErrors {
 public:
  // One stderr line (without its newline).
  void feed(std::string_view line);
  // The error blocks, each "first line\ncontinuation lines..." without the "error: " prefix.
  // cargo's "could not compile `x` ... due to N previous errors" summaries are left out: the compiler's
  // JSON messages carry those errors.
  // Call once cargo has exited (ends the last block).
  const std::vector<std::string>& finish() {
    close_block();
    return errors_;
  }

 private:
  void close_block();
  std::vector<std::string> errors_;
  std::string block_;
  bool in_block_ = false;
};

// cargo's right-aligned status lines ("   Compiling pyo3 v0.17.3", "    Finished dev ...").
bool is_cargo_status_line(std::string_view line);
}  // namespace prestage::builders
