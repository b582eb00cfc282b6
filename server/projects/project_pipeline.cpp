#include "projects/project_pipeline.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "build/install_tree.hpp"
#include "util/clock.hpp"

namespace prestage::projects {
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kMaxPendingPaths = 10000;
constexpr std::size_t kMaxReasons = 20;

std::int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string top_level(const std::string& dotted) { return dotted.substr(0, dotted.find('.')); }

// maturin's generated __init__.py for a pure-Rust crate.
std::string reexport_init(const std::string& ext) {
  return "from ." + ext + " import *\n\n__doc__ = " + ext + ".__doc__\nif hasattr(" + ext + ", \"__all__\"):\n    __all__ = " +
         ext + ".__all__\n";
}
}  // namespace

ProjectPipeline::ProjectPipeline(PipelineEnv& env, ProjectInfo info, std::vector<std::string> pythons)
    : env_(env),
      info_(std::move(info)),
      pythons_(std::move(pythons)),
      project_state_(env.state_dir / "projects" / info_.id),
      store_(project_state_),
      work_(boost::asio::make_strand(env.pool)),
      settle_timer_(env.io) {}

ProjectPipeline::~ProjectPipeline() = default;

void ProjectPipeline::start() {
  store_.recover();
  std::vector<fs::path> ignored{env_.state_dir};
  if (auto snapshot = store_.load_sources()) {
    try {
      tree_ = std::make_unique<watch::SourceTree>(watch::SourceTree::from_json(info_.root, *snapshot, ignored));
    } catch (const std::exception& e) {
      spdlog::warn("{}: ignoring unreadable source snapshot: {}", info_.id, e.what());
    }
  }
  if (!tree_) tree_ = std::make_unique<watch::SourceTree>(info_.root, ignored);
  std::weak_ptr<ProjectPipeline> weak = weak_from_this();
  watcher_ = std::make_unique<watch::Watcher>(
      env_.watch_backends, info_.root,
      [weak](std::vector<fs::path> paths, bool rescan) {
        if (auto self = weak.lock()) self->paths_changed(std::move(paths), rescan);
      },
      ignored, env_.watch_options);
  watcher_->start();
  rescan_next_ = true;
  request_round();
}

void ProjectPipeline::stop() {
  if (stopped_) return;
  stopped_ = true;
  settle_timer_.cancel();
  if (watcher_) watcher_->stop();
  if (task_) task_->cancel();
  if (slots_requested_) env_.slots.forget(info_.id);
  if (holds_slot_) env_.slots.release();
  round_active_ = slots_requested_ = holds_slot_ = building_ = settling_ = false;
  for (auto& w : waiters_) {
    w.timer->cancel();
    w.done({nullptr, kBuildFailed, "project " + info_.id + " was closed", nullptr});
  }
  waiters_.clear();
  answer_idle_waiters();
}

void ProjectPipeline::add_python(const std::string& python) {
  if (std::find(pythons_.begin(), pythons_.end(), python) != pythons_.end()) return;
  pythons_.push_back(python);
  request_round();
}

void ProjectPipeline::paths_changed(std::vector<fs::path> paths, bool rescan) {
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

void ProjectPipeline::force_build() {
  if (stopped_) return;
  force_next_ = true;
  rescan_next_ = true;
  reasons_.insert("build/run");
  request_round();
}

void ProjectPipeline::schedule_settle() {
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

void ProjectPipeline::settle_fired() {
  settling_ = false;
  request_round();
  report_state();
}

void ProjectPipeline::sync() {
  if (stopped_) return;
  if (watcher_) watcher_->sync();  // may call paths_changed, which starts settling
  if (settling_) {
    settle_timer_.cancel();
    settle_fired();
  }
}

void ProjectPipeline::when_idle(std::chrono::milliseconds timeout, std::function<void(bool)> done) {
  if (stopped_ || !busy()) return done(true);
  auto timer = std::make_shared<net::steady_timer>(env_.io, timeout);
  idle_waiters_.push_back({std::move(done), timer});
  timer->async_wait([weak = weak_from_this(), timer](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    auto& waiters = self->idle_waiters_;
    auto it = std::find_if(waiters.begin(), waiters.end(), [&](const IdleWaiter& w) { return w.timer == timer; });
    if (it == waiters.end()) return;
    auto done = std::move(it->done);
    waiters.erase(it);
    done(false);
  });
}

void ProjectPipeline::answer_idle_waiters() {
  auto waiters = std::move(idle_waiters_);
  idle_waiters_.clear();
  for (auto& w : waiters) {
    w.timer->cancel();
    w.done(true);
  }
}

void ProjectPipeline::request_round() {
  if (stopped_) return;
  if (round_active_) {
    follow_up_ = true;
    return;
  }
  run_round();
}

void ProjectPipeline::run_round() {
  round_active_ = true;
  follow_up_ = false;
  report_state();
  round_reasons_.assign(reasons_.begin(), reasons_.end());
  reasons_.clear();
  bool rescan = rescan_next_;
  rescan_next_ = false;
  auto paths = std::move(pending_paths_);
  pending_paths_.clear();
  net::post(work_, [self = shared_from_this(), rescan, paths = std::move(paths), pythons = pythons_] {
    watch::SourceTree::Delta delta;
    std::string hash;
    std::size_t files = 0;
    try {
      delta = rescan ? self->tree_->rescan() : self->tree_->refresh(paths);
      hash = self->tree_->combined_hash();
      files = self->tree_->file_count();
    } catch (const std::exception& e) {
      spdlog::error("{}: scanning sources failed: {}", self->info_.id, e.what());
    }
    // A new or changed interpreter is run here, not on the io thread; scan_done then finds its
    // facts (or its error) in the cache.
    for (const auto& python : pythons) {
      try {
        self->env_.interpreters.get(python);
      } catch (const std::exception&) {
      }
    }
    net::post(self->env_.io, [self, delta = std::move(delta), hash = std::move(hash), files]() mutable {
      self->scan_done(std::move(delta), std::move(hash), files);
    });
  });
}

void ProjectPipeline::scan_done(watch::SourceTree::Delta delta, std::string source_hash, std::size_t files) {
  if (stopped_) return;
  files_ = files;
  round_source_hash_ = std::move(source_hash);
  if (!delta.empty()) {
    round_python_only_ = unbuilt_ ? (round_python_only_ && delta.python_only()) : delta.python_only();
    unbuilt_ = true;
    if (round_reasons_.empty())
      for (const auto& p : delta.all())
        if (round_reasons_.size() < kMaxReasons) round_reasons_.push_back(p.string());
  }
  bool force = force_next_;
  force_next_ = false;

  round_pythons_.clear();
  bool every_target_staged = true;
  for (const auto& python : pythons_) {
    auto interp = interpreter(python);
    bool staged = interp && store_.latest(interp->key).has_value();
    bool last_ok = interp && (!records_.count(interp->key) || records_.at(interp->key).ok);
    every_target_staged = every_target_staged && staged && last_ok;
    if (force || unbuilt_ || !staged) round_pythons_.push_back(python);
  }
  if (round_pythons_.empty()) {
    finish_round(true);
    return;
  }
  round_restage_only_ = unbuilt_ && round_python_only_ && every_target_staged && !force;
  round_index_ = 0;
  if (round_restage_only_) return start_building();  // copies files, compiles nothing: no slot
  slots_requested_ = true;
  env_.slots.acquire(info_.id, [weak = weak_from_this(), &io = env_.io, &slots = env_.slots] {
    net::post(io, [weak, &slots] {
      auto self = weak.lock();
      if (!self || self->stopped_ || !self->slots_requested_) return slots.release();  // granted after the round ended
      self->slots_requested_ = false;
      self->holds_slot_ = true;
      self->start_building();
    });
  });
}

void ProjectPipeline::start_building() {
  building_ = true;
  report_state();
  env_.notify("build/started", {{"project", info_.id}, {"reason", round_reasons_}});
  build_next_python();
}

void ProjectPipeline::build_next_python() {
  if (stopped_) return;
  if (round_index_ >= round_pythons_.size()) {
    finish_round(true);
    return;
  }
  const std::string python = round_pythons_[round_index_];
  std::string error;
  auto interp = interpreter(python, &error);
  if (!interp) {
    BuildRecord failed;
    failed.summary = error;
    failed.log_tail = error;
    record_result(python, std::move(failed), nullptr);
    ++round_index_;
    build_next_python();
    return;
  }
  if (round_restage_only_) {
    if (auto layout = restage_layout(*interp)) {
      publish(*interp, std::move(*layout), {}, 0, "python sources restaged without compiling\n");
      return;
    }
  }
  build::BuildJob job{info_, *interp, project_state_ / "work" / interp->key};
  auto began = Clock::now();
  std::weak_ptr<ProjectPipeline> weak = weak_from_this();
  task_ = build::start_build(
      env_.io, std::move(job),
      [weak](const std::string& message) {
        if (auto self = weak.lock(); self && !self->stopped_)
          self->env_.notify("build/progress", {{"project", self->info_.id}, {"message", message}});
      },
      [weak, interp = *interp, began](build::BuildOutput output) {
        if (auto self = weak.lock()) self->build_finished(interp, std::move(output), began);
      });
}

void ProjectPipeline::build_finished(const build::Interpreter& python, build::BuildOutput output, Clock::time_point began) {
  task_.reset();
  if (stopped_) return;
  auto duration = ms_since(began);
  if (output.cancelled) {
    finish_round(false);
    return;
  }
  if (!output.ok) {
    BuildRecord failed;
    failed.duration_ms = duration;
    failed.diagnostics = std::move(output.diagnostics);
    failed.log_tail = std::move(output.log_tail);
    failed.summary = output.summary.empty() ? "build failed" : output.summary;
    record_result(python.key, std::move(failed), nullptr);
    ++round_index_;
    build_next_python();
    return;
  }
  // Sources saved while this build ran: it may have read a mix of old and new files.
  bool stale = settling_ || !pending_paths_.empty() || follow_up_;
  if (stale && Clock::now() - last_publish_ < kStarvationBound) {
    spdlog::info("{}: sources changed during the build; not publishing it, rebuilding", info_.id);
    follow_up_ = true;
    finish_round(false);
    return;
  }
  std::vector<Diagnostic> warnings = std::move(output.diagnostics);
  stage::PackageLayout layout;
  try {
    layout = layout_for(output, python);
  } catch (const std::exception& e) {  // cmake: the staged tree is read from the install dir
    BuildRecord failed;
    failed.duration_ms = duration;
    failed.summary = e.what();
    failed.log_tail = std::move(output.log_tail) + "\n" + failed.summary + "\n";
    record_result(python.key, std::move(failed), nullptr);
    ++round_index_;
    build_next_python();
    return;
  }
  publish(python, std::move(layout), std::move(warnings), duration, std::move(output.log_tail));
}

void ProjectPipeline::publish(const build::Interpreter& python, stage::PackageLayout layout, std::vector<Diagnostic> warnings,
                              std::int64_t duration_ms, std::string log_tail) {
  stage::Manifest draft;
  draft.generation = 0;  // numbered by the store only when the content is new
  draft.project_id = info_.id;
  draft.python_key = python.key;
  draft.python = python.executable.string();
  draft.source_hash = round_source_hash_;
  draft.duration_ms = duration_ms;
  draft.diagnostics = warnings;
  auto keep = env_.keep_generations;
  auto pins = pinned();
  std::vector<std::string> staged_modules;  // cmake: every importable top-level name of the generation
  if (info_.kind == ProjectKind::cmake) {
    std::vector<build::StagedFile> files;
    for (const auto& [rel, src] : layout.extra_files) files.push_back({rel, src, {}});
    for (const auto& [module, rel, src] : layout.placed_artifacts) files.push_back({rel, src, module});
    staged_modules = build::top_level_names(files);
  }
  net::post(work_, [self = shared_from_this(), python, layout = std::move(layout), draft = std::move(draft), keep,
                        pins = std::move(pins), warnings = std::move(warnings), duration_ms, log_tail = std::move(log_tail),
                        staged_modules = std::move(staged_modules)]() mutable {
    std::optional<stage::Manifest> manifest;
    std::string error;
    try {
      manifest = self->store_.publish(layout, draft);
      self->store_.gc(python.key, keep, pins);
    } catch (const std::exception& e) {
      error = e.what();
    }
    net::post(self->env_.io, [self, python, manifest = std::move(manifest), error = std::move(error), warnings = std::move(warnings),
                              duration_ms, log_tail = std::move(log_tail), staged_modules = std::move(staged_modules)]() mutable {
      if (self->stopped_) return;
      BuildRecord record;
      record.duration_ms = duration_ms;
      record.diagnostics = std::move(warnings);
      record.log_tail = std::move(log_tail);
      if (!error.empty()) {
        record.summary = "staging failed: " + error;
        record.log_tail += "\n" + record.summary + "\n";
        record.diagnostics.clear();
      } else {
        record.ok = true;
        if (manifest) self->last_publish_ = Clock::now();
        if (!staged_modules.empty()) self->staged_modules_ = std::move(staged_modules);
        self->pybind11_includes_.erase(python.key);  // a reconfigure may have changed the CMake cache
        self->forget_ready_answers();                // ... and with it the helper they name
        self->pybind11_helper(python);               // compiles it in the background, ready before the next reload
      }
      self->record_result(python.key, std::move(record), manifest ? &*manifest : nullptr);
      ++self->round_index_;
      self->build_next_python();
    });
  });
}

void ProjectPipeline::record_result(const std::string& python_key, BuildRecord record, const stage::Manifest* manifest) {
  auto latest = store_.latest(python_key);
  record.generation = manifest ? manifest->generation : (latest ? latest->generation : 0);
  record.finished_at = util::now_iso8601();
  if (!record.ok) round_failed_ = true;
  nlohmann::json params = {{"project", info_.id},
                           {"ok", record.ok},
                           {"generation", record.generation},
                           {"duration_ms", record.duration_ms},
                           {"diagnostics", record.diagnostics}};
  if (!record.ok) params["summary"] = record.summary;
  records_[python_key] = std::move(record);
  forget_ready_answers();
  last_python_key_ = python_key;
  env_.notify("build/finished", params);
}

void ProjectPipeline::finish_round(bool completed) {
  if (stopped_) return;
  round_active_ = building_ = false;
  task_.reset();
  if (slots_requested_) env_.slots.forget(info_.id);
  if (holds_slot_) env_.slots.release();
  slots_requested_ = holds_slot_ = false;
  if (completed) {
    // The generation now matches the tree (or the build failed and will be retried on the next change).
    unbuilt_ = false;
    round_python_only_ = false;
    if (!round_failed_) {
      net::post(work_, [self = shared_from_this()] {
        try {
          self->store_.save_sources(self->tree_->to_json());
        } catch (const std::exception& e) {
          spdlog::warn("{}: cannot save the source snapshot: {}", self->info_.id, e.what());
        }
        if (self->tree_->file_count() >= watch::SourceTree::kTrimAfterFiles) ::malloc_trim(0);  // the snapshot's text
      });
    }
  }
  round_failed_ = false;
  if (follow_up_ && !settling_) {
    follow_up_ = false;
    request_round();
  }
  report_state();
  if (!busy()) answer_waiters();
}

void ProjectPipeline::answer_waiters() {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) {
    w.timer->cancel();
    w.done(answer(w.name, w.python));
  }
  answer_idle_waiters();
}

void ProjectPipeline::report_state() {
  auto now = state();
  if (now == reported_state_) return;
  reported_state_ = now;
  env_.notify("project/state", {{"project", info_.id}, {"state", now}});
}

std::string_view ProjectPipeline::state() const {
  if (building_) return "building";
  if (round_active_ || settling_) return "queued";
  return "idle";
}

std::uint64_t ProjectPipeline::generation() const {
  std::uint64_t newest = 0;
  for (const auto& key : store_.python_keys())
    if (auto m = store_.latest(key)) newest = std::max(newest, m->generation);
  return newest;
}

nlohmann::json ProjectPipeline::last_build_json() const {
  auto it = records_.find(last_python_key_);
  if (it == records_.end()) {
    // After a restart: report the newest staged generation as the last good build.
    std::optional<stage::Manifest> newest;
    for (const auto& key : store_.python_keys())
      if (auto m = store_.latest(key); m && (!newest || m->generation > newest->generation)) newest = m;
    if (!newest) return nullptr;
    return {{"ok", true}, {"generation", newest->generation}, {"duration_ms", newest->duration_ms},
            {"diagnostics", newest->diagnostics}, {"log_tail", ""}};
  }
  const auto& r = it->second;
  return {{"ok", r.ok}, {"generation", r.generation}, {"duration_ms", r.duration_ms}, {"diagnostics", r.diagnostics},
          {"log_tail", r.log_tail}};
}

nlohmann::json ProjectPipeline::status() const {
  nlohmann::json watch = {{"files", files_},
                          {"overflows", watcher_ ? watcher_->overflows() : 0},
                          {"mode", watcher_ ? std::string(watcher_->mode()) : std::string("stopped")}};
  if (watcher_ && !watcher_->error().empty()) watch["error"] = watcher_->error();
  nlohmann::json out = {{"generation", generation()}, {"state", state()}, {"last_build", last_build_json()}, {"watch", watch}};
  if (!staged_modules_.empty()) out["modules"] = modules();
  return out;
}

std::vector<std::string> ProjectPipeline::modules() const {
  std::vector<std::string> out = info_.modules;
  for (const auto& name : staged_modules_)
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  return out;
}

bool ProjectPipeline::provides(std::string_view top) const {
  return std::find(staged_modules_.begin(), staged_modules_.end(), top) != staged_modules_.end();
}

nlohmann::json ProjectPipeline::artifacts_json(const stage::Manifest& m) const {
  fs::path gen = store_.generation_dir(m.python_key, m.generation);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : m.artifacts) out.push_back({{"module", a.module}, {"path", (gen / a.relpath).string()}, {"sha256", a.sha256}});
  return out;
}

nlohmann::json ProjectPipeline::generations() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& key : store_.python_keys())
    for (const auto& m : store_.list(key))
      out.push_back({{"generation", m.generation},
                     {"python", m.python},
                     {"created_at", m.created_at},
                     {"duration_ms", m.duration_ms},
                     {"ok", true},
                     {"artifacts", artifacts_json(m)}});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a["generation"] > b["generation"]; });
  return out;
}

nlohmann::json ProjectPipeline::build_log() const {
  auto it = records_.find(last_python_key_);
  if (it == records_.end()) return {{"id", info_.id}, {"generation", generation()}, {"ok", nullptr}, {"log", ""}};
  return {{"id", info_.id}, {"generation", it->second.generation}, {"ok", it->second.ok}, {"log", it->second.log_tail}};
}

void ProjectPipeline::resolve(const std::string& name, const std::string& python, bool wait, std::chrono::milliseconds timeout,
                              std::function<void(ResolveOutcome)> done) {
  auto known = env_.interpreters.lookup(python);
  // A new interpreter joins the project's targets once its facts are known, so the round it starts
  // does not run the query on the io thread either.
  if (known.needs_query()) return resolve_after_query(name, python, wait, timeout, std::move(done));
  add_python(python);
  if (!known.facts) return done({nullptr, kInvalidPython, "python: " + known.error, nullptr});
  resolve_known(name, python, known.facts, wait, timeout, std::move(done));
}

void ProjectPipeline::resolve_after_query(const std::string& name, const std::string& python, bool wait,
                                          std::chrono::milliseconds timeout, std::function<void(ResolveOutcome)> done) {
  auto& parked = parked_on_query_[python];
  parked.push_back([self = shared_from_this(), name, python, wait, timeout, done = std::move(done)]() mutable {
    if (self->stopped_) return done({nullptr, kBuildFailed, "project " + self->info_.id + " was closed", nullptr});
    self->add_python(python);
    std::string error;
    auto interp = self->interpreter(python, &error);  // remembered by the query that just ran
    if (!interp) return done({nullptr, kInvalidPython, "python: " + error, nullptr});
    self->resolve_known(name, python, interp, wait, timeout, std::move(done));
  });
  if (parked.size() > 1) return;  // its query is already running
  // Running an interpreter takes tens of ms (up to its 30 s timeout): not on the io thread.
  net::post(env_.pool, [self = shared_from_this(), python] {
    try {
      self->env_.interpreters.get(python);
    } catch (const std::exception&) {
      // Remembered by the cache; the parked resolves report it.
    }
    net::post(self->env_.io, [self, python] {
      auto it = self->parked_on_query_.find(python);
      if (it == self->parked_on_query_.end()) return;
      auto resumes = std::move(it->second);
      self->parked_on_query_.erase(it);
      for (auto& resume : resumes) resume();
    });
  });
}

void ProjectPipeline::resolve_known(const std::string& name, const std::string& python, const build::InterpreterCache::Facts& interp,
                                    bool wait, std::chrono::milliseconds timeout, std::function<void(ResolveOutcome)> done) {
  ResolveOutcome now = ready_answer(name, python, interp);
  // A target interpreter with neither a generation nor a build record (e.g. one replaced on disk by
  // another) gets a round, as a newly added one does.
  if (now.error_code == kNotBuilt && !busy() && !records_.count(interp->key)) request_round();
  if (!wait || !busy()) {
    done(std::move(now));
    return;
  }
  auto timer = std::make_shared<net::steady_timer>(env_.io, timeout);
  waiters_.push_back({name, python, std::move(done), timer});
  timer->async_wait([weak = weak_from_this(), timer, timeout](boost::system::error_code ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self) return;
    auto it = std::find_if(self->waiters_.begin(), self->waiters_.end(), [&](const Waiter& w) { return w.timer == timer; });
    if (it == self->waiters_.end()) return;
    auto done = std::move(it->done);
    self->waiters_.erase(it);
    done({nullptr, kWaitTimedOut,
          "timed out after " + std::to_string(timeout.count() / 1000) + " s waiting for the build of " + self->info_.id,
          {{"project", self->info_.id}}});
  });
}

ResolveOutcome ProjectPipeline::answer(const std::string& name, const std::string& python) {
  std::string error;
  auto interp = interpreter(python, &error);
  if (!interp) return {nullptr, kInvalidPython, "python: " + error, nullptr};
  return ready_answer(name, python, interp);
}

ResolveOutcome ProjectPipeline::ready_answer(const std::string& name, const std::string& python,
                                             const build::InterpreterCache::Facts& interp) {
  // Versions first, then the state they cover: a change in between only makes the answer redone sooner.
  const std::uint64_t store_version = store_.version();
  const std::uint64_t helpers_version = env_.pybind11_helpers.version();
  if (auto by_python = ready_.find(python); by_python != ready_.end()) {
    if (auto it = by_python->second.find(name); it != by_python->second.end()) {
      const ReadyAnswer& ready = it->second;
      if (ready.interpreter == interp && ready.store_version == store_version && ready.helpers_version == helpers_version)
        return ready.outcome;
    }
  }
  ResolveOutcome fresh = build_answer(name, python, *interp);
  if (ready_count_ >= kMaxReadyAnswers) forget_ready_answers();  // bounds memory against arbitrary names
  auto [it, inserted] = ready_[python].try_emplace(name);
  if (inserted) ++ready_count_;
  it->second = ReadyAnswer{interp, store_version, helpers_version, fresh};
  return fresh;
}

void ProjectPipeline::forget_ready_answers() {
  ready_.clear();
  ready_count_ = 0;
}

ResolveOutcome ProjectPipeline::build_answer(const std::string& name, const std::string& python, const build::Interpreter& interp) const {
  auto latest = store_.latest(interp.key);
  auto record = records_.find(interp.key);
  if (record != records_.end() && !record->second.ok) {
    const auto& r = record->second;
    return {nullptr, kBuildFailed, "build of " + info_.id + " failed: " + r.summary,
            {{"project", info_.id}, {"generation", r.generation}, {"diagnostics", r.diagnostics}, {"log_tail", r.log_tail}}};
  }
  if (!latest)
    return {nullptr, kNotBuilt, "no generation of " + info_.id + " yet for " + python + "; its first build has not finished",
            {{"project", info_.id}}};
  fs::path gen = store_.generation_dir(interp.key, latest->generation);
  nlohmann::json artifacts = artifacts_json(*latest);

  nlohmann::json origin = nullptr, search = nullptr;
  for (const auto& a : latest->artifacts)
    if (a.module == name) origin = (gen / a.relpath).string();
  if (origin.is_null()) {
    std::string rel = name;
    std::replace(rel.begin(), rel.end(), '.', '/');
    std::error_code ec;
    if (fs::is_regular_file(gen / rel / "__init__.py", ec)) {
      origin = (gen / rel / "__init__.py").string();
      search = nlohmann::json::array({(gen / rel).string()});
    } else if (fs::is_regular_file(gen / (rel + ".py"), ec)) {
      origin = (gen / (rel + ".py")).string();
    } else {
      return {std::make_shared<const std::string>("null"), 0, {}, nullptr};  // the project does not provide this submodule
    }
  }
  nlohmann::json result = {{"project", info_.id},
                           {"generation", latest->generation},
                           {"origin", origin},
                           {"submodule_search_locations", search},
                           {"path_entry", gen.string()},
                           {"artifacts", artifacts}};
  if (!staged_modules_.empty()) result["modules"] = modules();  // names the finder did not know before the build
  if (auto helper = pybind11_helper(interp)) result["pybind11_helper"] = helper->string();
  return {std::make_shared<const std::string>(result.dump()), 0, {}, nullptr};
}

stage::PackageLayout ProjectPipeline::layout_for(const build::BuildOutput& output, const build::Interpreter& python) const {
  stage::PackageLayout layout;
  layout.ext_suffix = python.ext_suffix;
  if (info_.kind == ProjectKind::cpp_file || info_.kind == ProjectKind::rust_file) {
    for (const auto& a : output.artifacts) layout.artifacts.emplace_back(a.module, a.path);
    return layout;
  }
  if (info_.kind == ProjectKind::cmake) {  // scikit-build-core's editable layout: install tree + packages
    auto staged = build::cmake_stage_files(info_, python, project_state_ / "work" / python.key);
    for (auto& a : staged.extensions) layout.placed_artifacts.emplace_back(a.module, a.relpath, a.path);
    layout.extra_files = std::move(staged.files);
    return layout;
  }
  const std::string top = info_.modules.empty() ? top_level(info_.extension_module) : info_.modules.front();
  std::error_code ec;
  fs::path package_dir = info_.python_source.empty() ? fs::path() : info_.python_source / top;
  bool has_python_package = !package_dir.empty() && fs::is_directory(package_dir, ec);
  if (has_python_package) layout.trees.emplace_back(package_dir, top);
  for (const auto& a : output.artifacts) {
    // maturin puts an undotted module inside the package of the same name.
    std::string module = (info_.kind == ProjectKind::cargo && a.module.find('.') == std::string::npos) ? top + "." + a.module : a.module;
    layout.artifacts.emplace_back(module, a.path);
  }
  if (info_.kind == ProjectKind::cargo && !has_python_package)
    layout.generated.emplace_back(top + "/__init__.py", reexport_init(info_.extension_module.substr(info_.extension_module.rfind('.') + 1)));
  for (const auto& [rel, src] : output.extra_files) {
    bool in_tree = has_python_package && fs::exists(package_dir / fs::path(rel).lexically_relative(top), ec);
    if (!in_tree) layout.extra_files.emplace_back(rel, src);
  }
  return layout;
}

std::optional<stage::PackageLayout> ProjectPipeline::restage_layout(const build::Interpreter& python) const {
  auto latest = store_.latest(python.key);
  if (!latest) return std::nullopt;
  if (info_.kind == ProjectKind::cmake) {
    try {
      return layout_for(build::BuildOutput{}, python);  // the last install tree, the current package sources
    } catch (const std::exception&) {
      return std::nullopt;  // a full build reports the problem
    }
  }
  // The package's Python files from the sources, the extensions (already under their final module
  // names) from the newest generation.
  auto layout = layout_for(build::BuildOutput{}, python);
  fs::path gen = store_.generation_dir(python.key, latest->generation);
  for (const auto& a : latest->artifacts) layout.artifacts.emplace_back(a.module, gen / a.relpath);
  return layout;
}

std::optional<fs::path> ProjectPipeline::pybind11_helper(const build::Interpreter& python) const {
  auto it = pybind11_includes_.find(python.key);
  if (it == pybind11_includes_.end()) {
    fs::path include;
    if (info_.kind == ProjectKind::cpp_file)
      include = build::pybind11_include_dir();
    else if (info_.kind == ProjectKind::cmake)
      include = build::pybind11_include_from_cmake_cache(project_state_ / "work" / python.key / "build" / "CMakeCache.txt");
    it = pybind11_includes_.emplace(python.key, std::move(include)).first;
  }
  if (it->second.empty()) return std::nullopt;
  return env_.pybind11_helpers.get(python, it->second);
}

void ProjectPipeline::pin(const std::string& client_id, std::set<std::uint64_t> generations) {
  if (generations.empty()) pins_.erase(client_id);
  else pins_[client_id] = std::move(generations);
}

void ProjectPipeline::unpin(const std::string& client_id) { pins_.erase(client_id); }

std::set<std::uint64_t> ProjectPipeline::pinned() const {
  std::set<std::uint64_t> all;
  for (const auto& [client, gens] : pins_) all.insert(gens.begin(), gens.end());
  return all;
}

build::InterpreterCache::Facts ProjectPipeline::interpreter(const std::string& python, std::string* error) const {
  try {
    return env_.interpreters.get(python);
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return nullptr;
  }
}
}  // namespace prestage::projects
