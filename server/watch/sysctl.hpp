#pragma once
// Reads one /proc/sys value for error messages ("?" when unreadable).
#include <fstream>
#include <string>

namespace prestage::watch {
inline std::string read_sysctl(const char* path) {
  std::ifstream in(path);
  std::string value;
  if (!(in >> value)) return "?";
  return value;
}
}  // namespace prestage::watch
