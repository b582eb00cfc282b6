#pragma once
// One open project's watch -> build -> stage loop, as a facade over the parts that do the jobs:
// the Watcher (watch/), the RoundScheduler (when and what to build), the ResolveService
// (spec/resolve answers, waiters, pins), the GenerationStore (stage/) and the BuildRecords.
// Knows no protocol: it reports through ProjectEvents and returns typed values (project_state.hpp).
//
// Threads: every member function runs on the daemon's io thread; the parts' pool work runs on one
// strand per project (work_), so a project's scans, stagings and snapshots never overlap.
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "builders/backend.hpp"
#include "builders/pybind11_helper.hpp"
#include "projects/build_records.hpp"
#include "projects/build_slots.hpp"
#include "projects/change_page.hpp"
#include "projects/project.hpp"
#include "projects/project_state.hpp"
#include "projects/resolve_service.hpp"
#include "projects/round_scheduler.hpp"
#include "stage/generation_store.hpp"
#include "watch/source_tree.hpp"
#include "watch/watcher.hpp"

namespace prestage::projects {

struct PipelineEnv {
  boost::asio::io_context& io;
  boost::asio::thread_pool& pool;
  builders::InterpreterCache& interpreters;
  BuildSlots& slots;
  builders::Pybind11Helpers& pybind11_helpers;
  watch::WatchBackends& watch_backends;  // the daemon's one inotify instance and poll scheduler
  watch::WatcherOptions watch_options;   // --watch
  fs::path state_dir;
  ProjectEvents& events;
  SpecSerializer serialize_spec;  // rpc/'s: spec/resolve's text
  std::size_t keep_generations = 5;
  ChangePage* change_page = nullptr;  // none: clients always ask
};

class ProjectPipeline : public std::enable_shared_from_this<ProjectPipeline> {
 public:
  ProjectPipeline(PipelineEnv& env, const builders::BuildBackend& backend, ProjectInfo info, std::vector<std::string> pythons);
  ~ProjectPipeline();

  // Recovers generations, starts watching, and builds only if the sources changed since the last
  // generation (or there is none).
  void start();
  void stop();  // cancels a running build; no callback fires afterwards

  void add_python(const std::string& python);
  void paths_changed(std::vector<fs::path> paths, bool rescan);  // watcher events and file/saved
  void force_build();                                             // build/run
  // Read-your-writes: takes in every change completed before the call (Watcher::sync) and ends the
  // settle delay, so a caller waiting for idle gets the round that covers them.
  void sync();
  // Runs done(true) once no round is settling, scanning, waiting for a slot or building (at once when
  // idle, or when the project closes), done(false) after `timeout`.
  void when_idle(std::chrono::milliseconds timeout, std::function<void(bool idle)> done);

  State state() const;
  bool busy() const;
  ProjectStatus status() const;
  std::vector<GenerationSummary> generations() const;  // newest first
  BuildLog build_log() const;
  const ProjectInfo& info() const { return info_; }
  // cmake: every importable top-level name of the newest generations (modules CMake installed next
  // to the package too); `on_modules` hears them after each good build. Io thread.
  std::vector<std::string> staged_modules() const;
  void set_on_modules(std::function<void(const std::vector<std::string>&)> on_modules) { on_modules_ = std::move(on_modules); }
  std::uint64_t generation() const;

  // Answers at once, or, when `wait` and a build is running or queued, once it is over (bounded);
  // see ResolveService::resolve.
  void resolve(ResolveRequest request, std::function<void(ResolveOutcome)> done);
  // Generations a client has loaded stay through GC.
  void pin(const std::string& client_id, std::set<std::uint64_t> generations);
  void unpin(const std::string& client_id);

 private:
  void note_change();  // bumps the change page line: a client's cached answer is no longer trusted
  PipelineEnv& env_;
  const builders::BuildBackend& backend_;
  ProjectInfo info_;
  std::vector<std::string> pythons_;
  std::function<void(const std::vector<std::string>&)> on_modules_;
  fs::path project_state_;
  stage::GenerationStore store_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> work_;
  BuildRecords records_;
  std::shared_ptr<ResolveService> resolver_;
  std::shared_ptr<RoundScheduler> rounds_;  // from start()
  std::unique_ptr<watch::Watcher> watcher_;
  std::vector<std::unique_ptr<watch::Watcher>> extra_watchers_;  // backend.watch_roots_blocking()'s dirs
  bool extra_roots_known_ = false;  // backend.watch_roots_blocking() answered and its watchers started
  ChangePage::Slot change_slot_;    // this project's line on the change page, from start()
  void watch_extra_roots(std::shared_ptr<watch::SourceTree> tree, std::vector<fs::path> ignored);
  bool stopped_ = false;
};
}  // namespace prestage::projects
