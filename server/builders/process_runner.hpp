#pragma once
// Runs one child process asynchronously on an io_context: own process group, stdout and
// stderr streamed line by line, cancellation that stops the whole group.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string_view>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace prestage::builders {
namespace fs = std::filesystem;

// Looks `name` up on `path_value` (a PATH string; empty = this process's PATH).
// Returns nullopt when no executable regular file of that name exists.
std::optional<fs::path> find_on_path(const std::string& name, const std::string& path_value = {});

struct ProcessSpec {
  fs::path executable;  // absolute
  std::vector<std::string> args;
  fs::path working_dir;
  // Added on top of the daemon's own environment (which is kept as it is).
  std::vector<std::pair<std::string, std::string>> extra_env;
};

enum class StreamKind { out, err };

struct ProcessExit {
  int exit_code = -1;     // valid when !signaled
  bool signaled = false;  // ended by a signal
  int signal = 0;
  bool cancelled = false;  // cancel() was called before it ended
};

class ProcessRun : public std::enable_shared_from_this<ProcessRun> {
 public:
  using LineFn = std::function<void(StreamKind, const std::string& line)>;
  using ExitFn = std::function<void(ProcessExit)>;

  // Lines longer than this are cut (the rest of the line is dropped).
  static constexpr std::size_t max_line_bytes = 4 * 1024 * 1024;

  // Spawns the child; throws std::runtime_error naming the executable when it cannot start.
  // `on_line` runs for every complete line; `on_exit` runs exactly once, after the child
  // was reaped and both pipes reached EOF. Both run on `io`.
  static std::shared_ptr<ProcessRun> start(boost::asio::io_context& io, const ProcessSpec& spec, LineFn on_line,
                                           ExitFn on_exit);

  // SIGTERM to the whole process group, then SIGKILL after `grace`. Idempotent.
  void cancel(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  int pid() const;  // also the process group id
  ~ProcessRun();

  struct Impl;

 private:
  explicit ProcessRun(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Keeps the last `capacity` bytes of appended text, cut at a line start when trimmed.
// Lines longer than max_log_line are shortened with a note.
class BoundedLog {
 public:
  static constexpr std::size_t max_log_line = 4096;
  explicit BoundedLog(std::size_t capacity = 64 * 1024) : capacity_(capacity) {}
  void append_line(std::string_view line);
  std::string text() const;
  std::size_t dropped_bytes() const { return dropped_; }

 private:
  std::size_t capacity_;
  std::string buffer_;
  std::size_t dropped_ = 0;
};
}  // namespace prestage::builders
