#pragma once
// The kind detection picks for a directory: the first backend that claims it, as detect_project
// asks them. Shared by the backends' detection tests.
#include <filesystem>
#include <optional>

#include "builders/backends.hpp"
#include "builders/project_files.hpp"

namespace prestage::test {

inline std::optional<ProjectKind> claimed_kind(const std::filesystem::path& root, ProjectInfo* out = nullptr) {
  auto files = builders::ProjectFiles::read(std::filesystem::canonical(root));
  for (const builders::BuildBackend* backend : builders::default_backends()) {
    ProjectInfo info;
    info.root = files.root;
    if (backend->claim(files, info)) {
      if (out) *out = info;
      return info.kind;
    }
  }
  return std::nullopt;
}
}  // namespace prestage::test
