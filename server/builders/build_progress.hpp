#pragma once
// A build's progress as build/progress sends it: a line of text, and a fraction when the tool says
// how far it is (ninja's `[n/total]`, cargo's unit count against the previous build's). Parsing and
// the rule that keeps a build's fractions monotone live here; the backends feed their tool lines in.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace prestage::builders {

struct BuildProgress {
  std::string message;                 // e.g. "[12/40] Building CXX object ..." or "Compiling pyo3 v0.17.3"
  std::optional<std::uint64_t> done;   // set together with total, done <= total
  std::optional<std::uint64_t> total;

  bool has_fraction() const { return done && total; }
};

struct Fraction {
  std::uint64_t done = 0, total = 0;
};

// ninja's status line "[12/40] Building CXX object x.o" -> {12, 40}; nullopt for any other line
// (also for n > total or total 0).
std::optional<Fraction> ninja_fraction(std::string_view line);

// Keeps one build's fractions monotone: `done` never goes back and done/total never shrinks. A
// fraction that would break that is dropped from the report (its message still goes out).
class MonotoneProgress {
 public:
  BuildProgress apply(BuildProgress p);

 private:
  std::optional<Fraction> last_;
};

// cargo's crate count: one unit per compiler-artifact message (cargo sends one for fresh units
// too), against the unit count of the previous successful build in the same work dir (kept in
// `<work_dir>/cargo-units`). With no previous count, or once this build passes it (the graph grew),
// there is no total and no fraction.
class CargoUnitCount {
 public:
  explicit CargoUnitCount(std::filesystem::path work_dir);

  // One more compiler-artifact; the fraction to report, if the total is known.
  std::optional<Fraction> artifact();
  // After a successful build: this build's count is the next one's total.
  void remember() const;
  std::optional<std::uint64_t> total() const { return total_; }

 private:
  std::filesystem::path file_;
  std::optional<std::uint64_t> total_;
  std::uint64_t done_ = 0;
};
}  // namespace prestage::builders
