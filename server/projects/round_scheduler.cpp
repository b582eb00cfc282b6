#include "projects/round_scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <tuple>
#include <boost/asio/post.hpp>

#include "util/clock.hpp"
#include "util/thread_check.hpp"

namespace prestage::projects {
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kMaxPendingPaths = 10000;
constexpr std::size_t kMaxReasons = 20;

std::int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}
}  // namespace

RoundScheduler::RoundScheduler(RoundContext context, RoundHooks hooks, ProjectInfo info, std::vector<std::string> pythons,
                               std::shared_ptr<watch::SourceTree> tree, BuildRecords& records,
                               net::strand<net::thread_pool::executor_type> work)
    : ctx_(context),
      hooks_(std::move(hooks)),
      info_(std::move(info)),
      pythons_(std::move(pythons)),
      tree_(std::move(tree)),
      records_(records),
      work_(std::move(work)),
      settle_timer_(context.io) {}

void RoundScheduler::start() {
  util::assert_on_io("RoundScheduler::start");
  rescan_next_ = true;
  request_round();
}

void RoundScheduler::stop() {
  util::assert_on_io("RoundScheduler::stop");
  if (stopped_) return;
  stopped_ = true;
  settle_timer_.cancel();
  if (task_) task_->cancel();
  release_slot();
  phase_ = Phase::idle;
  settling_ = false;
  progress_.reset();
}

void RoundScheduler::add_python(const std::string& python) {
  util::assert_on_io("RoundScheduler::add_python");
  if (std::find(pythons_.begin(), pythons_.end(), python) != pythons_.end()) return;
  pythons_.push_back(python);
  request_round();
}

void RoundScheduler::paths_changed(std::vector<fs::path> paths, bool rescan) {
  util::assert_on_io("RoundScheduler::paths_changed");
  if (stopped_) return;
  if (rescan || pending_paths_.size() + paths.size() > kMaxPendingPaths) {
    rescan_next_ = true;
    pending_paths_.clear();
  }
  for (auto& p : paths) {
    if (reasons_.size() < kMaxReasons) reasons_.insert(p.string());
    if (!rescan_next_) pending_paths_.push_back(std::move(p));
  }
  schedule_settle();
}

void RoundScheduler::force_build() {
  util::assert_on_io("RoundScheduler::force_build");
  if (stopped_) return;
  force_next_ = true;
  rescan_next_ = true;
  reasons_.insert("build/run");
  request_round();
}

void RoundScheduler::schedule_settle() {
  auto now = Clock::now();
  if (!settling_) {
    settling_ = true;
    first_event_ = now;
    report_state();
  }
  settle_timer_.expires_at(std::min(now + kSettle, first_event_ + kSettleCap));
  settle_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->settle_fired();
  });
}

void RoundScheduler::settle_fired() {
  settling_ = false;
  request_round();
  report_state();
}

void RoundScheduler::end_settling() {
  util::assert_on_io("RoundScheduler::end_settling");
  if (stopped_ || !settling_) return;
  settle_timer_.cancel();
  settle_fired();
}

void RoundScheduler::request_round() {
  if (stopped_) return;
  if (phase_ != Phase::idle) {
    follow_up_ = true;
    return;
  }
  run_round();
}

void RoundScheduler::run_round() {
  phase_ = Phase::scanning;
  follow_up_ = false;
  report_state();
  round_reasons_.assign(reasons_.begin(), reasons_.end());
  reasons_.clear();
  const bool rescan = rescan_next_;
  rescan_next_ = false;
  auto paths = std::move(pending_paths_);
  pending_paths_.clear();
  net::post(work_, [self = shared_from_this(), rescan, paths = std::move(paths), pythons = pythons_] {
    ScanResult scan = scan_sources_blocking(*self->tree_, rescan, paths, self->info_.id);
    // A new or changed interpreter is run here, not on the io thread; scan_done then finds its
    // facts (or its error) in the cache.
    for (const auto& python : pythons) {
      try {
        self->ctx_.interpreters.get_blocking(python);
      } catch (const std::exception&) {
      }
    }
    net::post(self->ctx_.io, [self, scan = std::move(scan)]() mutable { self->scan_done(std::move(scan)); });
  });
}

void RoundScheduler::scan_done(ScanResult scan) {
  if (stopped_) return;
  files_ = scan.files;
  round_source_hash_ = std::move(scan.source_hash);
  if (!scan.delta.empty()) {
    only_python_changed_ = unbuilt_ ? (only_python_changed_ && scan.delta.python_only()) : scan.delta.python_only();
    unbuilt_ = true;
    if (round_reasons_.empty())
      for (const auto& p : scan.delta.all())
        if (round_reasons_.size() < kMaxReasons) round_reasons_.push_back(p.string());
  }
  const bool force = force_next_;
  force_next_ = false;

  round_pythons_.clear();
  bool every_target_staged = true;
  for (const auto& python : pythons_) {
    auto interp = interpreter(python).facts;
    const BuildRecord* last = interp ? records_.find(interp->key) : nullptr;
    bool staged = interp && ctx_.store.latest(interp->key).has_value();
    bool last_ok = interp && (!last || last->ok);
    every_target_staged = every_target_staged && staged && last_ok;
    if (force || unbuilt_ || !staged) round_pythons_.push_back(python);
  }
  if (round_pythons_.empty()) return finish_round(true);
  round_index_ = 0;
  if (unbuilt_ && only_python_changed_ && every_target_staged && !force) {
    phase_ = Phase::restaging;  // copies files, compiles nothing: no slot
    return start_building();
  }
  phase_ = Phase::waiting_for_slot;
  ctx_.slots.acquire(info_.id, [weak = weak_from_this(), &io = ctx_.io, &slots = ctx_.slots] {
    net::post(io, [weak, &slots] {
      auto self = weak.lock();
      // Granted after the round ended (cancelled, project closed): hand it on.
      if (!self || self->stopped_ || self->phase_ != Phase::waiting_for_slot) return slots.release();
      self->phase_ = Phase::building;
      self->start_building();
    });
  });
}

void RoundScheduler::start_building() {
  report_state();
  ctx_.events.build_started(info_.id, round_reasons_);
  build_next_python();
}

void RoundScheduler::build_next_python() {
  if (stopped_) return;
  if (round_index_ >= round_pythons_.size()) return finish_round(true);
  const std::string python = round_pythons_[round_index_];
  auto known = interpreter(python);
  if (known.needs_query()) {
    // Its trust ran out since the scan: ask again on the pool, then carry on.
    net::post(ctx_.pool, [self = shared_from_this(), python] {
      try {
        self->ctx_.interpreters.get_blocking(python);
      } catch (const std::exception&) {
      }
      net::post(self->ctx_.io, [self] { self->build_next_python(); });
    });
    return;
  }
  auto interp = known.facts;
  if (!interp) {
    BuildRecord failed;
    failed.summary = known.error;
    failed.log_tail = known.error;
    record(python, std::move(failed), nullptr);
    ++round_index_;
    return build_next_python();
  }
  if (phase_ == Phase::restaging) {
    std::optional<stage::PackageLayout> layout;
    try {
      layout = restage_layout(*interp);
    } catch (const std::exception& e) {  // the backend's layout failed: build instead, which reports it
      spdlog::warn("{}: cannot restage without compiling: {}", info_.id, e.what());
    }
    if (layout) return publish(*interp, std::move(*layout), {}, 0, "python sources restaged without compiling\n");
  }
  builders::BuildJob job{info_, *interp, ctx_.work_root / interp->key};
  auto began = Clock::now();
  std::weak_ptr<RoundScheduler> weak = weak_from_this();
  task_ = ctx_.backend.start(
      ctx_.io, std::move(job),
      [weak, interp = *interp, compiling = false](const builders::BuildProgress& progress) mutable {
        if (auto self = weak.lock(); self && !self->stopped_) {
          self->progress_ = progress;
          self->ctx_.events.build_progress(self->info_.id, progress);
          if (!compiling && progress.has_fraction()) {
            compiling = true;
            if (self->hooks_.compiling) self->hooks_.compiling(interp);
          }
        }
      },
      [weak, interp = *interp, began](builders::BuildOutput output) {
        if (auto self = weak.lock()) self->build_finished(interp, std::move(output), began);
      });
}

void RoundScheduler::build_finished(const builders::Interpreter& python, builders::BuildOutput output, Clock::time_point began) {
  util::assert_on_io("RoundScheduler::build_finished");
  task_.reset();
  progress_.reset();
  if (stopped_) return;
  const auto duration = ms_since(began);
  if (output.cancelled) return finish_round(false);
  if (!output.ok) {
    BuildRecord failed;
    failed.duration_ms = duration;
    failed.diagnostics = std::move(output.diagnostics);
    failed.log_tail = std::move(output.log_tail);
    failed.summary = output.summary.empty() ? "build failed" : output.summary;
    record(python.key, std::move(failed), nullptr);
    ++round_index_;
    return build_next_python();
  }
  // Sources saved while this build ran: it may have read a mix of old and new files.
  const bool stale = settling_ || !pending_paths_.empty() || follow_up_;
  if (stale && Clock::now() - last_publish_ < kStarvationBound) {
    spdlog::info("{}: sources changed during the build; not publishing it, rebuilding", info_.id);
    follow_up_ = true;
    return finish_round(false);
  }
  std::vector<Diagnostic> warnings = std::move(output.diagnostics);
  stage::PackageLayout layout;
  try {
    layout = ctx_.backend.layout(info_, output, python);
  } catch (const std::exception& e) {  // e.g. a pyproject.toml broken since the build started
    BuildRecord failed;
    failed.duration_ms = duration;
    failed.summary = e.what();
    failed.log_tail = std::move(output.log_tail) + "\n" + failed.summary + "\n";
    failed.diagnostics.push_back(Diagnostic{info_.root.string(), 0, 0, "error", failed.summary});
    record(python.key, std::move(failed), nullptr);
    ++round_index_;
    return build_next_python();
  }
  publish(python, std::move(layout), std::move(warnings), duration, std::move(output.log_tail));
}

void RoundScheduler::publish(const builders::Interpreter& python, stage::PackageLayout layout, std::vector<Diagnostic> warnings,
                             std::int64_t duration_ms, std::string log_tail) {
  stage::Manifest draft;
  draft.generation = 0;  // numbered by the store only when the content is new
  draft.project_id = info_.id;
  draft.python_key = python.key;
  draft.python = python.executable.string();
  draft.source_hash = round_source_hash_;
  draft.duration_ms = duration_ms;
  draft.diagnostics = warnings;
  auto pins = hooks_.pinned ? hooks_.pinned() : std::set<std::uint64_t>{};
  net::post(work_, [self = shared_from_this(), python, layout = std::move(layout), draft = std::move(draft),
                    pins = std::move(pins), warnings = std::move(warnings), duration_ms, log_tail = std::move(log_tail)]() mutable {
    PublishResult result = publish_blocking(self->ctx_.store, layout, draft, self->ctx_.keep_generations, pins);
    net::post(self->ctx_.io, [self, python, result = std::move(result), warnings = std::move(warnings), duration_ms,
                              log_tail = std::move(log_tail)]() mutable {
      if (self->stopped_) return;
      BuildRecord record;
      record.duration_ms = duration_ms;
      record.diagnostics = std::move(warnings);
      record.log_tail = std::move(log_tail);
      if (!result.error.empty()) {
        record.summary = "staging failed: " + result.error;
        record.log_tail += "\n" + record.summary + "\n";
        record.diagnostics.clear();
      } else {
        record.ok = true;
        if (result.manifest) self->last_publish_ = Clock::now();
        if (self->hooks_.published) self->hooks_.published(python);
      }
      self->record(python.key, std::move(record), result.manifest ? &*result.manifest : nullptr);
      ++self->round_index_;
      self->build_next_python();
    });
  });
}

void RoundScheduler::record(const std::string& python_key, BuildRecord record, const stage::Manifest* manifest) {
  auto latest = ctx_.store.latest(python_key);
  record.generation = manifest ? manifest->generation : (latest ? latest->generation : 0);
  record.finished_at = util::now_iso8601();
  if (!record.ok) round_failed_ = true;
  records_.set(python_key, std::move(record));
  if (hooks_.recorded) hooks_.recorded();
  if (hooks_.changed) hooks_.changed();
  ctx_.events.build_finished(info_.id, *records_.find(python_key));
}

void RoundScheduler::release_slot() {
  if (phase_ == Phase::waiting_for_slot) ctx_.slots.forget(info_.id);
  if (phase_ == Phase::building) ctx_.slots.release();
}

void RoundScheduler::finish_round(bool completed) {
  if (stopped_) return;
  release_slot();
  phase_ = Phase::idle;
  task_.reset();
  progress_.reset();
  if (completed) {
    // The generation now matches the tree (or the build failed and will be retried on the next change).
    unbuilt_ = false;
    only_python_changed_ = false;
    if (!round_failed_)
      net::post(work_, [self = shared_from_this()] { save_snapshot_blocking(self->ctx_.store, *self->tree_, self->info_.id); });
  }
  round_failed_ = false;
  if (follow_up_ && !settling_) {
    follow_up_ = false;
    request_round();
  }
  report_state();
  if (!busy() && hooks_.idle) hooks_.idle();
}

void RoundScheduler::report_state() {
  const State now = state();
  if (now == reported_state_) return;
  reported_state_ = now;
  if (hooks_.changed) hooks_.changed();
  ctx_.events.state_changed(info_.id, now);
}

State RoundScheduler::state() const {
  if (phase_ == Phase::building || phase_ == Phase::restaging) return State::building;
  if (phase_ != Phase::idle || settling_) return State::queued;
  return State::idle;
}

std::optional<stage::PackageLayout> RoundScheduler::restage_layout(const builders::Interpreter& python) const {
  auto latest = ctx_.store.latest(python.key);
  if (!latest) return std::nullopt;
  // The package's Python files from the sources, the extensions (already under their final module
  // names) from the newest generation.
  builders::BuildOutput none;
  none.work_dir = ctx_.work_root / python.key;
  stage::PackageLayout layout;
  try {
    layout = ctx_.backend.layout(info_, none, python);
  } catch (const std::exception& e) {  // e.g. broken settings: a full build reports them
    spdlog::info("{}: cannot restage ({}); building", info_.id, e.what());
    return std::nullopt;
  }
  fs::path gen = ctx_.store.generation_dir(python.key, latest->generation);
  std::set<std::string> placed;
  for (const auto& entry : layout.placed_artifacts) placed.insert(std::get<0>(entry));
  for (const auto& a : latest->artifacts)  // under the relpath they were staged at (e.g. name.abi3.so)
    if (!placed.count(a.module)) layout.placed_artifacts.emplace_back(a.module, a.relpath, gen / a.relpath);
  return layout;
}

builders::InterpreterCache::Lookup RoundScheduler::interpreter(const std::string& python) const {
  // The scan asked every target on the pool, so this is the cached answer unless its trust ran out.
  return ctx_.interpreters.lookup(python);
}
}  // namespace prestage::projects
