#include "builders/cargo_out_dir.hpp"

#include <algorithm>

#include "builders/maturin_glob.hpp"

namespace prestage::builders {

std::vector<std::pair<std::string, fs::path>> out_dir_files(const fs::path& out_dir, const std::string& glob, const std::string& to) {
  std::vector<std::pair<std::string, fs::path>> found;
  std::string prefix = to;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::error_code ec;
  for (fs::recursive_directory_iterator it(out_dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code fec;
    if (!it->is_regular_file(fec)) continue;
    std::string rel = it->path().lexically_relative(out_dir).generic_string();
    if (glob_matches(glob, rel)) found.emplace_back(prefix.empty() ? rel : prefix + "/" + rel, it->path());
  }
  std::sort(found.begin(), found.end());
  return found;
}
}  // namespace prestage::builders
