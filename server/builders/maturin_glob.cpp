#include "builders/maturin_glob.hpp"

#include <optional>

namespace prestage::builders {
namespace {

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    auto part = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!part.empty() && part != ".") parts.push_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

// `[...]` at pattern[i] (i points at '['): whether c matches; `end` gets the index after ']'.
std::optional<bool> match_class(std::string_view p, std::size_t i, char c, std::size_t& end) {
  std::size_t j = i + 1;
  bool negate = j < p.size() && (p[j] == '!' || p[j] == '^');
  if (negate) ++j;
  bool matched = false, first = true;
  for (; j < p.size() && (first || p[j] != ']'); first = false) {
    char lo = p[j];
    if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
      matched = matched || (c >= lo && c <= p[j + 2]);
      j += 3;
    } else {
      matched = matched || c == lo;
      ++j;
    }
  }
  if (j >= p.size()) return std::nullopt;  // no closing ']': a literal '['
  end = j + 1;
  return matched != negate;
}

bool component_matches(std::string_view p, std::string_view s) {
  std::size_t pi = 0, si = 0, star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size()) {
      char pc = p[pi];
      if (pc == '*') {
        star_p = pi++;
        star_s = si;
        continue;
      }
      if (pc == '?') {
        ++pi, ++si;
        continue;
      }
      if (pc == '[') {
        std::size_t end = 0;
        if (auto m = match_class(p, pi, s[si], end)) {
          if (*m) {
            pi = end, ++si;
            continue;
          }
        } else if (s[si] == '[') {
          ++pi, ++si;
          continue;
        }
      } else {
        if (pc == '\\' && pi + 1 < p.size()) pc = p[++pi];
        if (pc == s[si]) {
          ++pi, ++si;
          continue;
        }
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p + 1;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool parts_match(const std::vector<std::string_view>& p, std::size_t pi, const std::vector<std::string_view>& s, std::size_t si) {
  while (pi < p.size()) {
    if (p[pi] == "**") {
      for (std::size_t k = si; k <= s.size(); ++k)
        if (parts_match(p, pi + 1, s, k)) return true;
      return false;
    }
    if (si >= s.size() || !component_matches(p[pi], s[si])) return false;
    ++pi, ++si;
  }
  return si == s.size();
}
}  // namespace

bool glob_matches(std::string_view pattern, std::string_view relpath) {
  return parts_match(split(pattern), 0, split(relpath), 0);
}

ExcludeSet::ExcludeSet(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {}

bool ExcludeSet::excluded(std::string_view relpath) const {
  const auto path = split(relpath);
  bool result = false;
  for (const auto& raw : patterns_) {
    std::string_view pattern = raw;
    bool negate = !pattern.empty() && pattern.front() == '!';
    if (negate) pattern.remove_prefix(1);
    bool dir_only = !pattern.empty() && pattern.back() == '/';
    if (dir_only) pattern.remove_suffix(1);
    bool anchored = pattern.find('/') != std::string_view::npos;
    if (!pattern.empty() && pattern.front() == '/') pattern.remove_prefix(1);
    const auto parts = split(pattern);
    if (parts.empty()) continue;
    bool hit = false;
    // The file itself (k == path.size(), unless dir_only) or one of its parent directories.
    for (std::size_t k = 1; k <= path.size() && !hit; ++k) {
      if (dir_only && k == path.size()) break;
      std::vector<std::string_view> prefix(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(k));
      if (anchored) {
        hit = parts_match(parts, 0, prefix, 0);
      } else {
        hit = parts.size() == 1 ? component_matches(parts[0], prefix.back()) : parts_match(parts, 0, prefix, 0);
      }
    }
    if (hit) result = !negate;
  }
  return result;
}
}  // namespace prestage::builders
