#pragma once
// The daemon's one inotify instance, shared by every project (fs.inotify.max_user_instances is only 128
// per user), and InotifyWatch: one project's recursive set of watches on it.
//
// Within one instance the kernel gives the same wd to every inotify_add_watch of one inode (two
// single-file projects in one directory, nested projects, one directory reached through two paths),
// and inotify_rm_watch removes it for all of them. So the backend counts subscribers per wd, fans each
// event out to all of them, and removes the kernel watch only when the last one leaves.
// IN_Q_OVERFLOW reaches every subscriber. Everything runs on the io_context's thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct inotify_event;

namespace prestage::watch {
namespace fs = std::filesystem;
class InotifyWatch;

class InotifyBackend : public std::enable_shared_from_this<InotifyBackend> {
 public:
  explicit InotifyBackend(boost::asio::io_context& io);
  ~InotifyBackend();
  InotifyBackend(const InotifyBackend&) = delete;
  InotifyBackend& operator=(const InotifyBackend&) = delete;

  boost::asio::io_context& io() { return io_; }
  // Opens the shared instance on first use (retried on later calls after a failure). False, with a
  // message naming the limit, when the kernel refuses one.
  bool open(std::string& error);
  bool is_open() const;
  std::size_t kernel_watches() const { return subscribers_.size(); }  // distinct wds
  std::uint64_t overflows() const { return overflows_; }
  // Reads the queue to its end now and delivers every batch before returning. The kernel queues an
  // event inside the writer's own syscall, so after this every write completed earlier has been seen.
  void drain_now();
  // The instance's fd (-1 until opened), for clients that check its queue is empty (FIONREAD)
  // instead of asking: docs/reloading.md "A reload that asks nothing". Never read outside drain().
  int native_fd() const;
  // Called with true before drain() reads the queue and false once every batch it read has been
  // delivered, so an observer can tell a reader that events are between the queue and the projects.
  void observe_drains(std::function<void(bool reading)> observer) { drain_observer_ = std::move(observer); }

 private:
  friend class InotifyWatch;
  // Watches `dir` for `watch`; returns its wd, or -errno.
  int add(InotifyWatch* watch, const fs::path& dir);
  void remove(InotifyWatch* watch, int wd);  // drops the kernel watch with its last subscriber
  void attach(InotifyWatch* watch);          // receives IN_Q_OVERFLOW
  void detach(InotifyWatch* watch);
  void arm_read();
  void drain();

  boost::asio::io_context& io_;
  boost::asio::posix::stream_descriptor stream_;
  int fd_ = -1;  // stream_'s, for native_fd()
  std::unordered_map<int, std::vector<InotifyWatch*>> subscribers_;  // wd -> watches using it
  std::vector<InotifyWatch*> attached_;
  std::uint64_t overflows_ = 0;
  bool reading_ = false;
  std::unique_ptr<char[]> buffer_;
  std::function<void(bool)> drain_observer_;
};

// One project's watches: every directory under `watch_dir` (not ignored dirs or `ignored` paths), or just
// `watch_dir` itself for a single-file root (then only events naming `file_name` count).
class InotifyWatch : public std::enable_shared_from_this<InotifyWatch> {
 public:
  struct Batch {
    std::vector<fs::path> paths;  // absolute, deduplicated
    bool rescan = false;          // events were lost (overflow)
    bool root_lost = false;       // watch_dir was deleted or moved: every watch is gone
    std::string limit_error;      // non-empty: the watch limit was hit; the project must poll
  };
  using BatchFn = std::function<void(Batch)>;
  InotifyWatch(std::shared_ptr<InotifyBackend> backend, fs::path watch_dir, std::string file_name, std::vector<fs::path> ignored,
               std::size_t max_watches, BatchFn on_batch);
  ~InotifyWatch();

  enum class Start { ok, root_missing, limit };
  // Adds the watches (the backend must be open). On `limit`, `error()` says which limit; nothing stays watched.
  Start start();
  void stop();  // drops every watch; no batch is delivered afterwards
  std::size_t watched_dirs() const { return dir_to_wd_.size(); }
  std::uint64_t overflows() const { return overflows_; }
  const std::string& error() const { return limit_error_; }

 private:
  friend class InotifyBackend;
  void on_event(const inotify_event& ev);  // collects into the pending batch
  void on_overflow();
  void flush();  // delivers the pending batch

  bool add_watch(const fs::path& dir);  // false once the limit is hit
  void add_tree(const fs::path& top);
  void add_root_watches();
  void remove_watches_under(const fs::path& dir);
  void remove_all_watches();
  void report(fs::path path);

  std::shared_ptr<InotifyBackend> backend_;
  fs::path watch_dir_;
  std::string file_name_;  // non-empty: single-file root
  std::vector<fs::path> ignored_;
  std::size_t max_watches_;
  BatchFn on_batch_;
  bool active_ = false;
  std::unordered_map<int, fs::path> wd_to_dir_;
  std::map<fs::path, int> dir_to_wd_;
  std::string limit_error_;
  std::uint64_t overflows_ = 0;
  bool queued_ = false;  // has a batch pending in the backend's current drain
  Batch pending_;
};
}  // namespace prestage::watch
