#pragma once
// A project's blocking work, run on the worker pool (never on the io thread): values in, values
// out. Each runs on the project's pool strand, so two never touch one SourceTree at once.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "stage/generation_store.hpp"
#include "watch/source_tree.hpp"

namespace prestage::projects {
namespace fs = std::filesystem;

struct ScanResult {
  watch::SourceTree::Delta delta;
  std::string source_hash;
  std::size_t files = 0;
};

// Rehashes the changed `paths` (every file when `rescan`). A failure is logged and changes nothing.
ScanResult scan_sources_blocking(watch::SourceTree& tree, bool rescan, const std::vector<fs::path>& paths,
                                 const std::string& project_id);

struct PublishResult {
  std::optional<stage::Manifest> manifest;  // nullopt: the content equals the newest generation's
  std::string error;                        // set when staging failed
};

// Stages `layout` as a new generation (unless its content is the newest one's) and collects old
// ones beyond `keep`, sparing `pinned`.
PublishResult publish_blocking(stage::GenerationStore& store, const stage::PackageLayout& layout, const stage::Manifest& draft,
                               std::size_t keep, const std::set<std::uint64_t>& pinned);

// Saves the tree's hashes so a restart rebuilds only when the sources changed meanwhile.
void save_snapshot_blocking(stage::GenerationStore& store, const watch::SourceTree& tree, const std::string& project_id);
}  // namespace prestage::projects
