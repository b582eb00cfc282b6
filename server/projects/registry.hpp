#pragma once
// The persisted list of open projects: STATE_DIR/projects.json, rewritten atomically on every change.
#include <filesystem>
#include <string>
#include <vector>

#include "projects/project.hpp"

namespace prestage::projects {
namespace fs = std::filesystem;

struct RegistryEntry {
  ProjectInfo info;                  // last detected description (used as-is when the root has vanished)
  std::vector<std::string> pythons;  // target interpreters, absolute paths
};

class Registry {
 public:
  explicit Registry(fs::path file);
  const fs::path& file() const { return file_; }
  // Missing file: empty. An unreadable or malformed file is moved aside to `<file>.broken`,
  // logged, and treated as empty so the daemon still starts.
  std::vector<RegistryEntry> load() const;
  // Atomic (temp file + rename), mode 0600. Throws std::system_error naming the path.
  void save(const std::vector<RegistryEntry>& entries) const;

 private:
  fs::path file_;
};
}  // namespace prestage::projects
