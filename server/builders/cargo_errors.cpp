#include "builders/cargo_errors.hpp"

#include <cctype>

namespace prestage::builders {

bool is_cargo_status_line(std::string_view line) {
  // cargo pads the verb to 12 columns: "   Compiling x", "  Downloaded x".
  if (line.size() < 14 || line[12] != ' ' || line[0] != ' ') return false;
  std::size_t i = line.find_first_not_of(' ');
  if (i == std::string_view::npos || i >= 12 || !std::isupper(static_cast<unsigned char>(line[i]))) return false;
  for (std::size_t j = i; j < 12; ++j)
    if (!std::isalpha(static_cast<unsigned char>(line[j]))) return false;
  return true;
}

void CargoPlainErrors::close_block() {
  if (!in_block_) return;
  while (!block_.empty() && (block_.back() == '\n' || block_.back() == ' ')) block_.pop_back();
  bool compile_summary = block_.rfind("could not compile `", 0) == 0;
  if (!block_.empty() && !compile_summary) errors_.push_back(block_);
  block_.clear();
  in_block_ = false;
}

void CargoPlainErrors::feed(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.rfind("error: ", 0) == 0 || line.rfind("error[", 0) == 0) {
    close_block();
    in_block_ = true;
    auto colon = line.find(": ");
    block_ = std::string(line.substr(colon == std::string_view::npos ? 0 : colon + 2));
    return;
  }
  if (!in_block_) return;
  if (line.rfind("warning: ", 0) == 0 || line.rfind("note: ", 0) == 0 || is_cargo_status_line(line)) return close_block();
  block_ += "\n";
  block_ += line;
}
}  // namespace prestage::builders
