#include "builders/build_progress.hpp"

#include <charconv>
#include <fstream>
#include <system_error>

#include "util/fs.hpp"

namespace prestage::builders {
namespace {

std::optional<std::uint64_t> parse_count(std::string_view s) {
  std::uint64_t n = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return n;
}
}  // namespace

std::optional<Fraction> ninja_fraction(std::string_view line) {
  if (line.size() < 5 || line[0] != '[') return std::nullopt;
  auto close = line.find(']');
  auto slash = line.find('/');
  if (close == std::string_view::npos || slash == std::string_view::npos || slash > close) return std::nullopt;
  auto done = parse_count(line.substr(1, slash - 1));
  auto total = parse_count(line.substr(slash + 1, close - slash - 1));
  if (!done || !total || *total == 0 || *done > *total) return std::nullopt;
  return Fraction{*done, *total};
}

BuildProgress MonotoneProgress::apply(BuildProgress p) {
  if (!p.has_fraction()) return p;
  Fraction f{*p.done, *p.total};
  // done/total >= last.done/last.total, compared without division.
  const bool forward = !last_ || (f.done >= last_->done && f.done * last_->total >= last_->done * f.total);
  if (!forward) {
    p.done.reset();
    p.total.reset();
    return p;
  }
  last_ = f;
  return p;
}

CargoUnitCount::CargoUnitCount(std::filesystem::path work_dir) : file_(std::move(work_dir) / "cargo-units") {
  std::ifstream in(file_);
  std::string text;
  if (in && std::getline(in, text))
    if (auto n = parse_count(text); n && *n > 0) total_ = n;
}

std::optional<Fraction> CargoUnitCount::artifact() {
  ++done_;
  if (!total_ || done_ > *total_) return std::nullopt;
  return Fraction{done_, *total_};
}

void CargoUnitCount::remember() const {
  if (done_ == 0) return;
  try {
    util::write_file_atomic(file_, std::to_string(done_) + "\n", std::filesystem::perms(0644));
  } catch (const std::exception&) {
    // Only the next build's fraction is lost.
  }
}
}  // namespace prestage::builders
