#pragma once
// maturin's include { path, from = "out-dir", to, crate-name }: files a build script wrote into its
// OUT_DIR, placed in the generation as maturin places them in the wheel.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace prestage::builders {
namespace fs = std::filesystem;

// One such include, resolved to the package whose OUT_DIR it reads.
struct OutDirInclude {
  std::string package_id;  // cargo's id of the crate (cargo metadata)
  std::string crate_name;  // for messages
  std::string glob;        // relative to OUT_DIR
  std::string to;          // directory inside the wheel ("" = its root)
};

// The files under `out_dir` that `glob` matches (relative '/'-paths, include's glob dialect), each as
// (`to`/relative path, file), sorted. Directories themselves are not listed.
std::vector<std::pair<std::string, fs::path>> out_dir_files(const fs::path& out_dir, const std::string& glob, const std::string& to);
}  // namespace prestage::builders
