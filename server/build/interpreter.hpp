#pragma once
// Facts about a target Python interpreter, asked once and cached.
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "build/build_error.hpp"

namespace prestage::build {
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
// restarts while the interpreter's file (size and mtime) is unchanged. Thread-safe.
class InterpreterCache {
 public:
  explicit InterpreterCache(fs::path cache_file);

  // Throws BuildError naming the path when it is not absolute, missing, not executable,
  // or not a Python >= 3.9. The reference stays valid for the cache's lifetime.
  const Interpreter& get(const fs::path& python);

  // How many times an interpreter was actually run (for tests and diagnostics).
  int queries_run() const { return queries_run_; }

 private:
  struct Entry {
    Interpreter interpreter;
    std::string file_stamp;  // size + mtime of the resolved executable
  };
  void load();
  void save() const;

  fs::path cache_file_;
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;  // keyed by the path as given
  int queries_run_ = 0;
};

// Asks the interpreter directly, without any cache. Throws BuildError.
Interpreter query_interpreter(const fs::path& python);
}  // namespace prestage::build
