#pragma once
// Content-hash snapshot of a project's source files: decides "did anything really change?".
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace prestage::watch {
namespace fs = std::filesystem;

// Tracks every regular file under `root` (skipping ignored dirs/files and `ignored_paths`), or just `root`
// when it is a single file. Blocking (hashes files); not synchronised: one owner at a time.
class SourceTree {
 public:
  // ignored_paths: e.g. the state dir if it sits inside the project.
  explicit SourceTree(fs::path root, std::vector<fs::path> ignored_paths = {});

  // Absolute paths. python_only(): non-empty and every path is .py/.pyi (restage without compiling).
  struct Delta {
    std::vector<fs::path> changed, added, removed;
    bool empty() const;
    bool python_only() const;
    std::vector<fs::path> all() const;  // changed + added + removed
  };

  // Full walk; rehashes only files whose size/mtime/inode changed (or that were too fresh to trust).
  // A touch that keeps the content gives no delta.
  Delta rescan();
  // Rehashes just these paths (from watcher events): directories are walked, vanished paths are removed
  // (with everything tracked under them), paths outside the root or ignored are skipped.
  Delta refresh(const std::vector<fs::path>& paths);

  // sha256 over (relpath, sha256) of all tracked files, in path order.
  std::string combined_hash() const;
  std::size_t file_count() const;
  const fs::path& root() const { return root_; }
  bool single_file() const { return single_file_; }

  // Persisted so that a restart can tell "unchanged since the last generation" without rebuilding:
  // from_json(...) then rescan() gives an empty delta when nothing changed while the daemon was down.
  nlohmann::json to_json() const;
  static SourceTree from_json(fs::path root, const nlohmann::json& snapshot, std::vector<fs::path> ignored_paths = {});

 private:
  struct Entry {
    std::uintmax_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t inode = 0;
    std::string sha256;
    bool racy = false;  // mtime too close to the scan: same-tick rewrites could hide, so rehash next time
  };
  enum class Scan { trust_stat, always_hash };
  struct Change;

  bool tracked_candidate(const fs::path& abs) const;  // inside root, not ignored
  std::string relpath(const fs::path& abs) const;
  fs::path absolute_of(const std::string& rel) const;
  void note(Change& change, const std::string& rel) const;
  Delta finish(const Change& change) const;
  void update_file(const fs::path& abs, Scan how, Change& change, std::set<std::string>* seen);
  bool walk(const fs::path& dir, Scan how, Change& change, std::set<std::string>& seen);
  void remove_under(const std::string& rel, Change& change, const std::set<std::string>* keep);

  fs::path root_;
  std::vector<fs::path> ignored_paths_;
  bool single_file_ = false;
  std::map<std::string, Entry> files_;  // relpath (generic form) -> entry
};
}  // namespace prestage::watch
