#pragma once
// When a project builds: settles watcher events into rounds, scans, takes a build slot, builds
// each target interpreter through its BuildBackend, stages good builds and records every result.
// Knows no protocol: it reports through ProjectEvents and RoundHooks.
//
// Events settle for 10 ms after the last one (capped at 300 ms after the first), long enough for
// an editor's write-and-rename or a multi-file save, short next to any build. A save during a
// running build queues one follow-up round instead of cancelling: a cancelled rustc/g++ loses all
// its work, a follow-up keeps the incremental state. A finished build whose sources changed
// meanwhile is not published (stale) unless the project has gone `kStarvationBound` without a new
// generation, so a stream of saves cannot starve it.
//
// Threads: every member function runs on the io thread (checked); scanning, staging and the
// snapshot run on the project's pool strand and post back.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "builders/backend.hpp"
#include "projects/build_records.hpp"
#include "projects/build_slots.hpp"
#include "projects/pool_tasks.hpp"
#include "projects/project_state.hpp"
#include "stage/generation_store.hpp"
#include "watch/source_tree.hpp"

namespace prestage::projects {

// What the scheduler needs from the daemon and from the project that owns it.
struct RoundContext {
  boost::asio::io_context& io;
  boost::asio::thread_pool& pool;
  builders::InterpreterCache& interpreters;
  BuildSlots& slots;
  ProjectEvents& events;
  const builders::BuildBackend& backend;
  stage::GenerationStore& store;
  fs::path work_root;  // per-interpreter work dirs go below: <work_root>/<python key>
  std::size_t keep_generations = 5;
};

// Calls back into the project, on the io thread.
struct RoundHooks {
  std::function<std::set<std::uint64_t>()> pinned;              // generations GC must keep
  std::function<void(const builders::Interpreter&)> published;  // a good build was staged (or was unchanged)
  std::function<void()> recorded;                               // a build result was recorded
  std::function<void()> idle;                                   // no round is settling or running any more
  std::function<void()> changed;                                // the state changed or a result was recorded
  // The running build for this interpreter reported its first [done/total] step: configure is over
  // (CMake's cache, meson's build dir exist), compiling has begun. Once per build.
  std::function<void(const builders::Interpreter&)> compiling;
};

class RoundScheduler : public std::enable_shared_from_this<RoundScheduler> {
 public:
  static constexpr std::chrono::milliseconds kSettle{10};
  static constexpr std::chrono::milliseconds kSettleCap{300};
  static constexpr std::chrono::seconds kStarvationBound{3};

  // Where a round is. Settling is separate: events may settle while a round runs.
  enum class Phase {
    idle,              // no round
    scanning,          // rehashing changed files on the pool
    waiting_for_slot,  // compiling is needed; queued in BuildSlots
    building,          // holds a build slot; build/started was sent
    restaging,         // only .py files changed: restaging without a compiler, no slot
  };

  // `tree` is touched only on the pool strand `work`, which the project shares with its other
  // pool tasks. `records` is the project's.
  RoundScheduler(RoundContext context, RoundHooks hooks, ProjectInfo info, std::vector<std::string> pythons,
                 std::shared_ptr<watch::SourceTree> tree, BuildRecords& records,
                 boost::asio::strand<boost::asio::thread_pool::executor_type> work);

  // The first round: walks every file, and builds only when the sources differ from the newest
  // generation's (or there is none).
  void start();
  void stop();  // cancels a running build; no callback fires afterwards

  void add_python(const std::string& python);  // a new target interpreter gets a round
  void paths_changed(std::vector<fs::path> paths, bool rescan);  // watcher events and file/saved
  void force_build();                                             // build/run
  void end_settling();  // read-your-writes: a round for what has settled so far starts now
  void request_round();

  State state() const;
  bool busy() const { return phase_ != Phase::idle || settling_; }
  Phase phase() const { return phase_; }
  std::size_t files() const { return files_; }
  // The running build's newest progress report; nullopt between builds.
  const std::optional<BuildProgress>& progress() const { return progress_; }

 private:
  void schedule_settle();
  void settle_fired();
  void run_round();
  void scan_done(ScanResult scan);
  void start_building();
  void build_next_python();
  void build_finished(const builders::Interpreter& python, builders::BuildOutput output,
                      std::chrono::steady_clock::time_point began);
  void publish(const builders::Interpreter& python, stage::PackageLayout layout, std::vector<Diagnostic> warnings,
               std::int64_t duration_ms, std::string log_tail);
  void record(const std::string& python_key, BuildRecord record, const stage::Manifest* manifest);
  void finish_round(bool completed);  // completed: the round built the current sources (not cancelled or stale)
  void release_slot();
  void report_state();
  std::optional<stage::PackageLayout> restage_layout(const builders::Interpreter& python) const;
  builders::InterpreterCache::Lookup interpreter(const std::string& python) const;

  RoundContext ctx_;
  RoundHooks hooks_;
  ProjectInfo info_;
  std::vector<std::string> pythons_;
  std::shared_ptr<watch::SourceTree> tree_;
  BuildRecords& records_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> work_;
  boost::asio::steady_timer settle_timer_;

  bool stopped_ = false;
  Phase phase_ = Phase::idle;
  State reported_state_ = State::idle;

  // Between rounds: what the next one covers.
  bool settling_ = false;
  bool follow_up_ = false;   // another round once this one is over
  bool force_next_ = false;  // build/run: build even when nothing changed
  bool rescan_next_ = true;  // the first round walks everything
  std::chrono::steady_clock::time_point first_event_{};
  std::vector<fs::path> pending_paths_;
  std::set<std::string> reasons_;
  std::chrono::steady_clock::time_point last_publish_ = std::chrono::steady_clock::now();

  // Sources changed since the last completed round; only_python_changed says whether only .py did.
  bool unbuilt_ = false;
  bool only_python_changed_ = false;

  // The round in flight.
  std::vector<std::string> round_pythons_;
  std::size_t round_index_ = 0;
  bool round_failed_ = false;
  std::string round_source_hash_;
  std::vector<std::string> round_reasons_;
  std::shared_ptr<builders::BuildTask> task_;
  std::optional<BuildProgress> progress_;
  std::size_t files_ = 0;
};
}  // namespace prestage::projects
