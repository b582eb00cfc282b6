#pragma once
// Facts about a target Python interpreter, asked once and cached.
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "builders/build_error.hpp"

namespace prestage::builders {
namespace fs = std::filesystem;

struct Interpreter {
  fs::path executable;     // as given (absolute)
  std::string key;         // short stable dir-safe id: "cp311-" + 8 hex of sha256(realpath)
  std::string version;     // "3.11.2"
  std::string ext_suffix;  // sysconfig EXT_SUFFIX, e.g. ".cpython-311-x86_64-linux-gnu.so"
  fs::path include_dir;    // sysconfig "include"
};

void to_json(nlohmann::json& j, const Interpreter& i);
void from_json(const nlohmann::json& j, Interpreter& i);

// Runs `python -I -c <fixed script>` once per interpreter (blocking, bounded by a timeout)
// and caches the answer in memory and in `cache_file`. A cached answer is reused across
// restarts while the interpreter's file (real path, size and mtime) is unchanged.
//
// Staleness: a checked interpreter is trusted for `recheck_after` (kRecheckAfter, 1 s) without
// touching the filesystem; after that the next call re-checks the path and the file stamp, so an
// interpreter replaced on disk (a switched symlink, a rewritten file) is noticed within that bound.
// A failed check or query is remembered for the same bound, so a broken interpreter is not re-run
// more than once per bound. Thread-safe; the query runs outside the lock, at most one per path at a time.
class InterpreterCache {
 public:
  using Clock = std::chrono::steady_clock;
  using Facts = std::shared_ptr<const Interpreter>;  // immutable; stays valid after the entry is replaced
  static constexpr std::chrono::milliseconds kRecheckAfter{1000};

  explicit InterpreterCache(fs::path cache_file, std::chrono::milliseconds recheck_after = kRecheckAfter);

  // The facts, running the interpreter (up to its 30 s timeout) when it is new or changed on disk.
  // Blocks: never on the io thread (checked). Throws BuildError naming the path when it is not
  // absolute, missing, not executable, or not a Python >= 3.9.
  Facts get_blocking(const std::string& python);
  Facts get_blocking(const fs::path& python) { return get_blocking(python.string()); }
  Facts get_blocking(const char* python) { return get_blocking(std::string(python)); }

  // Never runs the interpreter (any thread, the io thread's way in): the facts or the remembered
  // error, or neither when a query is needed
  // (new interpreter, changed file, or a remembered failure that is older than the bound).
  struct Lookup {
    Facts facts;
    std::string error;
    bool needs_query() const { return !facts && error.empty(); }
  };
  Lookup lookup(const std::string& python);

  // How many times an interpreter was actually run (for tests and diagnostics).
  int queries_run() const;

 private:
  struct Entry {
    Facts facts;             // null until a query succeeded, or after one failed
    std::string error;       // the last check's or query's failure
    std::string file_stamp;  // real path + size + mtime that `facts` (or `error`) belongs to
    bool checked = false;    // `checked_at` is meaningful (false for entries loaded from the cache file)
    Clock::time_point checked_at{};
  };
  Lookup lookup_locked(const std::string& python, Clock::time_point now);
  void load();
  void save() const;

  fs::path cache_file_;
  std::chrono::milliseconds recheck_after_;
  mutable std::mutex mutex_;
  std::condition_variable query_done_;
  std::set<std::string, std::less<>> querying_;           // paths whose query is running
  std::map<std::string, Entry, std::less<>> entries_;     // keyed by the path as given
  int queries_run_ = 0;
};

// Asks the interpreter directly, without any cache. Throws BuildError.
Interpreter query_interpreter(const fs::path& python);
}  // namespace prestage::builders
