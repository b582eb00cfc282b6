#pragma once
// One project's watch: a small facade over the daemon's shared backends (inotify_backend.hpp,
// poll_backend.hpp). It watches with the shared inotify instance, falls back to polling when inotify
// cannot watch the project, and rechecks a lost root until it reappears.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace prestage::watch {
namespace fs = std::filesystem;
class InotifyBackend;
class PollBackend;

// Created once per daemon and shared by every project's Watcher: one inotify instance whatever the
// number of projects, one poll scheduler.
struct WatchBackends {
  explicit WatchBackends(boost::asio::io_context& io);
  boost::asio::io_context& io;
  std::shared_ptr<InotifyBackend> inotify;
  std::shared_ptr<PollBackend> poll;
};

struct WatcherOptions {
  std::chrono::milliseconds poll_interval{2000};  // poll-mode round period; also how often a lost root is re-checked
  std::size_t max_watches = 0;                    // 0: only the kernel's limit; else fall back to polling past this many dirs
  bool poll_only = false;                         // never inotify (prestaged --watch poll)
};

// Reports paths (absolute) whose content may have changed; rescan_needed means "events were lost, walk everything".
// Does not debounce: the scheduler settles. All calls, and the callback, happen on the io_context's thread.
class Watcher {
 public:
  using EventsFn = std::function<void(std::vector<fs::path> paths, bool rescan_needed)>;
  Watcher(WatchBackends& backends, fs::path root, EventsFn on_events, std::vector<fs::path> ignored_paths = {},
          WatcherOptions options = {});
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Never throws for ENOSPC/EMFILE: switches to mode "poll" with error() set. Polling reports the paths
  // whose (size, mtime, inode) changed, appeared or vanished.
  void start();
  void stop();  // no callback runs after stop() returns
  // Delivers, before returning, every change completed before the call: drains the shared inotify
  // queue (all projects' events), or stats every file once when polling, or rechecks a lost root now.
  void sync();

  std::string_view mode() const;     // "inotify" | "poll" | "stopped"
  // Every change under the root reaches the shared inotify queue: inotify mode with its root watched.
  bool sees_every_change() const;
  std::uint64_t overflows() const;   // IN_Q_OVERFLOW count
  const std::string& error() const;  // empty, or why the watcher polls / lost its root
  std::size_t watched_dirs() const;  // inotify watches this project holds

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};
}  // namespace prestage::watch
