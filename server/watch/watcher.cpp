#include "watch/watcher.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>

#include "watch/ignore.hpp"
#include "watch/inotify_backend.hpp"
#include "watch/poll_backend.hpp"

namespace prestage::watch {
namespace asio = boost::asio;

namespace {
std::string describe_interval(std::chrono::milliseconds interval) {
  if (interval.count() % 1000 == 0) return std::to_string(interval.count() / 1000) + " s";
  return std::to_string(interval.count()) + " ms";
}

enum class Mode { inotify, poll, stopped };
}  // namespace

WatchBackends::WatchBackends(asio::io_context& io)
    : io(io), inotify(std::make_shared<InotifyBackend>(io)), poll(std::make_shared<PollBackend>(io)) {}

struct Watcher::Impl : std::enable_shared_from_this<Watcher::Impl> {
  Impl(WatchBackends& backends, fs::path root_path, EventsFn fn, std::vector<fs::path> ignored_paths, WatcherOptions opts)
      : inotify_backend(backends.inotify), poll_backend(backends.poll), root(normalize(root_path)), on_events(std::move(fn)),
        options(opts), timer(backends.io) {
    for (auto& p : ignored_paths) ignored.push_back(normalize(p));
    std::error_code ec;
    bool single_file = !fs::is_directory(root, ec);
    watch_dir = single_file ? root.parent_path() : root;
    if (single_file) file_name = root.filename().string();
  }

  std::shared_ptr<InotifyBackend> inotify_backend;
  std::shared_ptr<PollBackend> poll_backend;
  fs::path root, watch_dir;
  std::string file_name;  // non-empty: single-file root
  EventsFn on_events;
  std::vector<fs::path> ignored;
  WatcherOptions options;
  asio::steady_timer timer;  // lost-root recheck
  Mode mode = Mode::stopped;
  std::string error;
  std::string poll_reason;  // why the watcher polls
  std::shared_ptr<InotifyWatch> inotify;
  std::shared_ptr<PollWatch> poll;
  std::uint64_t overflow_base = 0;  // overflows of earlier InotifyWatch instances
  bool root_lost_ = false;          // waiting for the root to reappear (the recheck timer is armed)

  void start() {
    if (mode != Mode::stopped) return;
    error.clear();
    std::string why;
    if (options.poll_only) {
      switch_to_poll("polling as asked (--watch poll)");
      return;
    }
    if (!inotify_backend->open(why)) {
      switch_to_poll(why);
      return;
    }
    mode = Mode::inotify;
    std::weak_ptr<Impl> weak = weak_from_this();
    inotify = std::make_shared<InotifyWatch>(inotify_backend, watch_dir, file_name, ignored, options.max_watches,
                                             [weak](InotifyWatch::Batch batch) {
                                               if (auto self = weak.lock()) self->inotify_batch(std::move(batch));
                                             });
    watch_root();
  }

  // Adds the watches; false when the watcher left inotify mode (limit: polls; missing: rechecks).
  bool watch_root() {
    switch (inotify->start()) {
      case InotifyWatch::Start::ok: return true;
      case InotifyWatch::Start::root_missing: root_lost(); return false;
      case InotifyWatch::Start::limit: switch_to_poll(inotify->error()); return false;
    }
    return false;
  }

  void stop() {
    mode = Mode::stopped;
    root_lost_ = false;
    timer.cancel();
    drop_inotify();
    if (poll) poll->stop();
    poll.reset();
  }

  void drop_inotify() {
    if (!inotify) return;
    inotify->stop();
    overflow_base += inotify->overflows();
    inotify.reset();
  }

  void inotify_batch(InotifyWatch::Batch batch) {
    if (mode != Mode::inotify) return;
    bool rescan = batch.rescan;
    if (batch.root_lost) {
      root_lost();
      rescan = true;
    } else if (!batch.limit_error.empty()) {
      switch_to_poll(batch.limit_error);
      rescan = true;
    }
    if (!batch.paths.empty() || rescan) on_events(std::move(batch.paths), rescan);
  }

  void root_lost() {
    if (inotify) inotify->stop();
    report_root_lost("checking");
    arm_root_recheck();
  }

  void report_root_lost(std::string_view how) {
    error = "watched directory " + watch_dir.string() + " was deleted or moved; " + std::string(how) + " every " +
            describe_interval(options.poll_interval) + " for it to reappear";
    spdlog::warn("watch: {}", error);
  }

  void arm_root_recheck() {
    root_lost_ = true;
    timer.expires_after(options.poll_interval);
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->mode != Mode::inotify) return;
      self->recheck_root();
    });
  }

  void recheck_root() {
    root_lost_ = false;
    std::error_code fec;
    if (!fs::is_directory(watch_dir, fec)) {
      arm_root_recheck();
      return;
    }
    error.clear();
    if (!watch_root() && mode == Mode::inotify) return;  // gone again: rechecking
    on_events({}, true);
  }

  void sync() {
    if (mode == Mode::poll) {
      if (poll) poll->poll_now();
    } else if (mode == Mode::inotify) {
      if (root_lost_) {
        timer.cancel();
        recheck_root();
      } else {
        inotify_backend->drain_now();
      }
    }
  }

  void switch_to_poll(std::string why) {  // by value: `why` may belong to the InotifyWatch dropped here
    drop_inotify();
    timer.cancel();
    root_lost_ = false;
    poll_reason = why + "; polling every " + describe_interval(options.poll_interval);
    error = poll_reason;
    mode = Mode::poll;
    spdlog::warn("watch {}: {}", root.string(), poll_reason);
    std::weak_ptr<Impl> weak = weak_from_this();
    poll = std::make_shared<PollWatch>(poll_backend, watch_dir, file_name, ignored, options.poll_interval, [weak](PollWatch::Batch batch) {
      if (auto self = weak.lock()) self->poll_batch(std::move(batch));
    });
    poll->start();
  }

  void poll_batch(PollWatch::Batch batch) {
    if (mode != Mode::poll) return;
    if (batch.root_vanished) {
      report_root_lost("polling");
    } else if (batch.root_returned) {
      error = poll_reason;
    }
    if (!batch.paths.empty() || batch.rescan) on_events(std::move(batch.paths), batch.rescan);
  }
};

Watcher::Watcher(WatchBackends& backends, fs::path root, EventsFn on_events, std::vector<fs::path> ignored_paths, WatcherOptions options)
    : impl_(std::make_shared<Impl>(backends, std::move(root), std::move(on_events), std::move(ignored_paths), options)) {}

Watcher::~Watcher() { impl_->stop(); }

void Watcher::start() { impl_->start(); }
void Watcher::stop() { impl_->stop(); }
void Watcher::sync() { impl_->sync(); }

std::string_view Watcher::mode() const {
  switch (impl_->mode) {
    case Mode::inotify: return "inotify";
    case Mode::poll: return "poll";
    case Mode::stopped: return "stopped";
  }
  return "stopped";
}

bool Watcher::sees_every_change() const { return impl_->mode == Mode::inotify && impl_->inotify && !impl_->root_lost_; }

std::uint64_t Watcher::overflows() const { return impl_->overflow_base + (impl_->inotify ? impl_->inotify->overflows() : 0); }
const std::string& Watcher::error() const { return impl_->error; }
std::size_t Watcher::watched_dirs() const { return impl_->inotify ? impl_->inotify->watched_dirs() : 0; }
}  // namespace prestage::watch
