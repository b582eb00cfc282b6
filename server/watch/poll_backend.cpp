#include "watch/poll_backend.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <limits>

#include "watch/ignore.hpp"

namespace prestage::watch {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::int64_t racy_window_ns = 100'000'000;  // well above the kernel's timestamp granularity

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

PollBackend::PollBackend(asio::io_context& io) : io_(io), timer_(io) {}

void PollBackend::attach(PollWatch* watch) {
  if (std::find(watches_.begin(), watches_.end(), watch) == watches_.end()) watches_.push_back(watch);
  schedule();
}

void PollBackend::detach(PollWatch* watch) {
  watches_.erase(std::remove(watches_.begin(), watches_.end(), watch), watches_.end());
  schedule();
}

void PollBackend::schedule() {
  if (watches_.empty()) {
    if (armed_) timer_.cancel();
    armed_ = false;
    return;
  }
  auto earliest = (*std::min_element(watches_.begin(), watches_.end(), [](auto* a, auto* b) { return a->due_ < b->due_; }))->due_;
  auto when = std::max(earliest, not_before_);
  if (armed_ && armed_for_ <= when) return;  // fires sooner anyway; run_step re-plans
  armed_ = true;
  armed_for_ = when;
  timer_.expires_at(when);  // cancels an earlier wait, whose handler then sees operation_aborted
  timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->run_step();
  });
}

void PollBackend::run_step() {
  armed_ = false;
  auto now = Clock::now();
  PollWatch* next = nullptr;
  for (auto* w : watches_)
    if (w->due_ <= now && (!next || w->due_ < next->due_)) next = w;
  if (next) {
    auto keep = next->shared_from_this();  // its batch callback may stop and release it
    bool done = next->step(kStepEntries);
    auto after = Clock::now();
    ++steps_;
    if (next->active_) next->due_ = done ? after + next->interval_ : after;
    not_before_ = after + (after - now) * kPauseFactor;
  }
  schedule();
}

PollWatch::PollWatch(std::shared_ptr<PollBackend> backend, fs::path watch_dir, std::string file_name, std::vector<fs::path> ignored,
                     std::chrono::milliseconds interval, BatchFn on_batch)
    : backend_(std::move(backend)),
      watch_dir_(std::move(watch_dir)),
      file_name_(std::move(file_name)),
      ignored_(std::move(ignored)),
      interval_(interval),
      on_batch_(std::move(on_batch)) {}

PollWatch::~PollWatch() { stop(); }

void PollWatch::start() {
  stop();
  active_ = true;
  baseline_ = true;
  root_missing_ = false;
  due_ = Clock::now();
  backend_->attach(this);
}

void PollWatch::stop() {
  if (active_) backend_->detach(this);
  active_ = false;
  in_round_ = false;
  pending_dirs_.clear();
  files_.clear();
  pending_ = Batch{};
}

void PollWatch::poll_now() {
  if (!active_) return;
  auto keep = shared_from_this();  // a batch callback may stop and release it
  constexpr auto unbounded = std::numeric_limits<std::size_t>::max();
  if (in_round_) step(unbounded);  // entries it already visited were statted before the call
  if (active_) step(unbounded);
  if (active_) {
    due_ = Clock::now() + interval_;
    backend_->schedule();
  }
}

bool PollWatch::step(std::size_t budget) {
  if (!in_round_) begin_round();
  while (in_round_ && budget > 0 && !pending_dirs_.empty()) {
    std::string rel = std::move(pending_dirs_.back());
    pending_dirs_.pop_back();
    scan_dir(rel, budget);
  }
  bool done = !in_round_ || pending_dirs_.empty();
  if (in_round_ && done) finish_round();
  deliver();
  return done;
}

void PollWatch::begin_round() {
  struct stat st {};
  bool present = ::stat(watch_dir_.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  if (!present) {
    if (!root_missing_) {  // reported once, then checked quietly
      root_missing_ = true;
      files_.clear();
      pending_.root_vanished = true;
      pending_.rescan = true;
    }
    ++rounds_;
    return;
  }
  if (root_missing_) {
    root_missing_ = false;
    baseline_ = true;
    pending_.root_returned = true;
  }
  ++round_;
  in_round_ = true;
  if (!file_name_.empty()) {
    struct stat fst {};
    if (::stat((watch_dir_ / file_name_).c_str(), &fst) == 0 && S_ISREG(fst.st_mode)) note_file(file_name_, fst);
    return;  // step() finishes the round: pending_dirs_ is empty
  }
  pending_dirs_.assign(1, std::string());
}

void PollWatch::scan_dir(const std::string& rel, std::size_t& budget) {
  fs::path abs = rel.empty() ? watch_dir_ : watch_dir_ / rel;
  DIR* dir = ::opendir(abs.c_str());
  if (!dir) return;  // vanished: what it held is swept as removed at the end of the round
  int fd = ::dirfd(dir);
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (budget > 0) --budget;
    unsigned char type = entry->d_type;
    struct stat st {};
    if (type == DT_UNKNOWN) {
      if (::fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
      if (type == DT_UNKNOWN) continue;
    }
    std::string child = rel.empty() ? std::string(name) : rel + "/" + std::string(name);
    if (type == DT_DIR) {
      if (is_ignored_dir(name) || is_under_any(abs / name, ignored_)) continue;
      pending_dirs_.push_back(std::move(child));
      continue;
    }
    if (type != DT_REG && type != DT_LNK) continue;
    if (is_ignored_file(name)) continue;
    if (::fstatat(fd, entry->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode)) continue;  // follows file links, never dir links
    note_file(std::move(child), st);
  }
  ::closedir(dir);
}

void PollWatch::note_file(std::string rel, const struct stat& st) {
  Stat now{static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
           static_cast<std::uint64_t>(st.st_ino), round_};
  now.racy = now_ns() - now.mtime_ns < racy_window_ns;
  auto [it, added] = files_.try_emplace(rel, now);
  if (!added) {
    // A same-size rewrite within one timestamp tick keeps (size, mtime, inode): a file that was that
    // fresh when last seen is reported once more (SourceTree rehashes it; same content gives no delta).
    bool same = !it->second.racy && it->second.size == now.size && it->second.mtime_ns == now.mtime_ns && it->second.inode == now.inode;
    it->second = now;
    if (same) return;
  }
  if (!baseline_) pending_.paths.push_back(watch_dir_ / rel);
}

void PollWatch::finish_round() {
  for (auto it = files_.begin(); it != files_.end();) {
    if (it->second.round == round_) {
      ++it;
      continue;
    }
    if (!baseline_) pending_.paths.push_back(watch_dir_ / it->first);
    it = files_.erase(it);
  }
  in_round_ = false;
  ++rounds_;
  if (baseline_) {
    baseline_ = false;
    pending_.rescan = true;  // anything that changed before the snapshot was taken
  }
}

void PollWatch::deliver() {
  if (!active_) return;
  if (pending_.paths.size() > kMaxReportedPaths) {
    pending_.paths.clear();
    pending_.rescan = true;
  }
  if (pending_.paths.empty() && !pending_.rescan && !pending_.root_vanished && !pending_.root_returned) return;
  Batch batch = std::move(pending_);
  pending_ = Batch{};
  on_batch_(std::move(batch));
}
}  // namespace prestage::watch
