#include "projects/resolve_service.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "util/thread_check.hpp"

namespace prestage::projects {
namespace net = boost::asio;

ResolveService::ResolveService(ResolveContext context, ResolveHooks hooks, ProjectInfo info)
    : ctx_(std::move(context)), hooks_(std::move(hooks)), info_(std::move(info)) {}

ResolveOutcome ResolveService::closed() const {
  ResolveOutcome out;
  out.error = ResolveError::project_closed;
  out.message = "project " + info_.id + " was closed";
  out.project = info_.id;
  return out;
}

void ResolveService::resolve(ResolveRequest request, std::function<void(ResolveOutcome)> done) {
  util::assert_on_io("ResolveService::resolve");
  if (stopped_) return done(closed());
  request.deadline = std::chrono::steady_clock::now() + request.timeout;
  auto known = ctx_.interpreters.lookup(request.python);
  // A new interpreter joins the project's targets once its facts are known, so the round it starts
  // does not run the query on the io thread either.
  if (known.needs_query()) return resolve_after_query(std::move(request), std::move(done));
  hooks_.add_python(request.python);
  if (!known.facts) {
    ResolveOutcome bad;
    bad.error = ResolveError::invalid_python;
    bad.message = "python: " + known.error;
    return done(std::move(bad));
  }
  resolve_known(std::move(request), known.facts, std::move(done));
}

void ResolveService::query_then(const std::string& python, std::function<void()> then) {
  auto& parked = parked_on_query_[python];
  parked.push_back(std::move(then));
  if (parked.size() > 1) return;  // its query is already running
  // Running an interpreter takes tens of ms (up to its 30 s timeout): not on the io thread.
  net::post(ctx_.pool, [self = shared_from_this(), python] {
    try {
      self->ctx_.interpreters.get_blocking(python);
    } catch (const std::exception&) {
      // Remembered by the cache; the resumed calls find it.
    }
    net::post(self->ctx_.io, [self, python] {
      auto it = self->parked_on_query_.find(python);
      if (it == self->parked_on_query_.end()) return;
      auto resumes = std::move(it->second);
      self->parked_on_query_.erase(it);
      for (auto& resume : resumes) resume();
    });
  });
}

void ResolveService::resolve_after_query(ResolveRequest request, std::function<void(ResolveOutcome)> done) {
  const std::string python = request.python;
  query_then(python, [self = shared_from_this(), request = std::move(request), done = std::move(done)]() mutable {
    if (self->stopped_) return done(self->closed());
    self->hooks_.add_python(request.python);
    auto known = self->ctx_.interpreters.lookup(request.python);  // remembered by the query that just ran
    if (!known.facts) {
      ResolveOutcome bad;
      bad.error = ResolveError::invalid_python;
      bad.message = "python: " + (known.error.empty() ? std::string("cannot query ") + request.python : known.error);
      return done(std::move(bad));
    }
    self->resolve_known(std::move(request), known.facts, std::move(done));
  });
}

void ResolveService::resolve_known(ResolveRequest request, const builders::InterpreterCache::Facts& interp,
                                   std::function<void(ResolveOutcome)> done) {
  const bool busy = hooks_.busy();
  // A target interpreter with neither a generation nor a build record (e.g. one replaced on disk by
  // another) gets a round, as a newly added one does.
  if (!busy && !ctx_.records.has(interp->key) && !ctx_.store.latest(interp->key)) hooks_.request_round();
  if (!request.wait || !hooks_.busy()) return answer(request, interp, std::move(done));
  auto timer = std::make_shared<net::steady_timer>(ctx_.io, request.deadline);
  const auto timeout = request.timeout;
  waiters_.push_back({std::move(request), std::move(done), timer});
  timer->async_wait([weak = weak_from_this(), timer, timeout](boost::system::error_code ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self) return;
    auto it = std::find_if(self->waiters_.begin(), self->waiters_.end(), [&](const Waiter& w) { return w.timer == timer; });
    if (it == self->waiters_.end()) return;
    auto done = std::move(it->done);
    self->waiters_.erase(it);
    done(self->timed_out(timeout));
  });
}

ResolveOutcome ResolveService::timed_out(std::chrono::milliseconds timeout) const {
  ResolveOutcome late;
  late.error = ResolveError::wait_timed_out;
  const auto ms = timeout.count();
  late.message = "timed out after " + (ms % 1000 ? std::to_string(ms) + " ms" : std::to_string(ms / 1000) + " s") +
                 " waiting for the build of " + info_.id;
  late.project = info_.id;
  if (hooks_.progress) late.progress = hooks_.progress();
  return late;
}

void ResolveService::answer(const ResolveRequest& request, const builders::InterpreterCache::Facts& interp,
                            std::function<void(ResolveOutcome)> done) {
  ResolveOutcome now = ready_answer(request.name, request.python, interp);
  const bool wait_for_helper = request.wait && request.needs_pybind11_helper && now.error == ResolveError::none &&
                               ctx_.pybind11_helpers.compiling(*interp, pybind11_include(*interp));
  if (!wait_for_helper) return done(std::move(now));
  answer_after_helper(request, interp, std::move(done));
}

void ResolveService::answer_after_helper(const ResolveRequest& request, const builders::InterpreterCache::Facts& interp,
                                         std::function<void(ResolveOutcome)> done) {
  // Whichever comes first answers: the helper (ready or failed: then the answer names none and the
  // client falls back to its own), or the deadline (timed out, as a build wait: the client asks
  // again); the other finds `once` empty.
  auto once = std::make_shared<std::function<void(ResolveOutcome)>>(std::move(done));
  auto timer = std::make_shared<net::steady_timer>(ctx_.io, request.deadline);
  auto finish = [weak = weak_from_this(), once, timer, request, interp](bool in_time) {
    if (!*once) return;
    auto done = std::exchange(*once, nullptr);
    timer->cancel();
    auto self = weak.lock();
    if (!self) return done(ResolveOutcome{nullptr, ResolveError::project_closed, "the project was closed", "", {}, {}});
    if (self->stopped_) return done(self->closed());
    if (!in_time) {
      ResolveOutcome late = self->timed_out(request.timeout);
      late.message += "'s pybind11 helper";
      return done(std::move(late));
    }
    done(self->ready_answer(request.name, request.python, interp));
  };
  timer->async_wait([finish](boost::system::error_code ec) {
    if (!ec) finish(false);
  });
  ctx_.pybind11_helpers.when_settled(*interp, pybind11_include(*interp), [finish] { finish(true); });
}

void ResolveService::when_idle(std::chrono::milliseconds timeout, std::function<void(bool)> done) {
  util::assert_on_io("ResolveService::when_idle");
  if (stopped_ || !hooks_.busy()) return done(true);
  auto timer = std::make_shared<net::steady_timer>(ctx_.io, timeout);
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

void ResolveService::rounds_idle() {
  util::assert_on_io("ResolveService::rounds_idle");
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) {
    w.timer->cancel();
    // The rounds are over: the newest state answers (after the interpreter's query when it is due).
    auto known = ctx_.interpreters.lookup(w.request.python);
    if (known.facts) {
      answer(w.request, known.facts, std::move(w.done));
    } else if (known.needs_query()) {
      w.request.wait = false;
      resolve_after_query(std::move(w.request), std::move(w.done));
    } else {
      ResolveOutcome bad;
      bad.error = ResolveError::invalid_python;
      bad.message = "python: " + known.error;
      w.done(std::move(bad));
    }
  }
  auto idle = std::move(idle_waiters_);
  idle_waiters_.clear();
  for (auto& w : idle) {
    w.timer->cancel();
    w.done(true);
  }
}

void ResolveService::stop() {
  util::assert_on_io("ResolveService::stop");
  if (stopped_) return;
  stopped_ = true;
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) {
    w.timer->cancel();
    w.done(closed());
  }
  auto idle = std::move(idle_waiters_);
  idle_waiters_.clear();
  for (auto& w : idle) {
    w.timer->cancel();
    w.done(true);
  }
}

void ResolveService::published(const builders::Interpreter& python) {
  forget();             // a reconfigure may have changed the pybind11 headers, and the helper the answers name
  configured(python);   // compiles the helper for them in the background, ready before the next reload
}

void ResolveService::configured(const builders::Interpreter& python) {
  util::assert_on_io("ResolveService::configured");
  pybind11_includes_.erase(python.key);  // the configure may have just written the CMake cache
  pybind11_helper(python);
}

void ResolveService::forget() {
  ready_.clear();
  ready_count_ = 0;
}

ResolveOutcome ResolveService::ready_answer(const std::string& name, const std::string& python,
                                            const builders::InterpreterCache::Facts& interp) {
  // Versions first, then the state they cover: a change in between only makes the answer redone sooner.
  const std::uint64_t store_version = ctx_.store.version();
  const std::uint64_t helpers_version = ctx_.pybind11_helpers.version();
  if (auto by_python = ready_.find(python); by_python != ready_.end()) {
    if (auto it = by_python->second.find(name); it != by_python->second.end()) {
      const ReadyAnswer& ready = it->second;
      if (ready.interpreter == interp && ready.store_version == store_version && ready.helpers_version == helpers_version)
        return ready.outcome;
    }
  }
  ResolveOutcome fresh = build_answer(name, python, *interp);
  if (ready_count_ >= kMaxReadyAnswers) forget();  // bounds memory against arbitrary names
  auto [it, inserted] = ready_[python].try_emplace(name);
  if (inserted) ++ready_count_;
  it->second = ReadyAnswer{interp, store_version, helpers_version, fresh};
  return fresh;
}

ResolveOutcome ResolveService::build_answer(const std::string& name, const std::string& python,
                                            const builders::Interpreter& interp) const {
  ResolveOutcome out;
  if (const BuildRecord* record = ctx_.records.find(interp.key); record && !record->ok) {
    out.error = ResolveError::build_failed;
    out.message = "build of " + info_.id + " failed: " + record->summary;
    out.project = info_.id;
    out.failed_build = *record;
    return out;
  }
  auto latest = ctx_.store.latest(interp.key);
  if (!latest) {
    out.error = ResolveError::not_built;
    out.message = "no generation of " + info_.id + " yet for " + python + "; its first build has not finished";
    out.project = info_.id;
    return out;
  }
  const fs::path gen = ctx_.store.generation_dir(interp.key, latest->generation);
  ModuleSpec spec;
  spec.project = info_.id;
  spec.generation = latest->generation;
  spec.path_entry = gen;
  for (const auto& a : latest->artifacts) {
    spec.artifacts.push_back({a.module, gen / a.relpath, a.sha256});
    if (a.module == name) spec.origin = gen / a.relpath;
  }
  if (spec.origin.empty()) {
    std::string rel = name;
    std::replace(rel.begin(), rel.end(), '.', '/');
    std::error_code ec;
    if (fs::is_regular_file(gen / rel / "__init__.py", ec)) {
      spec.origin = gen / rel / "__init__.py";
      spec.search_location = gen / rel;
    } else if (fs::is_regular_file(gen / (rel + ".py"), ec)) {
      spec.origin = gen / (rel + ".py");
    } else if (fs::is_directory(gen / rel, ec)) {
      spec.search_location = gen / rel;  // a namespace package (PEP 420; maturin python-packages): no origin
    } else {
      out.text = std::make_shared<const std::string>(ctx_.serialize(nullptr));  // not a submodule of this project
      return out;
    }
  }
  spec.pybind11_helper = pybind11_helper(interp);
  if (!spec.pybind11_helper) spec.pybind11_helper_pending = ctx_.pybind11_helpers.compiling(interp, pybind11_include(interp));
  if (!latest->dist_info.empty()) spec.dist_info = gen / latest->dist_info;
  out.text = std::make_shared<const std::string>(ctx_.serialize(&spec));
  return out;
}

const fs::path& ResolveService::pybind11_include(const builders::Interpreter& python) const {
  auto it = pybind11_includes_.find(python.key);
  if (it == pybind11_includes_.end())
    it = pybind11_includes_.emplace(python.key, ctx_.backend.pybind11_include(info_, ctx_.work_root / python.key)).first;
  return it->second;
}

std::optional<fs::path> ResolveService::pybind11_helper(const builders::Interpreter& python) const {
  const fs::path& include = pybind11_include(python);
  if (include.empty()) return std::nullopt;
  return ctx_.pybind11_helpers.get(python, include);
}

void ResolveService::pin(const std::string& client_id, std::set<std::uint64_t> generations) {
  if (generations.empty()) pins_.erase(client_id);
  else pins_[client_id] = std::move(generations);
}

void ResolveService::unpin(const std::string& client_id) { pins_.erase(client_id); }

std::set<std::uint64_t> ResolveService::pinned() const {
  std::set<std::uint64_t> all;
  for (const auto& [client, gens] : pins_) all.insert(gens.begin(), gens.end());
  return all;
}
}  // namespace prestage::projects
