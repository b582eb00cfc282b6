#pragma once
// spec/resolve for one project: ready-made answers, callers waiting for a round, and the
// generations clients have loaded (pins). Io thread only (checked at the entry points).
//
// An answer is kept per (interpreter, module name) with its spec already serialized, and reused
// while the store's version, the pybind11 helpers' version and the interpreter's facts are those
// it was made from; a recorded build result or a pybind11 refresh drops them all (forget()).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "builders/backend.hpp"
#include "builders/pybind11_helper.hpp"
#include "projects/build_records.hpp"
#include "projects/project_state.hpp"
#include "stage/generation_store.hpp"

namespace prestage::projects {

struct ResolveContext {
  boost::asio::io_context& io;
  boost::asio::thread_pool& pool;
  builders::InterpreterCache& interpreters;
  builders::Pybind11Helpers& pybind11_helpers;
  const builders::BuildBackend& backend;
  stage::GenerationStore& store;
  const BuildRecords& records;
  fs::path work_root;
  SpecSerializer serialize;
};

// What the resolver asks of the project's rounds.
struct ResolveHooks {
  std::function<bool()> busy;                          // a round is settling or running
  std::function<void(const std::string&)> add_python;  // a new target interpreter
  std::function<void()> request_round;
  std::function<std::optional<BuildProgress>()> progress;  // the running build's, for a timed-out wait
};

// One spec/resolve call's question.
struct ResolveRequest {
  std::string name, python;
  bool wait = false;  // for a running or queued round, and for the pybind11 helper of a reload
  std::chrono::milliseconds timeout{0};             // how long a wait may take in all
  std::chrono::steady_clock::time_point deadline;  // set by resolve(): the call's start + timeout
  bool needs_pybind11_helper = false;  // with `wait`: answer once the helper compiling for python is ready
};

class ResolveService : public std::enable_shared_from_this<ResolveService> {
 public:
  ResolveService(ResolveContext context, ResolveHooks hooks, ProjectInfo info);

  // Answers at once, or, when `wait` and a round is running or queued, once it is over (bounded).
  // With `needs_pybind11_helper` (a client about to reload pybind11 classes) it also waits for the
  // helper compiling for the interpreter, so that the answer names it and the client compiles none.
  void resolve(ResolveRequest request, std::function<void(ResolveOutcome)> done);
  // done(true) once no round is settling or running (at once when idle or closed), done(false) after `timeout`.
  void when_idle(std::chrono::milliseconds timeout, std::function<void(bool idle)> done);
  // The rounds went idle: every waiter gets its answer.
  void rounds_idle();
  void stop();  // waiters are answered project_closed

  // A good build was staged for `python`: the CMake cache may name other pybind11 headers, and the
  // helper for them starts compiling now so it is ready before the next reload.
  void published(const builders::Interpreter& python);
  // A build for `python` is past its configure: starts the pybind11 helper's compile now, beside the
  // project's own, so the first reload after the first build finds it ready.
  void configured(const builders::Interpreter& python);
  void forget();  // drops every ready-made answer

  void pin(const std::string& client_id, std::set<std::uint64_t> generations);
  void unpin(const std::string& client_id);
  std::set<std::uint64_t> pinned() const;

 private:
  struct Waiter {
    ResolveRequest request;
    std::function<void(ResolveOutcome)> done;
    std::shared_ptr<boost::asio::steady_timer> timer;
  };
  struct IdleWaiter {
    std::function<void(bool)> done;
    std::shared_ptr<boost::asio::steady_timer> timer;
  };
  struct ReadyAnswer {
    builders::InterpreterCache::Facts interpreter;
    std::uint64_t store_version = 0;
    std::uint64_t helpers_version = 0;
    ResolveOutcome outcome;
  };
  static constexpr std::size_t kMaxReadyAnswers = 1024;

  void resolve_after_query(ResolveRequest request, std::function<void(ResolveOutcome)> done);
  void resolve_known(ResolveRequest request, const builders::InterpreterCache::Facts& interp,
                     std::function<void(ResolveOutcome)> done);
  // The newest answer, once the helper it should name is compiled when the request waits for that.
  void answer(const ResolveRequest& request, const builders::InterpreterCache::Facts& interp,
              std::function<void(ResolveOutcome)> done);
  void answer_after_helper(const ResolveRequest& request, const builders::InterpreterCache::Facts& interp,
                           std::function<void(ResolveOutcome)> done);
  // Runs `then` on the io thread once `python`'s query has run on the pool (one query per path at a time).
  void query_then(const std::string& python, std::function<void()> then);
  ResolveOutcome ready_answer(const std::string& name, const std::string& python, const builders::InterpreterCache::Facts& interp);
  ResolveOutcome build_answer(const std::string& name, const std::string& python, const builders::Interpreter& interp) const;
  std::optional<fs::path> pybind11_helper(const builders::Interpreter& python) const;
  const fs::path& pybind11_include(const builders::Interpreter& python) const;
  ResolveOutcome closed() const;
  ResolveOutcome timed_out(std::chrono::milliseconds timeout) const;

  ResolveContext ctx_;
  ResolveHooks hooks_;
  ProjectInfo info_;
  bool stopped_ = false;
  std::vector<Waiter> waiters_;
  std::vector<IdleWaiter> idle_waiters_;
  std::map<std::string, std::vector<std::function<void()>>> parked_on_query_;  // python path -> resumes
  std::map<std::string, std::set<std::uint64_t>> pins_;                        // client id -> generations
  // python key -> the pybind11 headers the project builds against (empty: none); read once per build.
  mutable std::map<std::string, fs::path> pybind11_includes_;
  std::map<std::string, std::map<std::string, ReadyAnswer, std::less<>>, std::less<>> ready_;  // python -> name -> answer
  std::size_t ready_count_ = 0;
};
}  // namespace prestage::projects
