#pragma once
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace test {
namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/prestage-projects-test-XXXXXX";
    path = fs::canonical(::mkdtemp(tmpl));
  }
  ~TempDir() { fs::remove_all(path); }
};

inline void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}
}  // namespace test
