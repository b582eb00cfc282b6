// Fuzzes project detection: the input becomes Cargo.toml / pyproject.toml / CMakeLists.txt (and a few
// package directories) in a scratch root, then projects::detect_project runs on it.
// Input: one flags byte, then up to three file texts separated by "\n#====\n".
//   flags bit 0/1/2: write Cargo.toml / pyproject.toml / CMakeLists.txt
//   flags bit 3/4/5: create src/pkg/__init__.py / python/pkg/__init__.py / pkg/__init__.py
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "projects/detect.hpp"

namespace fs = std::filesystem;
using prestage::projects::ProjectError;

namespace {
void write(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(text.data(), static_cast<std::streamsize>(text.size()));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fs::path base = prestage::fuzz::make_temp_dir("detect");
  if (size == 0) return 0;
  const unsigned flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view parts[3];
  for (auto& part : parts) {
    const auto cut = rest.find("\n#====\n");
    part = rest.substr(0, cut);
    rest = cut == std::string_view::npos ? std::string_view{} : rest.substr(cut + 7);
  }

  const fs::path root = base / "proj";
  fs::remove_all(root);
  fs::create_directories(root / "src");
  const char* files[] = {"Cargo.toml", "pyproject.toml", "CMakeLists.txt"};
  for (int i = 0; i < 3; ++i)
    if (flags & (1u << i)) write(root / files[i], parts[i]);
  if (flags & 8) write(root / "src" / "pkg" / "__init__.py", "");
  if (flags & 16) write(root / "python" / "pkg" / "__init__.py", "");
  if (flags & 32) write(root / "pkg" / "__init__.py", "");
  write(root / "src" / "lib.rs", "");

  try {
    const auto info = prestage::projects::detect_project(root);
    // Whatever detection accepts must be usable: at least one module, each a valid identifier.
    if (info.modules.empty()) {
      std::fprintf(stderr, "detect_project accepted a project with no modules\n");
      std::abort();
    }
    for (const auto& module : info.modules)
      if (!prestage::projects::is_python_identifier(module)) {
        std::fprintf(stderr, "detect_project accepted module name \"%s\"\n", module.c_str());
        std::abort();
      }
  } catch (const ProjectError&) {
    // Bad input must be a ProjectError (a clear message); anything else escapes and is reported.
  }
  return 0;
}
