#include "projects/project_pipeline.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <set>

#include "builders/install_tree.hpp"
#include "util/thread_check.hpp"

namespace prestage::projects {

ProjectPipeline::ProjectPipeline(PipelineEnv& env, const builders::BuildBackend& backend, ProjectInfo info,
                                 std::vector<std::string> pythons)
    : env_(env),
      backend_(backend),
      info_(std::move(info)),
      pythons_(std::move(pythons)),
      project_state_(env.state_dir / "projects" / info_.id),
      store_(project_state_),
      work_(boost::asio::make_strand(env.pool)) {}

ProjectPipeline::~ProjectPipeline() = default;

void ProjectPipeline::start() {
  util::assert_on_io("ProjectPipeline::start");
  if (env_.change_page) change_slot_ = env_.change_page->claim(info_.id);
  store_.recover();
  std::vector<fs::path> ignored{env_.state_dir};
  std::shared_ptr<watch::SourceTree> tree;
  if (auto snapshot = store_.load_sources()) {
    try {
      tree = std::make_shared<watch::SourceTree>(watch::SourceTree::from_json(info_.root, *snapshot, ignored));
    } catch (const std::exception& e) {
      spdlog::warn("{}: ignoring unreadable source snapshot: {}", info_.id, e.what());
    }
  }
  if (!tree) tree = std::make_shared<watch::SourceTree>(info_.root, ignored);
  watch_extra_roots(tree, ignored);

  std::weak_ptr<ProjectPipeline> weak = weak_from_this();
  const fs::path work_root = project_state_ / "work";
  resolver_ = std::make_shared<ResolveService>(
      ResolveContext{env_.io, env_.pool, env_.interpreters, env_.pybind11_helpers, backend_, store_, records_, work_root,
                     env_.serialize_spec},
      ResolveHooks{[weak] {
                     auto self = weak.lock();
                     return self && self->busy();
                   },
                   [weak](const std::string& python) {
                     if (auto self = weak.lock()) self->add_python(python);
                   },
                   [weak] {
                     if (auto self = weak.lock(); self && self->rounds_) self->rounds_->request_round();
                   },
                   [weak]() -> std::optional<BuildProgress> {
                     auto self = weak.lock();
                     if (!self || !self->rounds_ || self->stopped_) return std::nullopt;
                     return self->rounds_->progress();
                   }},
      info_);
  rounds_ = std::make_shared<RoundScheduler>(
      RoundContext{env_.io, env_.pool, env_.interpreters, env_.slots, env_.events, backend_, store_, work_root,
                   env_.keep_generations},
      RoundHooks{[weak] {
                   auto self = weak.lock();
                   return self ? self->resolver_->pinned() : std::set<std::uint64_t>{};
                 },
                 [weak](const builders::Interpreter& python) {
                   if (auto self = weak.lock()) {
                     self->resolver_->published(python);
                     if (self->on_modules_ && names_come_from_build(self->info_.kind)) self->on_modules_(self->staged_modules());
                   }
                 },
                 [weak] {
                   if (auto self = weak.lock()) self->resolver_->forget();
                 },
                 [weak] {
                   if (auto self = weak.lock()) self->resolver_->rounds_idle();
                 },
                 [weak] {
                   if (auto self = weak.lock()) self->note_change();
                 },
                 [weak](const builders::Interpreter& python) {
                   if (auto self = weak.lock()) self->resolver_->configured(python);
                 }},
      info_, pythons_, std::move(tree), records_, work_);
  watcher_ = std::make_unique<watch::Watcher>(
      env_.watch_backends, info_.root,
      [weak](std::vector<fs::path> paths, bool rescan) {
        if (auto self = weak.lock()) self->paths_changed(std::move(paths), rescan);
      },
      ignored, env_.watch_options);
  watcher_->start();
  rounds_->start();
}

// Directories outside the root that the build depends on (cargo path dependencies): the backend
// names them on the pool (cargo metadata blocks); the strand adds them to the tree before the first
// scan runs, then the io thread starts one watcher each.
void ProjectPipeline::watch_extra_roots(std::shared_ptr<watch::SourceTree> tree, std::vector<fs::path> ignored) {
  boost::asio::post(work_, [weak = weak_from_this(), tree, ignored, &backend = backend_, info = info_, &io = env_.io] {
    std::vector<fs::path> roots;
    bool listed = true;
    try {
      roots = backend.watch_roots_blocking(info);
    } catch (const std::exception& e) {
      listed = false;
      spdlog::warn("{}: cannot list the directories the build depends on: {}", info.id, e.what());
    }
    for (const auto& root : roots) tree->add_extra_root(root);
    boost::asio::post(io, [weak, roots, ignored, listed] {
      auto self = weak.lock();
      if (!self || self->stopped_) return;
      for (const auto& root : roots) {
        spdlog::info("{}: also watching {}", self->info_.id, root.string());
        self->extra_watchers_.push_back(std::make_unique<watch::Watcher>(
            self->env_.watch_backends, root,
            [weak](std::vector<fs::path> paths, bool rescan) {
              if (auto self = weak.lock()) self->paths_changed(std::move(paths), rescan);
            },
            ignored, self->env_.watch_options));
        self->extra_watchers_.back()->start();
      }
      self->extra_roots_known_ = listed;  // until now a change there reached no watch
      self->note_change();
    });
  });
}

void ProjectPipeline::stop() {
  util::assert_on_io("ProjectPipeline::stop");
  if (stopped_) return;
  stopped_ = true;
  change_slot_ = {};  // released: a client holding its answer asks again
  if (watcher_) watcher_->stop();
  for (auto& w : extra_watchers_) w->stop();
  if (rounds_) rounds_->stop();
  if (resolver_) resolver_->stop();
}

void ProjectPipeline::add_python(const std::string& python) {
  if (std::find(pythons_.begin(), pythons_.end(), python) == pythons_.end()) pythons_.push_back(python);
  if (rounds_) rounds_->add_python(python);
}

void ProjectPipeline::paths_changed(std::vector<fs::path> paths, bool rescan) {
  if (stopped_ || !rounds_) return;
  note_change();
  rounds_->paths_changed(std::move(paths), rescan);
}

void ProjectPipeline::note_change() {
  if (stopped_ || !change_slot_) return;
  bool sees_all = extra_roots_known_ && watcher_ && watcher_->sees_every_change();
  for (const auto& w : extra_watchers_) sees_all = sees_all && w->sees_every_change();
  change_slot_.bump(sees_all);
}

void ProjectPipeline::force_build() {
  if (stopped_ || !rounds_) return;
  rounds_->force_build();
}

void ProjectPipeline::sync() {
  util::assert_on_io("ProjectPipeline::sync");
  if (stopped_ || !rounds_) return;
  if (watcher_) watcher_->sync();  // may call paths_changed, which starts settling
  for (auto& w : extra_watchers_) w->sync();
  rounds_->end_settling();
}

void ProjectPipeline::when_idle(std::chrono::milliseconds timeout, std::function<void(bool)> done) {
  if (stopped_ || !resolver_) return done(true);
  resolver_->when_idle(timeout, std::move(done));
}

std::vector<std::string> ProjectPipeline::staged_modules() const {
  std::vector<std::string> names;
  if (!names_come_from_build(info_.kind)) return names;
  for (const auto& key : store_.python_keys())
    if (auto latest = store_.latest(key)) {
      std::set<std::string> extensions;
      for (const auto& a : latest->artifacts) extensions.insert(a.relpath);
      for (auto& name : builders::top_level_names_in(store_.generation_dir(key, latest->generation), extensions))
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
    }
  return names;
}

State ProjectPipeline::state() const { return rounds_ && !stopped_ ? rounds_->state() : State::idle; }

bool ProjectPipeline::busy() const { return rounds_ && !stopped_ && rounds_->busy(); }

std::uint64_t ProjectPipeline::generation() const {
  std::uint64_t newest = 0;
  for (const auto& key : store_.python_keys())
    if (auto m = store_.latest(key)) newest = std::max(newest, m->generation);
  return newest;
}

ProjectStatus ProjectPipeline::status() const {
  ProjectStatus s;
  s.generation = generation();
  s.state = state();
  if (const BuildRecord* last = records_.last()) {
    s.last_build = *last;
  } else {
    // After a restart: the newest staged generation as the last good build.
    std::optional<stage::Manifest> newest;
    for (const auto& key : store_.python_keys())
      if (auto m = store_.latest(key); m && (!newest || m->generation > newest->generation)) newest = m;
    if (newest) {
      BuildRecord r;
      r.ok = true;
      r.generation = newest->generation;
      r.duration_ms = newest->duration_ms;
      r.diagnostics = newest->diagnostics;
      s.last_build = std::move(r);
    }
  }
  s.watch.files = rounds_ ? rounds_->files() : 0;
  if (rounds_ && !stopped_) s.progress = rounds_->progress();
  if (watcher_) {
    s.watch.overflows = watcher_->overflows();
    s.watch.mode = std::string(watcher_->mode());
    s.watch.error = watcher_->error();
  }
  return s;
}

std::vector<GenerationSummary> ProjectPipeline::generations() const {
  std::vector<GenerationSummary> out;
  for (const auto& key : store_.python_keys())
    for (const auto& m : store_.list(key)) {
      GenerationSummary g{m.generation, m.python, m.created_at, m.duration_ms, {}};
      const fs::path gen = store_.generation_dir(m.python_key, m.generation);
      for (const auto& a : m.artifacts) g.artifacts.push_back({a.module, gen / a.relpath, a.sha256});
      out.push_back(std::move(g));
    }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.generation > b.generation; });
  return out;
}

BuildLog ProjectPipeline::build_log() const {
  if (const BuildRecord* last = records_.last()) return {info_.id, last->generation, last->ok, last->log_tail};
  return {info_.id, generation(), std::nullopt, ""};
}

void ProjectPipeline::resolve(ResolveRequest request, std::function<void(ResolveOutcome)> done) {
  if (!resolver_) {
    ResolveOutcome closed;
    closed.error = ResolveError::project_closed;
    closed.message = "project " + info_.id + " was closed";
    closed.project = info_.id;
    return done(std::move(closed));
  }
  resolver_->resolve(std::move(request), std::move(done));
}

void ProjectPipeline::pin(const std::string& client_id, std::set<std::uint64_t> generations) {
  if (resolver_) resolver_->pin(client_id, std::move(generations));
}

void ProjectPipeline::unpin(const std::string& client_id) {
  if (resolver_) resolver_->unpin(client_id);
}
}  // namespace prestage::projects
