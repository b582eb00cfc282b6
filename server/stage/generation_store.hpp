#pragma once
// Generations: immutable, complete sys.path entries published atomically under the state dir.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "builders/diagnostic.hpp"
#include "stage/dist_info.hpp"

namespace prestage::stage {
namespace fs = std::filesystem;

struct StagedArtifact {
  std::string module;   // dotted, e.g. "pkg._native"
  std::string relpath;  // inside the generation dir, e.g. "pkg/_native.cpython-311-x86_64-linux-gnu.so"
  std::string sha256;
};

struct Manifest {
  std::uint64_t generation = 0;                  // 0 in a draft: publish() allocates the number
  std::string project_id, python_key, python;    // interpreter key (a path component) and executable path
  std::string source_hash, content_hash, created_at;  // content_hash is filled by publish(); created_at too when empty
  std::int64_t duration_ms = 0;
  std::vector<StagedArtifact> artifacts;          // filled by publish()
  std::string distribution;                       // filled by publish(): the layout's distribution name ("": none)
  std::string dist_info;                          // filled by publish(): relpath of its .dist-info dir ("": none)
  std::vector<Diagnostic> diagnostics;            // warnings of a good build
};

void to_json(nlohmann::json& j, const StagedArtifact& a);
void from_json(const nlohmann::json& j, StagedArtifact& a);
void to_json(nlohmann::json& j, const Manifest& m);
void from_json(const nlohmann::json& j, Manifest& m);  // throws std::invalid_argument naming the bad field

// What a generation contains. Relpaths are relative to the generation dir and may not escape it.
struct PackageLayout {
  std::vector<std::pair<fs::path, fs::path>> trees;            // (source dir, dest relpath): copied recursively, skipping ignored dirs,
                                                               // editor temp files and *.so/*.pyd/*.pyc
  std::vector<std::pair<std::string, std::string>> generated;  // (relpath, content), e.g. a pure-Rust crate's __init__.py
  std::vector<std::pair<std::string, fs::path>> extra_files;   // (relpath, source file)
  std::vector<std::pair<std::string, fs::path>> artifacts;     // (dotted module, built file) -> module with '.'->'/' + ext_suffix
  std::string ext_suffix;                                      // e.g. ".cpython-311-x86_64-linux-gnu.so"; required with artifacts
  std::optional<Distribution> distribution;  // a Python project's metadata: publish() writes <name>-<version>.dist-info/
                                             // at the generation root, with a RECORD of every staged file
  std::string error;  // set when the layout could not be computed (e.g. bad [project] metadata): publish() throws it
  // (dotted module, relpath, built file): extensions staged under their own file name, e.g. "pkg/_core.abi3.so".
  std::vector<std::tuple<std::string, std::string, fs::path>> placed_artifacts;
};

// "pkg._native" + ".cpython-311-x86_64-linux-gnu.so" -> "pkg/_native.cpython-311-x86_64-linux-gnu.so"
std::string artifact_relpath(const std::string& module, const std::string& ext_suffix);

// A std::system_error whose what() is exactly the given message (no appended errno text).
class StageError : public std::system_error {
 public:
  StageError(std::error_code code, std::string message) : std::system_error(code), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

struct StoreOptions {
  // fsync every staged file, the dirs, the manifest and the counter. Costs ~5-15 ms per fsync on this
  // machine's disk (measured), which would eat the whole overhead budget, so it is off by default:
  // a kill -9 cannot tear a generation anyway (the page cache survives the process, the dir rename is
  // atomic), and recover() verifies every generation's content hash, discarding one torn by a power loss.
  bool durable = false;
  bool verify_on_recover = true;  // rehash each generation's files against its manifest in recover()
};

// One per project, rooted at STATE/projects/<id>/:
//   generation-counter.json   {"last": N}, written atomically before a number is handed out
//   sources.json              the SourceTree snapshot (save_sources/load_sources)
//   <python_key>/gen-<N>/     a complete sys.path entry + manifest.json (written last, then the dir is renamed in)
// Thread-safe: publishing copies outside the lock, so reads from the main thread never wait for I/O of a publish.
class GenerationStore {
 public:
  explicit GenerationStore(fs::path project_state_dir, StoreOptions options = {});

  // Deletes half-written *.tmp* dirs and generation dirs without a readable manifest or whose files do not
  // hash to the manifest's content_hash (verify_on_recover); loads the manifests;
  // counter = max(persisted, highest seen). Called implicitly by the first other call when not called before.
  // Safe while publishes run on other threads (their temp dirs are skipped).
  void recover();
  std::uint64_t allocate_number();  // monotonic, persisted atomically before it is returned

  // Stages into a temp dir beside the final one, fsyncs (durable), writes manifest.json last, renames to <python_key>/gen-<N>.
  // With layout.distribution, the .dist-info is staged after every other file (its RECORD lists them all) and
  // is covered by the content hash, so an unchanged build with unchanged metadata still publishes nothing.
  // Every file is a fresh copy (new inode, never a link). Returns nullopt (and removes the temp dir) when the content
  // hash equals the latest generation's for that python_key. Bad relpaths/keys: std::invalid_argument. I/O errors
  // (e.g. ENOSPC, a vanished source): StageError (a std::system_error) naming the file; temp dir removed,
  // earlier generations intact.
  std::optional<Manifest> publish(const PackageLayout& layout, Manifest draft);

  std::optional<Manifest> latest(const std::string& python_key) const;
  std::optional<Manifest> get(const std::string& python_key, std::uint64_t n) const;
  std::vector<Manifest> list(const std::string& python_key) const;  // newest first
  std::vector<std::string> python_keys() const;                     // keys with at least one generation
  std::uint64_t last_number() const;                                // highest number handed out (0: none)
  fs::path generation_dir(const std::string& python_key, std::uint64_t n) const;
  const fs::path& root() const { return root_; }

  // Changes whenever the set of published generations changes (publish, gc, recover); gc changes it
  // before it removes anything. Lock-free, so readers can validate what they derived from the store:
  // read the version first, then the store; the derived value is current while the version is unchanged.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // Keeps the newest max(keep, 1) plus `pinned`; the rest are renamed away atomically, then deleted.
  void gc(const std::string& python_key, std::size_t keep, const std::set<std::uint64_t>& pinned);

  void save_sources(const nlohmann::json& snapshot);  // atomic write of sources.json
  std::optional<nlohmann::json> load_sources() const;  // nullopt when absent or unreadable

 private:
  void ensure_loaded() const;  // mutex held
  void recover_locked() const;
  std::uint64_t allocate_locked();

  fs::path root_;
  StoreOptions options_;
  mutable std::mutex mutex_;
  mutable bool loaded_ = false;
  mutable std::uint64_t last_number_ = 0;
  mutable std::atomic<std::uint64_t> version_{0};  // bumped under mutex_
  mutable std::map<std::string, std::map<std::uint64_t, Manifest>> generations_;  // key -> number -> manifest
  std::set<fs::path> in_flight_;  // temp dirs of running publishes: recover() leaves them alone
};
}  // namespace prestage::stage
