#pragma once
// One open project's watch -> build -> stage loop. Protocol-free: it reports through callbacks.
//
// Scheduling: events settle for 10 ms after the last one (capped at 300 ms after the first), long
// enough for an editor's write-and-rename or a multi-file save, short next to any build. A save
// during a running build queues one follow-up round instead of cancelling: a cancelled rustc/g++
// loses all its work, a follow-up keeps the incremental state. A finished build whose sources
// changed meanwhile is not published (stale) unless the project has gone `kStarvationBound`
// without a new generation, so a stream of saves cannot starve it.
//
// All members run on the daemon's io thread; hashing and staging run on the worker pool and post
// their results back.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "build/build.hpp"
#include "build/pybind11_helper.hpp"
#include "projects/build_slots.hpp"
#include "projects/project.hpp"
#include "stage/generation_store.hpp"
#include "watch/source_tree.hpp"
#include "watch/watcher.hpp"

namespace prestage::projects {

struct PipelineEnv {
  boost::asio::io_context& io;
  boost::asio::thread_pool& pool;
  build::InterpreterCache& interpreters;
  BuildSlots& slots;
  build::Pybind11Helpers& pybind11_helpers;
  watch::WatchBackends& watch_backends;  // the daemon's one inotify instance and poll scheduler
  watch::WatcherOptions watch_options;   // --watch
  fs::path state_dir;
  std::function<void(std::string_view method, nlohmann::json params)> notify;
  std::size_t keep_generations = 5;
};

// What spec/resolve answers: a result, or a JSON-RPC-style error (code, message, data).
struct ResolveOutcome {
  // The result as JSON text ("null" when the project does not provide the module), shared with the
  // pipeline's ready-made answers; null when error_code is set.
  std::shared_ptr<const std::string> result;
  int error_code = 0;
  std::string error_message;
  nlohmann::json error_data;
};

class ProjectPipeline : public std::enable_shared_from_this<ProjectPipeline> {
 public:
  static constexpr std::chrono::milliseconds kSettle{10};
  static constexpr std::chrono::milliseconds kSettleCap{300};
  static constexpr std::chrono::seconds kStarvationBound{3};
  static constexpr int kBuildFailed = -32001;
  static constexpr int kWaitTimedOut = -32002;
  static constexpr int kNotBuilt = -32003;
  static constexpr int kInvalidPython = -32602;

  ProjectPipeline(PipelineEnv& env, ProjectInfo info, std::vector<std::string> pythons);
  ~ProjectPipeline();

  // Recovers generations, starts watching, and builds only if the sources changed since the last
  // generation (or there is none).
  void start();
  void stop();  // cancels a running build; no callback fires afterwards

  void add_python(const std::string& python);
  void paths_changed(std::vector<fs::path> paths, bool rescan);  // watcher events and file/saved
  void force_build();                                             // build/run
  // Read-your-writes: takes in every change completed before the call (Watcher::sync) and ends the
  // settle delay, so a caller waiting for idle() gets the round that covers them.
  void sync();
  // Runs done(true) once no round is settling, scanning, waiting for a slot or building (at once when
  // idle, or when the project closes), done(false) after `timeout`.
  void when_idle(std::chrono::milliseconds timeout, std::function<void(bool idle)> done);

  std::string_view state() const;  // "idle" | "queued" | "building"
  bool busy() const { return round_active_ || settling_; }
  nlohmann::json status() const;   // {generation, state, last_build, watch}
  nlohmann::json generations() const;
  nlohmann::json build_log() const;
  const ProjectInfo& info() const { return info_; }
  // The detected modules plus every top-level name the newest cmake generation provides (io thread).
  std::vector<std::string> modules() const;
  bool provides(std::string_view top) const;  // a staged top-level name (cmake)
  std::uint64_t generation() const;

  // Answers at once, or, when `wait` and a build is running or queued, once it is over (bounded).
  void resolve(const std::string& name, const std::string& python, bool wait, std::chrono::milliseconds timeout,
               std::function<void(ResolveOutcome)> done);
  // Generations a client has loaded stay through GC.
  void pin(const std::string& client_id, std::set<std::uint64_t> generations);
  void unpin(const std::string& client_id);

 private:
  struct BuildRecord {  // the newest build for one interpreter
    bool ok = false;
    std::uint64_t generation = 0;  // published generation, or the last good one when this failed
    std::int64_t duration_ms = 0;
    std::vector<Diagnostic> diagnostics;
    std::string log_tail;
    std::string summary;
    std::string finished_at;
  };
  struct Waiter {
    std::string name, python;
    std::function<void(ResolveOutcome)> done;
    std::shared_ptr<boost::asio::steady_timer> timer;
  };

  void schedule_settle();
  void settle_fired();
  void request_round();
  void run_round();
  void scan_done(watch::SourceTree::Delta delta, std::string source_hash, std::size_t files);
  void start_building();  // build/started, then the first interpreter (with a build slot unless restaging)
  void build_next_python();
  void build_finished(const build::Interpreter& python, build::BuildOutput output, std::chrono::steady_clock::time_point began);
  void publish(const build::Interpreter& python, stage::PackageLayout layout, std::vector<Diagnostic> warnings,
               std::int64_t duration_ms, std::string log_tail);
  // Records the newest build for one interpreter and announces build/finished.
  void record_result(const std::string& python_key, BuildRecord record, const stage::Manifest* manifest);
  void finish_round(bool completed);  // completed: the round built the current sources (not cancelled or stale)
  void report_state();                 // project/state on every change of state()
  void answer_waiters();
  // The spec/resolve answer, from a ready-made one while it is current, else built and kept.
  ResolveOutcome answer(const std::string& name, const std::string& python);
  ResolveOutcome ready_answer(const std::string& name, const std::string& python, const build::InterpreterCache::Facts& interp);
  ResolveOutcome build_answer(const std::string& name, const std::string& python, const build::Interpreter& interp) const;
  void forget_ready_answers();
  // Resolves once the interpreter's query has run on the pool (it is new or changed on disk).
  void resolve_after_query(const std::string& name, const std::string& python, bool wait, std::chrono::milliseconds timeout,
                           std::function<void(ResolveOutcome)> done);
  void resolve_known(const std::string& name, const std::string& python, const build::InterpreterCache::Facts& interp,
                     bool wait, std::chrono::milliseconds timeout, std::function<void(ResolveOutcome)> done);
  stage::PackageLayout layout_for(const build::BuildOutput& output, const build::Interpreter& python) const;
  std::optional<stage::PackageLayout> restage_layout(const build::Interpreter& python) const;
  std::set<std::uint64_t> pinned() const;
  build::InterpreterCache::Facts interpreter(const std::string& python, std::string* error = nullptr) const;
  nlohmann::json last_build_json() const;
  nlohmann::json artifacts_json(const stage::Manifest& m) const;  // [{module, path, sha256}]
  // The finder's pybind11 helper for this project's pybind11, when it uses pybind11 and it is built.
  std::optional<fs::path> pybind11_helper(const build::Interpreter& python) const;

  PipelineEnv& env_;
  ProjectInfo info_;
  std::vector<std::string> staged_modules_;  // cmake: top-level names of the newest generation
  std::vector<std::string> pythons_;
  fs::path project_state_;
  stage::GenerationStore store_;
  // Pool work of this project (scans, staging, snapshots) runs in order, never two at once.
  boost::asio::strand<boost::asio::thread_pool::executor_type> work_;
  std::unique_ptr<watch::SourceTree> tree_;  // touched only on work_
  std::unique_ptr<watch::Watcher> watcher_;
  boost::asio::steady_timer settle_timer_;
  bool stopped_ = false;
  std::string_view reported_state_ = "idle";

  // Scheduling state. A round scans first, then takes a build slot only when it compiles, so a save
  // that changed nothing never waits behind another project's build.
  bool settling_ = false;
  bool slots_requested_ = false;
  bool holds_slot_ = false;
  bool round_active_ = false;  // from the scan to the end of the round
  bool building_ = false;      // from build/started to the end of the round
  bool follow_up_ = false;
  bool force_next_ = false;
  bool rescan_next_ = true;  // the first round walks everything
  std::chrono::steady_clock::time_point first_event_{};
  std::vector<fs::path> pending_paths_;
  std::set<std::string> reasons_;
  std::chrono::steady_clock::time_point last_publish_ = std::chrono::steady_clock::now();

  // The round in flight.
  std::vector<std::string> round_pythons_;
  std::size_t round_index_ = 0;
  bool unbuilt_ = false;             // sources changed since the last completed round
  bool round_python_only_ = false;   // ... and only Python files changed
  bool round_restage_only_ = false;
  bool round_failed_ = false;
  std::string round_source_hash_;
  std::shared_ptr<build::BuildTask> task_;
  std::vector<std::string> round_reasons_;

  std::size_t files_ = 0;
  std::map<std::string, BuildRecord> records_;  // python key -> newest build
  std::string last_python_key_;
  std::vector<Waiter> waiters_;
  struct IdleWaiter {
    std::function<void(bool)> done;
    std::shared_ptr<boost::asio::steady_timer> timer;
  };
  std::vector<IdleWaiter> idle_waiters_;
  void answer_idle_waiters();
  std::map<std::string, std::set<std::uint64_t>> pins_;  // client id -> generations
  // python key -> the pybind11 headers the project builds against (empty: none); read once per build,
  // not on every spec/resolve.
  mutable std::map<std::string, fs::path> pybind11_includes_;

  // Ready-made spec/resolve answers, python -> name -> answer. One is current while the store's
  // version, the helpers' version and the interpreter's facts are those it was built from; io-thread
  // changes that can alter an answer (a build record, a publish's pybind11 refresh) drop them all.
  struct ReadyAnswer {
    build::InterpreterCache::Facts interpreter;
    std::uint64_t store_version = 0;
    std::uint64_t helpers_version = 0;
    ResolveOutcome outcome;
  };
  static constexpr std::size_t kMaxReadyAnswers = 1024;
  std::map<std::string, std::map<std::string, ReadyAnswer, std::less<>>, std::less<>> ready_;
  std::size_t ready_count_ = 0;
  // Resolves parked while their interpreter is asked on the pool, by python path.
  std::map<std::string, std::vector<std::function<void()>>> parked_on_query_;
};
}  // namespace prestage::projects
