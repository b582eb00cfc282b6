#include "projects/pool_tasks.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

namespace prestage::projects {

ScanResult scan_sources_blocking(watch::SourceTree& tree, bool rescan, const std::vector<fs::path>& paths,
                                 const std::string& project_id) {
  ScanResult out;
  try {
    out.delta = rescan ? tree.rescan() : tree.refresh(paths);
    out.source_hash = tree.combined_hash();
    out.files = tree.file_count();
  } catch (const std::exception& e) {
    spdlog::error("{}: scanning sources failed: {}", project_id, e.what());
  }
  return out;
}

PublishResult publish_blocking(stage::GenerationStore& store, const stage::PackageLayout& layout, const stage::Manifest& draft,
                               std::size_t keep, const std::set<std::uint64_t>& pinned) {
  PublishResult out;
  try {
    out.manifest = store.publish(layout, draft);
    store.gc(draft.python_key, keep, pinned);
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

void save_snapshot_blocking(stage::GenerationStore& store, const watch::SourceTree& tree, const std::string& project_id) {
  try {
    store.save_sources(tree.to_json());
  } catch (const std::exception& e) {
    spdlog::warn("{}: cannot save the source snapshot: {}", project_id, e.what());
  }
  if (tree.file_count() >= watch::SourceTree::kTrimAfterFiles) ::malloc_trim(0);  // the snapshot's text
}
}  // namespace prestage::projects
