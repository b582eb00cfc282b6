#pragma once
// Polling fallback for projects inotify cannot watch: stat-only and incremental. PollWatch keeps one
// project's (size, mtime, inode) per file and reports only the paths that changed, appeared or vanished.
// PollBackend is the daemon's one scheduler for all of them: one timer, small steps (a bounded number of
// directory entries each), and a pause after every step proportional to its cost, so that any number of
// polling projects stays a small fraction of the io thread. Everything runs on the io_context's thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace prestage::watch {
namespace fs = std::filesystem;
class PollWatch;

class PollBackend : public std::enable_shared_from_this<PollBackend> {
 public:
  static constexpr std::size_t kStepEntries = 1000;  // directory entries (stats) per step
  static constexpr int kPauseFactor = 9;             // pause >= 9x the step's cost: polling uses <= 10 % of the thread

  explicit PollBackend(boost::asio::io_context& io);
  boost::asio::io_context& io() { return io_; }
  std::size_t watches() const { return watches_.size(); }
  std::uint64_t steps() const { return steps_; }

 private:
  friend class PollWatch;
  void attach(PollWatch* watch);
  void detach(PollWatch* watch);
  void schedule();
  void run_step();

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  std::vector<PollWatch*> watches_;
  std::chrono::steady_clock::time_point not_before_{};
  std::chrono::steady_clock::time_point armed_for_{};
  bool armed_ = false;
  std::uint64_t steps_ = 0;
};

// One project's stat snapshot: every regular file under `watch_dir` (not ignored dirs, ignored files or
// `ignored` paths), or only `watch_dir/file_name` for a single-file root. The first round after start
// (or after the directory reappears) records without reporting, then asks for one rescan, so nothing
// that changed before the snapshot was taken is missed.
class PollWatch : public std::enable_shared_from_this<PollWatch> {
 public:
  static constexpr std::size_t kMaxReportedPaths = 10000;  // more changes at once: ask for a rescan instead

  struct Batch {
    std::vector<fs::path> paths;  // absolute
    bool rescan = false;
    bool root_vanished = false;   // watch_dir just went missing (reported once)
    bool root_returned = false;   // ... and is back
  };
  using BatchFn = std::function<void(Batch)>;
  PollWatch(std::shared_ptr<PollBackend> backend, fs::path watch_dir, std::string file_name, std::vector<fs::path> ignored,
            std::chrono::milliseconds interval, BatchFn on_batch);
  ~PollWatch();

  void start();
  void stop();  // no batch is delivered afterwards
  // Finishes the round in progress, then stats every file once more and delivers what changed, before
  // returning: every change completed before the call is reported. Costs one stat per file.
  void poll_now();
  bool root_missing() const { return root_missing_; }
  std::size_t tracked_files() const { return files_.size(); }
  std::uint64_t rounds() const { return rounds_; }  // completed rounds

 private:
  friend class PollBackend;
  struct Stat {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t inode = 0;
    std::uint32_t round = 0;  // last round that saw the file
    bool racy = false;        // modified within a timestamp tick of the stat: reported again next round
  };
  // Does up to `budget` entries of the current round; true when the round is complete.
  bool step(std::size_t budget);
  void begin_round();
  void scan_dir(const std::string& rel, std::size_t& budget);
  void note_file(std::string rel, const struct stat& st);
  void finish_round();
  void deliver();

  std::shared_ptr<PollBackend> backend_;
  fs::path watch_dir_;
  std::string file_name_;  // non-empty: single-file root
  std::vector<fs::path> ignored_;
  std::chrono::milliseconds interval_;
  BatchFn on_batch_;
  bool active_ = false;
  std::chrono::steady_clock::time_point due_{};
  bool in_round_ = false;
  bool baseline_ = true;   // this round only records
  bool root_missing_ = false;
  std::uint32_t round_ = 0;
  std::uint64_t rounds_ = 0;
  std::vector<std::string> pending_dirs_;  // relpaths still to visit this round
  std::unordered_map<std::string, Stat> files_;  // relpath -> stat
  Batch pending_;
};
}  // namespace prestage::watch
