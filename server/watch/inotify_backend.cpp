#include "watch/inotify_backend.hpp"

#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "watch/ignore.hpp"
#include "watch/sysctl.hpp"

namespace prestage::watch {
namespace asio = boost::asio;

namespace {
constexpr std::uint32_t dir_mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF |
                                   IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR | IN_EXCL_UNLINK;
constexpr std::size_t buffer_size = 64 * 1024;
}  // namespace

InotifyBackend::InotifyBackend(asio::io_context& io) : io_(io), stream_(io) {}

InotifyBackend::~InotifyBackend() {
  boost::system::error_code ec;
  stream_.close(ec);
}

bool InotifyBackend::is_open() const { return stream_.is_open(); }

int InotifyBackend::native_fd() const { return stream_.is_open() ? fd_ : -1; }

bool InotifyBackend::open(std::string& error) {
  if (stream_.is_open()) return true;
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == EMFILE)
      error = "inotify instance limit reached (fs.inotify.max_user_instances=" + read_sysctl("/proc/sys/fs/inotify/max_user_instances") + ")";
    else
      error = std::string("inotify unavailable: ") + std::strerror(err);
    return false;
  }
  stream_.assign(fd);
  fd_ = fd;
  buffer_ = std::make_unique<char[]>(buffer_size);
  return true;
}

int InotifyBackend::add(InotifyWatch* watch, const fs::path& dir) {
  int wd = ::inotify_add_watch(stream_.native_handle(), dir.c_str(), dir_mask);
  if (wd < 0) return -errno;
  auto& subs = subscribers_[wd];
  if (std::find(subs.begin(), subs.end(), watch) == subs.end()) subs.push_back(watch);
  arm_read();
  return wd;
}

void InotifyBackend::remove(InotifyWatch* watch, int wd) {
  auto it = subscribers_.find(wd);
  if (it == subscribers_.end()) return;  // the kernel already dropped it (IN_IGNORED)
  auto& subs = it->second;
  subs.erase(std::remove(subs.begin(), subs.end(), watch), subs.end());
  if (!subs.empty()) return;
  subscribers_.erase(it);
  ::inotify_rm_watch(stream_.native_handle(), wd);
  if (subscribers_.empty()) {  // nothing left to read: leave no work on the io_context (shutdown waits for it)
    boost::system::error_code ec;
    stream_.cancel(ec);
  }
}

void InotifyBackend::attach(InotifyWatch* watch) {
  if (std::find(attached_.begin(), attached_.end(), watch) == attached_.end()) attached_.push_back(watch);
}

void InotifyBackend::detach(InotifyWatch* watch) { attached_.erase(std::remove(attached_.begin(), attached_.end(), watch), attached_.end()); }

void InotifyBackend::arm_read() {
  if (reading_ || !stream_.is_open()) return;
  reading_ = true;
  stream_.async_wait(asio::posix::stream_descriptor::wait_read, [weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self) return;
    self->reading_ = false;
    if (ec) {
      if (ec == asio::error::operation_aborted && !self->subscribers_.empty()) self->arm_read();  // watched again meanwhile
      return;
    }
    self->drain();
  });
}

void InotifyBackend::drain_now() {
  if (stream_.is_open() && !subscribers_.empty()) drain();
}

void InotifyBackend::drain() {
  std::vector<std::shared_ptr<InotifyWatch>> touched;
  auto touch = [&touched](InotifyWatch* w) {
    if (w->queued_) return;
    w->queued_ = true;
    touched.push_back(w->shared_from_this());
  };
  if (drain_observer_) drain_observer_(true);
  char* buffer = buffer_.get();
  for (;;) {
    ssize_t n = ::read(stream_.native_handle(), buffer, buffer_size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) spdlog::warn("watch: inotify read failed: {}", std::strerror(errno));
      break;
    }
    if (n == 0) break;
    for (char* p = buffer; p < buffer + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        ++overflows_;
        for (auto* w : std::vector<InotifyWatch*>(attached_)) {
          w->on_overflow();
          touch(w);
        }
        continue;
      }
      auto it = subscribers_.find(ev->wd);
      if (it == subscribers_.end()) continue;
      std::vector<InotifyWatch*> subs = it->second;  // handlers add and remove watches
      if (ev->mask & IN_IGNORED) subscribers_.erase(it);
      for (auto* w : subs) {
        w->on_event(*ev);
        touch(w);
      }
    }
  }
  for (auto& w : touched) {
    w->queued_ = false;
    w->flush();  // may stop or start any watch
  }
  if (drain_observer_) drain_observer_(false);
  if (!subscribers_.empty()) arm_read();
}

InotifyWatch::InotifyWatch(std::shared_ptr<InotifyBackend> backend, fs::path watch_dir, std::string file_name, std::vector<fs::path> ignored,
                           std::size_t max_watches, BatchFn on_batch)
    : backend_(std::move(backend)),
      watch_dir_(std::move(watch_dir)),
      file_name_(std::move(file_name)),
      ignored_(std::move(ignored)),
      max_watches_(max_watches),
      on_batch_(std::move(on_batch)) {}

InotifyWatch::~InotifyWatch() { stop(); }

InotifyWatch::Start InotifyWatch::start() {
  stop();
  active_ = true;
  limit_error_.clear();
  backend_->attach(this);
  add_root_watches();
  if (!limit_error_.empty()) {
    stop();
    return Start::limit;
  }
  if (!dir_to_wd_.count(watch_dir_)) {
    stop();
    return Start::root_missing;
  }
  return Start::ok;
}

void InotifyWatch::stop() {
  remove_all_watches();
  if (active_) backend_->detach(this);
  active_ = false;
  pending_ = Batch{};
}

void InotifyWatch::remove_all_watches() {
  for (auto& [wd, dir] : wd_to_dir_) backend_->remove(this, wd);
  wd_to_dir_.clear();
  dir_to_wd_.clear();
}

void InotifyWatch::add_root_watches() {
  if (!file_name_.empty()) add_watch(watch_dir_);
  else add_tree(watch_dir_);
}

bool InotifyWatch::add_watch(const fs::path& dir) {
  if (!limit_error_.empty()) return false;
  if (dir_to_wd_.count(dir)) return true;
  if (max_watches_ && dir_to_wd_.size() >= max_watches_) {
    limit_error_ = "inotify watch limit reached (max_watches=" + std::to_string(max_watches_) + ")";
    return false;
  }
  int wd = backend_->add(this, dir);
  if (wd < 0) {
    int err = -wd;
    if (err == ENOSPC) {
      limit_error_ = "inotify watch limit reached (fs.inotify.max_user_watches=" + read_sysctl("/proc/sys/fs/inotify/max_user_watches") + ")";
      return false;
    }
    if (err != ENOENT && err != ENOTDIR) spdlog::warn("watch: cannot watch {}: {}", dir.string(), std::strerror(err));
    return true;
  }
  auto old = wd_to_dir_.find(wd);
  if (old != wd_to_dir_.end()) dir_to_wd_.erase(old->second);  // same inode reached by a new path
  wd_to_dir_[wd] = dir;
  dir_to_wd_[dir] = wd;
  return true;
}

void InotifyWatch::add_tree(const fs::path& top) {
  if (!add_watch(top)) return;
  std::error_code ec;
  fs::recursive_directory_iterator it(top, fs::directory_options::skip_permission_denied, ec);
  if (ec) return;
  for (fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return;
    std::error_code sec;
    if (it->is_symlink(sec) || !it->is_directory(sec)) continue;
    const fs::path& dir = it->path();
    if (is_ignored_dir(dir.filename().string()) || is_under_any(dir, ignored_)) {
      it.disable_recursion_pending();
      continue;
    }
    if (!add_watch(dir)) return;
  }
}

void InotifyWatch::remove_watches_under(const fs::path& dir) {
  for (auto it = dir_to_wd_.lower_bound(dir); it != dir_to_wd_.end();) {
    auto rel = it->first.lexically_relative(dir);
    if (rel.empty() || *rel.begin() == "..") break;
    backend_->remove(this, it->second);
    wd_to_dir_.erase(it->second);
    it = dir_to_wd_.erase(it);
  }
}

void InotifyWatch::report(fs::path path) { pending_.paths.push_back(std::move(path)); }

void InotifyWatch::on_overflow() {
  if (!active_) return;
  ++overflows_;
  pending_.rescan = true;
  if (!pending_.root_lost) add_root_watches();  // directories created during the lost events need watches too
}

void InotifyWatch::on_event(const inotify_event& ev) {
  if (!active_ || pending_.root_lost) return;
  auto found = wd_to_dir_.find(ev.wd);
  if (found == wd_to_dir_.end()) return;
  fs::path dir = found->second;
  if (ev.mask & IN_IGNORED) {  // the kernel dropped the watch (directory gone); the backend forgot the wd
    wd_to_dir_.erase(found);
    auto d = dir_to_wd_.find(dir);
    if (d != dir_to_wd_.end() && d->second == ev.wd) dir_to_wd_.erase(d);
    if (dir == watch_dir_) pending_.root_lost = true;
    return;
  }
  if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
    if (dir == watch_dir_) pending_.root_lost = true;  // other dirs are reported through their parent's event
    return;
  }
  if (ev.len == 0) return;
  std::string name(ev.name);
  fs::path path = dir / name;
  if (!file_name_.empty()) {
    if (name == file_name_) report(std::move(path));
    return;
  }
  if (is_under_any(path, ignored_)) return;
  if (ev.mask & IN_ISDIR) {
    if (is_ignored_dir(name)) return;
    if (ev.mask & (IN_DELETE | IN_MOVED_FROM)) {
      remove_watches_under(path);
      report(std::move(path));
    } else if (ev.mask & (IN_CREATE | IN_MOVED_TO)) {
      add_tree(path);  // files may already exist inside: reporting the dir makes SourceTree walk it
      report(std::move(path));
    }
    return;
  }
  if (is_ignored_file(name)) return;
  report(std::move(path));
}

void InotifyWatch::flush() {
  if (!active_) return;
  Batch batch = std::move(pending_);
  pending_ = Batch{};
  if (batch.root_lost) remove_all_watches();
  batch.limit_error = limit_error_;
  if (batch.paths.empty() && !batch.rescan && !batch.root_lost && batch.limit_error.empty()) return;
  std::sort(batch.paths.begin(), batch.paths.end());
  batch.paths.erase(std::unique(batch.paths.begin(), batch.paths.end()), batch.paths.end());
  on_batch_(std::move(batch));
}
}  // namespace prestage::watch
