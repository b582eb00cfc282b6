#pragma once
// The finder's pybind11 helper (pyclient/native/prestage_pybind11.cpp, embedded at build time),
// compiled once per interpreter and pybind11 header set, so it shares the project's pybind11
// internals. Io thread only (checked): the compile is a child process driven asynchronously, so
// get() never blocks; it starts the compile and answers nullopt until it is done.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "builders/interpreter.hpp"
#include "builders/process_runner.hpp"

namespace prestage::builders {

class Pybind11Helpers {
 public:
  Pybind11Helpers(boost::asio::io_context& io, fs::path cache_dir) : io_(io), cache_dir_(std::move(cache_dir)) {}

  // The compiled helper when it is ready. Otherwise starts compiling it (once; a failure is
  // logged and not retried until the daemon restarts) and returns nullopt.
  std::optional<fs::path> get(const Interpreter& python, const fs::path& pybind11_include);

  // Whether get() started this helper's compile and it has not finished yet.
  bool compiling(const Interpreter& python, const fs::path& pybind11_include) const;
  // Runs `then` once that compile has finished (ready or failed), after the version bump; posted at
  // once when none is running. Io thread; `then` runs on it, never inside this call.
  void when_settled(const Interpreter& python, const fs::path& pybind11_include, std::function<void()> then);

  // Bumped whenever a helper becomes ready or fails, so answers that named no helper can be redone.
  std::uint64_t version() const { return version_; }
  // Called after each bump (io thread): answers cached outside the daemon may name no helper.
  void on_version(std::function<void()> observer) { on_version_ = std::move(observer); }

 private:
  struct Entry {
    fs::path output;
    bool ready = false;
    bool failed = false;
    std::shared_ptr<ProcessRun> run;
    std::vector<std::function<void()>> settled;  // when_settled() callers
  };
  std::string key_of(const Interpreter& python, const fs::path& pybind11_include) const;
  boost::asio::io_context& io_;
  fs::path cache_dir_;
  std::map<std::string, Entry> entries_;  // by key
  std::uint64_t version_ = 0;
  std::function<void()> on_version_;
};

// The pybind11 headers a configured CMake build uses: pybind11Config.cmake's own rule, the
// package prefix three levels above `pybind11_DIR` from CMakeCache.txt. Empty when unknown.
fs::path pybind11_include_from_cmake_cache(const fs::path& cmake_cache);

// Where pybind11's headers are: $PRESTAGE_PYBIND11_INCLUDE, else the first of /usr/include,
// /usr/local/include holding pybind11/pybind11.h. Empty when none.
fs::path pybind11_include_dir();
}  // namespace prestage::builders
