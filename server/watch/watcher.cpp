#include "watch/watcher.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "watch/ignore.hpp"

namespace prestage::watch {
namespace asio = boost::asio;

namespace {
constexpr std::uint32_t dir_mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF |
                                   IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR | IN_EXCL_UNLINK;

std::string read_sysctl(const char* path) {
  std::ifstream in(path);
  std::string value;
  if (!(in >> value)) return "?";
  return value;
}

std::string describe_interval(std::chrono::milliseconds interval) {
  if (interval.count() % 1000 == 0) return std::to_string(interval.count() / 1000) + " s";
  return std::to_string(interval.count()) + " ms";
}

enum class Mode { inotify, poll, stopped };
}  // namespace

struct Watcher::Impl : std::enable_shared_from_this<Watcher::Impl> {
  Impl(asio::io_context& io, fs::path root_path, EventsFn fn, std::vector<fs::path> ignored_paths, WatcherOptions opts)
      : root(normalize(root_path)), on_events(std::move(fn)), options(opts), timer(io), stream(io) {
    for (auto& p : ignored_paths) ignored.push_back(normalize(p));
    std::error_code ec;
    single_file = !fs::is_directory(root, ec);
    watch_dir = single_file ? root.parent_path() : root;
    file_name = root.filename().string();
  }

  fs::path root, watch_dir;
  bool single_file = false;
  std::string file_name;
  EventsFn on_events;
  std::vector<fs::path> ignored;
  WatcherOptions options;
  asio::steady_timer timer;
  asio::posix::stream_descriptor stream;
  std::atomic<Mode> mode{Mode::stopped};
  std::atomic<std::uint64_t> overflow_count{0};
  std::atomic<std::size_t> watch_count{0};
  std::string error;
  std::unordered_map<int, fs::path> wd_to_dir;
  std::map<fs::path, int> dir_to_wd;
  bool limit_hit = false;
  std::string limit_message;
  std::string poll_reason;   // why the watcher polls
  bool root_missing = false;  // poll mode: the watched directory is gone
  alignas(inotify_event) char buffer[64 * 1024];

  void start() {
    if (mode != Mode::stopped) return;
    error.clear();
    limit_hit = false;
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EMFILE)
        switch_to_poll("inotify instance limit reached (fs.inotify.max_user_instances=" + read_sysctl("/proc/sys/fs/inotify/max_user_instances") +
                       "); polling every " + describe_interval(options.poll_interval));
      else
        switch_to_poll(std::string("inotify unavailable: ") + std::strerror(err) + "; polling every " + describe_interval(options.poll_interval));
      return;
    }
    stream.assign(fd);
    mode = Mode::inotify;
    if (!fs::is_directory(watch_dir)) {
      root_lost();
      return;
    }
    add_root_watches();
    if (limit_hit) {
      switch_to_poll(limit_message);
      return;
    }
    arm_read();
  }

  void stop() {
    mode = Mode::stopped;
    timer.cancel();
    boost::system::error_code ec;
    stream.close(ec);  // closing the inotify fd drops every watch
    wd_to_dir.clear();
    dir_to_wd.clear();
    watch_count = 0;
  }

  void add_root_watches() {
    if (single_file) add_watch(watch_dir);
    else add_tree(watch_dir);
  }

  // Returns false once the watch limit is hit (limit_hit is set; the caller switches to polling).
  bool add_watch(const fs::path& dir) {
    if (limit_hit) return false;
    if (dir_to_wd.count(dir)) return true;
    if (options.max_watches && dir_to_wd.size() >= options.max_watches) {
      limit_hit = true;
      limit_message = "inotify watch limit reached (max_watches=" + std::to_string(options.max_watches) + "); polling every " +
                      describe_interval(options.poll_interval);
      return false;
    }
    int wd = ::inotify_add_watch(stream.native_handle(), dir.c_str(), dir_mask);
    if (wd < 0) {
      int err = errno;
      if (err == ENOSPC) {
        limit_hit = true;
        limit_message = "inotify watch limit reached (fs.inotify.max_user_watches=" + read_sysctl("/proc/sys/fs/inotify/max_user_watches") +
                        "); polling every " + describe_interval(options.poll_interval);
        return false;
      }
      if (err != ENOENT && err != ENOTDIR) spdlog::warn("watch: cannot watch {}: {}", dir.string(), std::strerror(err));
      return true;
    }
    auto old = wd_to_dir.find(wd);
    if (old != wd_to_dir.end()) dir_to_wd.erase(old->second);  // same inode reached by a new path
    wd_to_dir[wd] = dir;
    dir_to_wd[dir] = wd;
    watch_count = dir_to_wd.size();
    return true;
  }

  void add_tree(const fs::path& top) {
    if (!add_watch(top)) return;
    std::error_code ec;
    fs::recursive_directory_iterator it(top, fs::directory_options::skip_permission_denied, ec);
    if (ec) return;
    for (fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
      if (ec) return;
      std::error_code sec;
      if (it->is_symlink(sec) || !it->is_directory(sec)) continue;
      const fs::path& dir = it->path();
      if (is_ignored_dir(dir.filename().string()) || is_under_any(dir, ignored)) {
        it.disable_recursion_pending();
        continue;
      }
      if (!add_watch(dir)) return;
    }
  }

  void remove_watches_under(const fs::path& dir) {
    for (auto it = dir_to_wd.lower_bound(dir); it != dir_to_wd.end();) {
      auto rel = it->first.lexically_relative(dir);
      if (rel.empty() || *rel.begin() == "..") break;
      ::inotify_rm_watch(stream.native_handle(), it->second);
      wd_to_dir.erase(it->second);
      it = dir_to_wd.erase(it);
    }
    watch_count = dir_to_wd.size();
  }

  void arm_read() {
    stream.async_wait(asio::posix::stream_descriptor::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->mode != Mode::inotify) return;
      self->drain();
    });
  }

  void drain() {
    std::vector<fs::path> paths;
    std::set<fs::path> reported;
    bool rescan = false;
    bool lost = false;
    auto report = [&](fs::path p) {
      if (reported.insert(p).second) paths.push_back(std::move(p));
    };
    for (;;) {
      ssize_t n = ::read(stream.native_handle(), buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) spdlog::warn("watch: inotify read failed: {}", std::strerror(errno));
        break;
      }
      if (n == 0) break;
      for (char* p = buffer; p < buffer + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        handle_event(*ev, report, rescan, lost);
      }
    }
    if (lost) {
      root_lost();
      rescan = true;
    } else if (limit_hit) {
      switch_to_poll(limit_message);
      rescan = true;
    }
    if (!paths.empty() || rescan) {
      on_events(std::move(paths), rescan);
      if (mode == Mode::stopped) return;  // the callback stopped us
    }
    if (mode == Mode::inotify && !lost) arm_read();
  }

  template <class Report>
  void handle_event(const inotify_event& ev, Report& report, bool& rescan, bool& lost) {
    if (ev.mask & IN_Q_OVERFLOW) {
      ++overflow_count;
      rescan = true;
      if (!lost) add_root_watches();  // directories created during the lost events need watches too
      return;
    }
    auto found = wd_to_dir.find(ev.wd);
    if (found == wd_to_dir.end()) return;
    fs::path dir = found->second;
    if (ev.mask & IN_IGNORED) {
      wd_to_dir.erase(found);
      auto d = dir_to_wd.find(dir);
      if (d != dir_to_wd.end() && d->second == ev.wd) dir_to_wd.erase(d);
      watch_count = dir_to_wd.size();
      if (dir == watch_dir) lost = true;
      return;
    }
    if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
      if (dir == watch_dir) lost = true;  // other dirs are reported through their parent's event
      return;
    }
    if (ev.len == 0) return;
    std::string name(ev.name);
    fs::path path = dir / name;
    if (single_file) {
      if (name == file_name) report(path);
      return;
    }
    if (is_under_any(path, ignored)) return;
    if (ev.mask & IN_ISDIR) {
      if (is_ignored_dir(name)) return;
      if (ev.mask & (IN_DELETE | IN_MOVED_FROM)) {
        remove_watches_under(path);
        report(path);
      } else if (ev.mask & (IN_CREATE | IN_MOVED_TO)) {
        add_tree(path);  // files may already exist inside: reporting the dir makes SourceTree walk it
        report(path);
      }
      return;
    }
    if (is_ignored_file(name)) return;
    report(path);
  }

  void root_lost() {
    for (auto& [wd, dir] : wd_to_dir) ::inotify_rm_watch(stream.native_handle(), wd);
    wd_to_dir.clear();
    dir_to_wd.clear();
    watch_count = 0;
    error = "watched directory " + watch_dir.string() + " was deleted or moved; checking every " + describe_interval(options.poll_interval) +
            " for it to reappear";
    spdlog::warn("watch: {}", error);
    arm_root_recheck();
  }

  void arm_root_recheck() {
    timer.expires_after(options.poll_interval);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->mode != Mode::inotify) return;
      std::error_code fec;
      if (!fs::is_directory(self->watch_dir, fec)) {
        self->arm_root_recheck();
        return;
      }
      self->error.clear();
      self->add_root_watches();
      if (self->limit_hit) {
        self->switch_to_poll(self->limit_message);
      } else {
        self->arm_read();
      }
      self->on_events({}, true);
    });
  }

  void switch_to_poll(const std::string& why) {
    boost::system::error_code ec;
    stream.close(ec);
    wd_to_dir.clear();
    dir_to_wd.clear();
    watch_count = 0;
    error = why;
    poll_reason = why;
    mode = Mode::poll;
    spdlog::warn("watch {}: {}", root.string(), why);
    arm_poll();
  }

  // Polls: a rescan every interval while the watched directory exists; a vanished one is reported
  // once (error names it) and checked for quietly until it reappears.
  void arm_poll() {
    timer.expires_after(options.poll_interval);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->mode != Mode::poll) return;
      std::error_code fec;
      bool present = fs::is_directory(self->watch_dir, fec);
      bool changed = present == self->root_missing;
      self->root_missing = !present;
      if (!present) {
        self->error = "watched directory " + self->watch_dir.string() + " was deleted or moved; polling every " +
                      describe_interval(self->options.poll_interval) + " for it to reappear";
        if (changed) spdlog::warn("watch: {}", self->error);
      } else {
        self->error = self->poll_reason;
      }
      if (present || changed) self->on_events({}, true);
      if (self->mode == Mode::poll) self->arm_poll();
    });
  }
};

Watcher::Watcher(asio::io_context& io, fs::path root, EventsFn on_events, std::vector<fs::path> ignored_paths, WatcherOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(root), std::move(on_events), std::move(ignored_paths), options)) {}

Watcher::~Watcher() { impl_->stop(); }

void Watcher::start() { impl_->start(); }
void Watcher::stop() { impl_->stop(); }

std::string_view Watcher::mode() const {
  switch (impl_->mode.load()) {
    case Mode::inotify: return "inotify";
    case Mode::poll: return "poll";
    case Mode::stopped: return "stopped";
  }
  return "stopped";
}

std::uint64_t Watcher::overflows() const { return impl_->overflow_count; }
const std::string& Watcher::error() const { return impl_->error; }
std::size_t Watcher::watched_dirs() const { return impl_->watch_count; }
}  // namespace prestage::watch
