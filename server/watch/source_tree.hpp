#pragma once
// Content-hash snapshot of a project's source files: decides "did anything really change?".
#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace prestage::watch {
namespace fs = std::filesystem;

// Tracks every regular file under `root` (skipping ignored dirs/files and `ignored_paths`), or just `root`
// when it is a single file. Blocking (hashes files); not synchronised: one owner at a time.
class SourceTree {
 public:
  // Past this many files, an operation on a worker thread hands the memory it freed back (malloc_trim).
  static constexpr std::size_t kTrimAfterFiles = 1000;

  // ignored_paths: e.g. the state dir if it sits inside the project.
  explicit SourceTree(fs::path root, std::vector<fs::path> ignored_paths = {});

  // Absolute paths. python_only(): non-empty and every path is .py/.pyi but setup.py (restage without compiling).
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
  // Also tracks every file under `dir`, a directory outside the root (a cargo path dependency):
  // rescan() walks it, refresh() takes its paths; its files are keyed relative to the root
  // ("../dep/src/lib.rs"), so snapshots keep them. Call before the next rescan.
  void add_extra_root(const fs::path& dir);
  const std::vector<fs::path>& extra_roots() const { return extra_roots_; }
  std::size_t file_count() const;
  const fs::path& root() const { return root_; }
  bool single_file() const { return single_file_; }

  // Persisted so that a restart can tell "unchanged since the last generation" without rebuilding:
  // from_json(...) then rescan() gives an empty delta when nothing changed while the daemon was down.
  // Writes format 2 (one array per file); reads formats 1 and 2.
  nlohmann::json to_json() const;
  static SourceTree from_json(fs::path root, const nlohmann::json& snapshot, std::vector<fs::path> ignored_paths = {});

 private:
  using Digest = std::array<std::uint8_t, 32>;
  // 64 bytes; the relpath lives in names_ (no allocation per file).
  struct Entry {
    std::uint32_t name_offset = 0;
    std::uint32_t name_size : 27 = 0;
    std::uint32_t racy : 1 = 0;   // mtime too close to the scan: same-tick rewrites could hide, so rehash next time
    std::uint32_t dead : 1 = 0;   // removed during the current operation (compacted at its end)
    std::uint32_t seen : 1 = 0;   // visited by the current walk
    std::uint32_t fresh : 1 = 0;  // added by the current operation
    std::uint32_t noted : 1 = 0;  // its digest before the current operation is in Change::before
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t inode = 0;
    Digest sha256{};
  };
  static_assert(sizeof(Entry) == 64);
  enum class Scan { trust_stat, always_hash };
  struct Change;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  std::string_view name_of(const Entry& e) const { return {names_.data() + e.name_offset, e.name_size}; }
  std::size_t find(std::string_view rel) const;  // index in entries_ (live or dead), or npos
  std::size_t lower_bound(std::string_view rel) const;
  bool tracked_candidate(const fs::path& abs) const;  // inside root, not ignored
  std::string relpath(const fs::path& abs) const;
  fs::path absolute_of(std::string_view rel) const;
  void note(Change& change, Entry& entry) const;
  void merge_staged(Change& change);
  Delta finish(Change& change);
  void update_file(const fs::path& abs, Scan how, Change& change);
  bool walk(const fs::path& dir, Scan how, Change& change);
  void mark_unseen_under(std::string_view rel);
  void remove_under(const std::string& rel, Change& change, bool only_unseen);
  void compact_names();

  fs::path root_;
  std::vector<fs::path> ignored_paths_;
  std::vector<fs::path> extra_roots_;  // add_extra_root()
  bool single_file_ = false;
  std::vector<Entry> entries_;  // sorted by relpath (generic form)
  std::string names_;           // every entry's relpath, back to back
  std::size_t dead_name_bytes_ = 0;
  std::size_t live_ = 0;
};
}  // namespace prestage::watch
