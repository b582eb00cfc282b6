#pragma once
// The two pattern dialects maturin's include / exclude use, over '/'-separated relative paths.
// Pure functions: any thread.
#include <string>
#include <string_view>
#include <vector>

namespace prestage::builders {

// Glob over path components (the `glob` crate maturin's include uses): `*`, `?`, `[abc]`, `[!a-z]`
// within one component, `**` as a whole component for zero or more components.
bool glob_matches(std::string_view pattern, std::string_view relpath);

// gitignore-style excludes (maturin's exclude): a pattern without a '/' (other than a trailing one)
// matches a name at any depth, one with a '/' is anchored at the root; a match on a directory
// covers everything under it; a trailing '/' matches directories only; a leading '!' re-includes.
// The last matching pattern decides.
class ExcludeSet {
 public:
  explicit ExcludeSet(std::vector<std::string> patterns = {});
  bool excluded(std::string_view relpath) const;
  bool empty() const { return patterns_.empty(); }

 private:
  std::vector<std::string> patterns_;
};
}  // namespace prestage::builders
